// The sampler stages beyond temperature, top-k and top-p, against distributions computed by
// hand: logit bias, the repetition/frequency/presence penalties, min-p, typical-p, and a chain
// with all of them drawing tokens at the frequencies of its target distribution.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cria/error.hpp"
#include "cria/sampling/sampler.hpp"

namespace {

cria::Candidates candidates_of(const std::vector<float>& logits) {
  cria::Candidates c;
  for (size_t i = 0; i < logits.size(); ++i) c.items.push_back({static_cast<int32_t>(i), logits[i], 0.0f});
  return c;
}

float logit_of(const cria::Candidates& c, int32_t id) {
  for (const auto& x : c.items)
    if (x.id == id) return x.logit;
  return NAN;
}

std::vector<int32_t> ids_of(const cria::Candidates& c) {
  std::vector<int32_t> ids;
  for (const auto& x : c.items) ids.push_back(x.id);
  return ids;
}

}  // namespace

TEST_CASE("penalties: divide (or multiply) by repeat, subtract count x frequency and presence") {
  auto stage = cria::penalties_stage(64, 2.0f, 0.5f, 0.25f);
  for (int32_t t : {0, 0, 1}) stage->accept(t);
  cria::Candidates c = candidates_of({2.0f, -1.0f, 0.5f, 3.0f});
  stage->apply(c);
  CHECK(logit_of(c, 0) == doctest::Approx(2.0f / 2 - (2 * 0.5f + 0.25f)));   // -0.25
  CHECK(logit_of(c, 1) == doctest::Approx(-1.0f * 2 - (1 * 0.5f + 0.25f)));  // -2.75
  CHECK(logit_of(c, 2) == 0.5f);
  CHECK(logit_of(c, 3) == 3.0f);

  // Only the last repeat_last_n tokens count; reset forgets them all.
  auto window = cria::penalties_stage(1, 2.0f, 0.0f, 0.0f);
  for (int32_t t : {0, 1}) window->accept(t);
  cria::Candidates w = candidates_of({2.0f, 2.0f});
  window->apply(w);
  CHECK(logit_of(w, 0) == 2.0f);
  CHECK(logit_of(w, 1) == 1.0f);
  window->reset();
  cria::Candidates r = candidates_of({2.0f, 2.0f});
  window->apply(r);
  CHECK(logit_of(r, 1) == 2.0f);
}

TEST_CASE("a greedy chain with a repeat penalty moves off the repeated token; logit bias bans one") {
  cria::SamplerParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 4.0f;
  cria::Sampler s(p);
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f};
  CHECK(s.sample(logits.data(), 3) == 1);
  s.accept(1);
  CHECK(s.sample(logits.data(), 3) == 2);  // 3 / 4 < 2
  p.repeat_penalty = 1.0f;
  p.logit_bias = {{1, -INFINITY}, {0, 1.5f}};
  cria::Sampler b(p);
  CHECK(b.sample(logits.data(), 3) == 0);  // 1 + 1.5 > 2, and 1 is banned
  CHECK_THROWS_AS(cria::logit_bias_stage({{-1, 1.0f}}), cria::Error);
}

TEST_CASE("min-p keeps the tokens at least min_p times as likely as the most likely") {
  const std::vector<float> p = {0.5f, 0.3f, 0.15f, 0.05f};
  std::vector<float> logits;
  for (float x : p) logits.push_back(std::log(x));
  cria::Candidates c = candidates_of(logits);
  cria::min_p_stage(0.25f)->apply(c);  // floor 0.125
  CHECK(ids_of(c) == std::vector<int32_t>{0, 1, 2});
  CHECK(c.p_total == doctest::Approx(0.95f));
}

TEST_CASE("typical-p keeps the tokens whose surprise is nearest the entropy") {
  // p = 1/2, 1/4, 1/8, 1/8: entropy 1.75 ln 2; |surprise - entropy| = 0.75, 0.25, 1.25, 1.25
  // (x ln 2), so the order is 1, 0, then 2 and 3; 0.25 + 0.5 reaches 0.7.
  std::vector<float> logits = {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.125f)};
  cria::Candidates c = candidates_of(logits);
  cria::typical_stage(0.7f)->apply(c);
  CHECK(ids_of(c) == std::vector<int32_t>{1, 0});
  cria::Candidates all = candidates_of(logits);
  cria::typical_stage(1.0f)->apply(all);
  CHECK(all.items.size() == 4);
}

TEST_CASE("the whole chain draws tokens at its target distribution (chi-squared)") {
  // Temperature 2, top-k 5, typical 0.99, top-p 0.99, min-p 0.05 over 6 tokens: top-k drops
  // token 5; the rest keep at least 99% of their mass, and min-p drops what is below 5% of
  // the most likely. The target is the softmax of logit / 2 over what is kept.
  const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, -8.0f};
  cria::SamplerParams p;
  p.temperature = 2.0f;
  p.top_k = 5;
  p.typical_p = 0.99f;
  p.top_p = 0.99f;
  p.min_p = 0.05f;
  p.seed = 42;
  cria::Sampler s(p);
  const int draws = 40000;
  std::vector<int> counts(6, 0);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(s.sample(logits.data(), 6))];
  CHECK(counts[5] == 0);
  std::vector<double> target(5);
  double total = 0;
  for (size_t i = 0; i < 5; ++i) total += (target[i] = std::exp(logits[i] / 2.0));
  double chi2 = 0;
  int kept = 0;
  for (size_t i = 0; i < 5; ++i) {
    const double expected = draws * target[i] / total;
    if (expected / draws < 0.05 * target[0] / total) {  // below min-p's floor: never drawn
      CHECK(counts[i] == 0);
      continue;
    }
    ++kept;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  // Renormalizing over the kept tokens changes expected counts; all 5 are above the floor here.
  CHECK(kept == 5);
  INFO("chi-squared " << chi2);
  CHECK(chi2 < 18.47);  // 4 degrees of freedom, p = 0.001
}

TEST_CASE("Mirostat 2 keeps the tokens with surprise <= mu and moves mu by the drawn surprise") {
  // p = 1/2, 1/4, 1/8, 1/8: surprises 1, 2, 3, 3 bits. tau 1: mu starts at 2.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.125f)};
  auto stage = cria::mirostat2_stage(1.0f, 0.5f);
  cria::Candidates c = candidates_of(logits);
  stage->apply(c);
  CHECK(ids_of(c) == std::vector<int32_t>{0, 1});
  CHECK(c.items[1].p == doctest::Approx(1.0f / 3));
  // Token 1 drawn: surprise log2 3 = 1.585 bits; mu = 2 - 0.5 (1.585 - 1) = 1.708 < 2.
  stage->accept(1);
  cria::Candidates next = candidates_of(logits);
  stage->apply(next);
  CHECK(ids_of(next) == std::vector<int32_t>{0});
  stage->reset();
  cria::Candidates again = candidates_of(logits);
  stage->apply(again);
  CHECK(again.items.size() == 2);
  cria::SamplerParams p;
  p.mirostat = 1;
  CHECK_THROWS_AS(cria::Sampler{p}, cria::Error);
  p.mirostat = 2;
  cria::Sampler s(p);
  CHECK(s.size() == 3);  // temperature, mirostat-2, draw
  CHECK(std::string(s.stage(1).name()) == "mirostat-2");
}

TEST_CASE("sampler state: a chain set to another's state draws what the other draws") {
  cria::SamplerParams params;
  params.temperature = 0.9f;
  params.seed = 7;
  params.repeat_penalty = 1.3f;
  params.mirostat = 2;
  const std::vector<float> logits = {1.0f, 0.5f, 0.2f, 2.0f, -1.0f, 0.0f, 1.5f, 0.7f};
  cria::Sampler original(params);
  for (int i = 0; i < 5; ++i) original.accept(original.sample(logits.data(), 8));
  const std::string state = original.state();

  cria::Sampler resumed(params);
  resumed.set_state(state);
  CHECK(resumed.state() == state);
  for (int i = 0; i < 20; ++i) {
    const int32_t a = original.sample(logits.data(), 8);
    const int32_t b = resumed.sample(logits.data(), 8);
    REQUIRE(a == b);
    original.accept(a);
    resumed.accept(b);
  }

  // A state of another chain, or cut short, is refused and changes nothing.
  cria::SamplerParams greedy;
  greedy.temperature = 0.0f;
  cria::Sampler other(greedy);
  CHECK_THROWS_AS(other.set_state(state), cria::Error);
  const std::string before = resumed.state();
  CHECK_THROWS_AS(resumed.set_state(state.substr(0, state.size() - 3)), cria::Error);
  CHECK(resumed.state() == before);
}
