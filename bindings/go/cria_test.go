package cria

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func shared(t *testing.T) string {
	dir := os.Getenv("CRIA_SHARED_DIR")
	if dir == "" {
		dir = "../../../shared"
	}
	return dir
}

func modelPath(t *testing.T, name string) string { return filepath.Join(shared(t), "models", name) }

func golden(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(shared(t), "golden", "stories260K.once.t0.n200.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(string(b), "Once upon a time")
}

func load(t *testing.T) *Model {
	m, err := Load(modelPath(t, "stories260K.gguf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func greedySession(t *testing.T, m *Model, ctx int) *Session {
	s, err := m.NewSession(&SessionOptions{ContextLength: ctx, Sampling: ptr(Greedy())})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func TestInfoAndTokenizer(t *testing.T) {
	m := load(t)
	defer m.Close()
	info, err := m.Info()
	if err != nil || info.Format != "gguf" || info.Dim != 64 || info.KVHeads != 4 || info.VocabSize != 512 {
		t.Fatalf("info %+v, %v", info, err)
	}
	ids, err := m.Tokenize("Once upon a time", TokenizeOptions{AddBOS: true})
	if err != nil || ids[0] != 1 {
		t.Fatalf("tokenize %v, %v", ids, err)
	}
	text, err := m.Detokenize(ids)
	if err != nil || text != "Once upon a time" {
		t.Fatalf("detokenize %q, %v", text, err)
	}
	if piece, err := m.TokenPiece(2); err != nil || piece != "</s>" {
		t.Fatalf("piece %q, %v", piece, err)
	}
	if _, err := m.TokenPiece(9999); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("want ErrInvalidArgument, got %v", err)
	}
}

func TestGenerateToWriter(t *testing.T) {
	m := load(t)
	defer m.Close()
	s := greedySession(t, m, 0)
	defer s.Close()
	var buf bytes.Buffer
	res, err := s.Generate(context.Background(), "Once upon a time",
		GenerateOptions{Sampling: ptr(Greedy()), MaxTokens: 40}, &buf)
	if err != nil || res.StopReason != MaxTokens || res.Tokens != 40 {
		t.Fatalf("%+v %v", res, err)
	}
	if !strings.HasPrefix(golden(t), buf.String()) || buf.Len() < 40 {
		t.Fatalf("text %q is not the start of llama2.c's", buf.String())
	}
}

func TestStreamChannel(t *testing.T) {
	m := load(t)
	defer m.Close()
	s := greedySession(t, m, 0)
	defer s.Close()
	text, errc := s.Stream(context.Background(), "Once upon a time", GenerateOptions{Sampling: ptr(Greedy()), MaxTokens: 40})
	var sb strings.Builder
	for chunk := range text {
		sb.WriteString(chunk)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(golden(t), sb.String()) || sb.Len() < 40 {
		t.Fatalf("streamed %q", sb.String())
	}
}

func TestCancelWithContext(t *testing.T) {
	m := load(t)
	defer m.Close()
	s := greedySession(t, m, 0)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	text, errc := s.Stream(ctx, "Once upon a time", GenerateOptions{Sampling: ptr(Greedy())})
	<-text
	cancel()
	for range text {
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	// cancelled before the prompt
	s.Reset()
	_, err := s.Generate(ctx, "Once upon a time", GenerateOptions{}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

type failingWriter struct{}

var errDisk = errors.New("disk full")

func (failingWriter) Write(p []byte) (int, error) { return 0, errDisk }

func TestWriterErrorStops(t *testing.T) {
	m := load(t)
	defer m.Close()
	s := greedySession(t, m, 0)
	defer s.Close()
	res, err := s.Generate(context.Background(), "Once upon a time", GenerateOptions{}, failingWriter{})
	if !errors.Is(err, errDisk) || res.StopReason != Cancelled {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestStepAPIAndContextFull(t *testing.T) {
	m := load(t)
	defer m.Close()
	s := greedySession(t, m, 8)
	defer s.Close()
	if _, err := s.Sample(); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("want ErrInvalidState, got %v", err)
	}
	ids, _ := m.Tokenize("Once upon a time", TokenizeOptions{AddBOS: true})
	n, err := s.Eval(ids, 2)
	if err != nil || n != 2 {
		t.Fatal(n, err)
	}
	if _, err := s.Eval(ids[2:], 0); err != nil {
		t.Fatal(err)
	}
	logits, err := s.Logits()
	if err != nil || len(logits) != 512 {
		t.Fatal(len(logits), err)
	}
	var out strings.Builder
	for s.NPast() < s.ContextLength() {
		tok, err := s.Sample()
		if err != nil {
			t.Fatal(err)
		}
		piece, err := s.Accept(tok)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString(piece)
	}
	if !strings.HasPrefix(golden(t), out.String()) {
		t.Fatalf("step text %q", out.String())
	}
	if _, err := s.Accept(5); !errors.Is(err, ErrContextFull) {
		t.Fatalf("want ErrContextFull, got %v", err)
	}
	if _, err := s.Generate(context.Background(), "more", GenerateOptions{}, nil); !errors.Is(err, ErrContextFull) {
		t.Fatalf("want ErrContextFull, got %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(modelPath(t, "missing.gguf"), nil); !errors.Is(err, ErrIO) {
		t.Fatalf("want ErrIO, got %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"), 0o644)
	if _, err := Load(bad, nil); !errors.Is(err, ErrInvalidFile) {
		t.Fatalf("want ErrInvalidFile, got %v", err)
	}
	calls := 0
	_, err := Load(modelPath(t, "stories260K.gguf"), &LoadOptions{Progress: func(float32) bool { calls++; return false }})
	if !errors.Is(err, ErrCancelled) || calls != 1 {
		t.Fatalf("want ErrCancelled after one call, got %v after %d", err, calls)
	}
	m, err := Load(modelPath(t, "stories260K.bin"), &LoadOptions{TokenizerPath: modelPath(t, "stories260K.tok512.bin")})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}

func TestChatTemplate(t *testing.T) {
	m, err := Load(modelPath(t, "llama2-tiny-random.gguf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ids, err := m.ChatTemplate([]Message{{System, "Be brief."}, {User, "Hello"}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := m.Tokenize("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello [/INST]", TokenizeOptions{AddBOS: true})
	if len(ids) != len(want) || ids[1] != 518 {
		t.Fatalf("got %v want %v", ids, want)
	}
	for i := range ids {
		if ids[i] != want[i] {
			t.Fatalf("got %v want %v", ids, want)
		}
	}
	if _, err := m.ChatTemplate([]Message{{Assistant, "x"}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("want ErrInvalidArgument, got %v", err)
	}
}

func TestSessionsShareModel(t *testing.T) {
	m := load(t)
	defer m.Close()
	var wg sync.WaitGroup
	out := make([]string, 3)
	for i := range out {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := m.NewSession(&SessionOptions{Threads: 1})
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			var b strings.Builder
			if _, err := s.Generate(context.Background(), "Once upon a time", GenerateOptions{Sampling: ptr(Greedy()), MaxTokens: 20}, &b); err != nil {
				t.Error(err)
			}
			out[i] = b.String()
		}(i)
	}
	wg.Wait()
	if out[0] == "" || out[0] != out[1] || out[1] != out[2] {
		t.Fatalf("%q", out)
	}
}

func TestMappedLoadGivesTheSameText(t *testing.T) {
	for _, opts := range []LoadOptions{{Map: true}, {Map: true, Shared: true}} {
		m, err := Load(modelPath(t, "stories260K.gguf"), &opts)
		if err != nil {
			t.Fatal(err)
		}
		s := greedySession(t, m, 0)
		var buf bytes.Buffer
		_, err = s.Generate(context.Background(), "Once upon a time",
			GenerateOptions{Sampling: ptr(Greedy()), MaxTokens: 40}, &buf)
		s.Close()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(golden(t), buf.String()) || buf.Len() < 40 {
			t.Fatalf("%+v: text %q is not the start of llama2.c's", opts, buf.String())
		}
	}
}

// The stages after top-p: a logit bias bans the greedy first token, a repeat penalty changes
// a long greedy story, and an invalid value is ErrInvalidArgument.
func TestSamplerStages(t *testing.T) {
	m, err := Load(modelPath(t, "stories260K.gguf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	gen := func(s Sampling, n int) string {
		sess, err := m.NewSession(&SessionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		var buf bytes.Buffer
		if _, err := sess.Generate(context.Background(), "Once upon a time", GenerateOptions{Sampling: &s, MaxTokens: n}, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	greedy := gen(Greedy(), 1)
	ids, err := m.Tokenize(greedy, TokenizeOptions{AddBOS: true})
	if err != nil {
		t.Fatal(err)
	}
	banned := Greedy()
	banned.LogitBias = map[int32]float32{ids[len(ids)-1]: float32(math.Inf(-1))}
	if gen(banned, 1) == greedy {
		t.Fatalf("banning token %d left the text %q", ids[len(ids)-1], greedy)
	}
	penalized := Greedy()
	penalized.RepeatPenalty = 1.5
	if gen(penalized, 120) == gen(Greedy(), 120) {
		t.Fatal("a repeat penalty of 1.5 did not change a 120-token greedy story")
	}
	bad := Greedy()
	bad.RepeatPenalty = -1
	sess, err := m.NewSession(&SessionOptions{Sampling: &bad})
	if !errors.Is(err, ErrInvalidArgument) {
		if sess != nil {
			sess.Close()
		}
		t.Fatalf("want ErrInvalidArgument for RepeatPenalty -1, got %v", err)
	}
}

// GPULayers splits the model between a Vulkan device and the CPU, where the library has the
// Vulkan backend and the machine a Vulkan device (lavapipe in CI).
func TestGPULayersSplitGivesTheSameText(t *testing.T) {
	m, err := Load(modelPath(t, "stories260K.gguf"), &LoadOptions{Backend: "vulkan", GPULayers: 2})
	if errors.Is(err, ErrUnsupported) || errors.Is(err, ErrInvalidArgument) {
		t.Skipf("no Vulkan backend or device here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := greedySession(t, m, 0)
	defer s.Close()
	var buf bytes.Buffer
	if _, err := s.Generate(context.Background(), "Once upon a time", GenerateOptions{Sampling: ptr(Greedy()), MaxTokens: 40}, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(golden(t), buf.String()) || buf.Len() < 40 {
		t.Fatalf("text %q is not the start of llama2.c's", buf.String())
	}
}

func TestBackends(t *testing.T) {
	ref, err := Load(modelPath(t, "stories260K.gguf"), &LoadOptions{Backend: "reference"})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	s := greedySession(t, ref, 0)
	defer s.Close()
	var out bytes.Buffer
	if _, err := s.Generate(context.Background(), "Once upon a time", GenerateOptions{MaxTokens: 30, Sampling: ptr(Greedy())}, &out); err != nil {
		t.Fatal(err)
	}
	if out.Len() < 30 || !strings.HasPrefix(golden(t), out.String()) {
		t.Fatalf("the reference backend wrote %q", out.String())
	}
	if _, err := Load(modelPath(t, "stories260K.gguf"), &LoadOptions{Backend: "no-such-backend"}); !errors.Is(err, ErrUnsupported) ||
		!strings.Contains(err.Error(), "built: ") || !strings.Contains(err.Error(), "cpu, reference)") {
		t.Fatalf("want ErrUnsupported naming the backends built, got %v", err)
	}
}

var batchPrompts = []string{"Once upon a time", "Tom and Lily went to the park", "The cat", "One day, a little girl"}

func TestGenerateBatchEqualsEachAlone(t *testing.T) {
	m := load(t)
	defer m.Close()
	opts := GenerateOptions{MaxTokens: 20, Sampling: &Sampling{Temperature: 0.9, TopK: 40, TopP: 0.95, Seed: 5}}
	sessions := make([]*Session, len(batchPrompts))
	texts := make([]strings.Builder, len(batchPrompts))
	for i := range sessions {
		sessions[i] = greedySession(t, m, 64)
		defer sessions[i].Close()
	}
	results, err := GenerateBatch(context.Background(), sessions, batchPrompts, opts, func(i int, text string) bool {
		texts[i].WriteString(text)
		return true
	})
	if err != nil || len(results) != len(batchPrompts) {
		t.Fatalf("GenerateBatch: %v, %d results", err, len(results))
	}
	for i, prompt := range batchPrompts {
		alone := greedySession(t, m, 64)
		var out bytes.Buffer
		r, err := alone.Generate(context.Background(), prompt, opts, &out)
		alone.Close()
		if err != nil || out.String() != texts[i].String() || r.Tokens != results[i].Tokens || r.StopReason != results[i].StopReason {
			t.Fatalf("sequence %d: together %q (%+v), alone %q (%+v, %v)", i, texts[i].String(), results[i], out.String(), r, err)
		}
	}
	// A callback returning false stops its own sequence only.
	for _, s := range sessions {
		s.Reset()
	}
	results, err = GenerateBatch(context.Background(), sessions, batchPrompts, opts, func(i int, text string) bool { return i != 2 })
	if !errors.Is(err, ErrCancelled) || results[2].StopReason != Cancelled || results[0].StopReason != MaxTokens {
		t.Fatalf("want sequence 2 cancelled and the others done, got %+v, %v", results, err)
	}
}

func TestBatchStepsEqualEachAlone(t *testing.T) {
	m := load(t)
	defer m.Close()
	batch, err := NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Close()
	together := make([]*Session, len(batchPrompts))
	alone := make([]*Session, len(batchPrompts))
	for i, prompt := range batchPrompts {
		together[i], alone[i] = greedySession(t, m, 64), greedySession(t, m, 64)
		defer together[i].Close()
		defer alone[i].Close()
		ids, _ := m.Tokenize(prompt, TokenizeOptions{AddBOS: true})
		if err := batch.Add(together[i], ids); err != nil {
			t.Fatal(err)
		}
		if _, err := alone[i].Eval(ids, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Eval(); err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 5; step++ {
		for i := range batchPrompts {
			a, _ := together[i].Logits()
			b, _ := alone[i].Logits()
			if len(a) != len(b) || a[0] != b[0] || a[len(a)-1] != b[len(b)-1] {
				t.Fatalf("step %d sequence %d: logits differ", step, i)
			}
			tok, _ := together[i].Sample()
			x, err1 := batch.Accept(together[i], tok)
			y, err2 := alone[i].Accept(tok)
			if err1 != nil || err2 != nil || x != y {
				t.Fatalf("step %d sequence %d: %q (%v) against %q (%v)", step, i, x, err1, y, err2)
			}
		}
		if err := batch.Eval(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := batch.Accept(together[0], 512); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("want ErrInvalidArgument, got %v", err)
	}
}

// A chat through the template evaluates only each turn's new tokens; editing the last user
// message evaluates only the edited message; a saved session resumes with the same tokens.
func TestChatRewindAndSavedState(t *testing.T) {
	m, err := Load(modelPath(t, "stories260K.gguf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	greedy := Greedy()
	s, err := m.NewSession(&SessionOptions{Sampling: &greedy})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	turn := func(messages []Message) (int, Result) {
		ids, err := m.ChatTemplate(messages)
		if err != nil {
			t.Fatal(err)
		}
		before := s.NEvaluated()
		r, err := s.GenerateTokens(ctx, ids, GenerateOptions{Sampling: &greedy, MaxTokens: 20}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.NEvaluated()-before, int64(len(ids)+r.Tokens); got != want {
			t.Fatalf("a turn of %d message tokens and %d generated evaluated %d positions, want %d", len(ids), r.Tokens, got, want)
		}
		return len(ids), r
	}
	turn([]Message{{System, "You tell short stories."}, {User, "Tell me about a cat."}})
	eos, _ := m.EOS()
	if _, err := s.Eval([]int32{eos}, 0); err != nil {
		t.Fatal(err)
	}
	afterEOS := s.NPast()
	turn([]Message{{User, "And a dog?"}})
	if err := s.Truncate(afterEOS); err != nil {
		t.Fatal(err)
	}
	if tokens, _ := s.Tokens(); len(tokens) != afterEOS || tokens[len(tokens)-1] != eos {
		t.Fatalf("after Truncate(%d): %d tokens", afterEOS, len(tokens))
	}
	turn([]Message{{User, "And a bird that sings?"}})
	if err := s.Truncate(s.NPast() + 1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Truncate past the end: want ErrInvalidArgument, got %v", err)
	}

	sampling := DefaultSampling()
	sampling.Seed = 77
	sampling.RepeatPenalty = 1.2
	if err := s.SetSampling(sampling); err != nil {
		t.Fatal(err)
	}
	steps := func(sess *Session, n int) []int32 {
		var out []int32
		for i := 0; i < n; i++ {
			tok, err := sess.Sample()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sess.Accept(tok); err != nil {
				t.Fatal(err)
			}
			out = append(out, tok)
		}
		return out
	}
	steps(s, 3)
	state, err := s.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "chat.state")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	original := steps(s, 25)
	for _, restore := range []func(*Session) error{
		func(r *Session) error { return r.LoadState(state) },
		func(r *Session) error { return r.Load(path) },
	} {
		r, err := m.NewSession(&SessionOptions{Sampling: &sampling})
		if err != nil {
			t.Fatal(err)
		}
		if err := restore(r); err != nil {
			t.Fatal(err)
		}
		before := r.NEvaluated()
		if got := steps(r, 25); !reflect.DeepEqual(got, original) {
			t.Fatalf("resumed session drew %v, the original %v", got, original)
		}
		if r.NEvaluated()-before != 25 {
			t.Fatalf("resuming evaluated %d positions for 25 tokens", r.NEvaluated()-before)
		}
		if err := r.LoadState(state[:len(state)/2]); !errors.Is(err, ErrInvalidFile) {
			t.Fatalf("a truncated state: want ErrInvalidFile, got %v", err)
		}
		r.Close()
	}
}

func TestContextShiftAndEmbeddings(t *testing.T) {
	m, err := Load(modelPath(t, "stories260K.gguf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	eos, _ := m.EOS()
	bos, _ := m.BOS()
	sampling := DefaultSampling()
	sampling.Seed = 3
	sampling.LogitBias = map[int32]float32{eos: float32(math.Inf(-1)), bos: float32(math.Inf(-1))}
	s, err := m.NewSession(&SessionOptions{ContextLength: 40, ShiftContext: true, ShiftKeep: 4, Sampling: &sampling})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Generate(context.Background(), "Once upon a time", GenerateOptions{Sampling: &sampling, MaxTokens: 90}, io.Discard)
	if err != nil || r.Tokens != 90 || s.NPast() > 40 {
		t.Fatalf("generating 90 tokens in a shifting context of 40: %+v, %v, n_past %d", r, err, s.NPast())
	}

	texts := []string{"A cat sat on the mat.", "The dog ran after the ball."}
	all, err := m.Embed(texts, EmbedOptions{})
	if err != nil || len(all) != 2 || len(all[0]) != 64 {
		t.Fatalf("Embed: %v, %d rows", err, len(all))
	}
	var norm float64
	for _, v := range all[1] {
		norm += float64(v) * float64(v)
	}
	if math.Abs(norm-1) > 1e-4 {
		t.Fatalf("a normalized embedding has squared length %v", norm)
	}
	one, err := m.Embed(texts[1:], EmbedOptions{})
	if err != nil || !reflect.DeepEqual(one[0], all[1]) {
		t.Fatalf("a text embedded alone differs from the same text embedded with others: %v", err)
	}
}

// A JSON Schema's grammar holds generated text to JSON that the schema accepts.
func TestGrammarFromJSONSchema(t *testing.T) {
	m, err := Load(modelPath(t, "stories260K.gguf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	grammar, err := JSONSchemaToGrammar(`{"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}`)
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(0); seed < 3; seed++ {
		s, err := m.NewSession(nil)
		if err != nil {
			t.Fatal(err)
		}
		sampling := DefaultSampling()
		sampling.Seed = seed
		sampling.Grammar = grammar
		var out bytes.Buffer
		if _, err := s.Generate(context.Background(), "Once upon a time", GenerateOptions{Sampling: &sampling, MaxTokens: 100}, &out); err != nil {
			t.Fatal(err)
		}
		s.Close()
		var value map[string]bool
		if err := json.Unmarshal(out.Bytes(), &value); err != nil || len(value) != 1 {
			t.Fatalf("seed %d: %q is not an object with one boolean: %v", seed, out.String(), err)
		}
	}
	if _, err := JSONSchemaToGrammar(`{"type": "object", "properties": [}`); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a malformed schema: want ErrInvalidArgument, got %v", err)
	}
}
