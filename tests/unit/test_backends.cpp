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
                                     const std::string& tokenizer = "", const std::string& gemm = "auto") {
  cria::LoadOptions o;
  o.backend = backend;
  o.gemm = gemm;
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
  // GPU backends (cuda, vulkan: those built) come first, then cpu and reference.
  const size_t gpus = static_cast<size_t>(std::count(built.begin(), built.end(), "cuda") +
                                          std::count(built.begin(), built.end(), "vulkan"));
  CHECK(built.at(gpus) == "cpu");
  CHECK(std::find(built.begin(), built.end(), "reference") != built.end());
  const std::vector<cria::DeviceInfo> devices = cria::list_devices();
  REQUIRE(devices.size() >= 2);
  for (const cria::DeviceInfo& d : devices) CHECK_FALSE(d.description.empty());

  CHECK(load_on("stories260K.gguf", "auto")->backend().name() == cria::auto_backend(0));
  CHECK(load_on("stories260K.gguf", "")->backend().name() == cria::auto_backend(0));
  CHECK(load_on("stories260K.gguf", "reference")->backend().name() == "reference");
  // A backend this build lacks: an error that names those it has.
  std::string missing = "metal", names;
  for (const char* gpu : {"vulkan", "cuda"})
    if (std::find(built.begin(), built.end(), gpu) == built.end()) missing = gpu;
  for (const std::string& b : built) names += (names.empty() ? "" : ", ") + b;
  try {
    load_on("stories260K.gguf", missing);
    FAIL("expected Unsupported");
  } catch (const cria::Error& e) {
    CHECK(e.code() == cria::ErrorCode::Unsupported);
    const std::string what = e.what();
    CHECK(what.find(missing) != std::string::npos);
    CHECK(what.find("built: " + names) != std::string::npos);
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
  // Float weights: the same values, summed in another order (measured 9e-8 to 8e-7), with
  // cria's own kernels for prompts too: `auto` would take oneDNN's bf16 matmul for F16 and
  // BF16 weights on CPUs that have AVX-512 BF16, whose rounding differs by 2e-3 to 5e-3. Block
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
    auto cpu = load_on(c.file, "cpu", c.tokenizer, c.bound == floats ? "kernels" : "auto");
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

TEST_CASE("operation by operation, the CPU backend's activations agree with the reference backend's") {
  // The first layer of the forward pass on both backends, each activation read back after the
  // operation that writes it: how a new backend is checked against the oracle before whole
  // models are.
  for (const char* file : {"stories260K.gguf", "synth256.q4_0.gguf"}) {
    CAPTURE(std::string(file));
    auto cpu = load_on(file, "cpu");
    auto reference = load_on(file, "reference");
    const cria::LlamaConfig& c = cpu->config();
    std::unique_ptr<cria::KvCache> cpu_cache = cpu->backend().create_kv_cache(16, cria::DType::F32);
    std::unique_ptr<cria::KvCache> ref_cache = reference->backend().create_kv_cache(16, cria::DType::F32);
    std::vector<cria::BatchEntry> cpu_entries, ref_entries;
    const std::vector<int32_t> tokens = {1, 43, 270, 301, 17, 88};
    for (size_t i = 0; i < tokens.size(); ++i) {
      cpu_entries.push_back({tokens[i], static_cast<int64_t>(i), cpu_cache.get(), true});
      ref_entries.push_back({tokens[i], static_cast<int64_t>(i), ref_cache.get(), true});
    }
    auto cpu_pass = cpu->backend().begin_pass(cpu_entries.data(), static_cast<int64_t>(tokens.size()), 2);
    auto ref_pass = reference->backend().begin_pass(ref_entries.data(), static_cast<int64_t>(tokens.size()), 1);
    // Runs one operation on both and compares what it wrote (measured: up to 7e-7 for F32
    // weights; up to 0.014 for Q4_0, whose projections meet 8-bit activations on the CPU).
    const bool eight_bit = cpu->weights().layers[0].wq.dtype != cria::DType::F32;
    auto step = [&](const char* what, cria::Activation written, auto&& op) {
      op(*cpu_pass);
      op(*ref_pass);
      const size_t n = tokens.size() * static_cast<size_t>(cria::activation_width(c, written));
      std::vector<float> a(n), b(n);
      cpu_pass->read(written, a.data());
      ref_pass->read(written, b.data());
      const double difference = relative_rms(a, b);
      MESSAGE(std::string(file) << " " << std::string(what) << ": relative RMS difference " << difference);
      CHECK(difference < (eight_bit ? 3e-2 : 1e-5));
    };
    using A = cria::Activation;
    using W = cria::WeightKind;
    step("embed", A::Residual, [](cria::Pass& p) { p.embed(A::Residual); });
    step("rmsnorm", A::Normed, [](cria::Pass& p) { p.rmsnorm(A::Normed, A::Residual, {W::AttentionNorm, 0}); });
    step("matmul q, k, v", A::Query, [](cria::Pass& p) {
      p.matmul(A::Normed, {{{W::Query, 0}, A::Query}, {{W::Key, 0}, A::Key}, {{W::Value, 0}, A::Value}});
    });
    step("rope q", A::Query, [&](cria::Pass& p) { p.rope(A::Query, c.n_heads); });
    step("rope k", A::Key, [&](cria::Pass& p) { p.rope(A::Key, c.n_kv_heads); });
    step("attention", A::Attention, [](cria::Pass& p) {
      p.store_kv(0, A::Key, A::Value);
      p.attention(0, A::Query, A::Attention);
    });
    step("matmul out", A::BlockOut, [](cria::Pass& p) { p.matmul(A::Attention, {{{W::AttentionOutput, 0}, A::BlockOut}}); });
    step("add", A::Residual, [](cria::Pass& p) { p.add(A::Residual, A::BlockOut); });
    step("matmul gate, up", A::Gate, [](cria::Pass& p) {
      p.rmsnorm(A::Normed, A::Residual, {W::FfnNorm, 0});
      p.matmul(A::Normed, {{{W::Gate, 0}, A::Gate}, {{W::Up, 0}, A::Up}});
    });
    step("swiglu", A::Gate, [](cria::Pass& p) { p.swiglu(A::Gate, A::Up); });
    step("matmul down", A::BlockOut, [](cria::Pass& p) { p.matmul(A::Gate, {{{W::Down, 0}, A::BlockOut}}); });
  }
}
