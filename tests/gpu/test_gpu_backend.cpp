// A GPU backend (CRIA_GPU_BACKEND: "vulkan" or "cuda") against the reference backend (plain
// f32) and the CPU backend: every operation for every weight type, whole-model logits on every
// shared model, several sequences in one batch, split models, saved sessions, threads and its
// errors. Runs on the backend's device 0 (in CI, Vulkan runs on Mesa's lavapipe, a Vulkan 1.3
// device on the CPU); skips, saying why, where none exists.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cria/backend.hpp"
#include "cria/engine/batch.hpp"
#include "cria/engine/generate.hpp"
#include "cria/engine/session.hpp"
#include "cria/error.hpp"
#include "cria/model/model.hpp"
#include "cria/sampling/sampler.hpp"
#include "logit_difference.hpp"

namespace {

// The backend under test.
const std::string kBackend = std::getenv("CRIA_GPU_BACKEND") ? std::getenv("CRIA_GPU_BACKEND") : "vulkan";

std::string shared(const std::string& name) { return std::string(CRIA_SHARED_DIR) + "/" + name; }

std::unique_ptr<cria::Model> load_on(const std::string& file, const std::string& backend, const std::string& tokenizer = "",
                                     int gpu_layers = -1) {
  cria::LoadOptions o;
  o.backend = backend;
  o.gpu_layers = gpu_layers;
  if (backend == "cpu") o.gemm = "kernels";
  if (!tokenizer.empty()) o.tokenizer_path = shared("models/" + tokenizer);
  return cria::Model::load(shared("models/" + file), o);
}

std::vector<float> logits_of(const cria::Model& model, const std::vector<int32_t>& tokens, cria::DType kv = cria::DType::F32) {
  cria::SessionOptions o;
  o.kv_type = kv;
  cria::Session s(model, o);
  std::vector<float> out(tokens.size() * static_cast<size_t>(model.config().vocab_size));
  s.eval(tokens.data(), static_cast<int64_t>(tokens.size()), out.data());
  return out;
}

std::vector<int32_t> test_tokens(int64_t vocab, int n) {
  std::vector<int32_t> tokens = {1};
  for (int i = 1; i < n; ++i) tokens.push_back(static_cast<int32_t>(3 + (i * 7919 + 17) % (vocab - 3)));
  return tokens;
}

struct Case {
  const char* file;
  const char* tokenizer;
};
// Every shared model and every synth256 weight type.
// (CRIA_VULKAN_INTEGER_DOT=0 runs them on the portable f32 kernels only.)
const Case kModels[] = {
    {"stories260K.bin", "stories260K.tok512.bin"}, {"stories260K.gguf", ""}, {"stories260K.f16.gguf", ""},
    {"aidreams260K.bin", "aidreams260K.tok512.bin"}, {"llama2-tiny-random.gguf", ""},
    {"synth256.f32.gguf", ""}, {"synth256.f16.gguf", ""}, {"synth256.bf16.gguf", ""}, {"synth256.q8_0.gguf", ""},
    {"synth256.q4_0.gguf", ""}, {"synth256.q4_1.gguf", ""}, {"synth256.q5_0.gguf", ""}, {"synth256.q5_1.gguf", ""},
    {"synth256.q2_k.gguf", ""}, {"synth256.q3_k_m.gguf", ""}, {"synth256.q4_k_s.gguf", ""},
    {"synth256.q4_k_m.gguf", ""}, {"synth256.q5_k_m.gguf", ""}, {"synth256.q6_k.gguf", ""},
};

// Normalized mean squared error: sum (x - ref)^2 / sum ref^2.
double nmse(const std::vector<float>& x, const std::vector<float>& ref) {
  const double r = relative_rms(x, ref);
  return r * r;
}

}  // namespace

// Both the Vulkan backend and the reference backend decode the weights exactly and compute in
// f32; they differ only in the order of their sums (measured up to 2e-10).
const double kAgainstReference = 1e-8;
// The CPU backend rounds activations to 8 bits for block-format weights (relative RMS up to
// 0.016 against the reference, an NMSE of 2.6e-4).
const double kAgainstCpu = 1e-3;

// The bound against the reference backend for a model on `gpu` evaluating `entries` entries
// per pass: where the Vulkan device has integer dot products, generation's Q4_0 and Q8_0
// kernels round their inputs to 8 bits, as the CPU backend does; CUDA's prompts (more than 8
// entries) go through cuBLAS on f16-rounded inputs and weights.
double against_reference(const Case& m, const cria::Model& gpu, size_t entries) {
  const std::string file = m.file;
  const bool rounds = gpu.backend().device_description().find("integer dot products in use") != std::string::npos &&
                      (file.find("q4_0") != std::string::npos || file.find("q8_0") != std::string::npos);
  const bool f16_prompt = kBackend == "cuda" && entries > 8;
  return rounds || f16_prompt ? kAgainstCpu : kAgainstReference;
}
// Between passes of different sizes on the device (a batch against each sequence alone).
double between_pass_sizes() { return kBackend == "cuda" ? kAgainstCpu : kAgainstReference; }

TEST_CASE("every operation agrees with the reference backend, for every weight type") {
  for (const Case& m : kModels) {
    const std::string file = m.file;
    CAPTURE(file);
    auto gpu = load_on(m.file, kBackend, m.tokenizer);
    auto reference = load_on(m.file, "reference", m.tokenizer);
    const cria::LlamaConfig& c = gpu->config();
    // Two sequences in one batch, of 5 and 2 entries (lengths no tile size divides).
    std::unique_ptr<cria::KvCache> gpu_a = gpu->backend().create_kv_cache(16, cria::DType::F32),
                                   gpu_b = gpu->backend().create_kv_cache(16, cria::DType::F16),
                                   ref_a = reference->backend().create_kv_cache(16, cria::DType::F32),
                                   ref_b = reference->backend().create_kv_cache(16, cria::DType::F16);
    const std::vector<int32_t> tokens = {1, 43, 270, 301, 17, 1, 88};
    std::vector<cria::BatchEntry> gpu_entries, ref_entries;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const bool second = i >= 5;
      const int64_t position = second ? static_cast<int64_t>(i - 5) : static_cast<int64_t>(i);
      gpu_entries.push_back({tokens[i], position, second ? gpu_b.get() : gpu_a.get(), true});
      ref_entries.push_back({tokens[i], position, second ? ref_b.get() : ref_a.get(), true});
    }
    const int64_t n = static_cast<int64_t>(tokens.size());
    auto gpu_pass = gpu->backend().begin_pass(gpu_entries.data(), n, 1);
    auto ref_pass = reference->backend().begin_pass(ref_entries.data(), n, 1);
    auto step = [&](const char* what, cria::Activation written, auto&& op) {
      op(*gpu_pass);
      op(*ref_pass);
      const size_t count = tokens.size() * static_cast<size_t>(cria::activation_width(c, written));
      std::vector<float> a(count), b(count);
      gpu_pass->read(written, a.data());
      ref_pass->read(written, b.data());
      const double e = nmse(a, b);
      INFO(file << " " << std::string(what) << ": NMSE " << e);
      CHECK(e < against_reference(m, *gpu, tokens.size()));
    };
    using A = cria::Activation;
    using W = cria::WeightKind;
    for (int64_t l = 0; l < std::min<int64_t>(c.n_layers, 2); ++l) {
      if (l == 0) step("embed", A::Residual, [](cria::Pass& p) { p.embed(A::Residual); });
      step("rmsnorm", A::Normed, [&](cria::Pass& p) { p.rmsnorm(A::Normed, A::Residual, {W::AttentionNorm, l}); });
      step("matmul q, k, v", A::Key, [&](cria::Pass& p) {
        p.matmul(A::Normed, {{{W::Query, l}, A::Query}, {{W::Key, l}, A::Key}, {{W::Value, l}, A::Value}});
      });
      step("rope q", A::Query, [&](cria::Pass& p) { p.rope(A::Query, c.n_heads); });
      step("rope k", A::Key, [&](cria::Pass& p) { p.rope(A::Key, c.n_kv_heads); });
      step("attention", A::Attention, [&](cria::Pass& p) {
        p.store_kv(l, A::Key, A::Value);
        p.attention(l, A::Query, A::Attention);
      });
      step("matmul out", A::BlockOut, [&](cria::Pass& p) { p.matmul(A::Attention, {{{W::AttentionOutput, l}, A::BlockOut}}); });
      step("add", A::Residual, [](cria::Pass& p) { p.add(A::Residual, A::BlockOut); });
      step("matmul gate, up", A::Up, [&](cria::Pass& p) {
        p.rmsnorm(A::Normed, A::Residual, {W::FfnNorm, l});
        p.matmul(A::Normed, {{{W::Gate, l}, A::Gate}, {{W::Up, l}, A::Up}});
      });
      step("swiglu", A::Gate, [](cria::Pass& p) { p.swiglu(A::Gate, A::Up); });
      step("matmul down", A::BlockOut, [&](cria::Pass& p) { p.matmul(A::Gate, {{{W::Down, l}, A::BlockOut}}); });
      step("add", A::Residual, [](cria::Pass& p) { p.add(A::Residual, A::BlockOut); });
    }
    std::vector<float> a(tokens.size() * static_cast<size_t>(c.vocab_size)), b(a.size());
    gpu_pass->logits(A::Residual, a.data());
    ref_pass->logits(A::Residual, b.data());
    INFO(file << " logits: NMSE " << nmse(a, b));
    CHECK(nmse(a, b) < against_reference(m, *gpu, tokens.size()));
  }
}

TEST_CASE("whole-model logits agree with the reference and CPU backends on every shared model") {
  for (const Case& m : kModels) {
    const std::string file = m.file;
    CAPTURE(file);
    auto gpu = load_on(m.file, kBackend, m.tokenizer);
    auto reference = load_on(m.file, "reference", m.tokenizer);
    auto cpu = load_on(m.file, "cpu", m.tokenizer);
    const std::vector<int32_t> tokens = test_tokens(gpu->config().vocab_size, 37);
    const std::vector<float> g = logits_of(*gpu, tokens), r = logits_of(*reference, tokens), c = logits_of(*cpu, tokens);
    MESSAGE(file << ": NMSE against reference " << nmse(g, r) << ", against cpu " << nmse(g, c));
    CHECK(nmse(g, r) < against_reference(m, *gpu, tokens.size()));
    CHECK(nmse(g, c) < kAgainstCpu);
    // An F16 cache rounds keys and values as the CPU backend's F16 cache does.
    const std::vector<float> g16 = logits_of(*gpu, tokens, cria::DType::F16), c16 = logits_of(*cpu, tokens, cria::DType::F16);
    CHECK(nmse(g16, c16) < kAgainstCpu);
    // Token by token, as in generation (the kernels for a few entries, not the prompt tiles).
    cria::SessionOptions o;
    o.kv_type = cria::DType::F32;
    cria::Session gs(*gpu, o), rs(*reference, o), cs(*cpu, o);
    for (size_t i = 0; i < 6; ++i) {
      gs.eval(&tokens[i], 1);
      rs.eval(&tokens[i], 1);
      cs.eval(&tokens[i], 1);
      CHECK(nmse(gs.logits(), rs.logits()) < against_reference(m, *gpu, 1));
      CHECK(nmse(gs.logits(), cs.logits()) < kAgainstCpu);
    }
  }
}

TEST_CASE("gpu_layers: none, half and all layers on the device agree with the CPU and reference backends") {
  for (const Case& m : kModels) {
    const std::string file = m.file;
    CAPTURE(file);
    auto reference = load_on(m.file, "reference", m.tokenizer);
    auto cpu = load_on(m.file, "cpu", m.tokenizer);
    const int64_t layers = reference->config().n_layers;
    const std::vector<int32_t> tokens = test_tokens(reference->config().vocab_size, 23);
    const std::vector<float> r = logits_of(*reference, tokens), c = logits_of(*cpu, tokens);
    for (const int64_t gpu_layers : {int64_t{0}, layers / 2, layers, int64_t{-1}}) {
      CAPTURE(gpu_layers);
      auto split = load_on(m.file, kBackend, m.tokenizer, static_cast<int>(gpu_layers));
      const std::string expected =
          gpu_layers == 0 ? "cpu" : gpu_layers == layers / 2 && layers > 1 ? kBackend + "+cpu" : kBackend;
      CHECK(split->backend().name() == expected);
      const std::vector<float> s = logits_of(*split, tokens);
      MESSAGE(file << " gpu_layers " << gpu_layers << ": NMSE against reference " << nmse(s, r) << ", against cpu "
                   << nmse(s, c));
      // Layers on the CPU backend round activations as it does; all on the device: as exact as the reference.
      CHECK(nmse(s, r) < (expected == kBackend ? against_reference(m, *split, tokens.size()) : kAgainstCpu));
      CHECK(nmse(s, c) < kAgainstCpu);
      if (expected == "cpu") {  // the CPU backend as the split made it: prompt GEMM "auto"
        cria::LoadOptions o;
        o.backend = "cpu";
        if (*m.tokenizer) o.tokenizer_path = shared(std::string("models/") + m.tokenizer);
        CHECK(s == logits_of(*cria::Model::load(shared(std::string("models/") + m.file), o), tokens));
      }
    }
  }
}

TEST_CASE("a split model evaluates several sequences in one batch as it does each alone") {
  auto model = load_on("stories260K.gguf", kBackend, "", 2);
  REQUIRE(model->backend().name() == kBackend + "+cpu");
  const std::vector<int32_t> a = test_tokens(model->config().vocab_size, 9), b = {1, 400, 12, 77};
  const std::vector<float> alone_a = logits_of(*model, a), alone_b = logits_of(*model, b);
  cria::SessionOptions o;
  o.kv_type = cria::DType::F32;
  cria::Session sa(*model, o), sb(*model, o);
  cria::Batch batch;
  batch.add(sa, a.data(), static_cast<int64_t>(a.size()));
  batch.add(sb, b.data(), static_cast<int64_t>(b.size()));
  batch.eval();
  const size_t vocab = static_cast<size_t>(model->config().vocab_size);
  const std::vector<float> last_a(alone_a.end() - static_cast<ptrdiff_t>(vocab), alone_a.end()),
      last_b(alone_b.end() - static_cast<ptrdiff_t>(vocab), alone_b.end());
  const std::vector<float>& batched_a = sa.logits();
  const std::vector<float>& batched_b = sb.logits();
  CHECK(nmse(batched_a, last_a) < between_pass_sizes());
  CHECK(nmse(batched_b, last_b) < between_pass_sizes());
}

TEST_CASE("sessions saved and shifted on the device, and moved between the device and the CPU") {
  // On the device alone and split with the CPU: a saved state resumes on the same backend with
  // the same logits, a CPU session's state resumes on the device (and back) within the
  // backends' difference, and a shift there keeps the positions a fresh run gives.
  for (const int gpu_layers : {-1, 2}) {
    CAPTURE(gpu_layers);
    auto gpu = load_on("stories260K.gguf", kBackend, "", gpu_layers);
    auto cpu = load_on("stories260K.gguf", "cpu");
    const std::vector<int32_t> tokens = test_tokens(gpu->config().vocab_size, 40);
    for (cria::DType kv : {cria::DType::F32, cria::DType::F16}) {
      cria::SessionOptions o;
      o.kv_type = kv;
      cria::Session a(*gpu, o), b(*gpu, o), on_cpu(*cpu, o), from_cpu(*gpu, o);
      a.eval(tokens);
      b.load_state(a.save_state());
      CHECK(b.logits() == a.logits());
      a.accept(300);
      b.accept(300);
      CHECK(b.logits() == a.logits());

      on_cpu.eval(tokens);
      from_cpu.load_state(on_cpu.save_state());
      on_cpu.accept(300);
      from_cpu.accept(300);
      CHECK(nmse(from_cpu.logits(), on_cpu.logits()) < kAgainstCpu);
      on_cpu.load_state(b.save_state());
      CHECK(on_cpu.tokens() == b.tokens());

      cria::Session shifted(*gpu, o), fresh_cpu(*cpu, o), shifted_cpu(*cpu, o);
      shifted.eval(tokens);
      shifted_cpu.eval(tokens);
      shifted.shift(3, 17);
      shifted_cpu.shift(3, 17);
      std::vector<int32_t> kept(tokens.begin(), tokens.begin() + 3);
      kept.insert(kept.end(), tokens.begin() + 20, tokens.end());
      CHECK(shifted.tokens() == kept);
      // The device's shifted cache, read through the CPU backend, continues as the CPU's does.
      fresh_cpu.load_state(shifted.save_state());
      shifted_cpu.accept(300);
      fresh_cpu.accept(300);
      CHECK(nmse(fresh_cpu.logits(), shifted_cpu.logits()) < kAgainstCpu);
    }
  }
}

TEST_CASE("uploading weights reports progress and stops when the callback says so") {
  std::vector<float> fractions;
  cria::LoadOptions o;
  o.backend = kBackend;
  o.progress = [&](float f) {
    fractions.push_back(f);
    return true;
  };
  auto model = cria::Model::load(shared("models/synth256.q4_k_m.gguf"), o);
  CHECK(std::is_sorted(fractions.begin(), fractions.end()));
  // Placing is 0.5 to 0.8 of a load: several reports in that range, one per uploaded tensor.
  CHECK(std::count_if(fractions.begin(), fractions.end(), [](float f) { return f > 0.5f && f < 0.8f; }) > 10);
  int calls = 0;
  o.progress = [&](float f) { return f <= 0.5f || ++calls < 3; };  // stop during the upload
  try {
    cria::Model::load(shared("models/synth256.q4_k_m.gguf"), o);
    FAIL("expected Cancelled");
  } catch (const cria::Error& e) {
    CHECK(e.code() == cria::ErrorCode::Cancelled);
  }
  CHECK(calls == 3);
  // The device is still usable by the model loaded before.
  CHECK(logits_of(*model, {1, 2, 3}).size() == 3 * static_cast<size_t>(model->config().vocab_size));
}

TEST_CASE("models and sessions share a device from several threads, each as if alone") {
  auto first = load_on("stories260K.gguf", kBackend), second = load_on("synth256.q4_0.gguf", kBackend);
  const std::vector<int32_t> a = test_tokens(first->config().vocab_size, 12), b = test_tokens(second->config().vocab_size, 9);
  const std::vector<float> alone_a = logits_of(*first, a), alone_b = logits_of(*second, b);
  std::vector<std::vector<float>> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i)  // two sessions of each model at once
    threads.emplace_back([&, i] { results[i] = i % 2 == 0 ? logits_of(*first, a) : logits_of(*second, b); });
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < results.size(); ++i) CHECK(results[i] == (i % 2 == 0 ? alone_a : alone_b));
}

TEST_CASE("out of device memory is an error that names the sizes, and the sessions that fit go on") {
  auto model = load_on("stories260K.gguf", kBackend);
  cria::SessionOptions o;
  o.context_length = 1000000;  // 1.28 GB of F16 keys and values per session
  o.kv_type = cria::DType::F16;
  std::vector<std::unique_ptr<cria::Session>> sessions;
  std::string message;
  while (sessions.size() < 200) {  // until the device's memory is spent
    try {
      sessions.push_back(std::make_unique<cria::Session>(*model, o));
    } catch (const cria::Error& e) {
      CHECK(e.code() == cria::ErrorCode::OutOfMemory);
      message = e.what();
      break;
    }
  }
  REQUIRE_FALSE(message.empty());
  INFO(message);
  CHECK(message.find("no device memory for a KV cache of 1000000 positions") != std::string::npos);
  CHECK(message.find("bytes") != std::string::npos);
  REQUIRE_FALSE(sessions.empty());
  const std::vector<int32_t> tokens = {1, 43, 270};
  const std::vector<float> expected = logits_of(*load_on("stories260K.gguf", "reference"), tokens);
  cria::Session& first = *sessions.front();
  first.eval(tokens.data(), static_cast<int64_t>(tokens.size()));
  const size_t vocab = static_cast<size_t>(model->config().vocab_size);
  // (Its F16 cache rounds keys and values: the reference's F32 cache differs by that much.)
  CHECK(nmse(first.logits(), std::vector<float>(expected.end() - static_cast<ptrdiff_t>(vocab), expected.end())) <
        kAgainstCpu);
}

int main(int argc, char** argv) {
  try {
    const std::vector<cria::DeviceInfo> devices = cria::list_devices();
    bool found = false;
    for (const cria::DeviceInfo& d : devices)
      if (d.backend == kBackend) {
        std::printf("%s device %d: %s\n", kBackend.c_str(), d.index, d.description.c_str());
        found = true;
      }
    if (!found) {
      if (kBackend == "vulkan") {
        std::printf("SKIPPED: no Vulkan device on this machine (install mesa-vulkan-drivers for lavapipe)\n");
        return 77;
      }
      // The backend's own reason (no driver, no device), as creating it reports it.
      cria::BackendOptions o;
      o.name = kBackend;
      cria::create_backend(o);
      std::printf("SKIPPED: no %s device, though the backend starts\n", kBackend.c_str());
      return 77;
    }
  } catch (const cria::Error& e) {
    std::printf("SKIPPED: %s\n", e.what());
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
