//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd

package firstrun

// isTerminal is false where it is not known: secrets go to the file.
func isTerminal(fd uintptr) bool { return false }
