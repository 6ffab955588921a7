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

void Candidates::keep_top(size_t k) {
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  k = std::min(k, items.size());
  std::partial_sort(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(k), items.end(), by_logit);
  items.resize(k);
  sorted = true;
}

void Candidates::normalize() {
  if (!sorted) keep_top(items.size());
  const float max = items[0].logit;
  float sum = 0.0f;
  for (Candidate& c : items) sum += (c.p = std::exp(c.logit - max));
  for (Candidate& c : items) c.p /= sum;
  p_total = 1.0f;
  normalized = true;
}

namespace {

class TemperatureStage final : public SamplerStage {
 public:
  explicit TemperatureStage(float t) : t_(t) {}
  const char* name() const override { return "temperature"; }
  void apply(Candidates& c) override {
    for (Candidates::Candidate& x : c.items) x.logit /= t_;
    c.normalized = false;
  }

 private:
  float t_;
};

class TopKStage final : public SamplerStage {
 public:
  explicit TopKStage(int32_t k) : k_(k) {}
  const char* name() const override { return "top-k"; }
  void apply(Candidates& c) override {
    c.keep_top(static_cast<size_t>(k_));
    c.normalized = false;
  }

 private:
  int32_t k_;
};

class TopPStage final : public SamplerStage {
 public:
  explicit TopPStage(float p) : p_(p) {}
  const char* name() const override { return "top-p"; }
  void apply(Candidates& c) override {
    if (!c.normalized) c.normalize();
    float cumulative = 0.0f;
    size_t n = 0;
    while (n < c.items.size()) {
      cumulative += c.items[n++].p;
      if (cumulative >= p_) break;
    }
    c.items.resize(n);
    c.p_total = cumulative;
  }

 private:
  float p_;
};

class GreedyStage final : public SamplerStage {
 public:
  const char* name() const override { return "greedy"; }
  void apply(Candidates& c) override {
    const Candidates::Candidate* best = &c.items[0];
    for (const Candidates::Candidate& x : c.items)
      if (x.logit > best->logit || (x.logit == best->logit && x.id < best->id)) best = &x;
    c.selected = best->id;
  }
};

class DrawStage final : public SamplerStage {
 public:
  explicit DrawStage(uint64_t seed) : seed_(seed), state_(seed) {}
  const char* name() const override { return "draw"; }
  void apply(Candidates& c) override {
    if (!c.normalized) c.normalize();
    const float r = next_uniform() * c.p_total;
    float cdf = 0.0f;
    for (const Candidates::Candidate& x : c.items) {
      cdf += x.p;
      if (r < cdf) {
        c.selected = x.id;
        return;
      }
    }
    c.selected = c.items.back().id;  // rounding left r just above the total
  }
  void reset() override { state_ = seed_; }

 private:
  // splitmix64: a full-period generator whose output depends only on the seed; in [0, 1).
  float next_uniform() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
  }

  uint64_t seed_, state_;
};

}  // namespace

std::unique_ptr<SamplerStage> temperature_stage(float temperature) {
  if (!(temperature > 0.0f) || !std::isfinite(temperature))
    throw Error(ErrorCode::InvalidArgument,
                "temperature must be a finite number > 0 in a temperature stage, got " + std::to_string(temperature));
  return std::make_unique<TemperatureStage>(temperature);
}
std::unique_ptr<SamplerStage> top_k_stage(int32_t k) {
  if (k <= 0) throw Error(ErrorCode::InvalidArgument, "top_k must be > 0 in a top-k stage, got " + std::to_string(k));
  return std::make_unique<TopKStage>(k);
}
std::unique_ptr<SamplerStage> top_p_stage(float p) {
  if (!(p > 0.0f) || !std::isfinite(p))
    throw Error(ErrorCode::InvalidArgument, "top_p must be in (0, 1], got " + std::to_string(p));
  return std::make_unique<TopPStage>(p);
}
std::unique_ptr<SamplerStage> greedy_stage() { return std::make_unique<GreedyStage>(); }
std::unique_ptr<SamplerStage> draw_stage(uint64_t seed) { return std::make_unique<DrawStage>(seed); }

Sampler::Sampler(const SamplerParams& params) {
  if (!(params.temperature >= 0.0f) || !std::isfinite(params.temperature))
    throw Error(ErrorCode::InvalidArgument,
                "temperature must be a finite number >= 0, got " + std::to_string(params.temperature));
  if (!(params.top_p > 0.0f) || !std::isfinite(params.top_p))
    throw Error(ErrorCode::InvalidArgument, "top_p must be in (0, 1], got " + std::to_string(params.top_p));
  if (params.temperature == 0.0f) {
    add(greedy_stage());
    return;
  }
  add(temperature_stage(params.temperature));
  if (params.top_k > 0) add(top_k_stage(params.top_k));
  if (params.top_p < 1.0f) add(top_p_stage(params.top_p));
  add(draw_stage(params.seed));
}

Sampler& Sampler::add(std::unique_ptr<SamplerStage> stage) {
  if (!stage) throw Error(ErrorCode::InvalidArgument, "a sampler stage is null");
  stages_.push_back(std::move(stage));
  return *this;
}

int32_t Sampler::sample(const float* logits, int64_t n_vocab) {
  if (n_vocab <= 0) throw Error(ErrorCode::InvalidArgument, "sample: no logits");
  Candidates& c = candidates_;
  c.items.resize(static_cast<size_t>(n_vocab));
  for (int64_t i = 0; i < n_vocab; ++i) c.items[static_cast<size_t>(i)] = {static_cast<int32_t>(i), logits[i], 0.0f};
  c.sorted = c.normalized = false;
  c.p_total = 0.0f;
  c.selected = -1;
  for (auto& stage : stages_) {
    stage->apply(c);
    if (c.selected >= 0) return c.selected;
  }
  throw Error(ErrorCode::InvalidState, "the sampler chain has no stage that picks a token (greedy or draw)");
}

void Sampler::accept(int32_t token) {
  for (auto& stage : stages_) stage->accept(token);
}

void Sampler::reset() {
  for (auto& stage : stages_) stage->reset();
}

}  // namespace cria
