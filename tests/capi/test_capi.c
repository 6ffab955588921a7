/* The C ABI from a pure C99 program: normal use, misuse (status codes, never crashes) and
** struct versioning. Needs CRIA_SHARED_DIR (the fixtures) and CRIA_TEST_TMP (a scratch
** directory) in the environment. */
#define _POSIX_C_SOURCE 200809L
#include "cria.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Counted with atomic adds: checks also run on the threads of the thread tests. */
static int g_failures = 0;
static int g_checks = 0;
#define COUNT(counter) __atomic_fetch_add(&(counter), 1, __ATOMIC_RELAXED)

#define CHECK(cond)                                                                 \
  do {                                                                              \
    COUNT(g_checks);                                                                \
    if (!(cond)) {                                                                  \
      COUNT(g_failures);                                                            \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, cria_last_error());                                            \
    }                                                                               \
  } while (0)

#define CHECK_STATUS(call, expected)                                                \
  do {                                                                              \
    cria_status st_ = (call);                                                       \
    COUNT(g_checks);                                                                \
    if (st_ != (expected)) {                                                        \
      COUNT(g_failures);                                                            \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n",     \
              __FILE__, __LINE__, #call, cria_status_name(st_),                     \
              cria_status_name(expected), cria_last_error());                       \
    }                                                                               \
  } while (0)

static char g_models[1024];
static char g_tmp[1024];

static const char *model_path(const char *name) {
  static char buf[4][1200];
  static int next = 0;
  char *p = buf[next++ % 4];
  snprintf(p, 1200, "%s/%s", g_models, name);
  return p;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  long n;
  char *s;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  s = (char *)malloc((size_t)n + 1);
  if (fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
  s[n] = '\0';
  fclose(f);
  return s;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(data, 1, n, f);
  fclose(f);
}

/* ---- collecting text from callbacks -------------------------------------------------- */

typedef struct text_sink {
  char text[8192];
  size_t length;
  int calls;
  int cancel_after; /* < 0: never */
} text_sink;

static bool collect(const char *text, size_t length, void *user_data) {
  text_sink *s = (text_sink *)user_data;
  CHECK(text[length] == '\0');
  if (s->length + length < sizeof s->text) {
    memcpy(s->text + s->length, text, length);
    s->length += length;
    s->text[s->length] = '\0';
  }
  s->calls++;
  return s->cancel_after < 0 || s->calls < s->cancel_after;
}

static bool cancel_now(float progress, void *user_data) {
  (void)progress;
  ++*(int *)user_data;
  return false;
}

typedef struct progress_log {
  int calls;
  float last;
  bool monotonic;
} progress_log;

static bool log_progress(float progress, void *user_data) {
  progress_log *p = (progress_log *)user_data;
  if (p->calls > 0 && progress < p->last) p->monotonic = false;
  p->last = progress;
  p->calls++;
  return true;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_versions(void) {
  CHECK(cria_abi_version() == CRIA_ABI_VERSION);
  CHECK(CRIA_ABI_COMPATIBLE());
  CHECK(strcmp(cria_version(), CRIA_VERSION_STRING) == 0);
  CHECK(!cria_abi_check(CRIA_ABI_VERSION + 1));
  CHECK(strstr(cria_last_error(), "ABI") != NULL);
  CHECK(strcmp(cria_status_name(CRIA_ERROR_CONTEXT_FULL), "context_full") == 0);
  CHECK(strcmp(cria_status_name((cria_status)12345), "unknown") == 0);
}

static void test_load_errors(void) {
  cria_model *m = NULL;
  cria_model_params p;
  char path[1200];
  static const char garbage[] = "this is not a model file, just some text of some length....";
  unsigned char gguf_header[64];
  char *truncated;
  int cancels = 0;

  CHECK_STATUS(cria_model_load(NULL, NULL, &m), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK(m == NULL);
  CHECK(strlen(cria_last_error()) > 0);
  CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), NULL, NULL), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_model_load("", NULL, &m), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_model_load(model_path("no-such-model.gguf"), NULL, &m), CRIA_ERROR_IO);
  CHECK(strstr(cria_last_error(), "no-such-model.gguf") != NULL);
  CHECK_STATUS(cria_model_load("/tmp/\xff\xfe-invalid-utf8.gguf", NULL, &m), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_model_load("/tmp/\xed\xa0\x80-surrogate.gguf", NULL, &m), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_model_load(g_models, NULL, &m), CRIA_ERROR_IO); /* a directory */

  snprintf(path, sizeof path, "%s/capi-garbage.bin", g_tmp);
  write_bytes(path, garbage, sizeof garbage);
  CHECK_STATUS(cria_model_load(path, NULL, &m), CRIA_ERROR_INVALID_FILE);

  memset(gguf_header, 0xFF, sizeof gguf_header); /* version 3, absurd counts */
  memcpy(gguf_header, "GGUF\x03\x00\x00\x00", 8);
  snprintf(path, sizeof path, "%s/capi-bad-header.gguf", g_tmp);
  write_bytes(path, gguf_header, sizeof gguf_header);
  CHECK_STATUS(cria_model_load(path, NULL, &m), CRIA_ERROR_INVALID_FILE);

  truncated = read_text(model_path("stories260K.gguf"));
  CHECK(truncated != NULL);
  if (truncated) {
    snprintf(path, sizeof path, "%s/capi-truncated.gguf", g_tmp);
    write_bytes(path, truncated, 20000);
    CHECK_STATUS(cria_model_load(path, NULL, &m), CRIA_ERROR_INVALID_FILE);
    free(truncated);
  }
  CHECK(m == NULL);

  /* struct sizes */
  cria_model_params_init(&p);
  p.struct_size = 0;
  CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), &p, &m), CRIA_ERROR_STRUCT_SIZE);
  p.struct_size = (uint32_t)sizeof p + 8;
  CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), &p, &m), CRIA_ERROR_STRUCT_SIZE);
  CHECK(strstr(cria_last_error(), "newer") != NULL);

  /* a progress callback that cancels at once */
  cria_model_params_init(&p);
  p.progress = cancel_now;
  p.progress_user_data = &cancels;
  CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), &p, &m), CRIA_ERROR_CANCELLED);
  CHECK(cancels == 1);
  CHECK(m == NULL);

  /* load modes: each loads; an unknown one is named in the error */
  cria_model_params_init(&p);
  CHECK(p.load_mode == CRIA_LOAD_READ);
  p.load_mode = CRIA_LOAD_MAP;
  CHECK_STATUS(cria_model_load(model_path("synth256.q4_0.gguf"), &p, &m), CRIA_OK);
  cria_model_free(m);
  m = NULL;
  p.load_mode = CRIA_LOAD_MAP_SHARED;
  CHECK_STATUS(cria_model_load(model_path("synth256.q4_0.gguf"), &p, &m), CRIA_OK);
  cria_model_free(m);
  m = NULL;
  p.load_mode = 7;
  CHECK_STATUS(cria_model_load(model_path("synth256.q4_0.gguf"), &p, &m), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(cria_last_error(), "load_mode") != NULL);
  CHECK(m == NULL);
  /* a struct from before load_mode existed loads with the default */
  cria_model_params_init(&p);
  p.struct_size = (uint32_t)offsetof(cria_model_params, load_mode);
  CHECK_STATUS(cria_model_load(model_path("synth256.q4_0.gguf"), &p, &m), CRIA_OK);
  cria_model_free(m);
  m = NULL;

  /* a tokenizer path that is missing or not UTF-8 */
  cria_model_params_init(&p);
  p.tokenizer_path = "/nonexistent/tokenizer.bin";
  CHECK_STATUS(cria_model_load(model_path("stories260K.bin"), &p, &m), CRIA_ERROR_IO);
  p.tokenizer_path = "\xc0\xaf";
  CHECK_STATUS(cria_model_load(model_path("stories260K.bin"), &p, &m), CRIA_ERROR_INVALID_ARGUMENT);
  /* a vocabulary of the wrong size */
  p.tokenizer_path = model_path("llama2-tokenizer.bin");
  CHECK(cria_model_load(model_path("stories260K.bin"), &p, &m) != CRIA_OK);
  CHECK(m == NULL);

  cria_model_free(NULL); /* allowed */
}

static void test_llama2c(void) {
  cria_model *m = NULL;
  cria_model_params p;
  cria_model_info info;
  int32_t ids[16];
  size_t n = 0;
  progress_log log = {0, 0.0f, true};

  CHECK_STATUS(cria_model_load(model_path("stories260K.bin"), NULL, &m), CRIA_OK);
  cria_model_info_init(&info);
  CHECK_STATUS(cria_model_get_info(m, &info), CRIA_OK);
  CHECK(info.format == CRIA_FORMAT_LLAMA2C);
  CHECK(!info.has_vocabulary);
  CHECK(info.vocab_size == 512);
  CHECK_STATUS(cria_tokenize(m, "hi", 2, 0, ids, 16, &n), CRIA_ERROR_INVALID_STATE);
  CHECK_STATUS(cria_model_bos(m, &ids[0]), CRIA_ERROR_INVALID_STATE);
  cria_model_free(m);
  m = NULL;

  cria_model_params_init(&p);
  p.tokenizer_path = model_path("stories260K.tok512.bin");
  p.progress = log_progress;
  p.progress_user_data = &log;
  CHECK_STATUS(cria_model_load(model_path("stories260K.bin"), &p, &m), CRIA_OK);
  CHECK(log.calls >= 2);
  CHECK(log.monotonic);
  CHECK(log.last == 1.0f);
  CHECK_STATUS(cria_tokenize(m, "Once upon a time", 16, CRIA_TOKENIZE_ADD_BOS, ids, 16, &n), CRIA_OK);
  CHECK(n > 2 && ids[0] == 1);
  cria_model_free(m);
}

/* The model as an older caller would see cria_model_info: only its first fields. */
typedef struct old_model_info {
  uint32_t struct_size;
  int32_t format;
  int32_t dim;
} old_model_info;

static void test_info_and_vocab(cria_model *m) {
  cria_model_info info;
  old_model_info old;
  int32_t v = 0, bos = -1, eos = -1;
  char piece[64];
  size_t len = 0;

  cria_model_info_init(&info);
  CHECK_STATUS(cria_model_get_info(NULL, &info), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_model_get_info(m, NULL), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_model_get_info(m, &info), CRIA_OK);
  CHECK(info.format == CRIA_FORMAT_GGUF);
  CHECK(info.dim == 64 && info.hidden_dim == 172 && info.n_layers == 5);
  CHECK(info.n_heads == 8 && info.n_kv_heads == 4 && info.vocab_size == 512);
  CHECK(info.context_length == 2048);
  CHECK(info.has_vocabulary);
  CHECK(info.rms_norm_eps > 0.0f && info.rope_theta > 0.0f);

  /* an older, smaller output struct: only its fields are written */
  memset(&old, 0x55, sizeof old);
  old.struct_size = (uint32_t)sizeof old;
  CHECK_STATUS(cria_model_get_info(m, (cria_model_info *)(void *)&old), CRIA_OK);
  CHECK(old.format == CRIA_FORMAT_GGUF && old.dim == 64);
  info.struct_size = (uint32_t)sizeof info + 4;
  CHECK_STATUS(cria_model_get_info(m, &info), CRIA_ERROR_STRUCT_SIZE);

  CHECK_STATUS(cria_model_vocab_size(m, &v), CRIA_OK);
  CHECK(v == 512);
  CHECK_STATUS(cria_model_vocab_size(m, NULL), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_model_vocab_size(NULL, &v), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_model_bos(m, &bos), CRIA_OK);
  CHECK_STATUS(cria_model_eos(m, &eos), CRIA_OK);
  CHECK(bos == 1 && eos == 2);

  CHECK_STATUS(cria_model_token_piece(m, bos, piece, sizeof piece, &len), CRIA_OK);
  CHECK(strcmp(piece, "<s>") == 0 && len == 3);
  /* size query, then a too small buffer, then invalid ids */
  len = 0;
  CHECK_STATUS(cria_model_token_piece(m, eos, NULL, 0, &len), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK(len == 4);
  memset(piece, 'x', sizeof piece);
  CHECK_STATUS(cria_model_token_piece(m, eos, piece, 4, &len), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK(piece[0] == 'x');
  CHECK_STATUS(cria_model_token_piece(m, eos, piece, 5, &len), CRIA_OK);
  CHECK(strcmp(piece, "</s>") == 0);
  CHECK_STATUS(cria_model_token_piece(m, -1, piece, sizeof piece, &len), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_model_token_piece(m, 512, piece, sizeof piece, &len), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_model_token_piece(m, 3, piece, sizeof piece, NULL), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_model_token_piece(m, 3, NULL, 10, &len), CRIA_ERROR_INVALID_ARGUMENT);
}

static void test_tokenizer(cria_model *m) {
  const char *text = "Once upon a time";
  int32_t ids[64], one[1];
  size_t n = 0, need = 0, len = 0;
  char out[128];
  int32_t bad[2] = {1, 9999};

  CHECK_STATUS(cria_tokenize(m, text, strlen(text), CRIA_TOKENIZE_ADD_BOS, NULL, 0, &need),
               CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK(need > 1);
  CHECK_STATUS(cria_tokenize(m, text, strlen(text), CRIA_TOKENIZE_ADD_BOS, one, 1, &n),
               CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK_STATUS(cria_tokenize(m, text, strlen(text), CRIA_TOKENIZE_ADD_BOS, ids, 64, &n), CRIA_OK);
  CHECK(n == need && ids[0] == 1);
  CHECK_STATUS(cria_tokenize(m, text, strlen(text), CRIA_TOKENIZE_ADD_BOS | CRIA_TOKENIZE_ADD_EOS,
                             ids, 64, &n), CRIA_OK);
  CHECK(n == need + 1 && ids[n - 1] == 2);
  CHECK_STATUS(cria_tokenize(m, text, strlen(text), 0x80, ids, 64, &n), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_tokenize(m, NULL, 5, 0, ids, 64, &n), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_tokenize(m, text, strlen(text), 0, ids, 64, NULL), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_tokenize(NULL, text, strlen(text), 0, ids, 64, &n), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_tokenize(m, "", 0, 0, ids, 64, &n), CRIA_OK);
  CHECK(n == 0);
  /* special tokens only when asked */
  CHECK_STATUS(cria_tokenize(m, "</s>", 4, CRIA_TOKENIZE_PARSE_SPECIAL, ids, 64, &n), CRIA_OK);
  CHECK(n == 1 && ids[0] == 2);
  CHECK_STATUS(cria_tokenize(m, "</s>", 4, 0, ids, 64, &n), CRIA_OK);
  CHECK(n > 1);

  CHECK_STATUS(cria_tokenize(m, text, strlen(text), CRIA_TOKENIZE_ADD_BOS, ids, 64, &n), CRIA_OK);
  CHECK_STATUS(cria_detokenize(m, ids, n, NULL, 0, &len), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK(len == strlen(text));
  CHECK_STATUS(cria_detokenize(m, ids, n, out, len, &len), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK_STATUS(cria_detokenize(m, ids, n, out, sizeof out, &len), CRIA_OK);
  CHECK(strcmp(out, text) == 0);
  CHECK_STATUS(cria_detokenize(m, bad, 2, out, sizeof out, &len), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_detokenize(m, NULL, 2, out, sizeof out, &len), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_detokenize(m, NULL, 0, out, sizeof out, &len), CRIA_OK);
  CHECK(len == 0 && out[0] == '\0');
}

/* The greedy completion llama2.c prints after "Once upon a time". */
static char *golden_completion(void) {
  char path[1200];
  char *g;
  snprintf(path, sizeof path, "%s/../golden/stories260K.once.t0.n200.txt", g_models);
  g = read_text(path);
  if (!g || strncmp(g, "Once upon a time", 16) != 0) return NULL;
  memmove(g, g + 16, strlen(g + 16) + 1);
  return g;
}

static cria_session *new_session(cria_model *m, int32_t context_length, float temperature) {
  cria_session *s = NULL;
  cria_session_params sp;
  cria_sampling_params samp;
  cria_session_params_init(&sp);
  cria_sampling_params_init(&samp);
  samp.temperature = temperature;
  sp.context_length = context_length;
  sp.n_threads = 1;
  sp.sampling = &samp;
  CHECK_STATUS(cria_session_create(m, &sp, &s), CRIA_OK);
  return s;
}

static void test_generate(cria_model *m, const char *golden) {
  cria_session *s = new_session(m, 0, 0.0f);
  cria_generate_params gp;
  cria_generate_result r;
  text_sink sink;
  const char *stops[1];
  char stop[8];
  const char *at;
  int32_t n_past = 0;
  int cancels = 0;

  cria_generate_params_init(&gp);
  gp.temperature = 0.0f;
  gp.max_tokens = 40;
  cria_generate_result_init(&r);
  memset(&sink, 0, sizeof sink);
  sink.cancel_after = -1;
  CHECK_STATUS(cria_generate(s, "Once upon a time", &gp, collect, &sink, &r), CRIA_OK);
  CHECK(r.stop_reason == CRIA_STOP_MAX_TOKENS);
  CHECK(r.n_tokens == 40);
  CHECK(r.n_prompt_tokens == 5);
  CHECK(sink.length > 40);
  CHECK(golden && strncmp(golden, sink.text, sink.length) == 0);
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past == 45); /* the prompt and every generated token */

  /* stop strings: the text up to the first occurrence, the string itself held back */
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  memcpy(stop, golden + 60, 5);
  stop[5] = '\0';
  stops[0] = stop;
  gp.stop_strings = stops;
  gp.n_stop_strings = 1;
  gp.max_tokens = 100;
  memset(&sink, 0, sizeof sink);
  sink.cancel_after = -1;
  CHECK_STATUS(cria_generate(s, "Once upon a time", &gp, collect, &sink, &r), CRIA_OK);
  CHECK(r.stop_reason == CRIA_STOP_STOP_STRING);
  at = strstr(golden, stop);
  CHECK(at && sink.length == (size_t)(at - golden) && strncmp(golden, sink.text, sink.length) == 0);
  gp.n_stop_strings = 0;
  gp.stop_strings = NULL;

  /* a text callback that cancels at once */
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  memset(&sink, 0, sizeof sink);
  sink.cancel_after = 1;
  CHECK_STATUS(cria_generate(s, "Once upon a time", &gp, collect, &sink, &r), CRIA_ERROR_CANCELLED);
  CHECK(r.stop_reason == CRIA_STOP_CANCELLED);
  CHECK(sink.calls == 1);

  /* a prompt progress callback that cancels at once */
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  gp.prompt_progress = cancel_now;
  gp.prompt_progress_user_data = &cancels;
  CHECK_STATUS(cria_generate(s, "Once upon a time", &gp, collect, &sink, &r), CRIA_ERROR_CANCELLED);
  CHECK(cancels == 1);
  gp.prompt_progress = NULL;

  /* misuse */
  CHECK_STATUS(cria_generate(NULL, "x", &gp, collect, &sink, &r), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_generate(s, NULL, &gp, collect, &sink, &r), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_generate_tokens(s, NULL, 3, &gp, collect, &sink, &r), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  CHECK_STATUS(cria_generate_tokens(s, NULL, 0, &gp, collect, &sink, &r), CRIA_ERROR_INVALID_ARGUMENT);
  {
    int32_t bad[2] = {1, 4096};
    CHECK_STATUS(cria_generate_tokens(s, bad, 2, &gp, collect, &sink, &r), CRIA_ERROR_INVALID_ARGUMENT);
  }
  gp.struct_size = 0;
  CHECK_STATUS(cria_generate(s, "x", &gp, collect, &sink, &r), CRIA_ERROR_STRUCT_SIZE);
  gp.struct_size = (uint32_t)sizeof gp * 2;
  CHECK_STATUS(cria_generate(s, "x", &gp, collect, &sink, &r), CRIA_ERROR_STRUCT_SIZE);
  cria_generate_params_init(&gp);
  gp.top_p = -1.0f;
  CHECK_STATUS(cria_generate(s, "x", &gp, collect, &sink, &r), CRIA_ERROR_INVALID_ARGUMENT);
  /* NULL callback and NULL result are allowed */
  cria_generate_params_init(&gp);
  gp.max_tokens = 3;
  CHECK_STATUS(cria_generate(s, "Once", &gp, NULL, NULL, NULL), CRIA_OK);
  cria_session_free(s);
}

static void test_context_full(cria_model *m) {
  cria_session *s = new_session(m, 16, 0.0f);
  cria_generate_params gp;
  cria_generate_result r;
  text_sink sink;
  int32_t n_past = 0, ctx = 0;

  CHECK_STATUS(cria_session_context_length(s, &ctx), CRIA_OK);
  CHECK(ctx == 16);
  cria_generate_params_init(&gp);
  gp.temperature = 0.0f;
  cria_generate_result_init(&r);
  memset(&sink, 0, sizeof sink);
  sink.cancel_after = -1;
  CHECK_STATUS(cria_generate(s, "Once upon a time", &gp, collect, &sink, &r), CRIA_OK);
  CHECK(r.stop_reason == CRIA_STOP_CONTEXT_FULL);
  CHECK(r.n_tokens == 11);
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past == 16);
  /* the session is finished: generating again is refused, before any work */
  memset(&sink, 0, sizeof sink);
  CHECK_STATUS(cria_generate(s, "more", &gp, collect, &sink, &r), CRIA_ERROR_CONTEXT_FULL);
  CHECK_STATUS(cria_generate_tokens(s, NULL, 0, &gp, collect, &sink, &r), CRIA_ERROR_CONTEXT_FULL);
  CHECK(sink.calls == 0);
  {
    char text[64];
    size_t len = 0;
    CHECK_STATUS(cria_session_accept(s, 5, text, sizeof text, &len), CRIA_ERROR_CONTEXT_FULL);
  }
  /* a prompt longer than the context */
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  CHECK_STATUS(cria_generate(s, "Once upon a time there was a little girl who liked to play in the park",
                             &gp, collect, &sink, &r), CRIA_ERROR_CONTEXT_FULL);
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past == 0);
  cria_session_free(s);
}

/* The stages beyond temperature, top-k and top-p through cria_sampling_params. */
static void test_sampler_stages(cria_model *m) {
  cria_session *s = new_session(m, 64, 0.0f);
  cria_sampling_params samp;
  cria_logit_bias ban;
  int32_t prompt[32], greedy = -1, tok = -1;
  size_t n_prompt = 0, k = 0;

  CHECK_STATUS(cria_tokenize(m, "Once upon a time", 16, CRIA_TOKENIZE_ADD_BOS, prompt, 32, &n_prompt), CRIA_OK);
  CHECK_STATUS(cria_session_eval(s, prompt, n_prompt, 0, &k), CRIA_OK);
  CHECK_STATUS(cria_session_sample(s, &greedy), CRIA_OK);
  cria_sampling_params_init(&samp);
  CHECK(samp.repeat_last_n == 64 && samp.repeat_penalty == 1.0f && samp.frequency_penalty == 0.0f &&
        samp.presence_penalty == 0.0f && samp.min_p == 0.0f && samp.typical_p == 1.0f && samp.n_logit_bias == 0);
  /* a bias of -infinity bans the greedy choice */
  samp.temperature = 0.0f;
  ban.token = greedy;
  ban.bias = -INFINITY;
  samp.logit_bias = &ban;
  samp.n_logit_bias = 1;
  CHECK_STATUS(cria_session_set_sampling(s, &samp), CRIA_OK);
  CHECK_STATUS(cria_session_sample(s, &tok), CRIA_OK);
  CHECK(tok >= 0 && tok != greedy);
  samp.logit_bias = NULL;
  CHECK_STATUS(cria_session_set_sampling(s, &samp), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(cria_last_error(), "logit_bias") != NULL);
  samp.n_logit_bias = 0;
  samp.repeat_penalty = -1.0f;
  CHECK_STATUS(cria_session_set_sampling(s, &samp), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(cria_last_error(), "repeat_penalty") != NULL);
  samp.repeat_penalty = 1.0f;
  CHECK(samp.mirostat == 0 && samp.mirostat_tau == 5.0f && samp.mirostat_eta == 0.1f);
  samp.temperature = 1.0f;
  samp.mirostat = 2;
  CHECK_STATUS(cria_session_set_sampling(s, &samp), CRIA_OK);
  CHECK_STATUS(cria_session_sample(s, &tok), CRIA_OK);
  samp.mirostat = 1;
  CHECK_STATUS(cria_session_set_sampling(s, &samp), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(cria_last_error(), "mirostat") != NULL);
  cria_session_free(s);
}

static void test_step_api(cria_model *m, const char *golden) {
  cria_session *s = new_session(m, 64, 0.0f);
  int32_t prompt[32], tok = -1, eos = 2;
  size_t n_prompt = 0, done = 0, k = 0, len = 0, n_logits = 0, i;
  float *logits = (float *)malloc(512 * sizeof(float));
  char text[4096] = "", piece[64];
  size_t text_len = 0;
  int32_t n_past = 0, best = 0;
  int steps;

  CHECK_STATUS(cria_session_sample(s, &tok), CRIA_ERROR_INVALID_STATE);
  CHECK_STATUS(cria_session_logits(s, logits, 512, &n_logits), CRIA_ERROR_INVALID_STATE);
  CHECK_STATUS(cria_tokenize(m, "Once upon a time", 16, CRIA_TOKENIZE_ADD_BOS, prompt, 32, &n_prompt), CRIA_OK);

  /* the prompt, at most two positions per call */
  while (done < n_prompt) {
    CHECK_STATUS(cria_session_eval(s, prompt + done, n_prompt - done, 2, &k), CRIA_OK);
    CHECK(k >= 1 && k <= 2);
    if (k == 0) break;
    done += k;
  }
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past == (int32_t)n_prompt);

  CHECK_STATUS(cria_session_logits(s, NULL, 0, &n_logits), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK(n_logits == 512);
  CHECK_STATUS(cria_session_logits(s, logits, 100, &n_logits), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK_STATUS(cria_session_logits(s, logits, 512, &n_logits), CRIA_OK);
  for (i = 1; i < 512; ++i)
    if (logits[i] > logits[best]) best = (int32_t)i;
  CHECK_STATUS(cria_session_sample(s, &tok), CRIA_OK);
  CHECK(tok == best);
  CHECK_STATUS(cria_session_sample_logits(s, logits, 512, &tok), CRIA_OK);
  CHECK(tok == best);
  CHECK_STATUS(cria_session_sample_logits(s, logits, 511, &tok), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_session_sample_logits(s, NULL, 512, &tok), CRIA_ERROR_INVALID_ARGUMENT);

  /* misuse of accept and eval leaves the session as it was */
  CHECK_STATUS(cria_session_accept(s, -3, piece, sizeof piece, &len), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_session_accept(s, 512, piece, sizeof piece, &len), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_session_accept(s, tok, piece, 1, &len), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK(len > 0);
  CHECK_STATUS(cria_session_accept(s, tok, piece, sizeof piece, NULL), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_session_accept(NULL, tok, piece, sizeof piece, &len), CRIA_ERROR_INVALID_ARGUMENT);
  {
    int32_t bad[3] = {5, 6, 100000};
    CHECK_STATUS(cria_session_eval(s, bad, 3, 0, &k), CRIA_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(cria_session_eval(s, NULL, 3, 0, &k), CRIA_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(cria_session_eval(s, bad, 0, 0, &k), CRIA_OK);
    CHECK(k == 0);
  }
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past == (int32_t)n_prompt);

  /* sample and accept: the same text as generate */
  for (steps = 0; steps < 40; ++steps) {
    CHECK_STATUS(cria_session_sample(s, &tok), CRIA_OK);
    if (tok == eos) break;
    CHECK_STATUS(cria_session_accept(s, tok, piece, sizeof piece, &len), CRIA_OK);
    CHECK(len == strlen(piece));
    if (text_len + len < sizeof text) {
      memcpy(text + text_len, piece, len + 1);
      text_len += len;
    }
  }
  CHECK_STATUS(cria_session_flush_text(s, piece, sizeof piece, &len), CRIA_OK);
  CHECK(len == 0);
  CHECK(golden && strncmp(golden, text, text_len) == 0 && text_len > 40);

  /* eval beyond the context: nothing is evaluated */
  {
    int32_t many[64];
    for (i = 0; i < 64; ++i) many[i] = 5;
    CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
    CHECK_STATUS(cria_session_eval(s, many, 64, 0, &k), CRIA_ERROR_CONTEXT_FULL);
    CHECK_STATUS(cria_session_eval(s, many, 64, (size_t)(64 - n_past), &k), CRIA_OK);
    CHECK(k == (size_t)(64 - n_past));
    CHECK_STATUS(cria_session_eval(s, many, 1, 0, &k), CRIA_ERROR_CONTEXT_FULL);
  }
  /* accept with the text discarded */
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  CHECK_STATUS(cria_session_eval(s, prompt, n_prompt, 0, NULL), CRIA_OK);
  CHECK_STATUS(cria_session_sample(s, &tok), CRIA_OK);
  CHECK_STATUS(cria_session_accept(s, tok, NULL, 0, &len), CRIA_OK);
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past == (int32_t)n_prompt + 1);

  CHECK_STATUS(cria_session_set_sampling(s, NULL), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_session_reset(NULL), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_session_n_past(NULL, &n_past), CRIA_ERROR_INVALID_ARGUMENT);
  cria_session_free(s);
  cria_session_free(NULL);
  free(logits);
}

/* Older callers: smaller structs than this header declares. */
typedef struct old_sampling_params {
  uint32_t struct_size;
  float temperature;
  int32_t top_k;
} old_sampling_params;

typedef struct old_session_params {
  uint32_t struct_size;
  int32_t context_length;
} old_session_params;

typedef struct old_generate_params {
  uint32_t struct_size;
  float temperature;
  int32_t top_k;
  float top_p;
  uint64_t seed;
  int32_t max_tokens;
} old_generate_params;

typedef struct old_generate_result {
  uint32_t struct_size;
  int32_t stop_reason;
} old_generate_result;

static void test_struct_versions(cria_model *m, const char *golden) {
  cria_session *s = NULL;
  old_session_params osp;
  old_sampling_params osamp;
  old_generate_params ogp;
  old_generate_result ores;
  cria_session_params sp;
  cria_sampling_params samp;
  text_sink sink;
  int32_t ctx = 0, tok = -1, prompt[16];
  size_t n = 0;
  /* a struct as a future header might declare it: larger */
  struct {
    cria_generate_params known;
    int64_t future_field;
  } newer;

  osp.struct_size = (uint32_t)sizeof osp;
  osp.context_length = 32;
  CHECK_STATUS(cria_session_create(m, (const cria_session_params *)(const void *)&osp, &s), CRIA_OK);
  CHECK_STATUS(cria_session_context_length(s, &ctx), CRIA_OK);
  CHECK(ctx == 32);

  osamp.struct_size = (uint32_t)sizeof osamp;
  osamp.temperature = 0.0f;
  osamp.top_k = 1;
  CHECK_STATUS(cria_session_set_sampling(s, (const cria_sampling_params *)(const void *)&osamp), CRIA_OK);
  CHECK_STATUS(cria_tokenize(m, "Once upon a time", 16, CRIA_TOKENIZE_ADD_BOS, prompt, 16, &n), CRIA_OK);
  CHECK_STATUS(cria_session_eval(s, prompt, n, 0, NULL), CRIA_OK);
  CHECK_STATUS(cria_session_sample(s, &tok), CRIA_OK);
  CHECK(tok >= 0 && tok < 512);

  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  ogp.struct_size = (uint32_t)sizeof ogp;
  ogp.temperature = 0.0f;
  ogp.top_k = 40;
  ogp.top_p = 0.95f;
  ogp.seed = 1;
  ogp.max_tokens = 10;
  ores.struct_size = (uint32_t)sizeof ores;
  ores.stop_reason = -1;
  memset(&sink, 0, sizeof sink);
  sink.cancel_after = -1;
  CHECK_STATUS(cria_generate(s, "Once upon a time", (const cria_generate_params *)(const void *)&ogp,
                             collect, &sink, (cria_generate_result *)(void *)&ores), CRIA_OK);
  CHECK(ores.stop_reason == CRIA_STOP_MAX_TOKENS);
  CHECK(golden && sink.length > 10 && strncmp(golden, sink.text, sink.length) == 0);

  /* newer (larger) structs are refused with a clear status and message */
  cria_generate_params_init(&newer.known);
  newer.known.struct_size = (uint32_t)sizeof newer;
  newer.future_field = 0;
  CHECK_STATUS(cria_generate(s, "x", &newer.known, collect, &sink, NULL), CRIA_ERROR_STRUCT_SIZE);
  CHECK(strstr(cria_last_error(), "newer cria.h") != NULL);
  cria_sampling_params_init(&samp);
  samp.struct_size = 3;
  CHECK_STATUS(cria_session_set_sampling(s, &samp), CRIA_ERROR_STRUCT_SIZE);
  cria_session_params_init(&sp);
  sp.struct_size = (uint32_t)sizeof sp + 1;
  {
    cria_session *t = NULL;
    CHECK_STATUS(cria_session_create(m, &sp, &t), CRIA_ERROR_STRUCT_SIZE);
    CHECK(t == NULL);
    cria_session_params_init(&sp);
    sp.context_length = -5;
    CHECK_STATUS(cria_session_create(m, &sp, &t), CRIA_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(cria_session_create(NULL, NULL, &t), CRIA_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(cria_session_create(m, NULL, NULL), CRIA_ERROR_INVALID_ARGUMENT);
    /* an invalid sampling struct inside valid session params */
    cria_session_params_init(&sp);
    cria_sampling_params_init(&samp);
    samp.struct_size = 0;
    sp.sampling = &samp;
    CHECK_STATUS(cria_session_create(m, &sp, &t), CRIA_ERROR_STRUCT_SIZE);
    CHECK(t == NULL);
  }
  cria_session_free(s);
}

static void test_chat_template(void) {
  cria_model *m = NULL;
  cria_chat_message msgs[5];
  int32_t ids[512], expect[512];
  size_t n = 0, n_expect = 0, i, need = 0;
  int eos_then_bos = 0;
  const char *first_turn = "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello! [/INST]";

  CHECK_STATUS(cria_model_load(model_path("llama2-tiny-random.gguf"), NULL, &m), CRIA_OK);
  if (!m) return;
  msgs[0].role = CRIA_ROLE_SYSTEM;
  msgs[0].content = "Be brief.";
  msgs[1].role = CRIA_ROLE_USER;
  msgs[1].content = "Hello!  \n"; /* the turn is stripped */
  CHECK_STATUS(cria_chat_apply_template(m, msgs, 2, ids, 512, &n), CRIA_OK);
  CHECK_STATUS(cria_tokenize(m, first_turn, strlen(first_turn), CRIA_TOKENIZE_ADD_BOS, expect, 512, &n_expect), CRIA_OK);
  CHECK(n == n_expect && memcmp(ids, expect, n * sizeof ids[0]) == 0);
  /* Llama 2's ids for "<s>[INST]" */
  CHECK(n > 4 && ids[0] == 1 && ids[1] == 518 && ids[2] == 25580 && ids[3] == 29962);

  msgs[2].role = CRIA_ROLE_ASSISTANT;
  msgs[2].content = "Hi.";
  msgs[3].role = CRIA_ROLE_USER;
  msgs[3].content = "</s> is not EOS here";
  CHECK_STATUS(cria_chat_apply_template(m, msgs, 4, NULL, 0, &need), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK_STATUS(cria_chat_apply_template(m, msgs, 4, ids, 512, &n), CRIA_OK);
  CHECK(n == need);
  for (i = 0; i + 1 < n; ++i)
    if (ids[i] == 2 && ids[i + 1] == 1) ++eos_then_bos;
  CHECK(eos_then_bos == 1); /* the answer's EOS then the next turn's BOS; "</s>" stays text */
  {
    const char *t1 = "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello! [/INST] Hi. ";
    const char *t2 = "[INST] </s> is not EOS here [/INST]";
    size_t n1 = 0, n2 = 0;
    CHECK_STATUS(cria_tokenize(m, t1, strlen(t1), CRIA_TOKENIZE_ADD_BOS | CRIA_TOKENIZE_ADD_EOS, expect, 512, &n1), CRIA_OK);
    CHECK_STATUS(cria_tokenize(m, t2, strlen(t2), CRIA_TOKENIZE_ADD_BOS, expect + n1, 512 - n1, &n2), CRIA_OK);
    CHECK(n == n1 + n2 && memcmp(ids, expect, n * sizeof ids[0]) == 0);
  }
  /* without a system message */
  CHECK_STATUS(cria_chat_apply_template(m, msgs + 1, 1, ids, 512, &n), CRIA_OK);
  CHECK(ids[0] == 1 && ids[1] == 518);

  /* invalid conversations */
  CHECK_STATUS(cria_chat_apply_template(m, msgs, 0, ids, 512, &n), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_chat_apply_template(m, msgs, 1, ids, 512, &n), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_chat_apply_template(m, msgs, 3, ids, 512, &n), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_chat_apply_template(m, msgs + 2, 2, ids, 512, &n), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_chat_apply_template(m, NULL, 2, ids, 512, &n), CRIA_ERROR_INVALID_ARGUMENT);
  msgs[4] = msgs[1];
  msgs[4].role = 7;
  CHECK_STATUS(cria_chat_apply_template(m, msgs + 4, 1, ids, 512, &n), CRIA_ERROR_INVALID_ARGUMENT);
  msgs[4].role = CRIA_ROLE_USER;
  msgs[4].content = NULL;
  CHECK_STATUS(cria_chat_apply_template(m, msgs + 4, 1, ids, 512, &n), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_chat_apply_template(NULL, msgs + 1, 1, ids, 512, &n), CRIA_ERROR_INVALID_ARGUMENT);
  cria_model_free(m);
}

/* One model, several threads, one session each: the same greedy text. */

/* ---- backends, batches ----------------------------------------------------------------- */

static void test_backends(void) {
  cria_model_params mp;
  cria_model *m = NULL;
  cria_session *s;
  float a[512], b[512];
  size_t n = 0;
  int32_t prompt[5];
  size_t n_prompt = 0;
  int i;
  double diff = 0, largest = 0;

  cria_model_params_init(&mp);
  CHECK(mp.backend == NULL && mp.device == 0 && mp.gpu_layers == -1);
  mp.backend = "no-such-backend";
  CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), &mp, &m), CRIA_ERROR_UNSUPPORTED);
  CHECK(m == NULL);
  CHECK(strstr(cria_last_error(), "no-such-backend") != NULL);
  CHECK(strstr(cria_last_error(), "built: ") != NULL && strstr(cria_last_error(), "cpu, reference)") != NULL);
  mp.gpu_layers = -2;
  CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), &mp, &m), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(cria_last_error(), "params->gpu_layers") != NULL);
  mp.gpu_layers = 2; /* ignored by the CPU backend */
  mp.backend = "cpu";
  CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), &mp, &m), CRIA_OK);
  cria_model_free(m);
  m = NULL;
  mp.gpu_layers = -1;
  mp.device = 3;
  CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), &mp, &m), CRIA_ERROR_INVALID_ARGUMENT);
  mp.device = -1;
  CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), &mp, &m), CRIA_ERROR_INVALID_ARGUMENT);

  /* the reference backend gives the CPU backend's logits within float rounding: 1e-4 of the
  ** largest logit (the AVX-512 attention kernel sums a head's products in a tree, the
  ** reference one after another, and the model amplifies that last-bit difference to about
  ** 1.5e-5 of the largest logit) */
  for (i = 0; i < 2; ++i) {
    mp.backend = i == 0 ? "auto" : "reference";
    mp.device = 0;
    CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), &mp, &m), CRIA_OK);
    if (!m) return;
    CHECK_STATUS(cria_tokenize(m, "Once upon", 9, CRIA_TOKENIZE_ADD_BOS, prompt, 5, &n_prompt), CRIA_OK);
    s = new_session(m, 32, 0.0f);
    CHECK_STATUS(cria_session_eval(s, prompt, n_prompt, 0, NULL), CRIA_OK);
    CHECK_STATUS(cria_session_logits(s, i == 0 ? a : b, 512, &n), CRIA_OK);
    cria_session_free(s);
    cria_model_free(m);
    m = NULL;
  }
  for (i = 0; i < 512; ++i) {
    diff = diff > fabs(a[i] - b[i]) ? diff : fabs(a[i] - b[i]);
    largest = largest > fabs(b[i]) ? largest : fabs(b[i]);
  }
  CHECK(largest > 1.0 && diff <= 1e-4 * largest);
}

typedef struct sequence_sink {
  text_sink sinks[4];
  int stop_sequence; /* this sequence's callback returns false at once (-1: none) */
} sequence_sink;

static bool collect_sequence(size_t sequence, const char *text, size_t length, void *user_data) {
  sequence_sink *s = (sequence_sink *)user_data;
  CHECK(sequence < 4);
  if (sequence >= 4) return false;
  collect(text, length, &s->sinks[sequence]);
  return (int)sequence != s->stop_sequence;
}

static void test_batches(cria_model *m) {
  const char *prompts[4] = {"Once upon a time", "Tom and Lily went to the park", "The cat",
                            "One day, a little girl named Sue"};
  cria_session *together[4], *alone[4], *other;
  cria_generate_result results[4], r;
  cria_generate_params gp;
  sequence_sink seqs;
  text_sink sink;
  cria_batch *batch = NULL;
  int32_t ids[64] = {0}, t; /* zeros (<unk>) past the tokenized prompt: valid ids */
  size_t n_ids = 0, len = 0;
  char text[64];
  float la[512], lb[512];
  int i, k;

  /* cria_generate_batch: each sequence gets what cria_generate gives it alone */
  cria_generate_params_init(&gp);
  gp.temperature = 0.9f;
  gp.seed = 77;
  gp.max_tokens = 24;
  memset(&seqs, 0, sizeof seqs);
  seqs.stop_sequence = -1;
  for (i = 0; i < 4; ++i) {
    together[i] = new_session(m, 64, 0.0f);
    alone[i] = new_session(m, 64, 0.0f);
    seqs.sinks[i].cancel_after = -1;
    cria_generate_result_init(&results[i]);
  }
  CHECK_STATUS(cria_generate_batch(together, prompts, 4, &gp, collect_sequence, &seqs, results), CRIA_OK);
  for (i = 0; i < 4; ++i) {
    memset(&sink, 0, sizeof sink);
    sink.cancel_after = -1;
    cria_generate_result_init(&r);
    CHECK_STATUS(cria_generate(alone[i], prompts[i], &gp, collect, &sink, &r), CRIA_OK);
    CHECK(strcmp(sink.text, seqs.sinks[i].text) == 0);
    CHECK(r.n_tokens == results[i].n_tokens && r.stop_reason == results[i].stop_reason);
    CHECK(r.n_prompt_tokens == results[i].n_prompt_tokens);
  }
  /* one sequence cancelled by its callback: the others go on */
  for (i = 0; i < 4; ++i) {
    CHECK_STATUS(cria_session_reset(together[i]), CRIA_OK);
    memset(&seqs.sinks[i], 0, sizeof seqs.sinks[i]);
    seqs.sinks[i].cancel_after = -1;
  }
  seqs.stop_sequence = 2;
  CHECK_STATUS(cria_generate_batch(together, prompts, 4, &gp, collect_sequence, &seqs, results),
               CRIA_ERROR_CANCELLED);
  CHECK(results[2].stop_reason == CRIA_STOP_CANCELLED && results[2].n_tokens == 1);
  CHECK(results[0].stop_reason == CRIA_STOP_MAX_TOKENS && results[0].n_tokens == 24);
  /* misuse */
  CHECK_STATUS(cria_generate_batch(together, NULL, 4, &gp, NULL, NULL, NULL), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_generate_batch(NULL, prompts, 4, &gp, NULL, NULL, NULL), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_generate_batch(NULL, NULL, 0, NULL, NULL, NULL, NULL), CRIA_OK);
  results[1].struct_size = 8;
  CHECK_STATUS(cria_generate_batch(together, prompts, 4, &gp, NULL, NULL, results), CRIA_ERROR_STRUCT_SIZE);

  /* the step API over a batch: the same logits and text as each session alone */
  CHECK_STATUS(cria_batch_create(NULL), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_batch_create(&batch), CRIA_OK);
  if (!batch) return;
  for (i = 0; i < 4; ++i) {
    CHECK_STATUS(cria_session_reset(together[i]), CRIA_OK);
    CHECK_STATUS(cria_session_reset(alone[i]), CRIA_OK);
    CHECK_STATUS(cria_tokenize(m, prompts[i], strlen(prompts[i]), CRIA_TOKENIZE_ADD_BOS, ids, 64, &n_ids), CRIA_OK);
    CHECK_STATUS(cria_batch_add(batch, together[i], ids, n_ids), CRIA_OK);
    CHECK_STATUS(cria_session_eval(alone[i], ids, n_ids, 0, NULL), CRIA_OK);
  }
  CHECK_STATUS(cria_batch_eval(batch), CRIA_OK);
  for (k = 0; k < 5; ++k) {
    for (i = 0; i < 4; ++i) {
      char alone_text[64];
      size_t alone_len = 0;
      CHECK_STATUS(cria_session_logits(together[i], la, 512, &len), CRIA_OK);
      CHECK_STATUS(cria_session_logits(alone[i], lb, 512, &len), CRIA_OK);
      CHECK(memcmp(la, lb, sizeof la) == 0);
      CHECK_STATUS(cria_session_sample(together[i], &t), CRIA_OK);
      CHECK_STATUS(cria_batch_accept(batch, together[i], t, text, sizeof text, &len), CRIA_OK);
      CHECK_STATUS(cria_session_accept(alone[i], t, alone_text, sizeof alone_text, &alone_len), CRIA_OK);
      CHECK(len == alone_len && memcmp(text, alone_text, len) == 0);
    }
    CHECK_STATUS(cria_batch_eval(batch), CRIA_OK);
  }
  /* misuse: a token outside the vocabulary, a session of another model, a full context, a
  ** buffer too small (nothing queued) */
  CHECK_STATUS(cria_batch_accept(batch, together[0], 512, text, sizeof text, &len), CRIA_ERROR_INVALID_ARGUMENT);
  {
    int32_t before = 0, after = 0;
    CHECK_STATUS(cria_session_n_past(together[0], &before), CRIA_OK);
    CHECK_STATUS(cria_batch_accept(batch, together[0], 300, text, 0, &len), CRIA_ERROR_BUFFER_TOO_SMALL);
    CHECK(len > 0);
    CHECK_STATUS(cria_batch_eval(batch), CRIA_OK); /* nothing was queued */
    CHECK_STATUS(cria_session_n_past(together[0], &after), CRIA_OK);
    CHECK(before == after);
  }
  CHECK_STATUS(cria_batch_accept(batch, NULL, 300, text, sizeof text, &len), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_batch_add(NULL, together[0], ids, 1), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_batch_add(batch, together[0], NULL, 1), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_batch_add(batch, together[0], ids, 1), CRIA_OK);
  {
    cria_model *m2 = NULL;
    CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), NULL, &m2), CRIA_OK);
    if (m2) {
      other = new_session(m2, 8, 0.0f);
      CHECK_STATUS(cria_batch_add(batch, other, ids, 1), CRIA_ERROR_INVALID_ARGUMENT);
      CHECK_STATUS(cria_batch_add(batch, together[1], ids, 64), CRIA_ERROR_CONTEXT_FULL);
      cria_session_free(other);
      cria_model_free(m2);
    }
  }
  CHECK_STATUS(cria_batch_eval(batch), CRIA_OK);
  CHECK_STATUS(cria_batch_eval(NULL), CRIA_ERROR_INVALID_ARGUMENT);
  cria_batch_free(batch);
  cria_batch_free(NULL);
  for (i = 0; i < 4; ++i) {
    cria_session_free(together[i]);
    cria_session_free(alone[i]);
  }
}

typedef struct thread_job {
  cria_model *model;
  text_sink sink;
  cria_status status;
} thread_job;

static void *thread_main(void *arg) {
  thread_job *job = (thread_job *)arg;
  cria_session *s = NULL;
  cria_generate_params gp;
  job->status = cria_session_create(job->model, NULL, &s);
  if (job->status != CRIA_OK) return NULL;
  cria_generate_params_init(&gp);
  gp.temperature = 0.0f;
  gp.max_tokens = 30;
  job->sink.cancel_after = -1;
  job->status = cria_generate(s, "Once upon a time", &gp, collect, &job->sink, NULL);
  cria_session_free(s);
  return NULL;
}

static void test_threads(cria_model *m, const char *golden) {
  thread_job jobs[3];
  pthread_t threads[3];
  int i;
  memset(jobs, 0, sizeof jobs);
  for (i = 0; i < 3; ++i) {
    jobs[i].model = m;
    pthread_create(&threads[i], NULL, thread_main, &jobs[i]);
  }
  for (i = 0; i < 3; ++i) {
    pthread_join(threads[i], NULL);
    CHECK(jobs[i].status == CRIA_OK);
    CHECK(golden && jobs[i].sink.length > 20 &&
          strncmp(golden, jobs[i].sink.text, jobs[i].sink.length) == 0);
  }
}

/* Draws and accepts n tokens with the session's sampler; the text goes to `text`. */
static void step_tokens(cria_session *s, int n, int32_t *tokens, char *text, size_t capacity) {
  size_t used = 0, len = 0;
  int i;
  text[0] = '\0';
  for (i = 0; i < n; ++i) {
    CHECK_STATUS(cria_session_sample(s, &tokens[i]), CRIA_OK);
    CHECK_STATUS(cria_session_accept(s, tokens[i], text + used, capacity - used, &len), CRIA_OK);
    used += len;
  }
}

/* A chat through the template: each turn evaluates only its new tokens; editing the last
** user message re-evaluates only the edited message; a saved session resumes exactly. */
static void test_chat_rewind_and_state(cria_model *m) {
  cria_session *s = new_session(m, 0, 0.0f), *resumed = NULL, *other = NULL;
  cria_chat_message turn1[2] = {{CRIA_ROLE_SYSTEM, "You tell short stories."}, {CRIA_ROLE_USER, "Tell me about a cat."}};
  cria_chat_message turn2[1] = {{CRIA_ROLE_USER, "And a dog?"}};
  cria_chat_message edited[1] = {{CRIA_ROLE_USER, "And a bird that sings?"}};
  cria_generate_params gp;
  cria_generate_result r;
  cria_session_params sp;
  cria_sampling_params samp;
  text_sink sink;
  int32_t prompt[256], eos = 0, tokens[64], tokens_again[64], held[1024];
  size_t n_prompt = 0, n_held = 0, state_size = 0, need = 0;
  int32_t n_past = 0, before_turn2 = 0;
  int64_t evaluated = 0, evaluated_before = 0;
  char text[4096], text_again[4096], path[1100];
  void *state;

  cria_generate_params_init(&gp);
  gp.temperature = 0.0f;
  gp.max_tokens = 24;
  cria_generate_result_init(&r);
  CHECK_STATUS(cria_model_eos(m, &eos), CRIA_OK);
  CHECK_STATUS(cria_chat_apply_template(m, turn1, 2, prompt, 256, &n_prompt), CRIA_OK);
  memset(&sink, 0, sizeof sink);
  sink.cancel_after = -1;
  CHECK_STATUS(cria_generate_tokens(s, prompt, n_prompt, &gp, collect, &sink, &r), CRIA_OK);
  CHECK_STATUS(cria_session_n_evaluated(s, &evaluated), CRIA_OK);
  CHECK(evaluated == (int64_t)n_prompt + r.n_tokens);  /* a final EOS is not evaluated */
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(evaluated == n_past);
  printf("chat turn 1: %zu prompt tokens, %d generated, %lld positions evaluated\n", n_prompt, r.n_tokens,
         (long long)evaluated);

  /* Turn 2: EOS, then only the new user message. */
  before_turn2 = n_past;
  CHECK_STATUS(cria_session_eval(s, &eos, 1, 0, NULL), CRIA_OK);
  CHECK_STATUS(cria_chat_apply_template(m, turn2, 1, prompt, 256, &n_prompt), CRIA_OK);
  evaluated_before = evaluated;
  CHECK_STATUS(cria_generate_tokens(s, prompt, n_prompt, &gp, collect, &sink, &r), CRIA_OK);
  CHECK_STATUS(cria_session_n_evaluated(s, &evaluated), CRIA_OK);
  CHECK(evaluated - evaluated_before == 1 + (int64_t)n_prompt + r.n_tokens);
  printf("chat turn 2: %lld positions evaluated (EOS, %zu message tokens, %d generated)\n",
         (long long)(evaluated - evaluated_before), n_prompt, r.n_tokens);

  /* Edit turn 2's message: back to before it, then only the edited message. */
  CHECK_STATUS(cria_session_truncate(s, before_turn2 + 1), CRIA_OK);
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past == before_turn2 + 1);
  CHECK_STATUS(cria_session_tokens(s, NULL, 0, &n_held), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK(n_held == (size_t)n_past);
  CHECK_STATUS(cria_session_tokens(s, held, 1024, &n_held), CRIA_OK);
  CHECK(held[n_held - 1] == eos);
  CHECK_STATUS(cria_chat_apply_template(m, edited, 1, prompt, 256, &n_prompt), CRIA_OK);
  evaluated_before = evaluated;
  CHECK_STATUS(cria_generate_tokens(s, prompt, n_prompt, &gp, collect, &sink, &r), CRIA_OK);
  CHECK_STATUS(cria_session_n_evaluated(s, &evaluated), CRIA_OK);
  CHECK(evaluated - evaluated_before == (int64_t)n_prompt + r.n_tokens);
  printf("chat edit: %lld positions evaluated (%zu message tokens, %d generated)\n",
         (long long)(evaluated - evaluated_before), n_prompt, r.n_tokens);
  CHECK_STATUS(cria_session_truncate(s, n_past + 100000), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_session_truncate(s, -1), CRIA_ERROR_INVALID_ARGUMENT);

  /* Saved state with a sampling sampler: the resumed session draws what the original draws. */
  cria_sampling_params_init(&samp);
  samp.temperature = 0.9f;
  samp.seed = 1234;
  samp.repeat_penalty = 1.2f;
  CHECK_STATUS(cria_session_set_sampling(s, &samp), CRIA_OK);
  step_tokens(s, 5, tokens, text, sizeof text);
  CHECK_STATUS(cria_session_state_save(s, NULL, 0, &state_size), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK(state_size > 0);
  state = malloc(state_size);
  CHECK_STATUS(cria_session_state_save(s, state, state_size - 1, &need), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK_STATUS(cria_session_state_save(s, state, state_size, &need), CRIA_OK);
  /* A UTF-8 path with non-ASCII letters ("séance-状态"), written twice: the second save
  ** replaces the first file in one step. */
  snprintf(path, sizeof path, "%s/capi-s\xc3\xa9" "ance-\xe7\x8a\xb6\xe6\x80\x81.state", g_tmp);
  CHECK_STATUS(cria_session_state_save_file(s, path), CRIA_OK);
  CHECK_STATUS(cria_session_state_save_file(s, path), CRIA_OK);
  step_tokens(s, 30, tokens, text, sizeof text);

  cria_session_params_init(&sp);
  sp.sampling = &samp;
  CHECK_STATUS(cria_session_create(m, &sp, &resumed), CRIA_OK);
  CHECK_STATUS(cria_session_n_evaluated(resumed, &evaluated_before), CRIA_OK);
  CHECK_STATUS(cria_session_state_load(resumed, state, state_size), CRIA_OK);
  step_tokens(resumed, 30, tokens_again, text_again, sizeof text_again);
  CHECK(memcmp(tokens, tokens_again, sizeof(int32_t) * 30) == 0);
  CHECK(strcmp(text, text_again) == 0);
  CHECK_STATUS(cria_session_n_evaluated(resumed, &evaluated), CRIA_OK);
  CHECK(evaluated - evaluated_before == 30);
  CHECK_STATUS(cria_session_state_load_file(resumed, path), CRIA_OK);
  step_tokens(resumed, 30, tokens_again, text_again, sizeof text_again);
  CHECK(memcmp(tokens, tokens_again, sizeof(int32_t) * 30) == 0);

  /* Damaged states: an error, and the session is unchanged. */
  CHECK_STATUS(cria_session_n_past(resumed, &n_past), CRIA_OK);
  CHECK_STATUS(cria_session_state_load(resumed, state, state_size / 2), CRIA_ERROR_INVALID_FILE);
  ((unsigned char *)state)[state_size / 3] ^= 1;
  CHECK_STATUS(cria_session_state_load(resumed, state, state_size), CRIA_ERROR_INVALID_FILE);
  CHECK(strstr(cria_last_error(), "corrupted") != NULL);
  CHECK_STATUS(cria_session_state_load(resumed, "CRIASESS", 8), CRIA_ERROR_INVALID_FILE);
  CHECK_STATUS(cria_session_n_past(resumed, &before_turn2), CRIA_OK);
  CHECK(before_turn2 == n_past);
  CHECK_STATUS(cria_session_state_load(resumed, NULL, 3), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cria_session_state_load_file(resumed, "/nonexistent/state"), CRIA_ERROR_IO);
  CHECK_STATUS(cria_session_state_save_file(resumed, "/nonexistent/dir/state"), CRIA_ERROR_IO);
  /* Another sampler chain (greedy) cannot take the state's sampler. */
  other = new_session(m, 0, 0.0f);
  ((unsigned char *)state)[state_size / 3] ^= 1;
  CHECK_STATUS(cria_session_state_load(other, state, state_size), CRIA_ERROR_INVALID_ARGUMENT);
  free(state);
  remove(path);
  cria_session_free(other);
  cria_session_free(resumed);
  cria_session_free(s);
}

/* Context shift as a session policy: generation goes past the context. */
static void test_context_shift(cria_model *m) {
  cria_session *s = NULL;
  cria_session_params sp;
  cria_generate_params gp;
  cria_generate_result r;
  cria_logit_bias no_end[2];
  int32_t n_past = 0, first[4];
  size_t n = 0;

  cria_session_params_init(&sp);
  CHECK(sp.context_policy == CRIA_CONTEXT_STOP && sp.shift_keep == 0);
  sp.context_length = 40;
  sp.context_policy = CRIA_CONTEXT_SHIFT;
  sp.shift_keep = 4;
  CHECK_STATUS(cria_session_create(m, &sp, &s), CRIA_OK);
  cria_generate_params_init(&gp);
  gp.max_tokens = 100;
  cria_generate_result_init(&r);
  gp.seed = 5;
  CHECK_STATUS(cria_model_eos(m, &no_end[0].token), CRIA_OK);
  CHECK_STATUS(cria_model_bos(m, &no_end[1].token), CRIA_OK);
  no_end[0].bias = no_end[1].bias = -INFINITY;
  gp.logit_bias = no_end;
  gp.n_logit_bias = 2;
  CHECK_STATUS(cria_generate(s, "Once upon a time", &gp, NULL, NULL, &r), CRIA_OK);
  CHECK(r.stop_reason == CRIA_STOP_MAX_TOKENS && r.n_tokens == 100);
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past <= 40);
  CHECK_STATUS(cria_session_tokens(s, first, 4, &n), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK(n == (size_t)n_past);
  cria_session_free(s);

  sp.context_policy = 7;
  CHECK_STATUS(cria_session_create(m, &sp, &s), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(cria_last_error(), "context_policy") != NULL);
  sp.context_policy = CRIA_CONTEXT_SHIFT;
  sp.shift_keep = 39;
  CHECK_STATUS(cria_session_create(m, &sp, &s), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(cria_last_error(), "shift_keep") != NULL);
}

/* Cancelling from another thread: an endless generation (end of text banned, the context
** shifting) and a long prompt both return CRIA_ERROR_CANCELLED soon after the cancel, and the
** session goes on afterwards. */
typedef struct canceller {
  cria_session *session;
  int delay_ms;
  struct timespec at;
} canceller;

static double seconds_between(const struct timespec *from, const struct timespec *to) {
  return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

static void *cancel_later(void *arg) {
  canceller *c = (canceller *)arg;
  struct timespec pause = {c->delay_ms / 1000, (long)(c->delay_ms % 1000) * 1000000L};
  nanosleep(&pause, NULL);
  clock_gettime(CLOCK_MONOTONIC, &c->at);
  CHECK_STATUS(cria_session_cancel(c->session), CRIA_OK);
  return NULL;
}

static void test_cancel_from_another_thread(cria_model *m) {
  cria_session *s = NULL;
  cria_session_params sp;
  cria_generate_params gp;
  cria_generate_result r;
  cria_logit_bias no_end[2];
  canceller c;
  struct timespec returned;
  pthread_t thread;
  int32_t n_past = 0, *prompt;
  size_t i, n_prompt = 4000;
  double latency;

  cria_session_params_init(&sp);
  sp.context_length = 256;
  sp.context_policy = CRIA_CONTEXT_SHIFT;
  sp.shift_keep = 1;
  sp.n_threads = 1;
  CHECK_STATUS(cria_session_create(m, &sp, &s), CRIA_OK);
  cria_generate_params_init(&gp);
  cria_generate_result_init(&r);
  gp.seed = 9;
  CHECK_STATUS(cria_model_eos(m, &no_end[0].token), CRIA_OK);
  CHECK_STATUS(cria_model_bos(m, &no_end[1].token), CRIA_OK);
  no_end[0].bias = no_end[1].bias = -INFINITY;
  gp.logit_bias = no_end;
  gp.n_logit_bias = 2;

  c.session = s;
  c.delay_ms = 200;
  pthread_create(&thread, NULL, cancel_later, &c);
  CHECK_STATUS(cria_generate(s, "Once upon a time", &gp, NULL, NULL, &r), CRIA_ERROR_CANCELLED);
  clock_gettime(CLOCK_MONOTONIC, &returned);
  pthread_join(thread, NULL);  /* c.at is the canceller's until then */
  latency = seconds_between(&c.at, &returned);
  CHECK(r.stop_reason == CRIA_STOP_CANCELLED && r.n_tokens > 0);
  CHECK(latency < 1.0);
  printf("generation cancelled after %d tokens, %.1f ms after the cancel\n", r.n_tokens, latency * 1e3);
  /* The session goes on. */
  gp.max_tokens = 5;
  CHECK_STATUS(cria_generate(s, "", &gp, NULL, NULL, &r), CRIA_OK);
  CHECK(r.n_tokens == 5);

  /* A long prompt evaluated in small passes, cancelled part way: the passes done stay. */
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  cria_session_free(s);
  sp.context_length = 4096;
  sp.context_policy = CRIA_CONTEXT_STOP;
  sp.max_batch = 8;
  CHECK_STATUS(cria_session_create(m, &sp, &s), CRIA_OK);
  prompt = malloc(sizeof(int32_t) * n_prompt);
  for (i = 0; i < n_prompt; ++i) prompt[i] = (int32_t)(3 + (i * 7919) % 500);
  c.session = s;
  c.delay_ms = 100;
  pthread_create(&thread, NULL, cancel_later, &c);
  CHECK_STATUS(cria_session_eval(s, prompt, n_prompt, 0, NULL), CRIA_ERROR_CANCELLED);
  clock_gettime(CLOCK_MONOTONIC, &returned);
  pthread_join(thread, NULL);
  latency = seconds_between(&c.at, &returned);
  CHECK(latency < 1.0);
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past % 8 == 0 && n_past < (int32_t)n_prompt);
  printf("prompt evaluation cancelled at %d of %zu positions, %.1f ms after the cancel\n", n_past, n_prompt,
         latency * 1e3);
  CHECK_STATUS(cria_session_eval(s, prompt, 3, 0, NULL), CRIA_OK);
  /* A cancel with nothing running stops the next evaluation, then is spent. */
  CHECK_STATUS(cria_session_cancel(s), CRIA_OK);
  CHECK_STATUS(cria_session_eval(s, prompt, 1, 0, NULL), CRIA_ERROR_CANCELLED);
  CHECK_STATUS(cria_session_eval(s, prompt, 1, 0, NULL), CRIA_OK);
  CHECK_STATUS(cria_session_cancel(NULL), CRIA_ERROR_INVALID_ARGUMENT);
  free(prompt);
  cria_session_free(s);
}

/* Loading cancelled from another thread. The application's progress callback answers with a
** flag that another thread sets; here that thread is woken once the file is being read, so
** that its cancel lands in the middle of the load. The load returns CRIA_ERROR_CANCELLED soon
** after (the callback runs after each 16 MiB read and each 8 MiB regrouped), and loading again
** works. Needs a model large enough to take a while (CRIA_TEST_BIG_MODEL, a 143 MB file that
** the test fixture makes with `cria synth`). */
typedef struct load_canceller {
  pthread_mutex_t lock;
  pthread_cond_t reading;
  int started, cancelled;
  struct timespec at;
} load_canceller;

static bool load_progress(float progress, void *user_data) {
  load_canceller *c = (load_canceller *)user_data;
  bool go_on;
  pthread_mutex_lock(&c->lock);
  if (progress > 0.0f && !c->started) {
    c->started = 1;
    pthread_cond_signal(&c->reading);
  }
  go_on = !c->cancelled;
  pthread_mutex_unlock(&c->lock);
  return go_on;
}

static void *cancel_load(void *arg) {
  load_canceller *c = (load_canceller *)arg;
  pthread_mutex_lock(&c->lock);
  while (!c->started) pthread_cond_wait(&c->reading, &c->lock);
  clock_gettime(CLOCK_MONOTONIC, &c->at);
  c->cancelled = 1;
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

static void test_cancel_load_from_another_thread(void) {
  const char *path = getenv("CRIA_TEST_BIG_MODEL");
  load_canceller c;
  cria_model_params p;
  cria_model *m = NULL;
  pthread_t thread;
  struct timespec returned;
  double latency;
  if (!path) {
    printf("SKIPPED loading cancelled from another thread: CRIA_TEST_BIG_MODEL is not set "
           "(the ctest fixture capi.big_model sets it)\n");
    return;
  }
  pthread_mutex_init(&c.lock, NULL);
  pthread_cond_init(&c.reading, NULL);
  c.started = c.cancelled = 0;
  cria_model_params_init(&p);
  p.progress = load_progress;
  p.progress_user_data = &c;
  pthread_create(&thread, NULL, cancel_load, &c);
  CHECK_STATUS(cria_model_load(path, &p, &m), CRIA_ERROR_CANCELLED);
  clock_gettime(CLOCK_MONOTONIC, &returned);
  pthread_join(thread, NULL);
  latency = seconds_between(&c.at, &returned);
  CHECK(m == NULL && latency < 1.0);
  printf("loading cancelled %.1f ms after the cancel\n", latency * 1e3);
  /* Nothing is left half-loaded: the same file loads afterwards. */
  CHECK_STATUS(cria_model_load(path, NULL, &m), CRIA_OK);
  cria_model_free(m);
  pthread_cond_destroy(&c.reading);
  pthread_mutex_destroy(&c.lock);
}

/* Runtime inputs at their edges, each with its documented behaviour. */
static void test_runtime_inputs(cria_model *m) {
  cria_session *s = new_session(m, 32, 0.0f);
  cria_batch *b = NULL;
  cria_generate_params gp;
  cria_generate_result r;
  text_sink sink;
  const char *stops[2];
  int32_t vocab = 0, n_past = -1, tok = 0, ids[64];
  const int32_t bad_ids[4] = {-1, 512, 1 << 30, 100000};
  float logits[8];
  char text[64], long_prompt[400];
  size_t n = 0, i;

  CHECK_STATUS(cria_model_vocab_size(m, &vocab), CRIA_OK);
  cria_generate_params_init(&gp);
  cria_generate_result_init(&r);
  gp.temperature = 0.0f;
  memset(&sink, 0, sizeof sink);
  sink.cancel_after = -1;

  /* An empty prompt in an empty session is BOS alone: generation starts a story. */
  gp.max_tokens = 8;
  CHECK_STATUS(cria_generate(s, "", &gp, collect, &sink, &r), CRIA_OK);
  CHECK(r.n_prompt_tokens == 1 && r.n_tokens == 8);
  /* max_tokens 0: the prompt is evaluated, nothing is generated. */
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  gp.max_tokens = 0;
  CHECK_STATUS(cria_generate(s, "Once upon a time", &gp, NULL, NULL, &r), CRIA_OK);
  CHECK(r.n_tokens == 0 && r.stop_reason == CRIA_STOP_MAX_TOKENS);
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past == r.n_prompt_tokens);
  /* A huge max_tokens: generation ends at the full context (32 positions). */
  gp.max_tokens = 0x7fffffff;
  gp.stop_strings = NULL;
  CHECK_STATUS(cria_generate(s, "", &gp, NULL, NULL, &r), CRIA_OK);
  CHECK(r.stop_reason == CRIA_STOP_CONTEXT_FULL || r.stop_reason == CRIA_STOP_END_OF_SEQUENCE);
  /* A prompt longer than the context: CONTEXT_FULL before any work; the session is unchanged. */
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  for (i = 0; i + 1 < sizeof long_prompt; ++i) long_prompt[i] = (char)('a' + i % 7);
  long_prompt[sizeof long_prompt - 1] = '\0';
  CHECK_STATUS(cria_generate(s, long_prompt, &gp, NULL, NULL, &r), CRIA_ERROR_CONTEXT_FULL);
  CHECK(strstr(cria_last_error(), "context") != NULL);
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past == 0);
  /* Invalid UTF-8 and NUL bytes in text: bytes that start no valid character are U+FFFD; a
  ** NUL inside a counted text is an ordinary byte, a NUL-terminated prompt ends at it. */
  CHECK_STATUS(cria_tokenize(m, "a\0b\xff\xfe", 5, 0, ids, 64, &n), CRIA_OK);
  CHECK(n >= 3);
  gp.max_tokens = 4;
  CHECK_STATUS(cria_generate(s, "caf\xc3 \xff\xfe\xed\xa0\x80", &gp, NULL, NULL, &r), CRIA_OK);
  CHECK(r.n_tokens == 4);
  /* Stop strings: invalid UTF-8 is compared as bytes and an empty one is ignored; one that
  ** the greedy story spells across several tokens stops it, and is not passed on. */
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  stops[0] = "\xff\xfe";
  stops[1] = "";
  gp.stop_strings = stops;
  gp.n_stop_strings = 2;
  CHECK_STATUS(cria_generate(s, "Once upon a time", &gp, NULL, NULL, &r), CRIA_OK);
  CHECK(r.stop_reason == CRIA_STOP_MAX_TOKENS && r.n_tokens == 4);
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  stops[0] = "ittle gi";  /* "Once upon a time, there was a little girl": across " little" and " girl" */
  gp.max_tokens = 20;
  memset(&sink, 0, sizeof sink);
  sink.cancel_after = -1;
  CHECK_STATUS(cria_generate(s, "Once upon a time", &gp, collect, &sink, &r), CRIA_OK);
  CHECK(r.stop_reason == CRIA_STOP_STOP_STRING);
  CHECK(strstr(sink.text, "ittle gi") == NULL && strstr(sink.text, " l") != NULL);
  gp.stop_strings = NULL;
  gp.n_stop_strings = 0;

  /* Token ids outside the vocabulary, in every call that takes ids: INVALID_ARGUMENT naming the
  ** id, and nothing changes. */
  CHECK_STATUS(cria_session_reset(s), CRIA_OK);
  CHECK_STATUS(cria_batch_create(&b), CRIA_OK);
  for (i = 0; i < 4; ++i) {
    CHECK_STATUS(cria_session_eval(s, &bad_ids[i], 1, 0, NULL), CRIA_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(cria_last_error(), "token id") != NULL);
    CHECK_STATUS(cria_session_accept(s, bad_ids[i], text, sizeof text, &n), CRIA_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(cria_generate_tokens(s, &bad_ids[i], 1, &gp, NULL, NULL, &r), CRIA_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(cria_batch_add(b, s, &bad_ids[i], 1), CRIA_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(cria_batch_accept(b, s, bad_ids[i], text, sizeof text, &n), CRIA_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(cria_detokenize(m, &bad_ids[i], 1, text, sizeof text, &n), CRIA_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(cria_model_token_piece(m, bad_ids[i], text, sizeof text, &n), CRIA_ERROR_INVALID_ARGUMENT);
  }
  CHECK_STATUS(cria_session_n_past(s, &n_past), CRIA_OK);
  CHECK(n_past == 0);
  CHECK_STATUS(cria_batch_eval(b), CRIA_OK); /* nothing was queued */
  /* Logits of the wrong count to sample from; sampling with nothing evaluated. */
  CHECK_STATUS(cria_session_sample(s, &tok), CRIA_ERROR_INVALID_STATE);
  memset(logits, 0, sizeof logits);
  CHECK_STATUS(cria_session_sample_logits(s, logits, 8, &tok), CRIA_ERROR_INVALID_ARGUMENT);
  cria_batch_free(b);
  cria_session_free(s);
}

/* Embeddings: unit length, one row per text, each as alone. */
static void test_embeddings(cria_model *m) {
  const char *texts[3] = {"A cat sat on the mat.", "The dog ran after the ball.", "Lily was happy."};
  cria_embed_params ep;
  int32_t dim = 0;
  size_t n = 0, i;
  float *all, *one;
  double norm = 0;

  cria_embed_params_init(&ep);
  CHECK(ep.pooling == CRIA_POOLING_MEAN && ep.normalize);
  CHECK_STATUS(cria_model_embedding_size(m, &dim), CRIA_OK);
  CHECK(dim == 64);
  CHECK_STATUS(cria_embed(m, texts, 3, &ep, NULL, 0, &n), CRIA_ERROR_BUFFER_TOO_SMALL);
  CHECK(n == 3 * (size_t)dim);
  all = malloc(sizeof(float) * n);
  one = malloc(sizeof(float) * (size_t)dim);
  CHECK_STATUS(cria_embed(m, texts, 3, &ep, all, n, &n), CRIA_OK);
  for (i = 0; i < (size_t)dim; ++i) norm += (double)all[dim + i] * all[dim + i];
  CHECK(fabs(norm - 1.0) < 1e-4);
  CHECK_STATUS(cria_embed(m, texts + 1, 1, &ep, one, (size_t)dim, &n), CRIA_OK);
  CHECK(memcmp(one, all + dim, sizeof(float) * (size_t)dim) == 0);
  ep.pooling = 9;
  CHECK_STATUS(cria_embed(m, texts, 3, &ep, all, 3 * (size_t)dim, &n), CRIA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(cria_last_error(), "pooling") != NULL);
  free(all);
  free(one);
}

int main(void) {
  const char *shared = getenv("CRIA_SHARED_DIR");
  const char *tmp = getenv("CRIA_TEST_TMP");
  cria_model *m = NULL;
  char *golden;

  if (!shared || !tmp) {
    fprintf(stderr, "set CRIA_SHARED_DIR and CRIA_TEST_TMP\n");
    return 2;
  }
  if (!CRIA_ABI_COMPATIBLE()) {
    fprintf(stderr, "%s\n", cria_last_error());
    return 1;
  }
  snprintf(g_models, sizeof g_models, "%s/models", shared);
  snprintf(g_tmp, sizeof g_tmp, "%s", tmp);
  golden = golden_completion();
  CHECK(golden != NULL);

  test_versions();
  test_load_errors();
  test_llama2c();
  CHECK_STATUS(cria_model_load(model_path("stories260K.gguf"), NULL, &m), CRIA_OK);
  if (m) {
    test_info_and_vocab(m);
    test_tokenizer(m);
    test_generate(m, golden);
    test_context_full(m);
    test_step_api(m, golden);
    test_sampler_stages(m);
    test_struct_versions(m, golden);
    test_threads(m, golden);
    test_batches(m);
    test_chat_rewind_and_state(m);
    test_context_shift(m);
    test_cancel_from_another_thread(m);
    test_cancel_load_from_another_thread();
    test_runtime_inputs(m);
    test_embeddings(m);
    cria_model_free(m);
  }
  test_backends();
  test_chat_template();
  free(golden);
  printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
