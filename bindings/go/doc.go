// Package cria runs Llama 2 models locally through cria's C library (cria.h, libcria.so.1):
// load a model (GGUF or llama2.c), open sessions on it, and generate text streamed to an
// io.Writer or a channel, stopped by cancelling a context.Context.
//
// # Getting it
//
// The package is the module github.com/cria-llm/cria/bindings/go, in the bindings/go
// directory of cria's repository (published versions are tagged bindings/go/vX.Y.Z):
//
//	go get github.com/cria-llm/cria/bindings/go
//
//	import cria "github.com/cria-llm/cria/bindings/go"
//
// With a local checkout instead, point the module at it in your go.mod:
//
//	require github.com/cria-llm/cria/bindings/go v0.0.0
//	replace github.com/cria-llm/cria/bindings/go => /path/to/cria/bindings/go
//
// It is built with cgo against the C library, which is installed separately (cmake --install,
// see docs/packaging.md in the repository). Installed under /usr/local, nothing more is needed;
// elsewhere, tell cgo where it is:
//
//	CGO_CFLAGS=-I/opt/cria/include CGO_LDFLAGS="-L/opt/cria/lib -Wl,-rpath,/opt/cria/lib" go build
//
// At start-up the package checks that the library implements the C ABI it was written for
// (ABIVersion) and panics with the library's message when it does not.
//
// # Use
//
// A Model is safe for concurrent use by many goroutines; a Session must be used by one
// goroutine at a time. Errors are *Error values, comparable with errors.Is to ErrContextFull,
// ErrInvalidFile and the other Err values; a cancelled context makes Generate return
// ctx.Err(). Several sessions of one model generate together with GenerateBatch (one pass
// over the weights per step for all of them), or step by step with a Batch.
package cria
