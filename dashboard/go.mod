module github.com/facemon/facemon/dashboard

go 1.24
