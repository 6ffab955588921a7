module cria.local/examples

go 1.19

require cria.local/cria v0.0.0

replace cria.local/cria => ../../bindings/go
