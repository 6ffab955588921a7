// Streams a story through the Go bindings: text written to an io.Writer as it is produced,
// then the same with a channel, stopped after a few chunks by cancelling the context.
//
//	cd examples/go && go run . [MODEL] [PROMPT]
//
// go.mod takes the binding from this checkout with a replace directive; cgo must find cria.h
// and libcria (see the package documentation of github.com/cria-llm/cria/bindings/go).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	cria "github.com/cria-llm/cria/bindings/go"
)

func main() {
	shared := os.Getenv("CRIA_SHARED_DIR")
	if shared == "" {
		shared = "../../../shared"
	}
	path := filepath.Join(shared, "models", "stories260K.gguf")
	prompt := "Once upon a time"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if len(os.Args) > 2 {
		prompt = os.Args[2]
	}
	model, err := cria.Load(path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer model.Close()
	session, err := model.NewSession(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer session.Close()

	// io.Writer streaming.
	greedy := cria.Greedy()
	fmt.Print(prompt)
	res, err := session.Generate(context.Background(), prompt,
		cria.GenerateOptions{Sampling: &greedy, MaxTokens: 60}, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("\n[%d tokens, %v]\n", res.Tokens, res.StopReason)

	// Channel streaming, cancelled after ten chunks.
	session.Reset()
	ctx, cancel := context.WithCancel(context.Background())
	text, errc := session.Stream(ctx, prompt, cria.GenerateOptions{})
	fmt.Print(prompt)
	n := 0
	for chunk := range text {
		fmt.Print(chunk)
		if n++; n == 10 {
			cancel()
		}
	}
	fmt.Printf("\n[stopped: %v]\n", <-errc)
	cancel()
}
