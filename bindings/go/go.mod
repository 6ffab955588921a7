module github.com/cria-llm/cria/bindings/go

go 1.19
