module github.com/facemon/facemon/models

go 1.24
