// Sampling: greedy picks, filters, seeded reproducibility, and the chain of stages.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cria/error.hpp"
#include "cria/sampling/sampler.hpp"

using cria::Sampler;
using cria::SamplerParams;

TEST_CASE("temperature 0 is greedy and takes the lowest id on ties") {
  std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
  Sampler s(SamplerParams{0.0f, 40, 0.95f, 1});
  CHECK(s.sample(logits.data(), 4) == 1);
  CHECK(cria::argmax(logits.data(), 4) == 1);
}

TEST_CASE("the same seed gives the same tokens, another seed other tokens") {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[i] = std::sin(i * 0.37f);
  SamplerParams p{1.0f, 0, 1.0f, 1234};
  Sampler a(p), b(p);
  std::vector<int32_t> ta, tb, tc;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(a.sample(logits.data(), 100));
    tb.push_back(b.sample(logits.data(), 100));
  }
  CHECK(ta == tb);
  p.seed = 99;
  Sampler c(p);
  for (int i = 0; i < 200; ++i) tc.push_back(c.sample(logits.data(), 100));
  CHECK(ta != tc);
}

TEST_CASE("top-k only ever returns the k most likely tokens") {
  std::vector<float> logits = {0.f, 5.f, 1.f, 4.f, 2.f, 3.f};
  Sampler s(SamplerParams{2.0f, 2, 1.0f, 7});
  std::map<int32_t, int> seen;
  for (int i = 0; i < 2000; ++i) seen[s.sample(logits.data(), 6)]++;
  CHECK(seen.size() == 2);
  CHECK(seen.count(1) == 1);
  CHECK(seen.count(3) == 1);
}

TEST_CASE("top-p keeps the smallest set reaching p") {
  // Probabilities at temperature 1: about 0.665, 0.245, 0.09 for logits 2, 1, 0.
  std::vector<float> logits = {2.f, 1.f, 0.f};
  Sampler s(SamplerParams{1.0f, 0, 0.8f, 3});
  std::map<int32_t, int> seen;
  for (int i = 0; i < 5000; ++i) seen[s.sample(logits.data(), 3)]++;
  CHECK(seen.count(2) == 0);
  // Renormalised over {0, 1}: P(0) = 0.665 / 0.91 = 0.731.
  CHECK(seen[0] / 5000.0 == doctest::Approx(0.731).epsilon(0.05));
}

TEST_CASE("sampling frequencies follow the softmax at the given temperature") {
  std::vector<float> logits = {1.f, 0.f};
  Sampler s(SamplerParams{0.5f, 0, 1.0f, 11});
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ones += s.sample(logits.data(), 2) == 0;
  double expected = 1.0 / (1.0 + std::exp(-2.0));  // logits / 0.5
  CHECK(ones / double(n) == doctest::Approx(expected).epsilon(0.02));
}

TEST_CASE("invalid sampling parameters are rejected") {
  CHECK_THROWS_AS(Sampler(SamplerParams{-1.0f, 40, 0.9f, 0}), cria::Error);
  CHECK_THROWS_AS(Sampler(SamplerParams{NAN, 40, 0.9f, 0}), cria::Error);
  CHECK_THROWS_AS(Sampler(SamplerParams{1.0f, 40, 0.0f, 0}), cria::Error);
}

TEST_CASE("the standard chain draws the tokens recorded before sampling became a chain") {
  // Recorded with the single-function sampler this chain replaced, on these logits: 1000
  // values that change at every step.
  struct Case {
    cria::SamplerParams params;
    std::vector<int32_t> tokens;
  };
  const Case cases[] = {
      {{0.8f, 40, 0.95f, 1}, {72, 442, 473, 520, 58, 819, 815, 455, 961, 295, 156, 679, 98, 298, 855, 529, 763, 182, 77, 668, 902, 389, 963, 263}},
      {{1.0f, 0, 0.9f, 7}, {445, 697, 407, 451, 59, 173, 986, 13, 808, 347, 258, 931, 673, 381, 59, 341, 86, 776, 180, 992, 442, 525, 181, 500}},
      {{0.7f, 5, 1.0f, 9}, {242, 697, 201, 690, 194, 615, 985, 557, 27, 550, 54, 509, 132, 502, 40, 342, 33, 454, 858, 396, 851, 321, 895, 348}},
      {{1.2f, 0, 1.0f, 11}, {445, 324, 454, 383, 483, 990, 832, 916, 877, 308, 648, 916, 407, 184, 995, 37, 320, 797, 894, 755, 274, 867, 999, 194}},
      {{1.0f, 1, 1.0f, 5}, {174, 629, 167, 622, 160, 615, 153, 608, 146, 601, 20, 475, 13, 468, 6, 461, 916, 454, 909, 447, 783, 321, 776, 314}},
      {{0.5f, 100, 0.5f, 3}, {276, 391, 14, 690, 177, 360, 951, 948, 910, 890, 733, 832, 200, 366, 702, 750, 882, 488, 807, 175, 223, 695, 589, 195}},
      {{0.0f, 40, 0.95f, 1}, {174, 629, 167, 622, 160, 615, 153, 608, 146, 601, 20, 475, 13, 468, 6, 461, 916, 454, 909, 447, 783, 321, 776, 314}},
      {{2.0f, 0, 0.3f, 12345}, {55, 833, 965, 792, 652, 4, 968, 217, 520, 381, 903, 169, 727, 333, 890, 87, 696, 912, 127, 956, 970, 610, 46, 76}},
  };
  std::vector<float> logits(1000);
  for (const Case& c : cases) {
    CAPTURE(c.params.temperature);
    CAPTURE(c.params.top_k);
    CAPTURE(c.params.top_p);
    Sampler s(c.params);
    std::vector<int32_t> got;
    for (int step = 0; step < 24; ++step) {
      for (int i = 0; i < 1000; ++i) logits[i] = 3.0f * std::sin(0.37f * i + 1.3f * step) + 0.001f * (i % 7);
      got.push_back(s.sample(logits.data(), 1000));
    }
    CHECK(got == c.tokens);
  }
}

TEST_CASE("a chain is made of stages: custom ones plug in, and reset replays the draws") {
  // A stage that removes one token, as a grammar or a ban list would.
  class Ban final : public cria::SamplerStage {
   public:
    explicit Ban(int32_t id) : id_(id) {}
    const char* name() const override { return "ban"; }
    void apply(cria::Candidates& c) override {
      std::vector<cria::Candidates::Candidate> kept;
      for (const auto& x : c.items)
        if (x.id != id_) kept.push_back(x);
      c.items.swap(kept);
    }
    void accept(int32_t token) override { accepted.push_back(token); }
    std::vector<int32_t> accepted;

   private:
    int32_t id_;
  };
  std::vector<float> logits = {0.f, 5.f, 1.f, 4.f};
  Sampler greedy;
  auto ban = std::make_unique<Ban>(1);
  Ban* ban_stage = ban.get();
  greedy.add(std::move(ban)).add(cria::greedy_stage());
  CHECK(greedy.size() == 2);
  CHECK(std::string(greedy.stage(0).name()) == "ban");
  CHECK(greedy.sample(logits.data(), 4) == 3);  // 1 is banned: the next largest
  greedy.accept(3);
  CHECK(ban_stage->accepted == std::vector<int32_t>{3});

  Sampler drawing(SamplerParams{1.0f, 0, 1.0f, 42});
  std::vector<int32_t> first, again;
  for (int i = 0; i < 50; ++i) first.push_back(drawing.sample(logits.data(), 4));
  drawing.reset();
  for (int i = 0; i < 50; ++i) again.push_back(drawing.sample(logits.data(), 4));
  CHECK(first == again);

  Sampler empty;
  CHECK_THROWS_AS(empty.sample(logits.data(), 4), cria::Error);
  Sampler no_pick;
  no_pick.add(cria::top_k_stage(2));
  CHECK_THROWS_AS(no_pick.sample(logits.data(), 4), cria::Error);
  CHECK_THROWS_AS(cria::top_k_stage(0), cria::Error);
  CHECK_THROWS_AS(cria::temperature_stage(0.0f), cria::Error);
}
