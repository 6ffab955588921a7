#pragma once
// Token sampling from logits. Order: temperature, then top-k, then top-p (nucleus), then a
// draw from the seeded generator. Temperature 0 is greedy: the lowest id of the largest logit.
#include <cstdint>
#include <vector>

namespace cria {

struct SamplerParams {
  float temperature = 0.8f;
  int32_t top_k = 40;      // <= 0: no limit
  float top_p = 0.95f;     // >= 1: no limit
  uint64_t seed = 0;       // the same seed and logits give the same tokens
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);  // throws cria::Error on invalid params
  int32_t sample(const float* logits, int64_t n_vocab);
  void reseed(uint64_t seed);
  const SamplerParams& params() const { return params_; }

 private:
  float next_uniform();  // in [0, 1)

  SamplerParams params_;
  uint64_t rng_state_ = 0;
  struct Candidate { int32_t id; float value; };
  std::vector<Candidate> candidates_;
};

// The index of the largest value, the lowest on ties.
int32_t argmax(const float* values, int64_t n);

}  // namespace cria
