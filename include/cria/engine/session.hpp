#pragma once
// cria::Session: one sequence over a shared model: its keys and values (in the model's
// backend), the logits of its last evaluated position, and a stream decoder that turns its
// tokens into text. A session is used by one thread at a time; many sessions may share one
// Model. The sessions of a model share its backend's thread pool and working memory: their
// passes run one at a time (cria::Batch evaluates several sessions in one pass).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cria/backend.hpp"
#include "cria/model/model.hpp"
#include "cria/tokenizer/tokenizer.hpp"

namespace cria {

// Positions evaluated together by default: long prompts gain from large batches (a matrix's
// weights are read, and decoded, once per pass); the activations of 256 positions of a 7B
// model take 48 MB.
constexpr int64_t kDefaultMaxBatch = 256;

struct SessionOptions {
  int64_t context_length = 0;  // KV cache positions; 0: the model's context length
  int n_threads = 0;           // threads of a pass; 0: the model's (LoadOptions::n_threads)
  int64_t max_batch = kDefaultMaxBatch;  // positions evaluated together in one pass
  // Element type of the KV cache: F16 (half the memory and bandwidth) or F32.
  DType kv_type = DType::F16;
};

class Batch;

class Session {
 public:
  // Throws cria::Error (InvalidArgument, Unsupported, OutOfMemory).
  explicit Session(const Model& model, const SessionOptions& options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Appends n given tokens (a prompt) at positions n_past() .. n_past()+n-1, evaluated in
  // passes of at most max_batch positions. Afterwards logits() holds the last position's
  // logits; when all_logits is given it receives every position's logits ([n][vocab]). The
  // tokens' text goes into the stream decoder as given text: a later accept() continues it.
  // Throws cria::Error (ContextFull, InvalidArgument); nothing is evaluated then.
  void eval(const int32_t* tokens, int64_t n, float* all_logits = nullptr);
  void eval(const std::vector<int32_t>& tokens) { eval(tokens.data(), static_cast<int64_t>(tokens.size())); }

  // Appends one generated token (evaluates it) and returns the text it completes: whole
  // UTF-8 characters only, so possibly "" (see StreamDecoder). The texts of accepted tokens
  // continue the text of the tokens before them exactly.
  std::string accept(int32_t token);
  // The text accept(token) would return now, without accepting it; with `then_flush`, followed
  // by what flush_text() would return after it.
  std::string peek_text(int32_t token, bool then_flush = false) const;
  // Ends a stream of accepted tokens: returns the bytes the decoder still holds back (each
  // byte of an incomplete UTF-8 sequence as U+FFFD); text accepted afterwards starts anew.
  std::string flush_text();
  // The text flush_text() would return now, without ending the stream.
  std::string pending_text() const;

  // Whether a position has been evaluated since creation or reset().
  bool has_logits() const { return has_logits_; }
  // The logits of the last evaluated position ([vocab]). Throws InvalidState when none.
  const std::vector<float>& logits() const;
  int64_t n_past() const { return n_past_; }
  int64_t context_length() const { return context_length_; }
  int64_t max_batch() const { return max_batch_; }
  int n_threads() const;
  const Model& model() const { return model_; }
  // Forgets every position, the logits and the decoder's state (the cache is reused).
  void reset();

 private:
  friend class Batch;
  void new_decoder();

  const Model& model_;
  int64_t context_length_;
  int64_t max_batch_;
  int n_threads_;
  int64_t n_past_ = 0;
  std::unique_ptr<KvCache> cache_;
  std::vector<float> logits_;  // [vocab]
  bool has_logits_ = false;
  std::optional<StreamDecoder> decoder_;  // absent when the model has no vocabulary
};

}  // namespace cria
