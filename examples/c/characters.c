/* characters.c -- several characters talking at once, one pass over the weights per step.
**   characters MODEL.gguf
** Each character is a session with its own prompt and sampler seed. Every step samples each
** character that is still talking, queues its token in one cria_batch (the text is shown at
** once) and evaluates them all in one cria_batch_eval. A character stops at EOS or after
** max_tokens; each one's text is what it would say alone. */
#include <stdio.h>
#include <string.h>
#include "cria.h"

#define N 3

#define CHECK(call) do { cria_status st_ = (call); if (st_ != CRIA_OK) { \
  fprintf(stderr, "%s: %s\n", cria_status_name(st_), cria_last_error()); return 1; } } while (0)

int main(int argc, char **argv) {
  const char *prompts[N] = {"The knight said", "The old wizard whispered", "The little dragon"};
  const int max_tokens = 40;
  char text[N][4096];
  size_t used[N] = {0};
  int talking[N], generated[N] = {0}, steps = 0, i, live = N;
  cria_model *model = NULL;
  cria_session *session[N];
  cria_batch *batch = NULL;
  int32_t eos = 2;

  if (argc < 2) { fprintf(stderr, "usage: %s MODEL\n", argv[0]); return 2; }
  CHECK(cria_model_load(argv[1], NULL, &model));
  CHECK(cria_model_eos(model, &eos));
  CHECK(cria_batch_create(&batch));
  for (i = 0; i < N; ++i) {
    cria_session_params sp;
    cria_sampling_params sampling;
    int32_t ids[128];
    size_t n = 0;
    cria_sampling_params_init(&sampling);
    sampling.seed = 100 + (uint64_t)i;  /* each character its own voice */
    cria_session_params_init(&sp);
    sp.sampling = &sampling;
    CHECK(cria_session_create(model, &sp, &session[i]));
    CHECK(cria_tokenize(model, prompts[i], strlen(prompts[i]), CRIA_TOKENIZE_ADD_BOS, ids, 128, &n));
    CHECK(cria_batch_add(batch, session[i], ids, n));  /* the prompts go in one pass too */
    used[i] = (size_t)snprintf(text[i], sizeof text[i], "%s", prompts[i]);
    talking[i] = 1;
  }
  CHECK(cria_batch_eval(batch));

  while (live > 0) {
    for (i = 0; i < N; ++i) {
      int32_t token;
      size_t len = 0;
      if (!talking[i]) continue;
      CHECK(cria_session_sample(session[i], &token));
      if (token == eos || generated[i] == max_tokens || used[i] + 64 >= sizeof text[i]) {
        talking[i] = 0;
        --live;
        continue;
      }
      CHECK(cria_batch_accept(batch, session[i], token, text[i] + used[i], sizeof text[i] - used[i], &len));
      used[i] += len;
      ++generated[i];
    }
    CHECK(cria_batch_eval(batch));  /* one pass for every character that spoke */
    ++steps;
  }
  for (i = 0; i < N; ++i) {
    size_t len = 0;
    CHECK(cria_session_flush_text(session[i], text[i] + used[i], sizeof text[i] - used[i], &len));
    printf("character %d (%d tokens): %s\n\n", i, generated[i], text[i]);
    cria_session_free(session[i]);
  }
  printf("%d steps, each one pass over the weights for every character still talking\n", steps);
  cria_batch_free(batch);
  cria_model_free(model);
  return 0;
}
