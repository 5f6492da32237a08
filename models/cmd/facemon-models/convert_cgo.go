//go:build cgo

package main

import "github.com/facemon/facemon/models/convert"

// converter is the face-api -> dlib conversion (needs cgo and libdlib).
var converter = convert.FaceAPIToDlib
