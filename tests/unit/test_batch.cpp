// Several sequences in one pass: each sequence's logits, tokens and text are the same as when
// it is evaluated alone.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "cria/engine/batch.hpp"
#include "cria/engine/generate.hpp"
#include "cria/error.hpp"

namespace {

std::unique_ptr<cria::Model> stories(const std::string& backend = "cpu") {
  cria::LoadOptions o;
  o.backend = backend;
  o.tokenizer_path = std::string(CRIA_SHARED_DIR) + "/models/stories260K.tok512.bin";
  return cria::Model::load(std::string(CRIA_SHARED_DIR) + "/models/stories260K.bin", o);
}

const std::vector<std::string> kPrompts = {"Once upon a time", "Tom and Lily went to the park",
                                           "The cat", "One day, a little girl named Sue found a big red ball"};

struct Run {
  std::vector<int32_t> tokens;
  std::string text;
  cria::StopReason reason;
};

// One sequence generated alone, in a session of its own.
Run solo_run(const cria::Model& model, const std::string& prompt, const cria::GenerateParams& p) {
  cria::Session s(model);
  Run run;
  cria::GenerateResult r = cria::generate(s, model.tokenizer()->encode(prompt), p, [&](std::string_view t) {
    run.text += t;
    return true;
  });
  run.tokens = r.tokens;
  run.reason = r.reason;
  return run;
}

// The prompts generated together, each in a new session: the results and each one's text.
struct TogetherRuns {
  std::vector<std::unique_ptr<cria::Session>> sessions;
  std::vector<cria::GenerateResult> results;
  std::vector<std::string> texts;
};
TogetherRuns together_runs(const cria::Model& model, const cria::GenerateParams& p) {
  TogetherRuns runs;
  std::vector<cria::Session*> pointers;
  std::vector<std::vector<int32_t>> prompts;
  for (const std::string& prompt : kPrompts) {
    runs.sessions.push_back(std::make_unique<cria::Session>(model));
    pointers.push_back(runs.sessions.back().get());
    prompts.push_back(model.tokenizer()->encode(prompt));
  }
  runs.texts.resize(kPrompts.size());
  runs.results = cria::generate(pointers, prompts, p, [&](size_t i, std::string_view t) {
    runs.texts[i] += t;
    return true;
  });
  return runs;
}

cria::GenerateParams params_with(float temperature, uint64_t seed, int64_t max_tokens) {
  cria::GenerateParams p;
  p.sampling.temperature = temperature;
  p.sampling.seed = seed;
  p.max_tokens = max_tokens;
  return p;
}

}  // namespace

TEST_CASE("a batch of sessions gives each the logits it gets alone, bit for bit") {
  auto model = stories();
  const cria::Tokenizer& tok = *model->tokenizer();
  std::vector<std::unique_ptr<cria::Session>> together, alone;
  cria::Batch batch;
  for (const std::string& prompt : kPrompts) {
    together.push_back(std::make_unique<cria::Session>(*model));
    alone.push_back(std::make_unique<cria::Session>(*model));
    const std::vector<int32_t> ids = tok.encode(prompt);
    batch.add(*together.back(), ids.data(), static_cast<int64_t>(ids.size()));
    alone.back()->eval(ids);
  }
  // The prompts' first positions pass together, in passes cut by the sessions' max_batch.
  batch.eval();
  CHECK(batch.empty());
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    CAPTURE(i);
    CHECK(together[i]->n_past() == alone[i]->n_past());
    CHECK(together[i]->logits() == alone[i]->logits());
  }
  // Then steps of one token per session, each step one pass.
  for (int step = 0; step < 6; ++step) {
    for (size_t i = 0; i < kPrompts.size(); ++i) {
      const int32_t next = cria::argmax(alone[i]->logits().data(), model->config().vocab_size);
      CHECK(batch.accept(*together[i], next) == alone[i]->peek_text(next));
      alone[i]->accept(next);
    }
    batch.eval();
    for (size_t i = 0; i < kPrompts.size(); ++i) CHECK(together[i]->logits() == alone[i]->logits());
  }
}

TEST_CASE("four sequences of different lengths generated together equal their solo runs") {
  for (const char* backend : {"cpu", "reference"}) {
    CAPTURE(backend);
    auto model = stories(backend);
    // Greedy, and sampled with a seed; max_tokens differ so that sequences end at different steps.
    for (const cria::GenerateParams& base : {params_with(0.0f, 0, 40), params_with(0.9f, 1234, 40)}) {
      CAPTURE(base.sampling.temperature);
      std::vector<Run> solo;
      for (size_t i = 0; i < kPrompts.size(); ++i) {
        cria::GenerateParams p = base;
        p.max_tokens = 10 + 10 * static_cast<int64_t>(i);
        solo.push_back(solo_run(*model, kPrompts[i], p));
      }
      // Together: one call of 40 tokens each; each solo run is a prefix of its sequence.
      cria::GenerateParams p = base;
      p.max_tokens = 40;
      const TogetherRuns together = together_runs(*model, p);
      REQUIRE(together.results.size() == kPrompts.size());
      for (size_t i = 0; i < kPrompts.size(); ++i) {
        CAPTURE(i);
        const std::vector<int32_t>& tokens = together.results[i].tokens;
        const size_t n = solo[i].tokens.size();
        REQUIRE(tokens.size() >= n);
        CHECK(std::vector<int32_t>(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n)) == solo[i].tokens);
        CHECK(together.texts[i].compare(0, solo[i].text.size(), solo[i].text) == 0);
        const size_t prompt_length = static_cast<size_t>(together.results[i].prompt_tokens);
        CHECK(together.sessions[i]->n_past() == static_cast<int64_t>(prompt_length + tokens.size()));
      }
    }
  }
}

TEST_CASE("generating several sequences with their own stops: each equals its solo run exactly") {
  auto model = stories();
  cria::GenerateParams p = params_with(0.8f, 99, 48);
  p.stop = {" the"};  // each sequence stops at a different step (2, 14, 41 and 29 tokens here)
  std::vector<Run> solo;
  for (const std::string& prompt : kPrompts) solo.push_back(solo_run(*model, prompt, p));
  const TogetherRuns together = together_runs(*model, p);
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    CAPTURE(i);
    CHECK(together.results[i].tokens == solo[i].tokens);
    CHECK(together.results[i].reason == solo[i].reason);
    CHECK(together.texts[i] == solo[i].text);
  }
}

TEST_CASE("batches refuse what does not fit, and sessions of another model") {
  auto model = stories();
  auto other = stories();
  cria::SessionOptions small;
  small.context_length = 8;
  cria::Session a(*model, small), b(*other, small);
  cria::Batch batch;
  const std::vector<int32_t> six = {1, 403, 407, 261, 378, 426};
  batch.add(a, six.data(), 6);
  try {
    batch.add(a, six.data(), 6);  // 12 positions in a context of 8
    FAIL("expected ContextFull");
  } catch (const cria::Error& e) {
    CHECK(e.code() == cria::ErrorCode::ContextFull);
  }
  CHECK(batch.size() == 6);
  CHECK_THROWS_AS(batch.add(b, six.data(), 1), cria::Error);
  CHECK_THROWS_AS(batch.accept(a, 512), cria::Error);
  batch.eval();
  CHECK(a.n_past() == 6);
  CHECK(a.has_logits());
}

TEST_CASE("reset leaves no stale logits") {
  auto model = stories();
  cria::Session s(*model);
  CHECK_FALSE(s.has_logits());
  CHECK_THROWS_AS(s.logits(), cria::Error);
  s.eval(std::vector<int32_t>{1, 403, 407});
  CHECK(s.has_logits());
  s.reset();
  CHECK_FALSE(s.has_logits());
  try {
    (void)s.logits();
    FAIL("expected InvalidState");
  } catch (const cria::Error& e) {
    CHECK(e.code() == cria::ErrorCode::InvalidState);
  }
  // An empty prompt after reset: nothing to continue from.
  CHECK_THROWS_AS(cria::generate(s, {}, {}, nullptr), cria::Error);
}
