/*
** cria.h -- the C interface of cria, a library that runs Llama 2 models locally.
**
** This header is the reference for the stable C ABI. It is plain C99 and includes only
** <stddef.h>, <stdint.h> and <stdbool.h>. Link with -lcria (libcria.so.1 or libcria.a; the
** static library also needs the C++ runtime: see cria.pc or the CMake package cria::c_static).
**
** CONVENTIONS
**
**   Handles      cria_model, cria_session and cria_batch are opaque. Each is created by one
**                call (cria_model_load, cria_session_create, cria_batch_create) and released
**                by its _free function, which accepts NULL.
**
**   Status       Every call that can fail returns a cria_status: CRIA_OK (0) on success, a
**                CRIA_ERROR_* code otherwise. On failure, out-parameters are left unchanged
**                unless their documentation says otherwise, and cria_last_error() describes
**                the problem in English. No C++ exception ever leaves the library; running
**                out of memory is reported as CRIA_ERROR_OUT_OF_MEMORY.
**
**   Parameters   Option structs begin with `uint32_t struct_size`. Fill them with the
**                matching _init function, which sets struct_size = sizeof(the struct as the
**                library's own cria.h declares it) and every field to its default, then
**                change what you need. A program that may run with a newer library than the
**                cria.h it was built with must not call _init (it would write the newer,
**                larger struct): it sets struct_size = sizeof and every field itself, with
**                the defaults documented at each field. Fields are only ever appended to these
**                structs, so the library knows
**                from struct_size which fields a caller was compiled with:
**                  - a smaller struct_size (a caller built against an older cria.h) is
**                    accepted; the fields it does not contain take their defaults;
**                  - a struct_size larger than the library knows (a caller built against a
**                    newer cria.h, running with an older library) is refused with
**                    CRIA_ERROR_STRUCT_SIZE, as is a struct_size smaller than 4 (0: a struct
**                    that was not initialised).
**                Passing NULL for a parameter struct means "all defaults". Output structs
**                (cria_model_info, cria_generate_result) follow the same rule: the library
**                writes only the fields that fit in the caller's struct_size.
**
**   Buffers      The caller owns every buffer. A call that produces a variable amount of
**                data takes (buffer, capacity) and an out-parameter receiving the size the
**                full result needs. When the capacity is too small it returns
**                CRIA_ERROR_BUFFER_TOO_SMALL, stores the needed size, and changes nothing
**                else, so the caller can retry with a larger buffer; passing NULL with
**                capacity 0 is the way to ask for the size. Text is UTF-8; text buffers need
**                room for the text plus a terminating NUL, which is written after it (the
**                reported size excludes the NUL). The library never returns memory for the
**                caller to free.
**
**   Threads      A cria_model is immutable once loaded: any number of threads and sessions
**                may use it at the same time. A cria_session is used by one thread at a time
**                (it may move between threads); sessions are independent of each other, but
**                the sessions of one model share its thread pool and working memory, so their
**                evaluations run one at a time (a cria_batch evaluates several in one pass).
**                Free every session of a model before the model. cria_last_error() is per
**                thread.
**
**   Unstable     Declarations marked UNSTABLE are new: they may still change in a minor
**                version, until they settle.
**
**   Callbacks    Callbacks receive the `void *user_data` given with them and return true to
**                go on or false to cancel; a cancelled call returns CRIA_ERROR_CANCELLED.
**                Callbacks must not call into the session that is running them.
**
**   Tokens       Token ids are int32_t in [0, vocabulary size). Counts of tokens and sizes of
**                buffers are size_t; positions in a session are int32_t.
**
**   Paths        File names are NUL-terminated UTF-8 (invalid UTF-8 is refused).
**
** VERSIONING
**
**   CRIA_ABI_VERSION is the major version of this ABI; it is also the number in the shared
**   library's SONAME (libcria.so.1). It changes only when an existing declaration changes
**   incompatibly. A program should check at start-up that the library it runs with has the
**   ABI it was compiled for:
**
**       if (!CRIA_ABI_COMPATIBLE()) { fprintf(stderr, "%s\n", cria_last_error()); return 1; }
*/
#ifndef CRIA_H
#define CRIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* On Windows, programs using cria.dll import its functions; those linking the static library
** (cria::cria_static, cria-static.pc) are compiled with CRIA_STATIC defined. */
#if defined(_WIN32)
#  if defined(CRIA_BUILDING_LIBRARY)
#    define CRIA_API __declspec(dllexport)
#  elif defined(CRIA_STATIC)
#    define CRIA_API
#  else
#    define CRIA_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define CRIA_API __attribute__((visibility("default")))
#else
#  define CRIA_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Versions                                                                                  */
/* ---------------------------------------------------------------------------------------- */

#define CRIA_ABI_VERSION 1
#define CRIA_VERSION_MAJOR 0
#define CRIA_VERSION_MINOR 2
#define CRIA_VERSION_PATCH 0
#define CRIA_VERSION_STRING "0.2.0"

/* The library's version, e.g. "0.2.0" (a static string). */
CRIA_API const char *cria_version(void);

/* The ABI major version the library was built with (CRIA_ABI_VERSION of its cria.h). */
CRIA_API uint32_t cria_abi_version(void);

/* true when the library implements ABI `abi_version` (pass CRIA_ABI_VERSION). When not,
** cria_last_error() says which versions were expected and found. */
CRIA_API bool cria_abi_check(uint32_t abi_version);
#define CRIA_ABI_COMPATIBLE() cria_abi_check(CRIA_ABI_VERSION)

/* ---------------------------------------------------------------------------------------- */
/* Status                                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef enum cria_status {
  CRIA_OK = 0,
  CRIA_ERROR_INVALID_ARGUMENT = 1, /* NULL where a value is needed, value out of range,
                                      token id outside the vocabulary, invalid UTF-8 path */
  CRIA_ERROR_STRUCT_SIZE = 2,      /* struct_size 0, < 4, or larger than this library knows */
  CRIA_ERROR_BUFFER_TOO_SMALL = 3, /* the needed size was stored; nothing else changed */
  CRIA_ERROR_INVALID_FILE = 4,     /* a model or vocabulary file is malformed */
  CRIA_ERROR_UNSUPPORTED = 5,      /* well-formed but uses something cria cannot run */
  CRIA_ERROR_IO = 6,               /* the file cannot be opened, mapped or read */
  CRIA_ERROR_OUT_OF_MEMORY = 7,
  CRIA_ERROR_CONTEXT_FULL = 8,     /* the session has no room for more positions */
  CRIA_ERROR_CANCELLED = 9,        /* a callback returned false */
  CRIA_ERROR_INVALID_STATE = 10,   /* the call does not fit the object's state: no logits to
                                      sample from yet, a model without vocabulary, ... */
  CRIA_ERROR_INTERNAL = 11         /* a bug in cria: please report it with the message */
} cria_status;

/* The enumerator's name without prefix, e.g. "context_full"; "unknown" for other values. */
CRIA_API const char *cria_status_name(cria_status status);

/* The message of the most recent failed call made by this thread ("" if none). The text
** stays valid until the next failing cria call on this thread. */
CRIA_API const char *cria_last_error(void);

/* Callback type for progress (model loading, prompt evaluation): `progress` goes from 0 to
** 1. Return true to go on, false to cancel. */
typedef bool (*cria_progress_fn)(float progress, void *user_data);

/* ---------------------------------------------------------------------------------------- */
/* Models                                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct cria_model cria_model;

/* CRIA_LOAD_READ: the file is read into private memory (advised for huge pages) and Q4_0,
** Q8_0, Q4_K, Q5_K and Q6_K matrices are rearranged for the CPU's integer kernels: a full read
** at load. CRIA_LOAD_MAP: the file is mapped (near-instant load) and the CPU backend copies
** each weight matrix into private memory, rearranged as in read mode: where its kernels read
** the file's layout with the same results (matrices not rearranged; on AVX2 also Q4_0, Q4_K,
** Q5_K and Q6_K), the first evaluation reads the mapping and the later ones make the copies a
** part at a time (an eighth each); other matrices are copied by the first evaluation that
** reads them. Generation then runs as fast as in read mode, and with the same results
** throughout. A copy for which memory cannot be had is not made: that matrix is read in
** place, as CRIA_LOAD_MAP_SHARED reads it. A file larger than 90% of the available memory is
** used in place from the mapping in both modes. CRIA_LOAD_MAP_SHARED (UNSTABLE): weights are
** used in place from the mapping, their pages shared with other processes that map the file:
** slower generation (the file's layout and small pages). */
typedef enum cria_load_mode {
  CRIA_LOAD_READ = 0,
  CRIA_LOAD_MAP = 1,
  CRIA_LOAD_MAP_SHARED = 2
} cria_load_mode;

typedef struct cria_model_params {
  uint32_t struct_size;
  /* Vocabulary file (llama2.c tokenizer.bin, SentencePiece tokenizer.model or GGUF), UTF-8.
  ** Needed for llama2.c checkpoints, which carry none; replaces a GGUF file's own vocabulary.
  ** Default NULL. */
  const char *tokenizer_path;
  /* Called a few times during loading with the fraction done; returning false cancels the
  ** load (CRIA_ERROR_CANCELLED). Default NULL. */
  cria_progress_fn progress;
  void *progress_user_data;
  /* How weights reach memory (cria_load_mode). Default CRIA_LOAD_READ. */
  int32_t load_mode;
  /* UNSTABLE. The backend that runs the model, by name: NULL or "auto" (default: the best
  ** one built that has a device), "cpu", "reference" (plain scalar f32, the oracle the
  ** others are tested against: slow), or a GPU backend where one is built. A backend this
  ** library was not built with: CRIA_ERROR_UNSUPPORTED, naming those it was. */
  const char *backend;
  /* UNSTABLE. Index among the backend's devices. Default 0. */
  int32_t device;
  /* UNSTABLE. GPU backends: how many layers, from the first, run on the device (with the
  ** token embedding); the other layers, the final norm and the classifier run on the CPU
  ** backend, for models larger than the device's memory (llama.cpp's n_gpu_layers). -1
  ** (default) or the model's layer count or more: all; 0: none. Ignored by CPU backends.
  ** Below -1: CRIA_ERROR_INVALID_ARGUMENT. */
  int32_t gpu_layers;
} cria_model_params;

CRIA_API void cria_model_params_init(cria_model_params *params);

/* Loads a GGUF (v2, v3) or llama2.c model file; the format is detected from its content.
** The file is read or mapped as params->load_mode says, and every size in it is checked before use: a truncated or
** malformed file gives CRIA_ERROR_INVALID_FILE, a missing one CRIA_ERROR_IO. On success
** *out_model receives a new model, to release with cria_model_free. */
CRIA_API cria_status cria_model_load(const char *path, const cria_model_params *params,
                                     cria_model **out_model);
CRIA_API void cria_model_free(cria_model *model);

typedef enum cria_model_format {
  CRIA_FORMAT_GGUF = 0,
  CRIA_FORMAT_LLAMA2C = 1
} cria_model_format;

/* Hyper-parameters. */
typedef struct cria_model_info {
  uint32_t struct_size;
  int32_t format;          /* a cria_model_format */
  int32_t dim;             /* embedding width */
  int32_t hidden_dim;      /* feed-forward width */
  int32_t n_layers;
  int32_t n_heads;
  int32_t n_kv_heads;      /* < n_heads: grouped-query attention */
  int32_t vocab_size;
  int32_t context_length;  /* the context the model was trained for */
  float rms_norm_eps;
  float rope_theta;
  bool has_vocabulary;     /* false: tokenizer calls fail with CRIA_ERROR_INVALID_STATE */
} cria_model_info;

/* Fills `info`, whose struct_size the caller sets (cria_model_info_init does). */
CRIA_API void cria_model_info_init(cria_model_info *info);
CRIA_API cria_status cria_model_get_info(const cria_model *model, cria_model_info *info);

/* Vocabulary queries. The vocabulary size is also known without a vocabulary (it is the
** model's). The others need one (CRIA_ERROR_INVALID_STATE otherwise). */
CRIA_API cria_status cria_model_vocab_size(const cria_model *model, int32_t *out_size);
CRIA_API cria_status cria_model_bos(const cria_model *model, int32_t *out_token);
CRIA_API cria_status cria_model_eos(const cria_model *model, int32_t *out_token);

/* The vocabulary's piece for `token` in SentencePiece form ("\xE2\x96\x81" for a space,
** "<0x0A>" for a byte), written to `buffer` with a NUL after it; *out_length receives its
** length in bytes. */
CRIA_API cria_status cria_model_token_piece(const cria_model *model, int32_t token,
                                            char *buffer, size_t capacity,
                                            size_t *out_length);

/* ---------------------------------------------------------------------------------------- */
/* Tokenizer                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* Flags for cria_tokenize. */
#define CRIA_TOKENIZE_ADD_BOS       0x1u /* begin with the BOS token */
#define CRIA_TOKENIZE_ADD_EOS       0x2u /* end with the EOS token */
#define CRIA_TOKENIZE_PARSE_SPECIAL 0x4u /* turn control-token text ("<s>", "</s>") into its
                                            id; without it such text is ordinary text */

/* Encodes `text_length` bytes of UTF-8 `text` (SentencePiece BPE, as Llama 2 does) into
** `tokens`; *out_count receives the number of tokens. `flags` is a combination of
** CRIA_TOKENIZE_* (unknown bits: CRIA_ERROR_INVALID_ARGUMENT). */
CRIA_API cria_status cria_tokenize(const cria_model *model, const char *text,
                                   size_t text_length, uint32_t flags, int32_t *tokens,
                                   size_t capacity, size_t *out_count);

/* Decodes `count` tokens into UTF-8 text as SentencePiece does (a leading space of the
** first piece is dropped; BOS and EOS produce no text), NUL-terminated; *out_length
** receives its length in bytes. An id outside the vocabulary: CRIA_ERROR_INVALID_ARGUMENT. */
CRIA_API cria_status cria_detokenize(const cria_model *model, const int32_t *tokens,
                                     size_t count, char *buffer, size_t capacity,
                                     size_t *out_length);

/* ---------------------------------------------------------------------------------------- */
/* Chat template                                                                             */
/* ---------------------------------------------------------------------------------------- */

typedef enum cria_role {
  CRIA_ROLE_SYSTEM = 0,
  CRIA_ROLE_USER = 1,
  CRIA_ROLE_ASSISTANT = 2
} cria_role;

/* One message of a conversation. This struct is frozen (it is used in arrays). */
typedef struct cria_chat_message {
  int32_t role;         /* a cria_role */
  const char *content;  /* NUL-terminated UTF-8 */
} cria_chat_message;

/* Applies the Llama 2 chat template to a conversation and produces TOKEN IDS, exactly as
** Meta's reference code (llama/generation.py, chat_completion) does:
**
**   <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] {user} [/INST]
**
** Each user turn with the answer that follows it is tokenized separately, as
** "[INST] {user} [/INST] {assistant} " with BOS and EOS added as token ids; the final user
** turn as "[INST] {user} [/INST]" with BOS. Contents are stripped of surrounding white space
** and never parsed for control tokens: a user writing "</s>" gets that text, not EOS.
**
** Messages: an optional system message first, then user and assistant messages alternating,
** beginning and ending with a user message (anything else: CRIA_ERROR_INVALID_ARGUMENT).
** To continue a conversation in a session that already holds the previous turns and the
** model's answer, evaluate EOS and then the template of just the new user message. */
CRIA_API cria_status cria_chat_apply_template(const cria_model *model,
                                              const cria_chat_message *messages,
                                              size_t n_messages, int32_t *tokens,
                                              size_t capacity, size_t *out_count);

/* ---------------------------------------------------------------------------------------- */
/* Sessions                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* A session holds the state of one sequence over a model: the KV cache of the positions
** evaluated so far, the logits of the last one, the sampler (with its random generator) and
** a stream decoder for text. Create as many sessions over one model as you need; use each
** from one thread at a time. */
typedef struct cria_session cria_session;

/* UNSTABLE. A bias added to one token's logit before sampling (-INFINITY bans the token). */
typedef struct cria_logit_bias {
  int32_t token;
  float bias;
} cria_logit_bias;

/* The sampler chain runs in this order: logit bias, penalties, then the most likely token
** at temperature 0, else temperature, top-k, typical-p, top-p, min-p (or Mirostat) and a
** seeded draw. */
typedef struct cria_sampling_params {
  uint32_t struct_size;
  float temperature;  /* 0: greedy (the most likely token); default 0.8 */
  int32_t top_k;      /* keep the k most likely tokens; <= 0: all; default 40 */
  float top_p;        /* then the smallest set with probability >= top_p; 1: all; default 0.95 */
  uint64_t seed;      /* random generator seed: the same seed reproduces a run; default 0 */
  /* UNSTABLE. Penalties over the last repeat_last_n tokens of the sequence (those evaluated
  ** and accepted; 0: no penalties; -1: all; default 64), as llama.cpp defines them: a token
  ** seen there has its logit divided by repeat_penalty where positive, multiplied where
  ** negative (default 1: off), then lowered by frequency_penalty times its count and by
  ** presence_penalty (defaults 0). */
  int32_t repeat_last_n;
  float repeat_penalty;
  float frequency_penalty;
  float presence_penalty;
  float min_p;      /* UNSTABLE. keep tokens with p >= min_p x the largest p; default 0: off */
  float typical_p;  /* UNSTABLE. locally typical sampling; default 1: off */
  const cria_logit_bias *logit_bias;  /* UNSTABLE. n_logit_bias biases, copied; default none */
  size_t n_logit_bias;
  /* UNSTABLE. 2: Mirostat 2.0 after temperature, in place of top-k, typical-p, top-p and
  ** min-p (target surprise mirostat_tau bits, learning rate mirostat_eta; defaults 5, 0.1);
  ** 0 (default): off. */
  int32_t mirostat;
  float mirostat_tau;
  float mirostat_eta;
  /* UNSTABLE. A GBNF grammar (llama.cpp's syntax, start rule "root"), copied: only tokens that
  ** keep the output inside it are drawn, and end of text only where it is complete.
  ** cria_json_schema_to_grammar makes one from a JSON Schema. A malformed grammar:
  ** CRIA_ERROR_INVALID_ARGUMENT with its line and column. Default NULL: none. */
  const char *grammar;
} cria_sampling_params;

CRIA_API void cria_sampling_params_init(cria_sampling_params *params);

/* UNSTABLE. What a session does when a call needs more positions than its context has left. */
typedef enum cria_context_policy {
  CRIA_CONTEXT_STOP = 0,  /* the call fails with CRIA_ERROR_CONTEXT_FULL (generation stops) */
  CRIA_CONTEXT_SHIFT = 1  /* keep the first shift_keep positions, drop the oldest half of the
                          ** rest and move the newer half down (cria_session_shift) */
} cria_context_policy;

typedef struct cria_session_params {
  uint32_t struct_size;
  int32_t context_length;  /* KV cache positions; 0 (default): the model's context length */
  int32_t n_threads;       /* threads of its passes; 0 (default): one per core. The sessions of
                           ** a model that ask for the same count share one pool of threads */
  int32_t max_batch;       /* positions evaluated together in one pass; default 256 */
  /* Sampling used by cria_session_sample; NULL: defaults. Copied at creation. */
  const cria_sampling_params *sampling;
  int32_t context_policy;  /* UNSTABLE. A cria_context_policy; default CRIA_CONTEXT_STOP */
  int32_t shift_keep;      /* UNSTABLE. CRIA_CONTEXT_SHIFT: positions at the start that stay
                           ** (1 for BOS, more for a system prompt); default 0 */
} cria_session_params;

CRIA_API void cria_session_params_init(cria_session_params *params);

/* Creates a session (allocates the KV cache). The model must outlive the session. */
CRIA_API cria_status cria_session_create(const cria_model *model,
                                         const cria_session_params *params,
                                         cria_session **out_session);
CRIA_API void cria_session_free(cria_session *session);

/* Forgets every position, the logits and the pending text; re-seeds the sampler with its
** seed. The cache memory is kept. */
CRIA_API cria_status cria_session_reset(cria_session *session);

/* Replaces the sampling parameters (and re-seeds the sampler). */
CRIA_API cria_status cria_session_set_sampling(cria_session *session,
                                               const cria_sampling_params *params);

/* Positions evaluated so far, and the session's capacity. */
CRIA_API cria_status cria_session_n_past(const cria_session *session, int32_t *out_n_past);
CRIA_API cria_status cria_session_context_length(const cria_session *session,
                                                 int32_t *out_context_length);

/* ---------------------------------------------------------------------------------------- */
/* Rewind, context shift and saved state (UNSTABLE)                                          */
/* ---------------------------------------------------------------------------------------- */

/* UNSTABLE. Stops the evaluation running for this session in another thread (cria_generate*,
** cria_session_eval, cria_session_accept, cria_batch_eval): it returns CRIA_ERROR_CANCELLED
** within one layer's work (cria_generate*: result->stop_reason CRIA_STOP_CANCELLED), the
** positions it was evaluating are not added, and the session stays usable. With nothing
** running, the session's next evaluation is the one stopped. The one call that may be made on
** a session while another thread uses it; thread-safe. */
CRIA_API cria_status cria_session_cancel(cria_session *session);

/* UNSTABLE. The tokens at positions 0 .. n_past-1 (*out_count receives n_past; tokens NULL
** with capacity 0 asks for the count). */
CRIA_API cria_status cria_session_tokens(const cria_session *session, int32_t *tokens,
                                         size_t capacity, size_t *out_count);

/* UNSTABLE. Positions evaluated since the session was created (prompt tokens and accepted
** ones): rewinding and saved states spare evaluations, and this count shows it. */
CRIA_API cria_status cria_session_n_evaluated(const cria_session *session, int64_t *out_count);

/* UNSTABLE. Removes positions n_keep .. n_past-1 (0 <= n_keep <= n_past); the positions that
** stay are not evaluated again. To edit the last user message of a chat, truncate to where
** it began and evaluate the new one. Afterwards there are no logits until the next
** evaluation, the pending text is where decoding the kept tokens leaves it, and the sampler
** is reset (re-seeded) with the kept tokens in its penalties' window. */
CRIA_API cria_status cria_session_truncate(cria_session *session, int32_t n_keep);

/* UNSTABLE. Removes positions n_keep .. n_keep+n_discard-1 and moves the later positions
** down by n_discard without evaluating them (their cached keys are re-rotated to their new
** positions; what they computed over the removed positions stays, as in llama.cpp's context
** shift). Logits, pending text and sampler are kept. */
CRIA_API cria_status cria_session_shift(cria_session *session, int32_t n_keep, int32_t n_discard);

/* UNSTABLE. The session as bytes: the model it belongs to, its tokens, the keys and values of
** its positions, its logits, its pending text and its sampler's state (random generator,
** penalties' window, Mirostat's mu), in a versioned, checksummed format. Size query then
** fill: *out_size receives the size; with a smaller capacity, CRIA_ERROR_BUFFER_TOO_SMALL.
** The size is 2 x layers x n_past x kv_dim x 2 bytes (the F16 cache) plus a few kilobytes. */
CRIA_API cria_status cria_session_state_save(const cria_session *session, void *buffer,
                                             size_t capacity, size_t *out_size);

/* UNSTABLE. Takes a saved state back into a session of the same model whose context holds its
** positions and whose sampling parameters are those of the saved session; the session then
** goes on exactly as the saved one would have. Bytes that are not a saved state (truncated,
** corrupted, a newer format): CRIA_ERROR_INVALID_FILE; a state of another model, more
** positions than the context, other sampling stages: CRIA_ERROR_INVALID_ARGUMENT. On an
** error the session is unchanged. */
CRIA_API cria_status cria_session_state_load(cria_session *session, const void *buffer,
                                             size_t size);

/* UNSTABLE. The same through a file (UTF-8 path). Saving writes a temporary file beside `path`
** and renames it into place: an error (a full disk: CRIA_ERROR_IO) leaves no partial file and
** any old file as it was. */
CRIA_API cria_status cria_session_state_save_file(const cria_session *session, const char *path);
CRIA_API cria_status cria_session_state_load_file(cria_session *session, const char *path);

/* ---------------------------------------------------------------------------------------- */
/* Step API: evaluate, read logits, sample, accept                                          */
/* ---------------------------------------------------------------------------------------- */
/*
** For callers that drive generation themselves, e.g. a game that must not block a frame:
**
**     size_t done = 0;                      // prompt tokens from cria_tokenize
**     every frame:
**       if (done < n_prompt) {              // spread the prompt over frames
**         size_t k; cria_session_eval(s, prompt + done, n_prompt - done, 8, &k); done += k;
**       } else {                            // then one token per step
**         int32_t t; cria_session_sample(s, &t);
**         if (t == eos) stop;
**         cria_session_accept(s, t, text, sizeof text, &len);   // evaluates t, gives its text
**       }
**
** Each call does a bounded amount of work, so cancelling is simply not calling again.
*/

/* Evaluates up to `max_positions` of the `count` tokens (all of them when max_positions is
** 0) at the next positions of the session; *out_evaluated (may be NULL) receives how many
** were evaluated. Afterwards the logits are those of the last evaluated position. Tokens
** that do not fit in the context: CRIA_ERROR_CONTEXT_FULL, and nothing is evaluated. */
CRIA_API cria_status cria_session_eval(cria_session *session, const int32_t *tokens,
                                       size_t count, size_t max_positions,
                                       size_t *out_evaluated);

/* Copies the logits of the last evaluated position (vocabulary-size floats) to `logits`;
** *out_count receives the vocabulary size. No position evaluated since creation or reset:
** CRIA_ERROR_INVALID_STATE. */
CRIA_API cria_status cria_session_logits(const cria_session *session, float *logits,
                                         size_t capacity, size_t *out_count);

/* Draws the next token from the current logits with the session's sampler (which advances
** its random generator). Does not change the sequence: pass the token to accept. */
CRIA_API cria_status cria_session_sample(cria_session *session, int32_t *out_token);

/* The same, from caller-supplied logits (e.g. the session's logits after applying a bias);
** `count` must be the vocabulary size. */
CRIA_API cria_status cria_session_sample_logits(cria_session *session, const float *logits,
                                                size_t count, int32_t *out_token);

/* Appends `token` to the sequence: evaluates it (one position, so the logits for the next
** token are ready) and writes the text it completes (possibly "" while a multi-byte UTF-8
** character is incomplete) to `text` with a NUL; *out_length receives the text's length.
** When the text does not fit, CRIA_ERROR_BUFFER_TOO_SMALL is returned with the needed length
** and the token is NOT accepted (retry with a larger buffer; 64 bytes nearly always do).
** Exception to the buffer convention: text NULL with capacity 0 accepts the token and
** discards its text. The concatenated texts continue the text of the tokens evaluated
** before exactly. A full context: CRIA_ERROR_CONTEXT_FULL. */
CRIA_API cria_status cria_session_accept(cria_session *session, int32_t token, char *text,
                                         size_t capacity, size_t *out_length);

/* Ends a stream of accepted tokens: writes the bytes still held back (an incomplete UTF-8
** sequence at the end, each byte becoming U+FFFD) and clears them; text accepted afterwards
** starts as a new text (its leading space dropped). Usual buffer rules: on
** CRIA_ERROR_BUFFER_TOO_SMALL nothing is cleared. */
CRIA_API cria_status cria_session_flush_text(cria_session *session, char *text,
                                             size_t capacity, size_t *out_length);

/* ---------------------------------------------------------------------------------------- */
/* Batches: several sessions in one pass (UNSTABLE)                                          */
/* ---------------------------------------------------------------------------------------- */
/*
** A batch queues tokens of several sessions of one model and evaluates them together, so that
** one pass over the weights serves all of them: N sequences generating side by side cost
** little more than one, as long as reading the weights is what limits generation. Each
** session keeps its own positions, and its logits and text are those it would get alone.
** For a game with many characters:
**
**     every frame:
**       for each talking character i:
**         cria_session_sample(s[i], &t);                       // its own sampler
**         if (t == eos) { stop i; continue; }
**         cria_batch_accept(batch, s[i], t, text, sizeof text, &len);   // show text now
**       cria_batch_eval(batch);                                // one pass for all of them
**
** A batch is used by one thread at a time, with sessions that no other thread is using; a
** session must not be freed while tokens of it are queued.
*/
typedef struct cria_batch cria_batch;

CRIA_API cria_status cria_batch_create(cria_batch **out_batch);
CRIA_API void cria_batch_free(cria_batch *batch);

/* Queues `count` tokens for `session` at its next positions (after those already queued for
** it), as cria_session_eval does: their text counts as given, not generated. Tokens that do
** not fit in the session's context: CRIA_ERROR_CONTEXT_FULL and nothing is queued; a session
** of another model than the others queued: CRIA_ERROR_INVALID_ARGUMENT. */
CRIA_API cria_status cria_batch_add(cria_batch *batch, cria_session *session,
                                    const int32_t *tokens, size_t count);

/* Queues one generated token for `session`, as cria_session_accept does (same buffer rules:
** when its text does not fit, CRIA_ERROR_BUFFER_TOO_SMALL and the token is not queued), and
** writes its text now; the token is evaluated by cria_batch_eval. */
CRIA_API cria_status cria_batch_accept(cria_batch *batch, cria_session *session, int32_t token,
                                       char *text, size_t capacity, size_t *out_length);

/* Evaluates every queued token (passes of at most the smallest max_batch of the sessions) and
** empties the batch, also when it fails. Each session's logits become those of its last
** queued token. */
CRIA_API cria_status cria_batch_eval(cria_batch *batch);

/* ---------------------------------------------------------------------------------------- */
/* High-level generation                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* Receives each piece of generated text: `length` bytes of complete UTF-8 (also
** NUL-terminated), valid only during the call. Return true to go on, false to stop. */
typedef bool (*cria_text_fn)(const char *text, size_t length, void *user_data);

typedef enum cria_stop_reason {
  CRIA_STOP_END_OF_SEQUENCE = 0, /* the model produced EOS (or BOS, a document boundary) */
  CRIA_STOP_MAX_TOKENS = 1,
  CRIA_STOP_CONTEXT_FULL = 2,
  CRIA_STOP_STOP_STRING = 3,     /* a stop string was produced (it is not passed on) */
  CRIA_STOP_CANCELLED = 4        /* a callback returned false */
} cria_stop_reason;

typedef struct cria_generate_params {
  uint32_t struct_size;
  float temperature;        /* as in cria_sampling_params; defaults 0.8, 40, 0.95, 0 */
  int32_t top_k;
  float top_p;
  uint64_t seed;
  int32_t max_tokens;       /* tokens to generate at most; < 0 (default -1): no limit */
  /* Text that ends generation when produced; it is held back and not passed on. */
  const char *const *stop_strings;  /* n_stop_strings NUL-terminated strings, compared as
                                    ** bytes; empty ones are ignored */
  size_t n_stop_strings;
  /* Called after each batch of prompt positions with the fraction of the prompt done;
  ** returning false cancels. Default NULL. */
  cria_progress_fn prompt_progress;
  void *prompt_progress_user_data;
  /* UNSTABLE. As in cria_sampling_params (the window starts with the prompt); same defaults. */
  int32_t repeat_last_n;
  float repeat_penalty;
  float frequency_penalty;
  float presence_penalty;
  float min_p;
  float typical_p;
  const cria_logit_bias *logit_bias;
  size_t n_logit_bias;
  int32_t mirostat;
  float mirostat_tau;
  float mirostat_eta;
  const char *grammar;  /* UNSTABLE. As in cria_sampling_params. */
} cria_generate_params;

CRIA_API void cria_generate_params_init(cria_generate_params *params);

typedef struct cria_generate_result {
  uint32_t struct_size;
  int32_t stop_reason;       /* a cria_stop_reason */
  int32_t n_prompt_tokens;   /* prompt tokens evaluated */
  int32_t n_tokens;          /* tokens generated */
  double prompt_seconds;     /* time spent evaluating the prompt */
  double generate_seconds;   /* time spent generating */
} cria_generate_result;

CRIA_API void cria_generate_result_init(cria_generate_result *result);

/* Evaluates `prompt` (NUL-terminated UTF-8; tokenized with BOS when the session is empty,
** without when it continues) after what the session holds, then samples tokens with the
** parameters (a sampler seeded for this call; the session's own sampler is not used) until
** EOS, max_tokens, a stop string, a full context, or `on_text` returns false, passing the
** text to `on_text` (may be NULL) as it is produced. `result` may be NULL.
**
** Afterwards the session holds the prompt and the generated tokens (not the final EOS), so
** a later call continues the text. Returns CRIA_OK when generation ended by itself
** (reasons end_of_sequence, max_tokens, stop_string, context_full) and CRIA_ERROR_CANCELLED
** when a callback cancelled (result->stop_reason is then CRIA_STOP_CANCELLED). A prompt
** that does not fit in the free context gives CRIA_ERROR_CONTEXT_FULL before any work. */
CRIA_API cria_status cria_generate(cria_session *session, const char *prompt,
                                   const cria_generate_params *params, cria_text_fn on_text,
                                   void *user_data, cria_generate_result *result);

/* The same with a prompt of token ids (e.g. from cria_chat_apply_template), used as given.
** With count 0 it continues from the session's current logits. */
CRIA_API cria_status cria_generate_tokens(cria_session *session, const int32_t *prompt,
                                          size_t count, const cria_generate_params *params,
                                          cria_text_fn on_text, void *user_data,
                                          cria_generate_result *result);

/* UNSTABLE. Receives a piece of text of sequence `sequence` (the index of its session in the
** call); otherwise as cria_text_fn. Returning false stops that sequence only. */
typedef bool (*cria_sequence_text_fn)(size_t sequence, const char *text, size_t length,
                                      void *user_data);

/* UNSTABLE. cria_generate for `n` sessions of one model at once, prompts[i] for sessions[i]:
** each prompt is evaluated in its own session's passes, then every step samples each
** sequence that is still going and evaluates all the new tokens in one pass. Each sequence's
** tokens and text are those cria_generate gives it alone with the same parameters (each gets
** a sampler seeded with params->seed). `results` (may be NULL) is an array of n structs
** initialised with cria_generate_result_init; their common struct_size is the array's stride.
** Returns CRIA_ERROR_CANCELLED when a callback cancelled some sequence (its result says
** CRIA_STOP_CANCELLED; a prompt_progress callback cancels all of them), else as cria_generate. */
CRIA_API cria_status cria_generate_batch(cria_session *const *sessions,
                                         const char *const *prompts, size_t n,
                                         const cria_generate_params *params,
                                         cria_sequence_text_fn on_text, void *user_data,
                                         cria_generate_result *results);

/* UNSTABLE. The GBNF grammar of the JSON texts that a JSON Schema (NUL-terminated) accepts:
** objects (properties in order, required ones always present), arrays (items, minItems,
** maxItems), strings (enum, const, minLength, maxLength), numbers, integers, booleans, null,
** enum/const, anyOf/oneOf, type lists and $ref to #/$defs or #/definitions. Size query then
** fill. A malformed schema, or a keyword that would change what is valid but is not
** supported: CRIA_ERROR_INVALID_ARGUMENT with the line and column or the keyword. */
CRIA_API cria_status cria_json_schema_to_grammar(const char *schema, char *grammar, size_t capacity,
                                                 size_t *out_length);

/* ---------------------------------------------------------------------------------------- */
/* Embeddings (UNSTABLE)                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* UNSTABLE. How the hidden states of a text's tokens become one vector. */
typedef enum cria_pooling {
  CRIA_POOLING_MEAN = 0,  /* the mean over the text's tokens */
  CRIA_POOLING_LAST = 1   /* the last token's */
} cria_pooling;

typedef struct cria_embed_params {
  uint32_t struct_size;
  int32_t pooling;   /* a cria_pooling; default CRIA_POOLING_MEAN */
  bool normalize;    /* scale to length 1 (L2), for cosine similarity; default true */
  int32_t n_threads; /* 0 (default): the model's */
  int32_t max_batch; /* positions evaluated together in one pass; default 256 */
} cria_embed_params;

CRIA_API void cria_embed_params_init(cria_embed_params *params);

/* UNSTABLE. The embedding width (the model's hidden size, dim). */
CRIA_API cria_status cria_model_embedding_size(const cria_model *model, int32_t *out_size);

/* UNSTABLE. Embeddings of `n_texts` texts (NUL-terminated UTF-8, each tokenized with BOS): the
** model's final hidden state (the classifier's input) pooled per text, written to
** `embeddings` as n_texts rows of cria_model_embedding_size floats (capacity counts floats;
** *out_count receives n_texts x size; too small: CRIA_ERROR_BUFFER_TOO_SMALL before any
** work). The texts are evaluated together, many per pass; each text's embedding is what it
** gets alone. A text longer than the model's context: CRIA_ERROR_CONTEXT_FULL. Thread
** safety: as sessions of the model (any thread; passes of one model run one at a time). */
CRIA_API cria_status cria_embed(const cria_model *model, const char *const *texts, size_t n_texts,
                                const cria_embed_params *params, float *embeddings,
                                size_t capacity, size_t *out_count);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CRIA_H */
