// Rewinding, shifting and saving sessions: truncate() spares what stays, shift() matches a
// re-evaluation of the kept tokens, and a saved session resumes with exactly the tokens the
// original goes on with; damaged or foreign states are refused and change nothing.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cria/engine/generate.hpp"
#include "cria/engine/session.hpp"
#include "cria/error.hpp"
#include "cria/sampling/sampler.hpp"
#include "logit_difference.hpp"

namespace {

const std::string kStories = std::string(CRIA_SHARED_DIR) + "/models/stories260K.gguf";
const std::string kOther = std::string(CRIA_SHARED_DIR) + "/models/synth256.q8_0.gguf";

std::unique_ptr<cria::Model> load(const std::string& path, const std::string& backend = "cpu") {
  cria::LoadOptions o;
  o.backend = backend;
  return cria::Model::load(path, o);
}

std::vector<int32_t> prompt_of(const cria::Model& m, const std::string& text) {
  std::vector<int32_t> t = {m.tokenizer()->bos_id()};
  for (int32_t id : m.tokenizer()->encode(text)) t.push_back(id);
  return t;
}

// `n` tokens drawn by `sampler`, each accepted by the session.
std::vector<int32_t> draw(cria::Session& s, cria::Sampler& sampler, int n, std::string* text = nullptr) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    const int32_t t = sampler.sample(s.logits().data(), static_cast<int64_t>(s.logits().size()));
    sampler.accept(t);
    const std::string piece = s.accept(t);
    if (text) *text += piece;
    out.push_back(t);
  }
  return out;
}

cria::SamplerParams sampling() {
  cria::SamplerParams p;
  p.temperature = 1.0f;
  p.seed = 42;
  p.repeat_penalty = 1.1f;
  return p;
}

}  // namespace

TEST_CASE("truncate: an edited tail re-evaluates only the new tokens, with the logits of a fresh run") {
  for (const char* backend : {"cpu", "reference"}) {
    CAPTURE(backend);
    auto model = load(kStories, backend);
    const std::vector<int32_t> head = prompt_of(*model, "Once upon a time, there was a cat.");
    const std::vector<int32_t> tail = model->tokenizer()->encode(" The cat liked to play.");
    const std::vector<int32_t> edited = model->tokenizer()->encode(" The dog was sad.");

    cria::Session s(*model);
    s.eval(head);
    s.eval(tail);
    const int64_t before = s.evaluated_positions();
    s.truncate(static_cast<int64_t>(head.size()));
    CHECK(s.n_past() == static_cast<int64_t>(head.size()));
    CHECK_FALSE(s.has_logits());
    CHECK(s.tokens() == head);
    s.eval(edited);
    CHECK(s.evaluated_positions() - before == static_cast<int64_t>(edited.size()));

    cria::Session fresh(*model);
    fresh.eval(head);  // the same passes as the edited session's
    fresh.eval(edited);
    CHECK(s.logits() == fresh.logits());
    CHECK(s.pending_text() == fresh.pending_text());
    CHECK(s.accept(100) == fresh.accept(100));

    CHECK_THROWS_AS(s.truncate(s.n_past() + 1), cria::Error);
    CHECK_THROWS_AS(s.truncate(-1), cria::Error);
  }
}

TEST_CASE("KV cache to host and back: a session reloaded from its keys and values continues bit for bit") {
  for (const char* backend : {"cpu", "reference"}) {
    for (cria::DType type : {cria::DType::F16, cria::DType::F32}) {
      CAPTURE(backend);
      auto model = load(kStories, backend);
      cria::SessionOptions o;
      o.kv_type = type;
      const std::vector<int32_t> prompt = prompt_of(*model, "Lily saw a big red ball in the park.");
      cria::Session a(*model, o);
      a.eval(prompt);
      cria::Session b(*model, o);
      b.load_state(a.save_state());
      CHECK(b.n_past() == a.n_past());
      CHECK(b.logits() == a.logits());
      a.accept(300);
      b.accept(300);
      CHECK(b.logits() == a.logits());
    }
  }
}

TEST_CASE("saved state: a resumed session and sampler draw exactly the tokens of the original") {
  auto model = load(kStories);
  const std::vector<int32_t> prompt = prompt_of(*model, "Tom had a little dog");
  cria::Session original(*model);
  cria::Sampler sampler(sampling());
  original.eval(prompt);
  for (int32_t t : prompt) sampler.accept(t);
  draw(original, sampler, 7);
  // Stop where the decoder holds part of the text back, if the tokens give such a place.
  const std::string state = original.save_state(&sampler);
  std::string text_original;
  const std::vector<int32_t> continued = draw(original, sampler, 40, &text_original);

  cria::Session resumed(*model);
  cria::Sampler resumed_sampler(sampling());
  resumed.load_state(state, &resumed_sampler);
  const int64_t evaluated = resumed.evaluated_positions();
  std::string text_resumed;
  CHECK(draw(resumed, resumed_sampler, 40, &text_resumed) == continued);
  CHECK(text_resumed == text_original);
  CHECK(resumed.evaluated_positions() - evaluated == 40);  // nothing of the saved text again

  SUBCASE("through a file") {
    const std::string path = std::string(CRIA_TEST_TMP) + "/session_state_test.cria";
    original.save_state_file(path, &sampler);
    cria::Session from_file(*model);
    cria::Sampler file_sampler(sampling());
    from_file.load_state_file(path, &file_sampler);
    CHECK(from_file.tokens() == original.tokens());
    CHECK(draw(from_file, file_sampler, 5) == draw(original, sampler, 5));
    std::remove(path.c_str());
  }
}

TEST_CASE("saved state: truncated, corrupted, foreign or misfit states are refused and change nothing") {
  auto model = load(kStories);
  cria::Session s(*model);
  s.eval(prompt_of(*model, "The sun was hot."));
  const std::string state = s.save_state();

  cria::Session target(*model);
  target.eval(prompt_of(*model, "A bird"));
  const std::vector<int32_t> before_tokens = target.tokens();
  const std::vector<float> before_logits = target.logits();
  auto unchanged = [&] {
    CHECK(target.tokens() == before_tokens);
    CHECK(target.logits() == before_logits);
  };
  auto code_of = [&](const std::string& bytes) {
    try {
      target.load_state(bytes);
    } catch (const cria::Error& e) {
      return e.code();
    }
    return cria::ErrorCode::InvalidState;  // not refused
  };

  for (size_t cut : {size_t{0}, size_t{5}, size_t{12}, size_t{40}, state.size() / 2, state.size() - 1}) {
    CAPTURE(cut);
    CHECK(code_of(state.substr(0, cut)) == cria::ErrorCode::InvalidFile);
    unchanged();
  }
  for (size_t at : {size_t{9}, size_t{30}, state.size() / 2, state.size() - 3}) {
    std::string corrupted = state;
    corrupted[at] ^= 0x20;
    CAPTURE(at);
    CHECK(code_of(corrupted) == cria::ErrorCode::InvalidFile);
    unchanged();
  }
  std::string newer = state;
  newer[8] = 2;  // version 2
  CHECK(code_of(newer) == cria::ErrorCode::InvalidFile);

  auto other = load(kOther);
  cria::Session foreign(*other);
  CHECK(code_of(foreign.save_state()) == cria::ErrorCode::InvalidArgument);
  unchanged();

  cria::SessionOptions small;
  small.context_length = 3;
  cria::Session tiny(*model, small);
  CHECK_THROWS_AS(tiny.load_state(state), cria::Error);
  cria::SessionOptions f32;
  f32.kv_type = cria::DType::F32;
  cria::Session other_type(*model, f32);
  CHECK_THROWS_AS(other_type.load_state(state), cria::Error);

  // A state with a sampler's bytes needs a sampler of the same chain.
  cria::Sampler sampler(sampling());
  const std::string with_sampler = s.save_state(&sampler);
  CHECK_THROWS_AS(target.load_state(with_sampler), cria::Error);
  cria::SamplerParams greedy;
  greedy.temperature = 0.0f;
  cria::Sampler other_chain(greedy);
  CHECK_THROWS_AS(target.load_state(with_sampler, &other_chain), cria::Error);
  unchanged();

  CHECK_THROWS_AS(target.load_state_file("/nonexistent/dir/state.cria"), cria::Error);
  CHECK_THROWS_AS(s.save_state_file("/nonexistent/dir/state.cria"), cria::Error);
}

namespace {

// The keys and values a session holds, as floats ([layer][keys, values][position][kv_dim]):
// the end of its saved state, before the checksum.
std::vector<float> cached_kv(const cria::Session& s) {
  const cria::LlamaConfig& c = s.model().config();
  const std::string state = s.save_state();
  const size_t count = static_cast<size_t>(2 * c.n_layers * s.n_past() * c.kv_dim());
  std::vector<float> kv(count);
  std::memcpy(kv.data(), state.data() + state.size() - 8 - count * 4, count * 4);
  return kv;
}

}  // namespace

// A shift keeps what the moved positions computed over the dropped ones (their keys and
// values in later layers, as llama.cpp's context shift does); what it must get right are the
// positions: keys of the first layer, which depend only on token and position, equal those of
// a fresh evaluation of the kept tokens, and a one-layer model's logits then equal a fresh run's.
TEST_CASE("shift: re-rotated keys equal those of the kept tokens evaluated afresh at their new positions") {
  for (const char* backend : {"cpu", "reference"}) {
    for (const std::string& file : {kStories, std::string(CRIA_SHARED_DIR) + "/models/llama2-tiny-random.gguf"}) {
      const std::string backend_name = backend;
      CAPTURE(backend_name);
      CAPTURE(file);
      // The fresh evaluation is a prompt: the dot kernels, as for the tokens drawn one by one,
      // since `auto` takes F16 prompts in bf16 on CPUs with AVX-512 BF16.
      cria::LoadOptions lo;
      lo.backend = backend;
      if (backend_name == "cpu") lo.gemm = "kernels";
      auto model = cria::Model::load(file, lo);
      const cria::LlamaConfig& c = model->config();
      cria::SessionOptions o;
      o.kv_type = cria::DType::F32;
      cria::Session s(*model, o);
      cria::Sampler sampler(sampling());
      s.eval(prompt_of(*model, "Once upon a time"));
      draw(s, sampler, 50);
      const std::vector<int32_t> all = s.tokens();
      const int64_t keep = 5, discard = 20;
      const int64_t evaluated = s.evaluated_positions();
      s.shift(keep, discard);
      CHECK(s.evaluated_positions() == evaluated);  // nothing evaluated again
      std::vector<int32_t> kept(all.begin(), all.begin() + keep);
      kept.insert(kept.end(), all.begin() + keep + discard, all.end());
      CHECK(s.tokens() == kept);

      cria::Session fresh(*model, o);
      fresh.eval(kept);
      const std::vector<float> shifted = cached_kv(s), expected = cached_kv(fresh);
      const size_t layer0 = static_cast<size_t>(2 * s.n_past() * c.kv_dim());  // keys and values of layer 0
      const double error = relative_rms(std::vector<float>(shifted.begin(), shifted.begin() + layer0),
                                        std::vector<float>(expected.begin(), expected.begin() + layer0));
      CAPTURE(error);
      CHECK(error < 1e-5);
      if (c.n_layers == 1) {
        s.accept(300);
        fresh.accept(300);
        CHECK(relative_rms(s.logits(), fresh.logits()) < 1e-5);
      }
    }
  }
}

TEST_CASE("context policy Shift: generation goes past the context, keeping the first positions") {
  auto model = load(kStories);
  cria::SessionOptions o;
  o.context_length = 48;
  o.when_full = cria::ContextPolicy::Shift;
  o.shift_keep = 4;
  cria::Session s(*model, o);
  const std::vector<int32_t> prompt = prompt_of(*model, "Once upon a time, there was");
  cria::GenerateParams params;
  params.sampling = sampling();
  params.max_tokens = 120;
  // No end of story: the only stop is max_tokens.
  params.sampling.logit_bias = {{model->tokenizer()->eos_id(), -INFINITY}, {model->tokenizer()->bos_id(), -INFINITY}};
  cria::GenerateResult r = cria::generate(s, prompt, params, nullptr);
  CHECK(r.reason == cria::StopReason::MaxTokens);
  CHECK(r.tokens.size() == 120);
  CHECK(s.n_past() <= 48);
  CHECK(std::vector<int32_t>(s.tokens().begin(), s.tokens().begin() + 4) ==
        std::vector<int32_t>(prompt.begin(), prompt.begin() + 4));

  cria::SessionOptions stop = o;
  stop.when_full = cria::ContextPolicy::Stop;
  cria::Session stopping(*model, stop);
  CHECK(cria::generate(stopping, prompt, params, nullptr).reason == cria::StopReason::ContextFull);

  cria::SessionOptions bad = o;
  bad.shift_keep = 47;
  CHECK_THROWS_AS(cria::Session(*model, bad), cria::Error);
}
