// simple.cpp -- cria's C ABI (cria.h, what an installed cria offers) from C++17: handles owned
// by std::unique_ptr, statuses turned into exceptions, the text streamed to a lambda.
//   c++ -std=c++17 simple.cpp $(pkg-config --cflags --libs cria) -o simple_cpp
//   ./simple_cpp MODEL.gguf ["prompt"]
#include <cria.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

static void check(cria_status status) {
  if (status != CRIA_OK)
    throw std::runtime_error(std::string(cria_status_name(status)) + ": " + cria_last_error());
}

using Model = std::unique_ptr<cria_model, decltype(&cria_model_free)>;
using Session = std::unique_ptr<cria_session, decltype(&cria_session_free)>;

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL [PROMPT]\n", argv[0]);
    return 2;
  }
  if (!CRIA_ABI_COMPATIBLE()) throw std::runtime_error(cria_last_error());
  const std::string prompt = argc > 2 ? argv[2] : "Once upon a time";

  cria_model* m = nullptr;
  check(cria_model_load(argv[1], nullptr, &m));
  Model model(m, cria_model_free);
  cria_session* s = nullptr;
  check(cria_session_create(model.get(), nullptr, &s));
  Session session(s, cria_session_free);  // declared after the model: freed before it

  cria_generate_params params;
  cria_generate_params_init(&params);  // defaults; then change what you need
  params.temperature = 0.0f;           // greedy: the same text every run
  params.max_tokens = 64;
  cria_generate_result result;
  cria_generate_result_init(&result);
  std::string text;
  auto on_text = [](const char* piece, size_t length, void* user_data) {
    static_cast<std::string*>(user_data)->append(piece, length);
    std::fwrite(piece, 1, length, stdout);
    return true;  // false would stop the generation
  };
  std::printf("%s", prompt.c_str());
  check(cria_generate(session.get(), prompt.c_str(), &params, on_text, &text, &result));
  std::printf("\n[%d prompt tokens, %d generated, %zu bytes]\n", result.n_prompt_tokens,
              result.n_tokens, text.size());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
