module distssa

go 1.21
