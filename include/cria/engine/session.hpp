#pragma once
// cria::Session: one sequence over a shared model: its keys and values (in the model's
// backend), the logits of its last evaluated position, and a stream decoder that turns its
// tokens into text. A session is used by one thread at a time; many sessions may share one
// Model. The sessions of a model share its backend's thread pool and working memory: their
// passes run one at a time (cria::Batch evaluates several sessions in one pass).
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cria/backend.hpp"
#include "cria/model/model.hpp"
#include "cria/tokenizer/tokenizer.hpp"

namespace cria {

// Positions evaluated together by default: long prompts gain from large batches (a matrix's
// weights are read, and decoded, once per pass); the activations of 256 positions of a 7B
// model take 48 MB.
constexpr int64_t kDefaultMaxBatch = 256;

// What a session does when a call needs more positions than its context has left.
enum class ContextPolicy {
  Stop,   // the call throws ContextFull (generation stops with StopReason::ContextFull)
  Shift,  // keep the first shift_keep positions, drop the oldest half of the rest (see shift())
};

struct SessionOptions {
  int64_t context_length = 0;  // KV cache positions; 0: the model's context length
  int n_threads = 0;           // threads of a pass; 0: the model's (LoadOptions::n_threads)
  int64_t max_batch = kDefaultMaxBatch;  // positions evaluated together in one pass
  // Element type of the KV cache: F16 (half the memory and bandwidth) or F32.
  DType kv_type = DType::F16;
  ContextPolicy when_full = ContextPolicy::Stop;
  int64_t shift_keep = 0;  // Shift: positions at the start that stay (BOS, a system prompt)
};

class Sampler;

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
  // The logits to sample from: logits(), after checking that the model produced no NaN or
  // +inf (weights holding them, or activations that overflow): InvalidFile naming the token.
  const std::vector<float>& logits_for_sampling() const;
  int64_t n_past() const { return n_past_; }
  int64_t context_length() const { return context_length_; }
  int64_t max_batch() const { return max_batch_; }
  int n_threads() const;
  const Model& model() const { return model_; }
  // Forgets every position, the logits and the decoder's state (the cache is reused).
  void reset();

  // Asks the pass running for this session, or its next one, to stop: it throws
  // Error(Cancelled) before its next layer, the positions it was evaluating are not added,
  // and the session stays usable (generate() stops with StopReason::Cancelled). The request
  // is consumed by the pass it stops. The one call that another thread may make on a session
  // while it is in use.
  void cancel() { cancel_requested_.store(true); }

  // The tokens at positions 0 .. n_past()-1.
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // Positions evaluated since the session was created (prompts and accepted tokens): what
  // rewinding and saved states spare.
  int64_t evaluated_positions() const { return evaluated_; }

  // Removes positions n_keep .. n_past()-1; what stays is not evaluated again. The logits
  // are gone until the next evaluation, and the stream decoder is where decoding
  // tokens()[0 .. n_keep) from the start leaves it. Throws InvalidArgument unless
  // 0 <= n_keep <= n_past().
  void truncate(int64_t n_keep);
  // Removes positions n_keep .. n_keep+n_discard-1 and moves the later ones down by
  // n_discard, rotating their cached keys by -n_discard positions (RoPE), so that the session
  // goes on as if it had evaluated the remaining tokens at their new positions, without
  // evaluating them (within rounding: cached keys are rotated twice). Logits and text stay.
  void shift(int64_t n_keep, int64_t n_discard);
  // Positions a call may still add: the free ones, and under ContextPolicy::Shift those a
  // shift would free.
  int64_t room() const;

  // The session as bytes: the model it belongs to, its tokens, the keys and values of its
  // positions, its logits, the decoder's state and, when given, `sampler`'s state (a
  // versioned format, checksummed). load_state() takes them back into a session of the same
  // model with room for the positions (and `sampler` of the same chain); it throws
  // InvalidFile for bytes that are not such a state (truncated, corrupted, a newer version),
  // InvalidArgument for a state of another model or that does not fit, and then changes
  // nothing. A resumed session goes on exactly as the saved one would.
  std::string save_state(const Sampler* sampler = nullptr) const;
  void load_state(std::string_view state, Sampler* sampler = nullptr);
  // The same through a file, written to a temporary name and renamed into place, so that a
  // failed save leaves no partial file behind (Io names the file and the reason).
  void save_state_file(const std::string& path, const Sampler* sampler = nullptr) const;
  void load_state_file(const std::string& path, Sampler* sampler = nullptr);

 private:
  friend class Batch;
  void new_decoder();
  // Under ContextPolicy::Shift, shifts when `n` more positions do not fit.
  void make_room(int64_t n);
  // The decoder as decoding tokens_ leaves it: after a pass that failed, text pushed for
  // tokens that were not evaluated is taken back.
  void resync_decoder();

  const Model& model_;
  int64_t context_length_;
  int64_t max_batch_;
  int n_threads_;
  int64_t n_past_ = 0;
  int64_t evaluated_ = 0;
  std::atomic<bool> cancel_requested_{false};
  ContextPolicy when_full_;
  int64_t shift_keep_;
  std::vector<int32_t> tokens_;  // at positions 0 .. n_past_-1
  std::unique_ptr<KvCache> cache_;
  std::vector<float> logits_;  // [vocab]
  bool has_logits_ = false;
  std::optional<StreamDecoder> decoder_;  // absent when the model has no vocabulary
};

}  // namespace cria
