// Files quantized by llama.cpp's quantizer run, and their logits stay close to the F32
// original: a wrong block layout would give unrelated logits. Bounds are the relative RMS
// error expected of each format on these random (hard to quantize) weights, with margin.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cria/engine/session.hpp"
#include "logit_difference.hpp"

namespace {

std::vector<float> logits_of(const std::string& name) {
  auto model = cria::Model::load(std::string(CRIA_SHARED_DIR) + "/models/" + name);
  cria::Session s(*model, {});
  std::vector<int32_t> tokens = {1, 50, 100, 200, 300, 400, 500, 7, 8, 9, 10, 11};
  std::vector<float> out(tokens.size() * model->config().vocab_size);
  s.eval(tokens.data(), static_cast<int64_t>(tokens.size()), out.data());
  return out;
}

}  // namespace

TEST_CASE("llama.cpp-quantized files agree with the F32 model within each format's error") {
  const std::vector<float> reference = logits_of("synth256.f32.gguf");
  struct Case { const char* file; double max_error; };
  // Measured (activations quantized to 8 bits for the integer formats): f16 0.0005,
  // bf16 0.004, q8_0 0.017, q6_k 0.042, q5_k_m 0.078, q5_1 0.085,
  // q5_0 0.093, q4_k_s 0.137, q4_k_m 0.141, q4_1 0.170, q4_0 0.181, q3_k_m 0.276, q2_k 0.51.
  const Case cases[] = {
      {"synth256.f16.gguf", 0.002},   {"synth256.bf16.gguf", 0.01},
      {"synth256.q8_0.gguf", 0.03},   {"synth256.q6_k.gguf", 0.07},
      {"synth256.q5_k_m.gguf", 0.12}, {"synth256.q5_1.gguf", 0.13},
      {"synth256.q5_0.gguf", 0.14},   {"synth256.q4_k_s.gguf", 0.2},
      {"synth256.q4_k_m.gguf", 0.2},  {"synth256.q4_1.gguf", 0.25},
      {"synth256.q4_0.gguf", 0.25},   {"synth256.q3_k_m.gguf", 0.4},
      {"synth256.q2_k.gguf", 0.7},
  };
  for (const Case& c : cases) {
    const std::string file = c.file;
    CAPTURE(file);
    double err = relative_rms(logits_of(file), reference);
    MESSAGE(file << ": relative RMS error " << err);
    CHECK(err < c.max_error);
  }
}
