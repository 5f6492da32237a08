module github.com/facemon/facemon/e2e

go 1.24

require (
	github.com/facemon/facemon/shared v0.0.0
)

replace github.com/facemon/facemon/shared => ../shared
