/* game_loop.c -- text generation inside a 60 fps frame loop that never blocks a frame.
**   game_loop MODEL.gguf [PROMPT] [BUDGET_MS]
** Each frame spends at most BUDGET_MS (default 4) on the model, in small steps of the step
** API: the prompt is evaluated a few positions per call (cria_session_eval with
** max_positions), then one token per call (cria_session_sample + cria_session_accept). The
** rest of the frame is the game's ("rendering" here is printing the new text). Each frame
** makes one step, then more while the slowest recent step still fits in what is left of the
** budget, so the budget is kept as long as one step is shorter than it (choose
** positions_per_step for that). Cancelling is just not stepping any more: here the scene
** ends after max_frames. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cria.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms) {
  struct timespec ts;
  if (ms <= 0) return;
  ts.tv_sec = (time_t)(ms / 1e3);
  ts.tv_nsec = (long)((ms - ts.tv_sec * 1e3) * 1e6);
  nanosleep(&ts, NULL);
}

#define CHECK(call) do { cria_status st_ = (call); if (st_ != CRIA_OK) { \
  fprintf(stderr, "%s: %s\n", cria_status_name(st_), cria_last_error()); return 1; } } while (0)

int main(int argc, char **argv) {
  const char *prompt = argc > 2 ? argv[2] : "Once upon a time";
  const double frame_ms = 1000.0 / 60.0, budget_ms = argc > 3 ? atof(argv[3]) : 4.0;
  const size_t positions_per_step = 4, max_new_tokens = 120;
  cria_model *model = NULL;
  cria_session *session = NULL;
  cria_session_params sp;
  cria_sampling_params sampling;
  int32_t prompt_ids[512], eos = 2, token;
  size_t n_prompt = 0, done = 0, generated = 0, k, len;
  char text[256];
  int frame = 0, prompt_frame = -1, finished = 0, steps;
  const int max_frames = 60 * 60;
  double step_ms = 1.0, worst_step = 0.0, worst_frame = 0.0; /* step_ms: a slowly decaying maximum */

  if (argc < 2) { fprintf(stderr, "usage: %s MODEL [PROMPT] [BUDGET_MS]\n", argv[0]); return 2; }
  CHECK(cria_model_load(argv[1], NULL, &model));
  CHECK(cria_model_eos(model, &eos));
  cria_sampling_params_init(&sampling);
  sampling.seed = 7;
  cria_session_params_init(&sp);
  sp.sampling = &sampling;
  sp.n_threads = 1;              /* the game keeps its other cores */
  sp.max_batch = (int32_t)positions_per_step;
  CHECK(cria_session_create(model, &sp, &session));
  CHECK(cria_tokenize(model, prompt, strlen(prompt), CRIA_TOKENIZE_ADD_BOS, prompt_ids, 512, &n_prompt));
  printf("%s", prompt);

  while (!finished) {
    const double frame_start = now_ms();
    double spent;
    /* --- the model's share of the frame --- */
    for (steps = 0; !finished && (steps == 0 || now_ms() - frame_start + step_ms <= budget_ms); ++steps) {
      const double t0 = now_ms();
      double took;
      if (done < n_prompt) {
        CHECK(cria_session_eval(session, prompt_ids + done, n_prompt - done, positions_per_step, &k));
        done += k;
        if (done == n_prompt) prompt_frame = frame;
      } else {
        cria_status st;
        CHECK(cria_session_sample(session, &token));
        if (token == eos || generated == max_new_tokens) { finished = 1; break; }
        st = cria_session_accept(session, token, text, sizeof text, &len);
        if (st == CRIA_ERROR_CONTEXT_FULL) { finished = 1; break; }
        CHECK(st);
        ++generated;
        fputs(text, stdout); /* --- "render" --- */
      }
      took = now_ms() - t0;
      step_ms = took > 0.95 * step_ms ? took : 0.95 * step_ms;
      if (took > worst_step) worst_step = took;
    }
    spent = now_ms() - frame_start;
    fflush(stdout);
    if (spent > worst_frame) worst_frame = spent;
    /* --- the rest of the frame: the game's own work, then wait for vsync --- */
    sleep_ms(frame_ms - (now_ms() - frame_start));
    if (++frame == max_frames) finished = 1; /* the player left the scene: stop */
  }
  CHECK(cria_session_flush_text(session, text, sizeof text, &len));
  printf("%s\n\n%d frames; prompt (%zu tokens) done in frame %d; %zu tokens generated; "
         "longest step %.2f ms, most model time in one frame %.2f ms (budget %.1f ms)\n",
         text, frame, n_prompt, prompt_frame, generated, worst_step, worst_frame, budget_ms);
  cria_session_free(session);
  cria_model_free(model);
  return 0;
}
