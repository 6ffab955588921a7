// Backends: choice by name and device, and the reference backend (plain scalar f32) against
// the CPU backend on every shared model and weight type.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cria/backend.hpp"
#include "cria/engine/session.hpp"
#include "cria/error.hpp"
#include "cria/sampling/sampler.hpp"
#include "logit_difference.hpp"

namespace {

std::string model_path(const std::string& name) { return std::string(CRIA_SHARED_DIR) + "/models/" + name; }

std::unique_ptr<cria::Model> load_on(const std::string& name, const std::string& backend,
                                     const std::string& tokenizer = "") {
  cria::LoadOptions o;
  o.backend = backend;
  if (!tokenizer.empty()) o.tokenizer_path = model_path(tokenizer);
  return cria::Model::load(model_path(name), o);
}

// Every position's logits, with an F32 KV cache (an F16 cache's rounding could amplify a
// last-bit difference between the two backends' sums).
std::vector<float> logits_of(const cria::Model& model, const std::vector<int32_t>& tokens) {
  cria::SessionOptions o;
  o.kv_type = cria::DType::F32;
  cria::Session s(model, o);
  std::vector<float> out(tokens.size() * static_cast<size_t>(model.config().vocab_size));
  s.eval(tokens.data(), static_cast<int64_t>(tokens.size()), out.data());
  return out;
}

}  // namespace

TEST_CASE("backends are chosen by name and device among those built") {
  const std::vector<std::string> built = cria::built_backends();
  REQUIRE(built.size() >= 2);
  CHECK(built.front() == "cpu");
  CHECK(std::find(built.begin(), built.end(), "reference") != built.end());
  const std::vector<cria::DeviceInfo> devices = cria::list_devices();
  REQUIRE(devices.size() >= 2);
  for (const cria::DeviceInfo& d : devices) CHECK_FALSE(d.description.empty());

  CHECK(load_on("stories260K.gguf", "auto")->backend().name() == "cpu");
  CHECK(load_on("stories260K.gguf", "")->backend().name() == "cpu");
  CHECK(load_on("stories260K.gguf", "reference")->backend().name() == "reference");
  try {
    load_on("stories260K.gguf", "vulkan");
    FAIL("expected Unsupported");
  } catch (const cria::Error& e) {
    CHECK(e.code() == cria::ErrorCode::Unsupported);
    const std::string what = e.what();
    CHECK(what.find("vulkan") != std::string::npos);
    CHECK(what.find("built: cpu, reference") != std::string::npos);
  }
  cria::LoadOptions second_device;
  second_device.device = 1;
  CHECK_THROWS_AS(cria::Model::load(model_path("stories260K.gguf"), second_device), cria::Error);
  cria::LoadOptions gemm_on_reference;
  gemm_on_reference.backend = "reference";
  gemm_on_reference.gemm = "kernels";
  CHECK_THROWS_AS(cria::Model::load(model_path("stories260K.gguf"), gemm_on_reference), cria::Error);
  cria::LoadOptions unknown_gemm;
  unknown_gemm.gemm = "cublas";
  CHECK_THROWS_AS(cria::Model::load(model_path("stories260K.gguf"), unknown_gemm), cria::Error);
  // A model loaded only to inspect has no backend to run on.
  cria::LoadOptions inspect;
  inspect.inspect_only = true;
  auto inspected = cria::Model::load(model_path("stories260K.gguf"), inspect);
  CHECK_THROWS_AS(inspected->backend(), cria::Error);
}

TEST_CASE("the reference backend agrees with the CPU backend on every shared model and weight type") {
  struct Case {
    const char* file;
    const char* tokenizer;
    double bound;  // relative RMS difference of all logits
  };
  // Float weights: the same values, summed in another order (measured 9e-8 to 8e-7). Block
  // formats: the CPU backend quantizes activations to 8 bits where the reference keeps f32
  // (measured on synth256's random weights: 0.011 to 0.016).
  const double floats = 1e-5, eight_bit = 3e-2;
  const Case cases[] = {
      {"stories260K.bin", "stories260K.tok512.bin", floats},
      {"stories260K.v1.bin", "stories260K.tok512.bin", floats},
      {"stories260K.gguf", "", floats},
      {"stories260K.f16.gguf", "", floats},
      {"aidreams260K.bin", "aidreams260K.tok512.bin", floats},
      {"llama2-tiny-random.gguf", "", floats},
      {"synth256.f32.gguf", "", floats},
      {"synth256.f16.gguf", "", floats},
      {"synth256.bf16.gguf", "", floats},
      {"synth256.q8_0.gguf", "", eight_bit},
      {"synth256.q4_0.gguf", "", eight_bit},
      {"synth256.q4_1.gguf", "", eight_bit},
      {"synth256.q5_0.gguf", "", eight_bit},
      {"synth256.q5_1.gguf", "", eight_bit},
      {"synth256.q2_k.gguf", "", eight_bit},
      {"synth256.q3_k_m.gguf", "", eight_bit},
      {"synth256.q4_k_s.gguf", "", eight_bit},
      {"synth256.q4_k_m.gguf", "", eight_bit},
      {"synth256.q5_k_m.gguf", "", eight_bit},
      {"synth256.q6_k.gguf", "", eight_bit},
  };
  for (const Case& c : cases) {
    const std::string file = c.file;
    CAPTURE(file);
    auto cpu = load_on(c.file, "cpu", c.tokenizer);
    auto reference = load_on(c.file, "reference", c.tokenizer);
    const int64_t vocab = cpu->config().vocab_size;
    std::vector<int32_t> tokens = {1};
    for (int i = 0; i < 23; ++i) tokens.push_back(static_cast<int32_t>(3 + (i * 7919 + 17) % (vocab - 3)));
    const std::vector<float> a = logits_of(*cpu, tokens), b = logits_of(*reference, tokens);
    const double difference = relative_rms(a, b);
    MESSAGE(file << ": relative RMS difference cpu vs reference " << difference);
    CHECK(difference < c.bound);
    if (c.bound == floats) {  // the same arithmetic: the same most likely token everywhere
      int same = 0;
      for (size_t t = 0; t < tokens.size(); ++t)
        same += cria::argmax(&a[t * vocab], vocab) == cria::argmax(&b[t * vocab], vocab);
      CHECK(same == static_cast<int>(tokens.size()));
    }
  }
}
