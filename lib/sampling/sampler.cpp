#include "cria/sampling/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "cria/error.hpp"

namespace cria {

int32_t argmax(const float* values, int64_t n) {
  int32_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (values[i] > values[best]) best = static_cast<int32_t>(i);
  return best;
}

Sampler::Sampler(const SamplerParams& params) : params_(params) {
  if (!(params.temperature >= 0.0f) || !std::isfinite(params.temperature))
    throw Error(ErrorCode::InvalidArgument,
                "temperature must be a finite number >= 0, got " + std::to_string(params.temperature));
  if (!(params.top_p > 0.0f) || !std::isfinite(params.top_p))
    throw Error(ErrorCode::InvalidArgument,
                "top-p must be in (0, 1], got " + std::to_string(params.top_p));
  reseed(params.seed);
}

void Sampler::reseed(uint64_t seed) {
  params_.seed = seed;
  rng_state_ = seed;
}

float Sampler::next_uniform() {
  // splitmix64: a full-period generator whose output depends only on the seed.
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

int32_t Sampler::sample(const float* logits, int64_t n_vocab) {
  if (params_.temperature == 0.0f) return argmax(logits, n_vocab);

  candidates_.resize(static_cast<size_t>(n_vocab));
  for (int64_t i = 0; i < n_vocab; ++i)
    candidates_[i] = {static_cast<int32_t>(i), logits[i] / params_.temperature};
  auto by_value = [](const Candidate& a, const Candidate& b) {
    return a.value > b.value || (a.value == b.value && a.id < b.id);
  };

  // Top-k keeps the k largest, sorted; without it everything is sorted for top-p.
  size_t kept = candidates_.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < kept) kept = params_.top_k;
  std::partial_sort(candidates_.begin(), candidates_.begin() + kept, candidates_.end(), by_value);
  candidates_.resize(kept);

  // Softmax over the survivors.
  float max = candidates_[0].value, sum = 0.0f;
  for (Candidate& c : candidates_) sum += (c.value = std::exp(c.value - max));
  for (Candidate& c : candidates_) c.value /= sum;

  // Top-p keeps the smallest prefix whose probability reaches p.
  if (params_.top_p < 1.0f) {
    float cumulative = 0.0f;
    size_t n = 0;
    while (n < candidates_.size()) {
      cumulative += candidates_[n++].value;
      if (cumulative >= params_.top_p) break;
    }
    candidates_.resize(n);
    sum = cumulative;
  } else {
    sum = 1.0f;
  }

  float r = next_uniform() * sum;
  float cdf = 0.0f;
  for (const Candidate& c : candidates_) {
    cdf += c.value;
    if (r < cdf) return c.id;
  }
  return candidates_.back().id;  // rounding left r just above the total
}

}  // namespace cria
