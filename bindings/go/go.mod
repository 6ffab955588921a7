module cria.local/cria

go 1.19
