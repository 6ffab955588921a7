// Generation through the engine: the tokens recorded before sampling became a chain and
// generation one path, and the stop conditions.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cria/engine/generate.hpp"
#include "cria/error.hpp"

namespace {

std::unique_ptr<cria::Model> load(const std::string& file) {
  cria::LoadOptions o;
  if (file == "stories260K.bin") o.tokenizer_path = std::string(CRIA_SHARED_DIR) + "/models/stories260K.tok512.bin";
  return cria::Model::load(std::string(CRIA_SHARED_DIR) + "/models/" + file, o);
}

}  // namespace

TEST_CASE("the same seed gives the text recorded before generation became one path") {
  // Token ids recorded with the earlier generate() and sampler, 2 threads (logits do not
  // depend on the thread count, and these agree across the scalar and AVX2 kernels).
  struct Case {
    const char* file;
    cria::SamplerParams sampling;
    std::vector<int32_t> tokens;
  };
  const Case cases[] = {
      {"stories260K.bin", {0.8f, 40, 0.95f, 1}, {432, 383, 286, 261, 376, 268, 414, 422, 395, 326, 426, 326, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 262, 379, 426, 385, 328, 432, 263, 415, 290, 411, 337, 299, 432, 281, 394, 261, 370}},
      {"stories260K.bin", {0.8f, 40, 0.95f, 42}, {432, 383, 286, 261, 376, 268, 414, 422, 395, 405, 426, 405, 401, 396, 267, 337, 335, 345, 267, 422, 280, 295, 419, 426, 385, 328, 432, 281, 279, 411, 429, 292, 266, 267, 282, 323, 353, 345, 262, 415}},
      {"stories260K.bin", {1.0f, 0, 0.9f, 7}, {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 381, 261, 399, 410, 276, 356, 305, 419, 419, 268, 315, 418, 269, 265, 268, 315, 418, 419, 278, 347, 355, 261, 413, 265, 268, 315, 418, 426}},
      {"stories260K.bin", {0.7f, 5, 1.0f, 9}, {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 397, 396, 322, 261, 370, 270, 277, 372, 335, 311, 357, 343, 269, 279, 380, 418, 422, 426, 385, 328, 432, 366, 263, 377, 267, 265, 282, 295}},
      {"stories260K.bin", {1.2f, 0, 1.0f, 11}, {432, 383, 286, 261, 376, 298, 315, 421, 395, 307, 425, 429, 422, 263, 377, 267, 261, 416, 344, 305, 427, 415, 303, 413, 263, 260, 276, 279, 292, 400, 306, 419, 267, 272, 417, 444, 312, 426, 385, 328}},
      {"stories260K.bin", {1.0f, 1, 1.0f, 5}, {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426}},
      {"stories260K.bin", {0.5f, 100, 0.5f, 3}, {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426}},
      {"stories260K.bin", {0.0f, 40, 0.95f, 1}, {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426}},
      {"llama2-tiny-random.gguf", {0.8f, 40, 0.95f, 1}, {9537, 9439, 30248, 3768, 19530, 13617, 19589, 25108, 18048, 1517, 2347, 9672, 16732, 3686, 20109, 26655, 9571, 5379, 27774, 19712, 20367, 12252, 23794, 22437}},
      {"llama2-tiny-random.gguf", {0.8f, 40, 0.95f, 42}, {6350, 12941, 23545, 30348, 27848, 4125, 25359, 6299, 7035, 10917, 20223, 5601, 21004, 13056, 2484, 25431, 17519, 27531, 30543, 5820, 14427, 29182, 31423, 25643}},
      {"llama2-tiny-random.gguf", {1.0f, 0, 0.9f, 7}, {20794, 30693, 12731, 11843, 26991, 17549, 20174, 22810, 7963, 2168, 4108, 18656, 15155, 8584, 17405, 13815, 1778, 1241, 23089, 2093, 16838, 10198, 14858, 29497}},
      {"llama2-tiny-random.gguf", {0.7f, 5, 1.0f, 9}, {24981, 907, 8093, 2435, 15455, 3269, 13830, 31020, 5590, 6135, 6039, 10144, 16693, 14007, 26604, 17425, 27101, 12681, 25549, 10335, 27338, 8021, 24225, 28724}},
      {"llama2-tiny-random.gguf", {1.2f, 0, 1.0f, 11}, {23916, 18690, 14302, 20778, 26532, 13030, 2810, 17104, 19845, 29819, 30119, 16972, 23572, 14897, 5320, 18872, 23826, 6797, 6821, 2178, 5254, 11539, 16710, 2170}},
      {"llama2-tiny-random.gguf", {1.0f, 1, 1.0f, 5}, {9439, 6937, 18247, 4847, 634, 20459, 5601, 8021, 29710, 4660, 29448, 3870, 13706, 5702, 13947, 22372, 1136, 14007, 19982, 8317, 15492, 19741, 8021, 29710}},
      {"llama2-tiny-random.gguf", {0.5f, 100, 0.5f, 3}, {2684, 889, 4847, 30488, 18640, 1417, 9982, 9399, 24225, 15492, 6783, 8077, 19175, 20701, 25008, 2424, 14346, 18247, 3594, 13734, 25402, 14257, 11171, 29182}},
      {"llama2-tiny-random.gguf", {0.0f, 40, 0.95f, 1}, {9439, 6937, 18247, 4847, 634, 20459, 5601, 8021, 29710, 4660, 29448, 3870, 13706, 5702, 13947, 22372, 1136, 14007, 19982, 8317, 15492, 19741, 8021, 29710}},
  };
  for (const Case& c : cases) {
    const std::string file = c.file;
    CAPTURE(file);
    CAPTURE(c.sampling.temperature);
    CAPTURE(c.sampling.seed);
    auto model = load(c.file);
    cria::SessionOptions so;
    so.n_threads = 2;
    cria::Session s(*model, so);
    cria::GenerateParams p;
    p.sampling = c.sampling;
    p.max_tokens = static_cast<int64_t>(c.tokens.size());
    const bool stories = file == "stories260K.bin";
    const std::vector<int32_t> prompt = model->tokenizer()->encode(stories ? "Once upon a time" : "Hello");
    const cria::GenerateResult r = cria::generate(s, prompt, p, nullptr);
    CHECK(r.tokens == c.tokens);
    CHECK(r.reason == cria::StopReason::MaxTokens);
  }
}

TEST_CASE("a full context stops generation, with or without the last position's prediction") {
  auto model = load("stories260K.bin");
  const std::vector<int32_t> prompt = model->tokenizer()->encode("Once upon a time");  // 5 ids
  cria::SessionOptions so;
  so.context_length = 16;
  cria::GenerateParams p;
  p.sampling.temperature = 0.0f;
  cria::Session held(*model, so);
  std::string held_text;
  const cria::GenerateResult a = cria::generate(held, prompt, p, [&](std::string_view t) {
    held_text += t;
    return true;
  });
  CHECK(a.reason == cria::StopReason::ContextFull);
  CHECK(a.tokens.size() == 11);  // every generated token is held: 5 + 11 = 16 positions
  CHECK(held.n_past() == 16);
  CHECK_THROWS_AS(cria::generate(held, {}, p, nullptr), cria::Error);

  p.sample_when_full = true;
  cria::Session predicted(*model, so);
  std::string predicted_text;
  const cria::GenerateResult b = cria::generate(predicted, prompt, p, [&](std::string_view t) {
    predicted_text += t;
    return true;
  });
  CHECK(b.reason == cria::StopReason::ContextFull);
  REQUIRE(b.tokens.size() == 12);  // and one more, from the 16th position's logits
  CHECK(std::vector<int32_t>(b.tokens.begin(), b.tokens.begin() + 11) == a.tokens);
  CHECK(predicted.n_past() == 16);
  CHECK(predicted_text.compare(0, held_text.size(), held_text) == 0);
  CHECK(predicted_text.size() > held_text.size());
}
