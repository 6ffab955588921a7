#include "cria/sampling/sampler.hpp"

#include <limits>
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "cria/error.hpp"
#include "cria/io/bytes.hpp"
#include "cria/sampling/grammar.hpp"

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
  std::string state() const override {
    std::string out;
    io::ByteWriter(out).u64(state_);
    return out;
  }
  void set_state(std::string_view state) override {
    io::ByteReader in(state, "draw stage state");
    const uint64_t s = in.u64();
    if (in.remaining() != 0) in.fail("it has bytes left over");
    state_ = s;
  }

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

// The candidate of token `id`: at index id while the list is still the vocabulary in order.
Candidates::Candidate* find(Candidates& c, int32_t id) {
  if (id < 0) return nullptr;
  if (!c.sorted && static_cast<size_t>(id) < c.items.size() && c.items[static_cast<size_t>(id)].id == id)
    return &c.items[static_cast<size_t>(id)];
  for (Candidates::Candidate& x : c.items)
    if (x.id == id) return &x;
  return nullptr;
}

class LogitBiasStage final : public SamplerStage {
 public:
  explicit LogitBiasStage(std::vector<std::pair<int32_t, float>> bias) : bias_(std::move(bias)) {}
  const char* name() const override { return "logit-bias"; }
  void apply(Candidates& c) override {
    for (const auto& [id, bias] : bias_)
      if (Candidates::Candidate* x = find(c, id)) x->logit += bias;
    c.normalized = false;
  }

 private:
  std::vector<std::pair<int32_t, float>> bias_;
};

class PenaltiesStage final : public SamplerStage {
 public:
  PenaltiesStage(int32_t last_n, float repeat, float frequency, float presence)
      : last_n_(last_n), repeat_(repeat), frequency_(frequency), presence_(presence) {}
  const char* name() const override { return "penalties"; }
  void apply(Candidates& c) override {
    // Counts of the tokens in the window, in order of first appearance (a fixed order).
    std::vector<std::pair<int32_t, int32_t>> counts;
    const size_t first = last_n_ < 0 || recent_.size() <= static_cast<size_t>(last_n_)
                             ? 0
                             : recent_.size() - static_cast<size_t>(last_n_);
    for (size_t i = first; i < recent_.size(); ++i) {
      auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& e) { return e.first == recent_[i]; });
      if (it == counts.end()) counts.push_back({recent_[i], 1});
      else ++it->second;
    }
    for (const auto& [id, count] : counts) {
      Candidates::Candidate* x = find(c, id);
      if (!x) continue;
      x->logit = x->logit > 0.0f ? x->logit / repeat_ : x->logit * repeat_;
      x->logit -= static_cast<float>(count) * frequency_ + presence_;
    }
    c.normalized = false;
  }
  void accept(int32_t token) override {
    recent_.push_back(token);
    // Keep the window (and a little more, so that trimming is rare).
    if (last_n_ >= 0 && recent_.size() > 2 * static_cast<size_t>(last_n_) + 64)
      recent_.erase(recent_.begin(), recent_.end() - last_n_);
  }
  void reset() override { recent_.clear(); }
  std::string state() const override {
    std::string out;
    io::ByteWriter w(out);
    w.u64(recent_.size());
    for (int32_t t : recent_) w.i32(t);
    return out;
  }
  void set_state(std::string_view state) override {
    io::ByteReader in(state, "penalties stage state");
    const uint64_t n = in.u64();
    if (n > in.remaining() / 4) in.fail("it holds fewer tokens than it counts");
    std::vector<int32_t> recent(static_cast<size_t>(n));
    for (int32_t& t : recent) t = in.i32();
    if (in.remaining() != 0) in.fail("it has bytes left over");
    recent_ = std::move(recent);
  }

 private:
  int32_t last_n_;
  float repeat_, frequency_, presence_;
  std::vector<int32_t> recent_;
};

class MinPStage final : public SamplerStage {
 public:
  explicit MinPStage(float p) : p_(p) {}
  const char* name() const override { return "min-p"; }
  void apply(Candidates& c) override {
    if (!c.normalized) c.normalize();
    const float floor = p_ * c.items[0].p;  // sorted: the first is the most likely
    size_t n = 1;
    float kept = c.items[0].p;
    while (n < c.items.size() && c.items[n].p >= floor) kept += c.items[n++].p;
    c.items.resize(n);
    c.p_total = kept;
  }

 private:
  float p_;
};

class TypicalStage final : public SamplerStage {
 public:
  explicit TypicalStage(float p) : p_(p) {}
  const char* name() const override { return "typical-p"; }
  void apply(Candidates& c) override {
    c.normalize();  // over the candidates left, so that the entropy is theirs
    double entropy = 0.0;
    for (const Candidates::Candidate& x : c.items)
      if (x.p > 0.0f) entropy -= static_cast<double>(x.p) * std::log(static_cast<double>(x.p));
    std::vector<std::pair<double, size_t>> order;  // |surprise - entropy|, index
    order.reserve(c.items.size());
    for (size_t i = 0; i < c.items.size(); ++i) {
      const double p = c.items[i].p;
      order.push_back({p > 0.0 ? std::fabs(-std::log(p) - entropy) : INFINITY, i});
    }
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    float cumulative = 0.0f;
    size_t n = 0;
    while (n < order.size()) {
      cumulative += c.items[order[n++].second].p;
      if (cumulative >= p_) break;
    }
    std::vector<Candidates::Candidate> kept;
    kept.reserve(n);
    for (size_t i = 0; i < n; ++i) kept.push_back(c.items[order[i].second]);
    c.items = std::move(kept);
    c.sorted = c.normalized = false;  // in order of typicality: the next stage re-sorts
  }

 private:
  float p_;
};

class Mirostat2Stage final : public SamplerStage {
 public:
  Mirostat2Stage(float tau, float eta) : tau_(tau), eta_(eta), mu_(2.0f * tau) {}
  const char* name() const override { return "mirostat-2"; }
  void apply(Candidates& c) override {
    if (!c.normalized) c.normalize();
    size_t n = 1;  // sorted: the most likely first, always kept
    while (n < c.items.size() && -std::log2(c.items[n].p) <= mu_) ++n;
    c.items.resize(n);
    c.normalize();  // the draw and the surprise of the drawn token use the kept set
    kept_.assign(c.items.begin(), c.items.end());
  }
  void accept(int32_t token) override {
    for (const Candidates::Candidate& x : kept_)
      if (x.id == token) {
        mu_ -= eta_ * (-std::log2(x.p) - tau_);
        break;
      }
    kept_.clear();  // only the token drawn from the last truncation teaches mu
  }
  void reset() override {
    mu_ = 2.0f * tau_;
    kept_.clear();
  }
  std::string state() const override {
    std::string out;
    io::ByteWriter w(out);
    w.f32(mu_);
    w.u64(kept_.size());
    for (const Candidates::Candidate& x : kept_) {
      w.i32(x.id);
      w.f32(x.logit);
      w.f32(x.p);
    }
    return out;
  }
  void set_state(std::string_view state) override {
    io::ByteReader in(state, "mirostat-2 stage state");
    const float mu = in.f32();
    const uint64_t n = in.u64();
    if (!std::isfinite(mu)) in.fail("mu is not finite");
    if (n > in.remaining() / 12) in.fail("it holds fewer candidates than it counts");
    std::vector<Candidates::Candidate> kept(static_cast<size_t>(n));
    for (Candidates::Candidate& x : kept) {
      x.id = in.i32();
      x.logit = in.f32();
      x.p = in.f32();
    }
    if (in.remaining() != 0) in.fail("it has bytes left over");
    mu_ = mu;
    kept_ = std::move(kept);
  }

 private:
  float tau_, eta_, mu_;
  std::vector<Candidates::Candidate> kept_;
};

}  // namespace

std::unique_ptr<SamplerStage> mirostat2_stage(float tau, float eta) {
  if (!(tau > 0.0f) || !std::isfinite(tau) || !(eta > 0.0f) || !std::isfinite(eta))
    throw Error(ErrorCode::InvalidArgument, "mirostat_tau and mirostat_eta must be finite numbers > 0");
  return std::make_unique<Mirostat2Stage>(tau, eta);
}

std::unique_ptr<SamplerStage> logit_bias_stage(std::vector<std::pair<int32_t, float>> bias) {
  for (const auto& [id, b] : bias)
    if (id < 0 || std::isnan(b) || b == INFINITY)
      throw Error(ErrorCode::InvalidArgument, "logit bias of token " + std::to_string(id) +
                                                  ": the token must be >= 0 and the bias a number or -infinity");
  return std::make_unique<LogitBiasStage>(std::move(bias));
}
std::unique_ptr<SamplerStage> penalties_stage(int32_t last_n, float repeat, float frequency, float presence) {
  if (last_n < -1) throw Error(ErrorCode::InvalidArgument, "repeat_last_n must be >= -1, got " + std::to_string(last_n));
  if (!(repeat > 0.0f) || !std::isfinite(repeat))
    throw Error(ErrorCode::InvalidArgument, "repeat_penalty must be a finite number > 0, got " + std::to_string(repeat));
  if (!std::isfinite(frequency) || !std::isfinite(presence))
    throw Error(ErrorCode::InvalidArgument, "frequency_penalty and presence_penalty must be finite");
  return std::make_unique<PenaltiesStage>(last_n, repeat, frequency, presence);
}
std::unique_ptr<SamplerStage> min_p_stage(float p) {
  if (!(p >= 0.0f && p <= 1.0f)) throw Error(ErrorCode::InvalidArgument, "min_p must be in [0, 1], got " + std::to_string(p));
  return std::make_unique<MinPStage>(p);
}
std::unique_ptr<SamplerStage> typical_stage(float p) {
  if (!(p > 0.0f) || !std::isfinite(p))
    throw Error(ErrorCode::InvalidArgument, "typical_p must be in (0, 1], got " + std::to_string(p));
  return std::make_unique<TypicalStage>(p);
}

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

Sampler::Sampler(const SamplerParams& params) : Sampler(params, nullptr) {}

Sampler::Sampler(const SamplerParams& params, const Tokenizer* tokenizer) {
  if (!(params.temperature >= 0.0f) || !std::isfinite(params.temperature))
    throw Error(ErrorCode::InvalidArgument,
                "temperature must be a finite number >= 0, got " + std::to_string(params.temperature));
  if (!(params.top_p > 0.0f) || !std::isfinite(params.top_p))
    throw Error(ErrorCode::InvalidArgument, "top_p must be in (0, 1], got " + std::to_string(params.top_p));
  if (!params.logit_bias.empty()) add(logit_bias_stage(params.logit_bias));
  if (params.repeat_last_n != 0 &&
      (params.repeat_penalty != 1.0f || params.frequency_penalty != 0.0f || params.presence_penalty != 0.0f))
    add(penalties_stage(params.repeat_last_n, params.repeat_penalty, params.frequency_penalty, params.presence_penalty));
  if (!params.grammar.empty()) {
    if (!tokenizer)
      throw Error(ErrorCode::InvalidArgument, "a grammar needs the model's tokenizer to match tokens against, and "
                                              "none was given (a model without a vocabulary, or Sampler(params))");
    add(grammar_stage(std::make_shared<const Grammar>(params.grammar), *tokenizer));
  }
  if (params.temperature == 0.0f) {
    add(greedy_stage());
    return;
  }
  if (params.mirostat != 0 && params.mirostat != 2)
    throw Error(ErrorCode::InvalidArgument,
                "mirostat is 0 (off) or 2 (Mirostat 2.0), not " + std::to_string(params.mirostat));
  add(temperature_stage(params.temperature));
  if (params.mirostat == 2) {
    add(mirostat2_stage(params.mirostat_tau, params.mirostat_eta));
    add(draw_stage(params.seed));
    return;
  }
  if (params.top_k > 0) add(top_k_stage(params.top_k));
  if (params.typical_p < 1.0f) add(typical_stage(params.typical_p));
  if (params.top_p < 1.0f) add(top_p_stage(params.top_p));
  if (params.min_p > 0.0f) add(min_p_stage(params.min_p));
  add(draw_stage(params.seed));
}

void SamplerStage::set_state(std::string_view state) {
  if (!state.empty())
    throw Error(ErrorCode::InvalidArgument, std::string("the ") + name() + " stage keeps no state, but was given " +
                                                std::to_string(state.size()) + " bytes");
}

std::string Sampler::state() const {
  std::string out;
  io::ByteWriter w(out);
  w.u64(stages_.size());
  for (const auto& stage : stages_) {
    w.bytes(stage->name());
    w.bytes(stage->state());
  }
  return out;
}

void Sampler::set_state(std::string_view state) {
  io::ByteReader in(state, "sampler state");
  const uint64_t n = in.u64();
  if (n != stages_.size())
    in.fail("it has " + std::to_string(n) + " stages, the sampler " + std::to_string(stages_.size()));
  std::vector<std::string_view> states;
  for (const auto& stage : stages_) {
    if (in.bytes() != stage->name()) in.fail(std::string("its stages differ from the sampler's (") + stage->name() + ")");
    states.push_back(in.bytes());
  }
  if (in.remaining() != 0) in.fail("it has bytes left over");
  // All or nothing: when a stage refuses its bytes, the stages before it get their own back.
  std::vector<std::string> before;
  for (const auto& stage : stages_) before.push_back(stage->state());
  size_t i = 0;
  try {
    for (; i < stages_.size(); ++i) stages_[i]->set_state(states[i]);
  } catch (...) {
    for (size_t j = 0; j < i; ++j) stages_[j]->set_state(before[j]);
    throw;
  }
}

Sampler& Sampler::add(std::unique_ptr<SamplerStage> stage) {
  if (!stage) throw Error(ErrorCode::InvalidArgument, "a sampler stage is null");
  stages_.push_back(std::move(stage));
  return *this;
}

int64_t first_non_finite_logit(const float* logits, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (std::isnan(logits[i]) || logits[i] == std::numeric_limits<float>::infinity()) return i;
  return -1;
}

int32_t Sampler::sample(const float* logits, int64_t n_vocab) {
  if (n_vocab <= 0) throw Error(ErrorCode::InvalidArgument, "sample: no logits");
  if (const int64_t bad = first_non_finite_logit(logits, n_vocab); bad >= 0)
    throw Error(ErrorCode::InvalidArgument,
                std::string("non-finite logits: ") + (std::isnan(logits[bad]) ? "nan" : "inf") +
                    " for token " + std::to_string(bad) +
                    " (sampling needs finite values, or -inf for excluded tokens)");
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
