// Package dashboard holds the facemon web dashboard: static HTML, CSS and
// plain JavaScript (no framework, no CDN), embedded into the binaries that
// serve it.
package dashboard

import (
	"embed"
	"io/fs"
)

// FS holds the dashboard files under static/.
//
//go:embed static
var FS embed.FS

// Static returns the dashboard files with static/ stripped (index.html,
// app.js, style.css, login.html, login.js).
func Static() fs.FS {
	sub, err := fs.Sub(FS, "static")
	if err != nil {
		panic(err) // static/ is embedded at build time
	}
	return sub
}
