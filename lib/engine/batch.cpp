// Several sessions' tokens evaluated together, in passes over the weights.
#include "cria/engine/batch.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "cria/error.hpp"
#include "engine/forward.hpp"

namespace cria {

void Batch::check_room(Session& session, int64_t n) const {
  if (!items_.empty() && &items_[0].session->model() != &session.model())
    throw Error(ErrorCode::InvalidArgument, "a batch holds sessions of one model; this session's is another");
  int64_t queued = 0;
  for (const Item& item : items_) queued += item.session == &session;
  session.make_room(queued + n);
  const int64_t used = session.n_past() + queued;
  if (n > session.context_length() - used)
    throw Error(ErrorCode::ContextFull,
                "the context holds " + std::to_string(session.context_length()) + " positions; " +
                    std::to_string(used) + " are used and " + std::to_string(n) + " more were given");
}

namespace {

void check_token(const Session& session, int32_t token) {
  const int64_t vocab = session.model().config().vocab_size;
  if (token < 0 || token >= vocab)
    throw Error(ErrorCode::InvalidArgument, "token id " + std::to_string(token) +
                                                " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
}

}  // namespace

void Batch::add(Session& session, const int32_t* tokens, int64_t n) {
  if (n <= 0) return;
  if (!tokens) throw Error(ErrorCode::InvalidArgument, "add: tokens is null");
  for (int64_t i = 0; i < n; ++i) check_token(session, tokens[i]);
  check_room(session, n);
  for (int64_t i = 0; i < n; ++i) {
    items_.push_back({&session, tokens[i]});
    if (session.decoder_) session.decoder_->push(tokens[i]);  // given text: not returned
  }
}

std::string Batch::accept(Session& session, int32_t token) {
  check_token(session, token);
  check_room(session, 1);
  items_.push_back({&session, token});
  return session.decoder_ ? session.decoder_->push(token) : std::string();
}

void Batch::eval() { evaluate(nullptr); }

void Batch::evaluate(float* all_logits) {
  if (items_.empty()) return;
  std::vector<Item> items;
  items.swap(items_);  // the batch is empty afterwards, whatever happens
  const Model& model = items[0].session->model();
  Backend& backend = model.backend();
  const int64_t vocab = model.config().vocab_size;
  int64_t max_batch = items[0].session->max_batch();
  std::unordered_map<Session*, size_t> last_item;  // each session's logits come from its last token
  for (size_t i = 0; i < items.size(); ++i) {
    max_batch = std::min(max_batch, items[i].session->max_batch());
    last_item[items[i].session] = i;
  }

  // A pass stops when any of its sessions is asked to.
  const auto stop = [&items] {
    for (const Item& item : items)
      if (item.session->cancel_requested_.load(std::memory_order_relaxed)) return true;
    return false;
  };
  std::unordered_map<Session*, int64_t> added;  // positions of each session in the pass
  for (size_t done = 0; done < items.size();) {
    const size_t count = std::min(static_cast<size_t>(max_batch), items.size() - done);
    entries_.resize(count);
    added.clear();
    std::vector<Session*> wanting;  // sessions whose logits this pass returns, in order
    for (size_t k = 0; k < count; ++k) {
      Session& s = *items[done + k].session;
      BatchEntry& e = entries_[k];
      e.token = items[done + k].token;
      e.position = s.n_past_ + added[&s]++;
      e.cache = s.cache_.get();
      e.wants_logits = all_logits != nullptr || last_item[&s] == done + k;
      if (e.wants_logits) wanting.push_back(&s);
    }
    // One row of logits goes straight into its session; more go through the batch's buffer.
    float* out;
    if (all_logits) {
      out = all_logits + done * vocab;
    } else if (wanting.size() == 1) {
      out = wanting[0]->logits_.data();
    } else {
      logits_.resize(wanting.size() * static_cast<size_t>(vocab));
      out = logits_.data();
    }
    try {
      model.check_file();
      forward(backend, model.config(), entries_.data(), static_cast<int64_t>(count), items[0].session->n_threads_, out,
              nullptr, stop);
    } catch (...) {
      // Nothing of this pass or the later ones is added: the decoders give back the text of
      // the tokens that were not evaluated, and a cancel request is consumed.
      for (auto& [session, unused] : last_item) {
        session->cancel_requested_.store(false);
        session->resync_decoder();
      }
      throw;
    }

    for (auto& [session, positions] : added) {
      session->n_past_ += positions;
      session->evaluated_ += positions;
    }
    for (size_t k = 0; k < count; ++k) items[done + k].session->tokens_.push_back(items[done + k].token);
    if (all_logits) {
      wanting.back()->has_logits_ = true;
      const float* last = out + (count - 1) * vocab;
      std::copy(last, last + vocab, wanting.back()->logits_.begin());
    } else {
      for (size_t r = 0; r < wanting.size(); ++r) {
        if (out != wanting[r]->logits_.data())
          std::copy(out + r * vocab, out + (r + 1) * vocab, wanting[r]->logits_.begin());
        wanting[r]->has_logits_ = true;
      }
    }
    done += count;
  }
}

}  // namespace cria
