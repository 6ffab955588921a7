module github.com/cria-llm/cria/examples/go

go 1.19

require github.com/cria-llm/cria/bindings/go v0.0.0

// The binding from this checkout; a project outside the repository needs no replace (go get
// github.com/cria-llm/cria/bindings/go), or points it at its own copy of cria.
replace github.com/cria-llm/cria/bindings/go => ../../bindings/go
