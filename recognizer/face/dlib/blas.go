package dlib

import (
	"os"
	"path/filepath"
	"strings"
)

// BLAS names the BLAS library mapped into this process (from
// /proc/self/maps): "openblas", "atlas", "reference" or "unknown".
func BLAS() string {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return "unknown"
	}
	s := string(b)
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		p := f[len(f)-1]
		base := filepath.Base(p)
		switch {
		case strings.Contains(base, "openblas"):
			return "openblas (" + p + ")"
		case strings.Contains(p, "/atlas/") && strings.HasPrefix(base, "libblas"):
			return "atlas (" + p + ")"
		case strings.Contains(p, "/blas/") && strings.HasPrefix(base, "libblas"):
			return "reference (" + p + ")"
		}
	}
	return "unknown"
}
