package cria_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	cria "github.com/cria-llm/cria/bindings/go"
)

// storiesPath is the tiny stories260K model among the fixtures beside the repository
// (../shared), or in $CRIA_SHARED_DIR.
func storiesPath() string {
	shared := os.Getenv("CRIA_SHARED_DIR")
	if shared == "" {
		shared = filepath.Join("..", "..", "..", "shared")
	}
	return filepath.Join(shared, "models", "stories260K.gguf")
}

// Greedy generation, the text written to an io.Writer as it is produced.
func Example() {
	model, err := cria.Load(storiesPath(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer model.Close()
	session, err := model.NewSession(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer session.Close()

	greedy := cria.Greedy() // the same text every run
	fmt.Print("Once upon a time")
	res, err := session.Generate(context.Background(), "Once upon a time",
		cria.GenerateOptions{Sampling: &greedy, MaxTokens: 12}, os.Stdout)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("\n[%d tokens, %v]\n", res.Tokens, res.StopReason)
	// Output:
	// Once upon a time, there was a little girl named Lily. She
	// [12 tokens, max tokens]
}

// Chunks of text from a channel; the error channel then says how generation ended.
func ExampleSession_Stream() {
	model, err := cria.Load(storiesPath(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer model.Close()
	session, err := model.NewSession(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer session.Close()

	greedy := cria.Greedy()
	text, errc := session.Stream(context.Background(), "Once upon a time",
		cria.GenerateOptions{Sampling: &greedy, MaxTokens: 12})
	var story strings.Builder
	for chunk := range text {
		story.WriteString(chunk)
	}
	fmt.Printf("%q %v\n", story.String(), <-errc)
	// Output:
	// ", there was a little girl named Lily. She" <nil>
}

// Cancelling the context stops generation between two tokens; Generate returns ctx.Err().
func ExampleSession_Generate_cancel() {
	model, err := cria.Load(storiesPath(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer model.Close()
	session, err := model.NewSession(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer session.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	greedy := cria.Greedy()
	w := &cancelAfter{word: "Lily", cancel: cancel}
	_, err = session.Generate(ctx, "Once upon a time", cria.GenerateOptions{Sampling: &greedy}, w)
	fmt.Printf("%q\ncancelled: %v\n", w.text.String(), errors.Is(err, context.Canceled))
	// Output:
	// ", there was a little girl named Lily"
	// cancelled: true
}

// cancelAfter collects text and cancels once it holds word.
type cancelAfter struct {
	text   strings.Builder
	word   string
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.text.Write(p)
	if strings.Contains(c.text.String(), c.word) {
		c.cancel()
	}
	return len(p), nil
}
