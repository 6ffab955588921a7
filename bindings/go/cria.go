// The package documentation is in doc.go.
package cria

/*
#cgo LDFLAGS: -lcria
#include <stdlib.h>
#include <stdint.h>
#include <cria.h>

extern bool criaGoText(char *text, size_t length, void *user_data);
extern bool criaGoSequenceText(size_t sequence, char *text, size_t length, void *user_data);
extern bool criaGoProgress(float progress, void *user_data);

static cria_status cria_go_load(const char *path, cria_model_params *p, uintptr_t handle,
                                cria_model **out) {
  if (handle) {
    p->progress = (cria_progress_fn)criaGoProgress;
    p->progress_user_data = (void *)handle;
  }
  return cria_model_load(path, p, out);
}

static cria_status cria_go_generate(cria_session *s, const int32_t *prompt, size_t n,
                                    cria_generate_params *p, uintptr_t handle,
                                    cria_generate_result *r) {
  p->prompt_progress = (cria_progress_fn)criaGoProgress;
  p->prompt_progress_user_data = (void *)handle;
  return cria_generate_tokens(s, prompt, n, p, (cria_text_fn)criaGoText, (void *)handle, r);
}

static cria_status cria_go_generate_batch(cria_session *const *sessions, const char *const *prompts,
                                          size_t n, cria_generate_params *p, uintptr_t handle,
                                          cria_generate_result *results) {
  p->prompt_progress = (cria_progress_fn)criaGoProgress;
  p->prompt_progress_user_data = (void *)handle;
  return cria_generate_batch(sessions, prompts, n, p, (cria_sequence_text_fn)criaGoSequenceText,
                             (void *)handle, results);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/cgo"
	"sort"
	"unsafe"
)

// ABIVersion is the C ABI version these bindings were written for.
const ABIVersion = 1

// Status is a cria_status code.
type Status int

const (
	StatusOK              Status = C.CRIA_OK
	StatusInvalidArgument Status = C.CRIA_ERROR_INVALID_ARGUMENT
	StatusStructSize      Status = C.CRIA_ERROR_STRUCT_SIZE
	StatusBufferTooSmall  Status = C.CRIA_ERROR_BUFFER_TOO_SMALL
	StatusInvalidFile     Status = C.CRIA_ERROR_INVALID_FILE
	StatusUnsupported     Status = C.CRIA_ERROR_UNSUPPORTED
	StatusIO              Status = C.CRIA_ERROR_IO
	StatusOutOfMemory     Status = C.CRIA_ERROR_OUT_OF_MEMORY
	StatusContextFull     Status = C.CRIA_ERROR_CONTEXT_FULL
	StatusCancelled       Status = C.CRIA_ERROR_CANCELLED
	StatusInvalidState    Status = C.CRIA_ERROR_INVALID_STATE
	StatusInternal        Status = C.CRIA_ERROR_INTERNAL
)

func (s Status) String() string { return C.GoString(C.cria_status_name(C.cria_status(s))) }

// Error is a failed cria call. Compare with errors.Is against the Err* values.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "cria: " + e.Status.String()
	}
	return "cria: " + e.Message
}

// Is matches another *Error of the same status, so errors.Is(err, cria.ErrContextFull) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

var (
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrBufferTooSmall  = &Error{Status: StatusBufferTooSmall}
	ErrInvalidFile     = &Error{Status: StatusInvalidFile}
	ErrUnsupported     = &Error{Status: StatusUnsupported}
	ErrIO              = &Error{Status: StatusIO}
	ErrOutOfMemory     = &Error{Status: StatusOutOfMemory}
	ErrContextFull     = &Error{Status: StatusContextFull}
	ErrCancelled       = &Error{Status: StatusCancelled}
	ErrInvalidState    = &Error{Status: StatusInvalidState}
)

// call runs one C call on a locked OS thread, so that cria_last_error (thread-local) belongs
// to it.
func call(f func() C.cria_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := f()
	if st == C.CRIA_OK {
		return nil
	}
	return &Error{Status: Status(st), Message: C.GoString(C.cria_last_error())}
}

func init() {
	if !bool(C.cria_abi_check(ABIVersion)) {
		panic("cria: " + C.GoString(C.cria_last_error()))
	}
}

// Version is the library's version string.
func Version() string { return C.GoString(C.cria_version()) }

// ---- models ---------------------------------------------------------------------------

// LoadOptions are optional settings for Load.
type LoadOptions struct {
	// TokenizerPath is the vocabulary file for llama2.c checkpoints (or to replace a GGUF's).
	TokenizerPath string
	// Progress receives the fraction loaded; returning false cancels (ErrCancelled).
	Progress func(fraction float32) bool
	// Map maps the file (near-instant load) instead of reading it (the default); each weight
	// matrix is then copied to private memory, rearranged for the CPU's kernels as a read
	// file's are, during the first evaluations: as fast as a read file afterwards, with the
	// same results throughout.
	Map bool
	// Shared, with Map, uses the weights in place from the mapping instead: pages shared
	// with other processes, slower generation. (Unstable.)
	Shared bool
	// Backend runs the model: "" or "auto" (the best one built that has a device), "cpu",
	// "reference" (plain scalar f32, slow: the oracle), or a GPU backend where one is built.
	// Device is the index among the backend's devices. (Unstable.)
	Backend string
	Device  int
	// GPULayers, with a GPU backend, runs the first GPULayers layers on the device and the
	// rest on the CPU, for models larger than the device's memory. 0 (the zero value): all
	// layers on the device; to run none there, use Backend "cpu". (Unstable.)
	GPULayers int
}

// Model is a loaded model, immutable and safe for concurrent use.
type Model struct {
	p *C.cria_model
}

// Load reads a GGUF or llama2.c model file.
func Load(path string, opts *LoadOptions) (*Model, error) {
	if opts == nil {
		opts = &LoadOptions{}
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var params C.cria_model_params
	C.cria_model_params_init(&params)
	if opts.Map {
		params.load_mode = C.CRIA_LOAD_MAP
		if opts.Shared {
			params.load_mode = C.CRIA_LOAD_MAP_SHARED
		}
	}
	if opts.Backend != "" {
		cbackend := C.CString(opts.Backend)
		defer C.free(unsafe.Pointer(cbackend))
		params.backend = cbackend
	}
	params.device = C.int32_t(opts.Device)
	if opts.GPULayers > 0 {
		params.gpu_layers = C.int32_t(opts.GPULayers)
	}
	var ctok *C.char
	if opts.TokenizerPath != "" {
		ctok = C.CString(opts.TokenizerPath)
		defer C.free(unsafe.Pointer(ctok))
		params.tokenizer_path = ctok
	}
	var handle cgo.Handle
	state := &callbackState{onProgress: opts.Progress}
	if opts.Progress != nil {
		handle = cgo.NewHandle(state)
		defer handle.Delete()
	}
	var m *C.cria_model
	err := call(func() C.cria_status {
		return C.cria_go_load(cpath, &params, C.uintptr_t(handle), &m)
	})
	if state.panicked != nil {
		panic(state.panicked)
	}
	if err != nil {
		return nil, err
	}
	model := &Model{p: m}
	runtime.SetFinalizer(model, (*Model).Close)
	return model, nil
}

// Close frees the model; close its sessions first.
func (m *Model) Close() {
	if m.p != nil {
		C.cria_model_free(m.p)
		m.p = nil
		runtime.SetFinalizer(m, nil)
	}
}

// Info holds a model's hyper-parameters.
type Info struct {
	Format                                            string // "gguf" or "llama2c"
	Dim, HiddenDim, Layers, Heads, KVHeads, VocabSize int
	ContextLength                                     int
	RMSNormEps, RopeTheta                             float32
	HasVocabulary                                     bool
}

// Info returns the hyper-parameters.
func (m *Model) Info() (Info, error) {
	var i C.cria_model_info
	C.cria_model_info_init(&i)
	if err := call(func() C.cria_status { return C.cria_model_get_info(m.p, &i) }); err != nil {
		return Info{}, err
	}
	format := "gguf"
	if i.format == C.CRIA_FORMAT_LLAMA2C {
		format = "llama2c"
	}
	return Info{format, int(i.dim), int(i.hidden_dim), int(i.n_layers), int(i.n_heads),
		int(i.n_kv_heads), int(i.vocab_size), int(i.context_length), float32(i.rms_norm_eps),
		float32(i.rope_theta), bool(i.has_vocabulary)}, nil
}

// VocabSize is the number of tokens.
func (m *Model) VocabSize() int {
	var n C.int32_t
	if call(func() C.cria_status { return C.cria_model_vocab_size(m.p, &n) }) != nil {
		return 0
	}
	return int(n)
}

// BOS returns the begin-of-sequence token id.
func (m *Model) BOS() (int32, error) {
	var t C.int32_t
	err := call(func() C.cria_status { return C.cria_model_bos(m.p, &t) })
	return int32(t), err
}

// EOS returns the end-of-sequence token id.
func (m *Model) EOS() (int32, error) {
	var t C.int32_t
	err := call(func() C.cria_status { return C.cria_model_eos(m.p, &t) })
	return int32(t), err
}

// sizedText calls f with growing buffers until the text fits.
func sizedText(f func(buf *C.char, capacity C.size_t, length *C.size_t) C.cria_status) (string, error) {
	capacity := 64
	for {
		buf := (*C.char)(C.malloc(C.size_t(capacity)))
		var length C.size_t
		var st C.cria_status
		err := call(func() C.cria_status {
			st = f(buf, C.size_t(capacity), &length)
			return st
		})
		if st == C.CRIA_ERROR_BUFFER_TOO_SMALL && int(length)+1 > capacity {
			C.free(unsafe.Pointer(buf))
			capacity = int(length) + 1
			continue
		}
		defer C.free(unsafe.Pointer(buf))
		if err != nil {
			return "", err
		}
		return C.GoStringN(buf, C.int(length)), nil
	}
}

// TokenPiece is the vocabulary's piece for a token (SentencePiece form: "▁" for a space).
func (m *Model) TokenPiece(token int32) (string, error) {
	return sizedText(func(b *C.char, c C.size_t, n *C.size_t) C.cria_status {
		return C.cria_model_token_piece(m.p, C.int32_t(token), b, c, n)
	})
}

// TokenizeOptions select BOS/EOS and control-token parsing.
type TokenizeOptions struct {
	AddBOS, AddEOS, ParseSpecial bool
}

// Tokenize encodes UTF-8 text into token ids.
func (m *Model) Tokenize(text string, opts TokenizeOptions) ([]int32, error) {
	var flags C.uint32_t
	if opts.AddBOS {
		flags |= C.CRIA_TOKENIZE_ADD_BOS
	}
	if opts.AddEOS {
		flags |= C.CRIA_TOKENIZE_ADD_EOS
	}
	if opts.ParseSpecial {
		flags |= C.CRIA_TOKENIZE_PARSE_SPECIAL
	}
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	capacity := len(text) + 4
	for {
		ids := make([]int32, capacity)
		var n C.size_t
		var st C.cria_status
		err := call(func() C.cria_status {
			st = C.cria_tokenize(m.p, ctext, C.size_t(len(text)), flags,
				(*C.int32_t)(unsafe.Pointer(&ids[0])), C.size_t(capacity), &n)
			return st
		})
		if st == C.CRIA_ERROR_BUFFER_TOO_SMALL && int(n) > capacity {
			capacity = int(n)
			continue
		}
		if err != nil {
			return nil, err
		}
		return ids[:n], nil
	}
}

func tokenPtr(ids []int32) *C.int32_t {
	if len(ids) == 0 {
		return nil
	}
	return (*C.int32_t)(unsafe.Pointer(&ids[0]))
}

// Detokenize decodes token ids into text.
func (m *Model) Detokenize(ids []int32) (string, error) {
	return sizedText(func(b *C.char, c C.size_t, n *C.size_t) C.cria_status {
		return C.cria_detokenize(m.p, tokenPtr(ids), C.size_t(len(ids)), b, c, n)
	})
}

// Role of a chat message.
type Role int32

const (
	System    Role = C.CRIA_ROLE_SYSTEM
	User      Role = C.CRIA_ROLE_USER
	Assistant Role = C.CRIA_ROLE_ASSISTANT
)

// Message is one turn of a conversation.
type Message struct {
	Role    Role
	Content string
}

// ChatTemplate returns the token ids of a conversation in the Llama 2 chat format
// ("[INST]", "<<SYS>>"), as Meta's reference code builds them.
func (m *Model) ChatTemplate(messages []Message) ([]int32, error) {
	if len(messages) == 0 {
		return nil, &Error{Status: StatusInvalidArgument, Message: "the conversation has no message"}
	}
	size := C.size_t(unsafe.Sizeof(C.cria_chat_message{}))
	cmsgs := (*[1 << 20]C.cria_chat_message)(C.malloc(size * C.size_t(len(messages))))[:len(messages):len(messages)]
	defer C.free(unsafe.Pointer(&cmsgs[0]))
	for i, msg := range messages {
		cmsgs[i].role = C.int32_t(msg.Role)
		cmsgs[i].content = C.CString(msg.Content)
		defer C.free(unsafe.Pointer(cmsgs[i].content))
	}
	var n C.size_t
	var st C.cria_status
	err := call(func() C.cria_status {
		st = C.cria_chat_apply_template(m.p, &cmsgs[0], C.size_t(len(messages)), nil, 0, &n)
		return st
	})
	if st != C.CRIA_ERROR_BUFFER_TOO_SMALL {
		return nil, err
	}
	ids := make([]int32, int(n)+1)
	err = call(func() C.cria_status {
		return C.cria_chat_apply_template(m.p, &cmsgs[0], C.size_t(len(messages)),
			(*C.int32_t)(unsafe.Pointer(&ids[0])), C.size_t(len(ids)), &n)
	})
	if err != nil {
		return nil, err
	}
	return ids[:n], nil
}

// ---- sessions -------------------------------------------------------------------------

// Sampling parameters; DefaultSampling gives cria's defaults. Temperature 0 is greedy.
type Sampling struct {
	Temperature float32
	TopK        int
	TopP        float32
	Seed        uint64
	// The stages after these (unstable), as llama.cpp defines them; zero values mean off.
	// Penalties over the last RepeatLastN tokens, prompt included (0: the default, 64; -1:
	// the whole context): logits divided by RepeatPenalty where positive (multiplied where
	// negative; 0 or 1: off), lowered by FrequencyPenalty times the count and by
	// PresencePenalty. MinP keeps tokens at least MinP times as likely as the most likely;
	// TypicalP (0 or 1: off) is locally typical sampling; LogitBias adds to token logits
	// (float32(math.Inf(-1)) bans a token).
	RepeatLastN      int
	RepeatPenalty    float32
	FrequencyPenalty float32
	PresencePenalty  float32
	MinP             float32
	TypicalP         float32
	LogitBias        map[int32]float32
	// Mirostat 2 (Mirostat: 2) replaces top-k, typical, top-p and min-p: target surprise
	// MirostatTau bits (0: 5), learning rate MirostatEta (0: 0.1).
	Mirostat    int
	MirostatTau float32
	MirostatEta float32
	// Unstable. Grammar is a GBNF grammar (start rule root) the output must follow;
	// JSONSchemaToGrammar makes one from a JSON Schema. "": none.
	Grammar string
}

// DefaultSampling: temperature 0.8, top-k 40, top-p 0.95, seed 0, no other stages.
func DefaultSampling() Sampling { return Sampling{Temperature: 0.8, TopK: 40, TopP: 0.95} }

// stages is the C form of the stages after the seed; bias is C memory for the caller to free.
type stages struct {
	lastN                                  C.int32_t
	repeat, frequency, presence, minP, typ C.float
	bias                                   *C.cria_logit_bias
	nBias                                  C.size_t
	mirostat                               C.int32_t
	tau, eta                               C.float
	grammar                                *C.char // C memory, or nil
}

func cStages(s Sampling) stages {
	st := stages{lastN: 64, repeat: 1, frequency: C.float(s.FrequencyPenalty), presence: C.float(s.PresencePenalty),
		minP: C.float(s.MinP), typ: 1, mirostat: C.int32_t(s.Mirostat), tau: 5, eta: 0.1}
	if s.MirostatTau != 0 {
		st.tau = C.float(s.MirostatTau)
	}
	if s.MirostatEta != 0 {
		st.eta = C.float(s.MirostatEta)
	}
	if s.RepeatLastN != 0 {
		st.lastN = C.int32_t(s.RepeatLastN)
	}
	if s.RepeatPenalty != 0 {
		st.repeat = C.float(s.RepeatPenalty)
	}
	if s.TypicalP != 0 {
		st.typ = C.float(s.TypicalP)
	}
	if len(s.LogitBias) > 0 {
		tokens := make([]int32, 0, len(s.LogitBias))
		for t := range s.LogitBias {
			tokens = append(tokens, t)
		}
		sort.Slice(tokens, func(i, j int) bool { return tokens[i] < tokens[j] })
		st.bias = (*C.cria_logit_bias)(C.malloc(C.size_t(len(tokens)) * C.size_t(unsafe.Sizeof(C.cria_logit_bias{}))))
		arr := unsafe.Slice(st.bias, len(tokens))
		for i, t := range tokens {
			arr[i] = C.cria_logit_bias{token: C.int32_t(t), bias: C.float(s.LogitBias[t])}
		}
		st.nBias = C.size_t(len(tokens))
	}
	if s.Grammar != "" {
		st.grammar = C.CString(s.Grammar)
	}
	return st
}

// JSONSchemaToGrammar returns the GBNF grammar of the JSON texts a JSON Schema accepts, for
// Sampling.Grammar (unstable). A malformed schema gives ErrInvalidArgument naming the line
// and column, an unsupported keyword one naming it.
func JSONSchemaToGrammar(schema string) (string, error) {
	cschema := C.CString(schema)
	defer C.free(unsafe.Pointer(cschema))
	return sizedText(func(b *C.char, c C.size_t, n *C.size_t) C.cria_status {
		return C.cria_json_schema_to_grammar(cschema, b, c, n)
	})
}

// Greedy sampling always picks the most likely token.
func Greedy() Sampling { s := DefaultSampling(); s.Temperature = 0; return s }

// SessionOptions configure NewSession; zero values mean defaults.
type SessionOptions struct {
	ContextLength int       // 0: the model's
	Threads       int       // 0: one per core
	MaxBatch      int       // positions per pass; 0: 256
	Sampling      *Sampling // for Sample; nil: DefaultSampling
	// Unstable. ShiftContext: when the context is full, keep the first ShiftKeep positions
	// and drop the oldest half of the rest, re-evaluating nothing (false: ErrContextFull).
	ShiftContext bool
	ShiftKeep    int
}

// Session is one sequence over a model: KV cache, logits, sampler and text decoder.
// Use it from one goroutine at a time.
type Session struct {
	p     *C.cria_session
	model *Model
	vocab int
}

func cSampling(s Sampling) C.cria_sampling_params {
	var p C.cria_sampling_params
	C.cria_sampling_params_init(&p)
	p.temperature = C.float(s.Temperature)
	p.top_k = C.int32_t(s.TopK)
	p.top_p = C.float(s.TopP)
	p.seed = C.uint64_t(s.Seed)
	st := cStages(s)
	p.repeat_last_n, p.repeat_penalty, p.frequency_penalty, p.presence_penalty = st.lastN, st.repeat, st.frequency, st.presence
	p.min_p, p.typical_p, p.logit_bias, p.n_logit_bias = st.minP, st.typ, st.bias, st.nBias
	p.mirostat, p.mirostat_tau, p.mirostat_eta = st.mirostat, st.tau, st.eta
	p.grammar = st.grammar
	return p
}

// NewSession creates a session (allocates its KV cache).
func (m *Model) NewSession(opts *SessionOptions) (*Session, error) {
	if opts == nil {
		opts = &SessionOptions{}
	}
	sampling := DefaultSampling()
	if opts.Sampling != nil {
		sampling = *opts.Sampling
	}
	// Both structs live in C memory: the session params point to the sampling params.
	samp := (*C.cria_sampling_params)(C.malloc(C.size_t(unsafe.Sizeof(C.cria_sampling_params{}))))
	defer C.free(unsafe.Pointer(samp))
	*samp = cSampling(sampling)
	defer C.free(unsafe.Pointer(samp.logit_bias))
	defer C.free(unsafe.Pointer(samp.grammar))
	params := (*C.cria_session_params)(C.malloc(C.size_t(unsafe.Sizeof(C.cria_session_params{}))))
	defer C.free(unsafe.Pointer(params))
	C.cria_session_params_init(params)
	params.context_length = C.int32_t(opts.ContextLength)
	params.n_threads = C.int32_t(opts.Threads)
	if opts.MaxBatch > 0 {
		params.max_batch = C.int32_t(opts.MaxBatch)
	}
	params.sampling = samp
	if opts.ShiftContext {
		params.context_policy = C.CRIA_CONTEXT_SHIFT
	}
	params.shift_keep = C.int32_t(opts.ShiftKeep)
	var s *C.cria_session
	if err := call(func() C.cria_status { return C.cria_session_create(m.p, params, &s) }); err != nil {
		return nil, err
	}
	session := &Session{p: s, model: m, vocab: m.VocabSize()}
	runtime.SetFinalizer(session, (*Session).Close)
	return session, nil
}

// Close frees the session.
func (s *Session) Close() {
	if s.p != nil {
		C.cria_session_free(s.p)
		s.p = nil
		runtime.SetFinalizer(s, nil)
	}
}

// Reset forgets every position.
func (s *Session) Reset() error {
	return call(func() C.cria_status { return C.cria_session_reset(s.p) })
}

// SetSampling replaces the sampling parameters used by Sample.
func (s *Session) SetSampling(p Sampling) error {
	c := cSampling(p)
	defer C.free(unsafe.Pointer(c.logit_bias))
	defer C.free(unsafe.Pointer(c.grammar))
	return call(func() C.cria_status { return C.cria_session_set_sampling(s.p, &c) })
}

// NPast is the number of positions evaluated.
func (s *Session) NPast() int {
	var n C.int32_t
	_ = call(func() C.cria_status { return C.cria_session_n_past(s.p, &n) })
	return int(n)
}

// ContextLength is the session's capacity in positions.
func (s *Session) ContextLength() int {
	var n C.int32_t
	_ = call(func() C.cria_status { return C.cria_session_context_length(s.p, &n) })
	return int(n)
}

// Eval evaluates up to maxPositions (0: all) of tokens and returns how many it evaluated.
func (s *Session) Eval(tokens []int32, maxPositions int) (int, error) {
	var done C.size_t
	err := call(func() C.cria_status {
		return C.cria_session_eval(s.p, tokenPtr(tokens), C.size_t(len(tokens)), C.size_t(maxPositions), &done)
	})
	return int(done), err
}

// Logits returns the last evaluated position's logits.
func (s *Session) Logits() ([]float32, error) {
	out := make([]float32, s.vocab)
	var n C.size_t
	err := call(func() C.cria_status {
		return C.cria_session_logits(s.p, (*C.float)(unsafe.Pointer(&out[0])), C.size_t(len(out)), &n)
	})
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

// Sample draws the next token from the current logits with the session's sampler.
func (s *Session) Sample() (int32, error) {
	var t C.int32_t
	err := call(func() C.cria_status { return C.cria_session_sample(s.p, &t) })
	return int32(t), err
}

// Accept appends a token (evaluating it) and returns the text it completes.
func (s *Session) Accept(token int32) (string, error) {
	return sizedText(func(b *C.char, c C.size_t, n *C.size_t) C.cria_status {
		return C.cria_session_accept(s.p, C.int32_t(token), b, c, n)
	})
}

// FlushText returns text still held back (an incomplete UTF-8 sequence at the end).
func (s *Session) FlushText() (string, error) {
	return sizedText(func(b *C.char, c C.size_t, n *C.size_t) C.cria_status {
		return C.cria_session_flush_text(s.p, b, c, n)
	})
}

// ---- rewind, context shift and saved state (unstable) -----------------------------------

// Tokens returns the tokens at positions 0 .. NPast()-1.
func (s *Session) Tokens() ([]int32, error) {
	out := make([]int32, s.NPast()+1)
	var n C.size_t
	err := call(func() C.cria_status {
		return C.cria_session_tokens(s.p, (*C.int32_t)(unsafe.Pointer(&out[0])), C.size_t(len(out)), &n)
	})
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

// NEvaluated is the number of positions evaluated since the session was created: what
// Truncate and LoadState spare.
func (s *Session) NEvaluated() int64 {
	var n C.int64_t
	_ = call(func() C.cria_status { return C.cria_session_n_evaluated(s.p, &n) })
	return int64(n)
}

// Truncate removes positions nKeep .. NPast()-1 without evaluating the kept ones again (to
// edit the last message of a chat); the sampler is reset with the kept tokens in its
// penalties' window.
func (s *Session) Truncate(nKeep int) error {
	return call(func() C.cria_status { return C.cria_session_truncate(s.p, C.int32_t(nKeep)) })
}

// Shift removes positions nKeep .. nKeep+nDiscard-1 and moves the later ones down, their
// cached keys re-rotated, evaluating nothing.
func (s *Session) Shift(nKeep, nDiscard int) error {
	return call(func() C.cria_status { return C.cria_session_shift(s.p, C.int32_t(nKeep), C.int32_t(nDiscard)) })
}

// SaveState returns the session (cache, tokens, logits, pending text, sampler) as bytes.
func (s *Session) SaveState() ([]byte, error) {
	var size C.size_t
	err := call(func() C.cria_status { return C.cria_session_state_save(s.p, nil, 0, &size) })
	if err != nil && !errors.Is(err, ErrBufferTooSmall) {
		return nil, err
	}
	buf := C.malloc(size + 1)
	defer C.free(buf)
	if err := call(func() C.cria_status { return C.cria_session_state_save(s.p, buf, size, &size) }); err != nil {
		return nil, err
	}
	return C.GoBytes(buf, C.int(size)), nil
}

// LoadState takes back what SaveState gave into a session of the same model and sampling;
// damaged bytes give ErrInvalidFile, another model's state ErrInvalidArgument, and the
// session is then unchanged.
func (s *Session) LoadState(state []byte) error {
	buf := C.CBytes(state)
	defer C.free(buf)
	return call(func() C.cria_status { return C.cria_session_state_load(s.p, buf, C.size_t(len(state))) })
}

// Save writes SaveState's bytes to a file, whole or not at all.
func (s *Session) Save(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return call(func() C.cria_status { return C.cria_session_state_save_file(s.p, cpath) })
}

// Load takes back a file written by Save.
func (s *Session) Load(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return call(func() C.cria_status { return C.cria_session_state_load_file(s.p, cpath) })
}

// ---- embeddings (unstable) ------------------------------------------------------------

// EmbedOptions configure Embed. The zero value gives unit-length means over the tokens.
type EmbedOptions struct {
	LastToken   bool // the last token's hidden state instead of the mean over the tokens
	NoNormalize bool // keep the raw length instead of scaling to 1
}

// Embed returns one embedding per text (tokenized with BOS): the model's final hidden
// state pooled over the text. The texts are evaluated together.
func (m *Model) Embed(texts []string, opts EmbedOptions) ([][]float32, error) {
	var dim C.int32_t
	if err := call(func() C.cria_status { return C.cria_model_embedding_size(m.p, &dim) }); err != nil {
		return nil, err
	}
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	ctexts := make([]*C.char, len(texts))
	for i, t := range texts {
		ctexts[i] = C.CString(t)
		defer C.free(unsafe.Pointer(ctexts[i]))
	}
	// The array of pointers lives in C memory: cgo forbids Go memory holding Go pointers.
	arr := (**C.char)(C.malloc(C.size_t(len(texts)) * C.size_t(unsafe.Sizeof(ctexts[0]))))
	defer C.free(unsafe.Pointer(arr))
	copy(unsafe.Slice(arr, len(texts)), ctexts)
	var params C.cria_embed_params
	C.cria_embed_params_init(&params)
	if opts.LastToken {
		params.pooling = C.CRIA_POOLING_LAST
	}
	params.normalize = C.bool(!opts.NoNormalize)
	out := make([]float32, len(texts)*int(dim))
	var n C.size_t
	err := call(func() C.cria_status {
		return C.cria_embed(m.p, arr, C.size_t(len(texts)), &params, (*C.float)(unsafe.Pointer(&out[0])), C.size_t(len(out)), &n)
	})
	if err != nil {
		return nil, err
	}
	rows := make([][]float32, len(texts))
	for i := range rows {
		rows[i] = out[i*int(dim) : (i+1)*int(dim)]
	}
	return rows, nil
}

// ---- generation -----------------------------------------------------------------------

// GenerateOptions configure Generate. The zero value samples with DefaultSampling without
// a token limit.
type GenerateOptions struct {
	Sampling  *Sampling // nil: DefaultSampling
	MaxTokens int       // 0: no limit
	Stop      []string  // text that ends generation (not written)
}

// StopReason says why generation ended.
type StopReason int

const (
	EndOfSequence StopReason = C.CRIA_STOP_END_OF_SEQUENCE
	MaxTokens     StopReason = C.CRIA_STOP_MAX_TOKENS
	ContextFull   StopReason = C.CRIA_STOP_CONTEXT_FULL
	StopString    StopReason = C.CRIA_STOP_STOP_STRING
	Cancelled     StopReason = C.CRIA_STOP_CANCELLED
)

func (r StopReason) String() string {
	switch r {
	case EndOfSequence:
		return "end of sequence"
	case MaxTokens:
		return "max tokens"
	case ContextFull:
		return "context full"
	case StopString:
		return "stop string"
	case Cancelled:
		return "cancelled"
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// Result describes a finished generation.
type Result struct {
	StopReason      StopReason
	PromptTokens    int
	Tokens          int
	PromptSeconds   float64
	GenerateSeconds float64
}

// Generate evaluates a text prompt (with BOS when the session is empty) and writes the
// generated text to w as it is produced. Cancelling ctx stops it during the prompt or
// between tokens and returns ctx.Err(); a write error stops it and is returned.
func (s *Session) Generate(ctx context.Context, prompt string, opts GenerateOptions, w io.Writer) (Result, error) {
	ids, err := s.model.Tokenize(prompt, TokenizeOptions{AddBOS: s.NPast() == 0})
	if err != nil {
		return Result{}, err
	}
	return s.GenerateTokens(ctx, ids, opts, w)
}

// GenerateTokens is Generate with a prompt of token ids (e.g. from ChatTemplate).
func (s *Session) GenerateTokens(ctx context.Context, prompt []int32, opts GenerateOptions, w io.Writer) (Result, error) {
	var writeErr error
	g := newGeneration(ctx, opts, func(_ int, text string) bool {
		if w != nil {
			if _, err := io.WriteString(w, text); err != nil {
				writeErr = err
				return false
			}
		}
		return true
	})
	defer g.free()
	// The prompt is copied to C memory: cgo forbids keeping Go pointers in C across calls.
	var cprompt *C.int32_t
	if len(prompt) > 0 {
		cprompt = (*C.int32_t)(C.malloc(C.size_t(len(prompt)) * 4))
		defer C.free(unsafe.Pointer(cprompt))
		copy((*[1 << 28]int32)(unsafe.Pointer(cprompt))[:len(prompt):len(prompt)], prompt)
	}
	var res C.cria_generate_result
	C.cria_generate_result_init(&res)
	err := call(func() C.cria_status {
		return C.cria_go_generate(s.p, cprompt, C.size_t(len(prompt)), &g.params, C.uintptr_t(g.handle), &res)
	})
	if writeErr != nil && errors.Is(err, ErrCancelled) {
		err = writeErr
	}
	results, err := g.finish([]C.cria_generate_result{res}, err)
	return results[0], err
}

// GenerateBatch generates for several sessions of one model at once, prompts[i] (text, with
// BOS when the session is empty) for sessions[i]: each step samples every sequence still
// going and evaluates the new tokens in one pass over the weights, and each sequence gets
// the text Generate gives it alone. onText(i, text) receives sequence i's text as it is
// produced (it may be nil); returning false stops that sequence. Cancelling ctx stops all of
// them and returns ctx.Err(). (Unstable.)
func GenerateBatch(ctx context.Context, sessions []*Session, prompts []string, opts GenerateOptions,
	onText func(sequence int, text string) bool) ([]Result, error) {
	if len(sessions) != len(prompts) {
		return nil, fmt.Errorf("cria: %d sessions but %d prompts", len(sessions), len(prompts))
	}
	if len(sessions) == 0 {
		return nil, nil
	}
	g := newGeneration(ctx, opts, func(i int, text string) bool { return onText == nil || onText(i, text) })
	defer g.free()
	handles := make([]*C.cria_session, len(sessions))
	texts := make([]*C.char, len(prompts))
	for i := range sessions {
		handles[i] = sessions[i].p
		texts[i] = C.CString(prompts[i])
		defer C.free(unsafe.Pointer(texts[i]))
	}
	res := make([]C.cria_generate_result, len(sessions))
	for i := range res {
		C.cria_generate_result_init(&res[i])
	}
	err := call(func() C.cria_status {
		return C.cria_go_generate_batch(&handles[0], &texts[0], C.size_t(len(sessions)), &g.params,
			C.uintptr_t(g.handle), &res[0])
	})
	return g.finish(res, err)
}

// generation holds one generate call's C parameters and callback state.
type generation struct {
	ctx    context.Context
	params C.cria_generate_params
	state  *callbackState
	handle cgo.Handle
	cfree  []unsafe.Pointer
}

func newGeneration(ctx context.Context, opts GenerateOptions, onText func(sequence int, text string) bool) *generation {
	if ctx == nil {
		ctx = context.Background()
	}
	g := &generation{ctx: ctx}
	C.cria_generate_params_init(&g.params)
	sampling := DefaultSampling()
	if opts.Sampling != nil {
		sampling = *opts.Sampling
	}
	g.params.temperature = C.float(sampling.Temperature)
	g.params.top_k = C.int32_t(sampling.TopK)
	g.params.top_p = C.float(sampling.TopP)
	g.params.seed = C.uint64_t(sampling.Seed)
	st := cStages(sampling)
	g.params.repeat_last_n, g.params.repeat_penalty, g.params.frequency_penalty = st.lastN, st.repeat, st.frequency
	g.params.presence_penalty, g.params.min_p, g.params.typical_p = st.presence, st.minP, st.typ
	g.params.logit_bias, g.params.n_logit_bias = st.bias, st.nBias
	g.params.mirostat, g.params.mirostat_tau, g.params.mirostat_eta = st.mirostat, st.tau, st.eta
	g.params.grammar = st.grammar
	if st.grammar != nil {
		g.cfree = append(g.cfree, unsafe.Pointer(st.grammar))
	}
	if st.bias != nil {
		g.cfree = append(g.cfree, unsafe.Pointer(st.bias))
	}
	if opts.MaxTokens > 0 {
		g.params.max_tokens = C.int32_t(opts.MaxTokens)
	}
	if len(opts.Stop) > 0 {
		arr := (*[1 << 20]*C.char)(C.malloc(C.size_t(len(opts.Stop)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))[:len(opts.Stop):len(opts.Stop)]
		g.cfree = append(g.cfree, unsafe.Pointer(&arr[0]))
		for i, stop := range opts.Stop {
			arr[i] = C.CString(stop)
			g.cfree = append(g.cfree, unsafe.Pointer(arr[i]))
		}
		g.params.stop_strings = &arr[0]
		g.params.n_stop_strings = C.size_t(len(opts.Stop))
	}
	g.state = &callbackState{
		onText: func(sequence int, text string) bool {
			return ctx.Err() == nil && onText(sequence, text)
		},
		onProgress: func(float32) bool { return ctx.Err() == nil },
	}
	g.handle = cgo.NewHandle(g.state)
	return g
}

func (g *generation) free() {
	g.handle.Delete()
	for _, p := range g.cfree {
		C.free(p)
	}
}

// finish turns the C results into Results and the status into the error to return: ctx's
// when it cancelled, and a callback's panic goes on.
func (g *generation) finish(res []C.cria_generate_result, err error) ([]Result, error) {
	if g.state.panicked != nil {
		panic(g.state.panicked)
	}
	results := make([]Result, len(res))
	for i, r := range res {
		results[i] = Result{StopReason(r.stop_reason), int(r.n_prompt_tokens), int(r.n_tokens),
			float64(r.prompt_seconds), float64(r.generate_seconds)}
	}
	if errors.Is(err, ErrCancelled) && g.ctx.Err() != nil {
		return results, g.ctx.Err()
	}
	return results, err
}

// chanWriter sends each chunk of text on a channel, giving up when ctx is done.
type chanWriter struct {
	ctx context.Context
	ch  chan<- string
}

func (c chanWriter) Write(p []byte) (int, error) {
	select {
	case c.ch <- string(p):
		return len(p), nil
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}

// Stream generates in a new goroutine and delivers the text in chunks on the first channel,
// which is closed at the end; then the second channel receives the outcome (nil or an
// error) and is closed. Cancel ctx to stop early. The session must not be used until the
// error channel has delivered.
func (s *Session) Stream(ctx context.Context, prompt string, opts GenerateOptions) (<-chan string, <-chan error) {
	if ctx == nil {
		ctx = context.Background()
	}
	text := make(chan string, 16)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Generate(ctx, prompt, opts, chanWriter{ctx, text})
		close(text)
		errc <- err
		close(errc)
	}()
	return text, errc
}

// ---- batches --------------------------------------------------------------------------

// Batch queues tokens of several sessions of one model and evaluates them in one pass over
// the weights, each session keeping its own positions, logits and text. Use it from one
// goroutine at a time, with sessions no other goroutine is using. (Unstable.)
type Batch struct {
	p *C.cria_batch
}

// NewBatch creates an empty batch.
func NewBatch() (*Batch, error) {
	var b *C.cria_batch
	if err := call(func() C.cria_status { return C.cria_batch_create(&b) }); err != nil {
		return nil, err
	}
	batch := &Batch{p: b}
	runtime.SetFinalizer(batch, (*Batch).Close)
	return batch, nil
}

// Close frees the batch.
func (b *Batch) Close() {
	if b.p != nil {
		C.cria_batch_free(b.p)
		b.p = nil
		runtime.SetFinalizer(b, nil)
	}
}

// Add queues given tokens (a prompt) for s at its next positions, as Session.Eval.
func (b *Batch) Add(s *Session, tokens []int32) error {
	var ptr *C.int32_t
	if len(tokens) > 0 {
		ptr = (*C.int32_t)(unsafe.Pointer(&tokens[0]))
	}
	return call(func() C.cria_status { return C.cria_batch_add(b.p, s.p, ptr, C.size_t(len(tokens))) })
}

// Accept queues a generated token for s and returns its text, as Session.Accept.
func (b *Batch) Accept(s *Session, token int32) (string, error) {
	return sizedText(func(buf *C.char, c C.size_t, n *C.size_t) C.cria_status {
		return C.cria_batch_accept(b.p, s.p, C.int32_t(token), buf, c, n)
	})
}

// Eval evaluates every queued token and empties the batch.
func (b *Batch) Eval() error {
	return call(func() C.cria_status { return C.cria_batch_eval(b.p) })
}
