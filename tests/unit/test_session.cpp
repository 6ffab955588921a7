// The forward pass does not depend on threads or batching, and guards its inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "cria/engine/session.hpp"
#include "cria/error.hpp"
#include "cpu/backend.hpp"
#include "cpu/cpu_features.hpp"
#include "cpu/kernels.hpp"
#include "logit_difference.hpp"

namespace {

const std::string kStories = std::string(CRIA_SHARED_DIR) + "/models/stories260K.bin";
const std::vector<int32_t> kTokens = {1, 403, 407, 261, 378, 426, 270, 503, 29, 42, 300, 6, 11, 400};

// The model with prompts multiplied by `gemm` (LoadOptions::gemm).
std::unique_ptr<cria::Model> load_with_gemm(const std::string& path, const std::string& gemm) {
  cria::LoadOptions o;
  o.gemm = gemm;
  return cria::Model::load(path, o);
}

std::vector<float> all_logits(const cria::Model& model, int threads, int64_t batch,
                              cria::DType kv_type = cria::DType::F16,
                              const std::vector<int32_t>& tokens = kTokens) {
  cria::SessionOptions o;
  o.n_threads = threads;
  o.max_batch = batch;
  o.kv_type = kv_type;
  cria::Session s(model, o);
  std::vector<float> out(tokens.size() * model.config().vocab_size);
  s.eval(tokens.data(), static_cast<int64_t>(tokens.size()), out.data());
  return out;
}

}  // namespace

TEST_CASE("logits are bit-identical for 1, 2 and 3 threads, for every GEMM backend") {
  for (const char* gemm : {"kernels", "onednn-f32", "onednn-bf16", "openblas"}) {
    CAPTURE(gemm);
    std::unique_ptr<cria::Model> model;
    try {
      model = load_with_gemm(kStories, gemm);
    } catch (const cria::Error& e) {  // onednn-bf16 needs AVX-512
      REQUIRE(e.code() == cria::ErrorCode::Unsupported);
      MESSAGE("skipped gemm " << std::string(gemm) << ": " << std::string(e.what()));
      continue;
    }
    auto one = all_logits(*model, 1, 64);
    CHECK(one == all_logits(*model, 2, 64));
    CHECK(one == all_logits(*model, 3, 64));
  }
}

TEST_CASE("with the dot kernels, logits do not depend on how positions are batched") {
  // (A GEMM backend sums in another order than the dot kernels, so only the kernels path
  // promises batch invariance.)
  auto model = load_with_gemm(kStories, "kernels");
  auto whole = all_logits(*model, 2, 64);
  CHECK(whole == all_logits(*model, 2, 1));
  CHECK(whole == all_logits(*model, 2, 5));

  // Token by token through eval(): the last position's logits match too.
  cria::Session s(*model, {});
  for (int32_t t : kTokens) s.eval(&t, 1);
  const int64_t vocab = model->config().vocab_size;
  std::vector<float> last(whole.end() - vocab, whole.end());
  CHECK(s.logits() == last);
  CHECK(s.n_past() == static_cast<int64_t>(kTokens.size()));
}

TEST_CASE("reset starts the sequence over") {
  auto model = cria::Model::load(kStories);
  cria::Session s(*model, {});
  s.eval(kTokens);
  std::vector<float> first = s.logits();
  s.reset();
  CHECK(s.n_past() == 0);
  s.eval(kTokens);
  CHECK(s.logits() == first);
}

TEST_CASE("a full context and invalid tokens are errors, not crashes") {
  auto model = cria::Model::load(kStories);
  cria::SessionOptions o;
  o.context_length = 8;
  cria::Session s(*model, o);
  try {
    s.eval(kTokens);
    FAIL("expected ContextFull");
  } catch (const cria::Error& e) {
    CHECK(e.code() == cria::ErrorCode::ContextFull);
    CHECK(std::string(e.what()).find("8 positions") != std::string::npos);
  }
  CHECK(s.n_past() == 0);
  std::vector<int32_t> bad = {1, 512};
  try {
    s.eval(bad);
    FAIL("expected InvalidArgument");
  } catch (const cria::Error& e) {
    CHECK(e.code() == cria::ErrorCode::InvalidArgument);
    CHECK(std::string(e.what()).find("512") != std::string::npos);
  }
  std::vector<int32_t> negative = {-1};
  CHECK_THROWS_AS(s.eval(negative), cria::Error);
  cria::SessionOptions threads;
  threads.n_threads = -2;
  CHECK_THROWS_AS(cria::Session(*model, threads), cria::Error);
}

namespace {

// Tokens within the synth256 vocabulary.
const std::vector<int32_t> kSynthTokens = {1, 50, 100, 200, 300, 400, 500, 7, 8, 9, 10, 11, 12, 13};

// 30 positions: enough for the AMX prompt kernel (24 or more at once), on CPUs that have it.
const std::vector<int32_t> kSynthPrompt = {1,  50,  100, 200, 300, 400, 500, 7,   8,   9,
                                           10, 11,  12,  13,  14,  15,  16,  17,  18,  19,
                                           20, 21,  22,  23,  24,  25,  26,  27,  28,  29};

std::vector<float> logits_with(const cria::Model& model, int threads, int64_t batch,
                               cria::DType kv_type = cria::DType::F16,
                               const std::vector<int32_t>& tokens = kSynthTokens) {
  return all_logits(model, threads, batch, kv_type, tokens);
}

}  // namespace

TEST_CASE("regrouped Q4_0, Q8_0, Q4_K and Q6_K weights: thread-count identity, batching, both load modes (mapped: passes on two threads meet at the copies), same logits as in place") {
  struct Case { const char* name; double max_difference; };
  // Q4_0 and Q8_0 differ from the file's layout in summation order only. The regrouped
  // K-quant kernels (Q4_K, and Q6_K, which also holds the Q4_0 file's output matrix)
  // quantize activations per 32 values where the plain ones do per 256: two different 8-bit
  // roundings, each worth about 0.02 here (Q8_0 vs F32 differs by 0.017).
  for (const Case& c : {Case{"synth256.q8_0.gguf", 1e-5}, Case{"synth256.q4_0.gguf", 4e-2},
                        Case{"synth256.q4_k_m.gguf", 4e-2}}) {
    const char* name = c.name;
    CAPTURE(name);
    const std::string path = std::string(CRIA_SHARED_DIR) + "/models/" + name;
    cria::LoadOptions read;
    read.load_mode = cria::io::MappedFile::Mode::Read;
    cria::LoadOptions map;  // used in place: the file's layout
    map.load_mode = cria::io::MappedFile::Mode::Map;
    map.repack = false;
    auto grouped = cria::Model::load(path, read);
    auto plain = cria::Model::load(path, map);
    // How the CPU backend placed a matrix.
    auto layout = [](const cria::Model& m, cria::WeightKind kind, int64_t layer) {
      return dynamic_cast<const cria::cpu::CpuBackend&>(m.backend()).matrix({kind, layer}).layout;
    };
    CHECK(layout(*plain, cria::WeightKind::Query, 0) == cria::cpu::RowLayout::Plain);
    // Regrouping happens where the CPU has the kernels for the type (AVX-512 VNNI: Q4_0, Q8_0,
    // Q4_K, Q6_K; AVX2: all but Q8_0).
    auto regroups = [](cria::DType t) {
      return cria::cpu::active_kernels().grouped_gemm[static_cast<int>(t)] != nullptr;
    };
    const cria::cpu::RowLayout grouped16 = cria::cpu::RowLayout::Grouped16;
    CHECK((layout(*grouped, cria::WeightKind::Query, 0) == grouped16) == regroups(grouped->weights().layers[0].wq.dtype));
    CHECK((layout(*grouped, cria::WeightKind::Output, -1) == grouped16) == regroups(grouped->weights().output.dtype));

    const cria::DType f16 = cria::DType::F16;
    const std::vector<float> one = logits_with(*grouped, 1, 64, f16, kSynthPrompt);
    const std::vector<float> single = logits_with(*grouped, 2, 1, f16, kSynthPrompt);  // one position at a time
    CHECK(one == logits_with(*grouped, 2, 64, f16, kSynthPrompt));
    CHECK(one == logits_with(*grouped, 3, 64, f16, kSynthPrompt));
    // Mapped with `repack` (the default): each matrix is copied out of the mapping, regrouped
    // as the read copy is: a part at a time by the passes after the first where the kernels
    // give the copy's bits on the mapping too (passes read the mapping until its copy is
    // made), else by the first pass that reads it; so both load modes give the same bits
    // whenever the copies are made.
    // Two sessions of different thread counts (two lanes) start at once and meet at the copies.
    cria::LoadOptions map_copied;
    map_copied.load_mode = cria::io::MappedFile::Mode::Map;
    auto copied = cria::Model::load(path, map_copied);
    std::vector<float> on_three;
    std::thread other([&] { on_three = logits_with(*copied, 3, 64, f16, kSynthPrompt); });
    const std::vector<float> on_two = logits_with(*copied, 2, 64, f16, kSynthPrompt);
    other.join();
    dynamic_cast<cria::cpu::CpuBackend&>(copied->backend()).copy_deferred_now();
    CHECK(layout(*copied, cria::WeightKind::Query, 0) == layout(*grouped, cria::WeightKind::Query, 0));
    CHECK(layout(*copied, cria::WeightKind::Output, -1) == layout(*grouped, cria::WeightKind::Output, -1));
    CHECK(on_two == one);
    CHECK(on_three == one);
    CHECK(logits_with(*copied, 2, 64, f16, kSynthPrompt) == one);  // every copy made
    // A pass that finds no copy made yet, on a fresh load, in either way of copying.
    auto fresh = cria::Model::load(path, map_copied);
    CHECK(logits_with(*fresh, 1, 1, f16, kSynthPrompt) == single);

    if (!cria::cpu::amx_active()) {
      CHECK(one == single);
    } else {
      // Batches of 24 or more positions take the AMX bf16 kernel, single positions the int8
      // one: two roundings of the activations (8 significant bits, or 8 bits per block of 32).
      MESSAGE(std::string(name) << ": relative RMS difference AMX batch vs one position " << relative_rms(one, single));
      CHECK(relative_rms(one, single) < 4e-2);
    }

    // Against the file's layout the sums run in another order only. F32 keys and values:
    // these random weights give attention scores large enough that fp16 rounding of the
    // cache would amplify last-bit differences.
    const std::vector<float> a = logits_with(*grouped, 2, 1, cria::DType::F32);
    const std::vector<float> b = logits_with(*plain, 2, 1, cria::DType::F32);
    MESSAGE(std::string(name) << ": relative RMS difference regrouped vs mapped " << relative_rms(a, b));
    CHECK(relative_rms(a, b) < c.max_difference);
  }
}
