/* chat.c -- a terminal chat with a Llama 2 chat model through the C API.
**   chat MODEL.gguf [-s SYSTEM] [-n MAX_TOKENS] [-t TEMPERATURE]
** Reads one user message per line from stdin. The first turn is formatted with the Llama 2
** chat template (cria_chat_apply_template, which produces token ids); later turns continue
** the same session: EOS closes the previous answer, then the template of the new message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cria.h"

static bool print_text(const char *text, size_t length, void *user_data) {
  (void)user_data;
  fwrite(text, 1, length, stdout);
  fflush(stdout);
  return true;
}

static int fail(cria_status st) {
  fprintf(stderr, "error (%s): %s\n", cria_status_name(st), cria_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *system_prompt = NULL;
  int max_tokens = 256, i, turn = 0;
  float temperature = 0.0f;
  cria_model *model = NULL;
  cria_session *session = NULL;
  cria_status st;
  char line[4096];
  int32_t eos = 2;

  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL [-s SYSTEM] [-n MAX_TOKENS] [-t TEMPERATURE]\n", argv[0]);
    return 2;
  }
  for (i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "-s") == 0) system_prompt = argv[i + 1];
    else if (strcmp(argv[i], "-n") == 0) max_tokens = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "-t") == 0) temperature = (float)atof(argv[i + 1]);
  }
  if ((st = cria_model_load(argv[1], NULL, &model)) != CRIA_OK) return fail(st);
  if ((st = cria_model_eos(model, &eos)) != CRIA_OK) return fail(st);
  if ((st = cria_session_create(model, NULL, &session)) != CRIA_OK) return fail(st);

  while (printf("user> "), fflush(stdout), fgets(line, sizeof line, stdin)) {
    cria_chat_message messages[2];
    size_t n_messages = 0, n_ids = 0, offset = 0;
    int32_t *ids;
    cria_generate_params gp;
    cria_generate_result result;

    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) continue;
    if (turn == 0 && system_prompt) {
      messages[n_messages].role = CRIA_ROLE_SYSTEM;
      messages[n_messages++].content = system_prompt;
    }
    messages[n_messages].role = CRIA_ROLE_USER;
    messages[n_messages++].content = line;

    /* Ask for the size, then fill; keep one slot in front for the EOS of the last answer. */
    st = cria_chat_apply_template(model, messages, n_messages, NULL, 0, &n_ids);
    if (st != CRIA_ERROR_BUFFER_TOO_SMALL) return fail(st);
    ids = (int32_t *)malloc((n_ids + 1) * sizeof *ids);
    if (!ids) return 1;
    if (turn > 0) ids[offset++] = eos;
    st = cria_chat_apply_template(model, messages, n_messages, ids + offset, n_ids, &n_ids);
    if (st != CRIA_OK) return fail(st);

    cria_generate_params_init(&gp);
    gp.temperature = temperature;
    gp.max_tokens = max_tokens;
    cria_generate_result_init(&result);
    printf("assistant> ");
    st = cria_generate_tokens(session, ids, n_ids + offset, &gp, print_text, NULL, &result);
    free(ids);
    printf("\n");
    if (st == CRIA_ERROR_CONTEXT_FULL || result.stop_reason == CRIA_STOP_CONTEXT_FULL) {
      printf("(the context is full: starting a new conversation)\n");
      cria_session_reset(session);
      turn = 0;
      continue;
    }
    if (st != CRIA_OK) return fail(st);
    ++turn;
  }
  printf("\n");
  cria_session_free(session);
  cria_model_free(model);
  return 0;
}
