/* A small program built against an installed cria: greedy text from a model. */
#include <stdio.h>
#include <string.h>
#include <cria.h>

static bool print_text(const char *text, size_t length, void *user_data) {
  (void)user_data;
  fwrite(text, 1, length, stdout);
  return true;
}

int main(int argc, char **argv) {
  cria_model *model = NULL;
  cria_session *session = NULL;
  cria_generate_params params;
  cria_status st;
  if (argc < 2 || !CRIA_ABI_COMPATIBLE()) return 2;
  st = cria_model_load(argv[1], NULL, &model);
  if (st == CRIA_OK) st = cria_session_create(model, NULL, &session);
  cria_generate_params_init(&params);
  params.temperature = 0.0f;
  params.max_tokens = 12;
  printf("cria %s: Once upon a time", cria_version());
  if (st == CRIA_OK) st = cria_generate(session, "Once upon a time", &params, print_text, NULL, NULL);
  printf("\n");
  if (st != CRIA_OK) fprintf(stderr, "%s: %s\n", cria_status_name(st), cria_last_error());
  cria_session_free(session);
  cria_model_free(model);
  return st == CRIA_OK ? 0 : 1;
}
