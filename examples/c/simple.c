/* simple.c -- the C API in a few lines: load, generate with streaming, then the step API.
**   cc simple.c $(pkg-config --cflags --libs cria) -o simple && ./simple MODEL.gguf ["prompt"] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cria.h"
#define TRY(call) do { cria_status st_ = (call); if (st_ != CRIA_OK) { \
  fprintf(stderr, "%s: %s\n", cria_status_name(st_), cria_last_error()); exit(1); } } while (0)

static bool print_text(const char *text, size_t length, void *user_data) {
  (void)user_data;
  fwrite(text, 1, length, stdout);
  return true; /* false would stop generation */
}

int main(int argc, char **argv) {
  cria_model *model = NULL;
  cria_session *session = NULL;
  cria_model_params mp;
  cria_session_params sp;
  cria_sampling_params greedy;  /* greedy: the same text every run */
  cria_generate_params gp;
  int32_t tokens[256], token = 0, eos = 0;
  size_t n_tokens = 0, length = 0, i;
  char text[256];
  const char *prompt = argc > 2 ? argv[2] : "Once upon a time";
  if (argc < 2) { fprintf(stderr, "usage: %s MODEL [PROMPT [TOKENIZER.bin]]\n", argv[0]); return 2; }
  if (!CRIA_ABI_COMPATIBLE()) { fprintf(stderr, "%s\n", cria_last_error()); return 1; }
  cria_model_params_init(&mp);              /* every struct: _init, then set what you need */
  if (argc > 3) mp.tokenizer_path = argv[3];
  TRY(cria_model_load(argv[1], &mp, &model));
  cria_sampling_params_init(&greedy);
  greedy.temperature = 0.0f;
  cria_session_params_init(&sp);
  sp.sampling = &greedy;
  TRY(cria_session_create(model, &sp, &session));
  /* 1. High level: prompt in, text streamed to a callback. */
  cria_generate_params_init(&gp);
  gp.temperature = 0.0f;
  gp.max_tokens = 48;
  printf("%s", prompt);
  TRY(cria_generate(session, prompt, &gp, print_text, NULL, NULL));
  /* 2. Low level: tokenize, evaluate, sample, accept. */
  TRY(cria_session_reset(session));
  TRY(cria_model_eos(model, &eos));
  TRY(cria_tokenize(model, prompt, strlen(prompt), CRIA_TOKENIZE_ADD_BOS, tokens, 256, &n_tokens));
  TRY(cria_session_eval(session, tokens, n_tokens, 0, NULL));  /* 0: all positions at once */
  printf("\n%s", prompt);
  for (i = 0; i < 16; ++i) {
    TRY(cria_session_sample(session, &token));
    if (token == eos) break;
    TRY(cria_session_accept(session, token, text, sizeof text, &length));
    fputs(text, stdout);
  }
  printf("\n");
  cria_session_free(session);  /* sessions before their model */
  cria_model_free(model);
  return 0;
}
