// Sampling: greedy picks, filters, and seeded reproducibility.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
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
