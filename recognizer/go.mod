module github.com/facemon/facemon/recognizer

go 1.24.13

require github.com/facemon/facemon/shared v0.0.0

require (
	github.com/Kagami/go-face v0.0.0-20210630145111-0c14797b4d0e // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/ncruces/go-strftime v0.1.9 // indirect
	github.com/prometheus/client_golang v1.20.5 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	gocv.io/x/gocv v0.31.0 // indirect
	golang.org/x/exp v0.0.0-20250408133849-7e4ce0ab07d0 // indirect
	golang.org/x/image v0.24.0 // indirect
	golang.org/x/sys v0.41.0 // indirect
	golang.org/x/term v0.29.0 // indirect
	modernc.org/libc v1.65.10 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.11.0 // indirect
	modernc.org/sqlite v1.38.0 // indirect
)

replace github.com/facemon/facemon/shared => ../shared

require github.com/facemon/facemon/broker v0.0.0

replace github.com/facemon/facemon/broker => ../broker
