//go:build goface_native

package face

// Build with -tags goface_native to compile the native code for this CPU
// only (upstream always did; the facemon fork makes it opt-in so binaries
// run on any CPU of the architecture).

// #cgo CXXFLAGS: -march=native
import "C"
