// A session: one sequence's cache, logits and text decoder over a shared model.
#include "cria/engine/session.hpp"

#include <algorithm>
#include <string>

#include "cria/engine/batch.hpp"
#include "cria/error.hpp"

namespace cria {

Session::Session(const Model& model, const SessionOptions& options)
    : model_(model),
      context_length_(options.context_length > 0 ? options.context_length : model.config().context_length),
      max_batch_(options.max_batch > 0 ? options.max_batch : kDefaultMaxBatch),
      n_threads_(options.n_threads) {
  if (!model.runnable())
    throw Error(ErrorCode::Unsupported,
                model.path() + ": the model was loaded for inspection and has weight types cria cannot run");
  if (options.context_length < 0)
    throw Error(ErrorCode::InvalidArgument, "context_length must not be negative");
  if (options.n_threads < 0 || options.n_threads > 1024)
    throw Error(ErrorCode::InvalidArgument,
                "n_threads " + std::to_string(options.n_threads) + " is outside [0, 1024]");
  if (context_length_ > (int64_t{1} << 24))
    throw Error(ErrorCode::InvalidArgument,
                "context_length " + std::to_string(context_length_) + " is too large");
  Backend& backend = model.backend();
  max_batch_ = std::min(max_batch_, context_length_);
  cache_ = backend.create_kv_cache(context_length_, options.kv_type);
  backend.reserve(max_batch_, context_length_, n_threads_);
  logits_.resize(static_cast<size_t>(model.config().vocab_size));
  new_decoder();
}

Session::~Session() = default;

int Session::n_threads() const { return model_.backend().threads(n_threads_); }

void Session::new_decoder() {
  decoder_.reset();
  if (model_.tokenizer()) decoder_.emplace(*model_.tokenizer());
}

void Session::eval(const int32_t* tokens, int64_t n, float* all_logits) {
  if (n <= 0) return;
  if (!tokens) throw Error(ErrorCode::InvalidArgument, "eval: tokens is null");
  Batch batch;
  batch.add(*this, tokens, n);
  batch.evaluate(all_logits);
}

std::string Session::accept(int32_t token) {
  Batch batch;
  std::string text = batch.accept(*this, token);
  batch.eval();
  return text;
}

std::string Session::peek_text(int32_t token, bool then_flush) const {
  if (!decoder_) return std::string();
  StreamDecoder next = *decoder_;
  std::string text = next.push(token);
  return then_flush ? text + next.finish() : text;
}

std::string Session::flush_text() { return decoder_ ? decoder_->finish() : std::string(); }

std::string Session::pending_text() const {
  if (!decoder_) return std::string();
  StreamDecoder copy = *decoder_;
  return copy.finish();
}

const std::vector<float>& Session::logits() const {
  if (!has_logits_) throw Error(ErrorCode::InvalidState, "no position has been evaluated yet");
  return logits_;
}

void Session::reset() {
  n_past_ = 0;
  has_logits_ = false;
  new_decoder();
}

}  // namespace cria
