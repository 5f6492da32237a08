//go:build !cgo

package main

import "github.com/facemon/facemon/models/provision"

// converter is nil without cgo: ensure then reports that the recognition
// model cannot be converted in this build.
var converter provision.ConvertFunc
