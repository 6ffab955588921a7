#pragma once
// cria::Batch: tokens of several sessions of one model, evaluated together so that each pass
// reads the weights once for all of them. Each session keeps its own keys and values, and a
// position's result does not depend on the other sessions in its pass (on the CPU backend,
// bit for bit): it is what the session gets alone, unless the batch cuts the session's tokens
// into passes otherwise than the session's own max_batch would.
#include <cstdint>
#include <string>
#include <vector>

#include "cria/engine/session.hpp"

namespace cria {

class Batch {
 public:
  // Queues n given tokens (a prompt) for `session` at its next positions, after the tokens
  // already queued for it; as Session::eval. Throws ContextFull (nothing queued) when they do
  // not fit, InvalidArgument for a token outside the vocabulary or a session of another
  // model than the batch's others.
  void add(Session& session, const int32_t* tokens, int64_t n);
  // Queues one generated token for `session` and returns its text, as Session::accept does
  // (the session's decoder moves on now; the token is evaluated by eval()).
  std::string accept(Session& session, int32_t token);
  // Evaluates every queued token, in passes of at most the smallest max_batch of the
  // sessions, and empties the batch. Each session's logits become those of its last token.
  void eval();

  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  void clear() { items_.clear(); }

 private:
  friend class Session;
  struct Item {
    Session* session;
    int32_t token;
  };
  // Throws ContextFull unless `n` more positions fit in `session` after those queued (a
  // session that shifts when full shifts now).
  void check_room(Session& session, int64_t n) const;
  // Evaluates the items; with all_logits (one session only), every position's logits.
  void evaluate(float* all_logits);

  std::vector<Item> items_;
  std::vector<BatchEntry> entries_;  // of one pass
  std::vector<float> logits_;        // of one pass, [entries that want them][vocab]
};

}  // namespace cria
