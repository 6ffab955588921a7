#pragma once
// Token sampling from logits as a chain of stages. Each stage narrows or reshapes a list of
// candidates (id, logit, probability); the last one picks a token. The standard chain, in
// this fixed order, is: logit bias, repetition/frequency/presence penalties, a grammar (the
// tokens whose text can continue its sentence; see grammar.hpp), then either greedy
// (temperature 0: the lowest id of the largest logit) or temperature, top-k, typical-p, top-p
// (nucleus), min-p and a draw from a seeded generator (with Mirostat 2: temperature,
// Mirostat's truncation and the draw). The grammar comes before the stages that cut by
// probability, so that they share out what the grammar allows. Stages that change nothing
// with their parameters' defaults are left out. Stages also see each accepted token
// (accept) and can be reset, so that stages with memory (penalties, grammars) fit in.
#include <utility>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cria {

class Tokenizer;

struct SamplerParams {
  float temperature = 0.8f;
  int32_t top_k = 40;      // <= 0: no limit
  float top_p = 0.95f;     // >= 1: no limit
  uint64_t seed = 0;       // the same seed and logits give the same tokens
  // Penalties over the last `repeat_last_n` tokens of the sequence (prompt included), as
  // llama.cpp defines them: a token seen there has its logit divided by repeat_penalty where
  // positive (multiplied where negative), then lowered by frequency_penalty times its count
  // and by presence_penalty once. repeat_last_n 0: no penalties; -1: the whole context.
  int32_t repeat_last_n = 64;
  float repeat_penalty = 1.0f;     // 1: none
  float frequency_penalty = 0.0f;  // 0: none
  float presence_penalty = 0.0f;   // 0: none
  float min_p = 0.0f;              // keep tokens with p >= min_p * the largest p; 0: none
  float typical_p = 1.0f;          // locally typical sampling; >= 1: none
  // Added to the logits of the given tokens before anything else (-INFINITY bans one).
  std::vector<std::pair<int32_t, float>> logit_bias;
  // Mirostat 2 (0: off; 1 is not supported): after temperature, in place of top-k, typical,
  // top-p and min-p, keeps the tokens whose surprise (-log2 p) is at most mu, draws, and
  // moves mu by mirostat_eta times the gap between the drawn token's surprise and
  // mirostat_tau (mu starts at 2 tau), so that text keeps a steady surprise.
  int32_t mirostat = 0;
  float mirostat_tau = 5.0f;
  float mirostat_eta = 0.1f;
  // A GBNF grammar (grammar.hpp) that the generated text must follow, from its rule "root";
  // empty: none. json_schema_to_grammar (json_schema.hpp) writes one for a JSON Schema.
  std::string grammar;
};

// The candidates a chain works on. `sorted`: in order of decreasing logit, ties by id;
// `normalized`: p holds probabilities (softmax of the logits of the candidates left), whose
// sum a draw scales its random number by (`p_total`: 1 after softmax, less after a cut).
struct Candidates {
  struct Candidate {
    int32_t id;
    float logit;
    float p;
  };
  std::vector<Candidate> items;
  bool sorted = false;
  bool normalized = false;
  float p_total = 0.0f;
  int32_t selected = -1;  // set by the stage that picks

  // Sorts the first k (all when k >= size) by decreasing logit, ties by id, and drops the
  // rest.
  void keep_top(size_t k);
  // p = softmax of the logits, in the sorted order.
  void normalize();
};

class SamplerStage {
 public:
  virtual ~SamplerStage() = default;
  virtual const char* name() const = 0;
  virtual void apply(Candidates& candidates) = 0;
  virtual void accept(int32_t /*token*/) {}
  virtual void reset() {}
  // What the stage has learnt from the tokens accepted since reset (a generator's position, a
  // window of recent tokens), as bytes that set_state takes back in a stage made with the
  // same parameters; empty for stages without memory. set_state throws InvalidArgument for
  // bytes it cannot take, and leaves the stage as it was then.
  virtual std::string state() const { return std::string(); }
  virtual void set_state(std::string_view state);
};

// Stages of the standard chain.
std::unique_ptr<SamplerStage> temperature_stage(float temperature);  // logits / temperature
std::unique_ptr<SamplerStage> top_k_stage(int32_t k);                // the k largest
std::unique_ptr<SamplerStage> top_p_stage(float p);  // the smallest prefix with probability >= p
std::unique_ptr<SamplerStage> greedy_stage();        // picks the largest logit, lowest id on ties
std::unique_ptr<SamplerStage> draw_stage(uint64_t seed);  // picks at random by probability
std::unique_ptr<SamplerStage> logit_bias_stage(std::vector<std::pair<int32_t, float>> bias);
// The penalties of SamplerParams over the last `last_n` accepted tokens (-1: all of them).
std::unique_ptr<SamplerStage> penalties_stage(int32_t last_n, float repeat, float frequency, float presence);
std::unique_ptr<SamplerStage> min_p_stage(float p);
// Keeps the tokens whose surprise (-log p) is closest to the distribution's entropy, the
// fewest whose probabilities reach p (Meister et al., "Locally Typical Sampling").
std::unique_ptr<SamplerStage> typical_stage(float p);
// Mirostat 2's truncation (see SamplerParams); it learns from the tokens accepted after it.
std::unique_ptr<SamplerStage> mirostat2_stage(float tau, float eta);

// The index of the first logit that is NaN or +inf, or -1 when there is none (-inf is how
// stages exclude tokens, and is allowed).
int64_t first_non_finite_logit(const float* logits, int64_t n);

class Sampler {
 public:
  Sampler() = default;
  // The standard chain for `params`; throws cria::Error on invalid params (InvalidArgument
  // for a grammar: it needs the tokenizer of the next constructor).
  explicit Sampler(const SamplerParams& params);
  // The same, with the tokenizer whose tokens a grammar stage matches (null: no grammar
  // allowed); the tokenizer must outlive the sampler.
  Sampler(const SamplerParams& params, const Tokenizer* tokenizer);
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;
  Sampler(Sampler&&) = default;
  Sampler& operator=(Sampler&&) = default;

  // Appends a stage; the chain's last stage must pick a token (greedy or draw).
  Sampler& add(std::unique_ptr<SamplerStage> stage);
  // Runs the chain over the logits of n_vocab tokens and returns the picked token. Throws
  // InvalidArgument for a NaN or +inf logit, InvalidState when no stage picked a token.
  int32_t sample(const float* logits, int64_t n_vocab);
  // Tells every stage that `token` joined the sequence.
  void accept(int32_t token);
  // Returns every stage to its initial state (the draw to its seed).
  void reset();
  // The states of every stage (SamplerStage::state), named, as bytes; set_state takes them
  // back in a chain of the same stages and throws InvalidArgument (changing nothing) when
  // they are not of such a chain.
  std::string state() const;
  void set_state(std::string_view state);
  size_t size() const { return stages_.size(); }
  const SamplerStage& stage(size_t i) const { return *stages_.at(i); }

 private:
  std::vector<std::unique_ptr<SamplerStage>> stages_;
  Candidates candidates_;
};

// The index of the largest value, the lowest on ties.
int32_t argmax(const float* values, int64_t n);

}  // namespace cria
