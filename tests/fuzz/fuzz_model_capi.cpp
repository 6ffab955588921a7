// Fuzz target: a whole model load through the C ABI from a file, as an application does it,
// and when the file loads, a session that evaluates a few tokens and samples.
#include "cria.h"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::as_file(data, size);
  cria_model_params params;
  cria_model_params_init(&params);
  cria_model* model = nullptr;
  if (cria_model_load(path.c_str(), &params, &model) != CRIA_OK) return 0;
  cria_session_params sp;
  cria_session_params_init(&sp);
  sp.context_length = 8;
  sp.n_threads = 1;
  cria_session* session = nullptr;
  if (cria_session_create(model, &sp, &session) == CRIA_OK) {
    int32_t vocab = 0, token = 0;
    cria_model_vocab_size(model, &vocab);
    const int32_t tokens[3] = {1, 0, vocab > 2 ? vocab - 1 : 0};
    if (cria_session_eval(session, tokens, 3, 0, nullptr) == CRIA_OK) cria_session_sample(session, &token);
    cria_session_free(session);
  }
  cria_model_free(model);
  return 0;
}
