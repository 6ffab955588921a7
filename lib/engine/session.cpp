// A session: one sequence's cache, logits and text decoder over a shared model.
#include "cria/engine/session.hpp"
#include "cria/sampling/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "cria/engine/batch.hpp"
#include "cria/error.hpp"
#include "cria/quant.hpp"

namespace cria {

Session::Session(const Model& model, const SessionOptions& options)
    : model_(model),
      context_length_(options.context_length > 0 ? options.context_length : model.config().context_length),
      max_batch_(options.max_batch > 0 ? options.max_batch : kDefaultMaxBatch),
      n_threads_(options.n_threads),
      when_full_(options.when_full),
      shift_keep_(options.shift_keep) {
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
  if (options.shift_keep < 0 || (options.when_full == ContextPolicy::Shift && options.shift_keep >= context_length_ - 1))
    throw Error(ErrorCode::InvalidArgument, "shift_keep " + std::to_string(options.shift_keep) +
                                                " must be >= 0 and leave at least 2 of the context's " +
                                                std::to_string(context_length_) + " positions to shift");
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

const std::vector<float>& Session::logits_for_sampling() const {
  const std::vector<float>& l = logits();
  const int64_t bad = first_non_finite_logit(l.data(), static_cast<int64_t>(l.size()));
  if (bad >= 0)
    throw Error(ErrorCode::InvalidFile,
                model_.path() + ": the model produced non-finite logits (" +
                    (std::isnan(l[bad]) ? "nan" : "inf") + " for token " + std::to_string(bad) +
                    " at position " + std::to_string(n_past_ - 1) +
                    "): its weights hold NaN or infinite values, or its activations overflow");
  return l;
}

void Session::reset() {
  n_past_ = 0;
  tokens_.clear();
  has_logits_ = false;
  new_decoder();
}

void Session::truncate(int64_t n_keep) {
  if (n_keep < 0 || n_keep > n_past_)
    throw Error(ErrorCode::InvalidArgument, "truncate: n_keep " + std::to_string(n_keep) + " is outside [0, " +
                                                std::to_string(n_past_) + "] (the positions the session holds)");
  if (n_keep == n_past_) return;
  n_past_ = n_keep;
  tokens_.resize(static_cast<size_t>(n_keep));
  has_logits_ = false;
  resync_decoder();
}

void Session::resync_decoder() {
  new_decoder();
  if (decoder_)
    for (int32_t token : tokens_) decoder_->push(token);
}

namespace {

// Rotates each head's adjacent pairs of `row` (kv_dim values) by `delta` positions, as the
// forward pass's RoPE rotates them by a position.
void rotate_key(const LlamaConfig& c, float* row, int64_t delta) {
  const int64_t head_dim = c.head_dim();
  for (int64_t i = 0; i < head_dim; i += 2) {
    const double freq = 1.0 / std::pow(static_cast<double>(c.rope_base), static_cast<double>(i) / head_dim);
    const double angle = static_cast<double>(delta) * freq;
    const float cos = static_cast<float>(std::cos(angle)), sin = static_cast<float>(std::sin(angle));
    for (int64_t h = 0; h < c.n_kv_heads; ++h) {
      float* v = row + h * head_dim + i;
      const float v0 = v[0], v1 = v[1];
      v[0] = v0 * cos - v1 * sin;
      v[1] = v0 * sin + v1 * cos;
    }
  }
}

}  // namespace

void Session::shift(int64_t n_keep, int64_t n_discard) {
  if (n_keep < 0 || n_discard < 0 || n_keep + n_discard > n_past_)
    throw Error(ErrorCode::InvalidArgument, "shift: n_keep " + std::to_string(n_keep) + " + n_discard " +
                                                std::to_string(n_discard) + " is more than the " +
                                                std::to_string(n_past_) + " positions the session holds");
  if (n_discard == 0) return;
  const LlamaConfig& c = model_.config();
  Backend& backend = model_.backend();
  const bool f16 = cache_->type() == DType::F16;
  const size_t row = static_cast<size_t>(c.kv_dim());
  const size_t element = f16 ? 2 : 4;
  // In chunks of positions, in order: each lands below where it came from.
  const int64_t chunk = 64;
  std::vector<uint8_t> kv;
  std::vector<float> key(row);
  for (int64_t from = n_keep + n_discard; from < n_past_; from += chunk) {
    const int64_t n = std::min(chunk, n_past_ - from);
    kv.resize(static_cast<size_t>(2 * c.n_layers * n) * row * element);
    backend.read_kv(*cache_, from, n, kv.data());
    for (int64_t l = 0; l < c.n_layers; ++l)
      for (int64_t p = 0; p < n; ++p) {
        uint8_t* at = kv.data() + (static_cast<size_t>(2 * l * n + p) * row) * element;  // keys of layer l
        if (f16) {
          uint16_t* h = reinterpret_cast<uint16_t*>(at);
          for (size_t i = 0; i < row; ++i) key[i] = fp16_to_fp32(h[i]);
          rotate_key(c, key.data(), -n_discard);
          for (size_t i = 0; i < row; ++i) h[i] = fp32_to_fp16(key[i]);
        } else {
          rotate_key(c, reinterpret_cast<float*>(at), -n_discard);
        }
      }
    backend.write_kv(*cache_, from - n_discard, n, kv.data());
  }
  tokens_.erase(tokens_.begin() + n_keep, tokens_.begin() + n_keep + n_discard);
  n_past_ -= n_discard;
}

int64_t Session::room() const {
  int64_t free = context_length_ - n_past_;
  if (when_full_ == ContextPolicy::Shift && n_past_ > shift_keep_) free += (n_past_ - shift_keep_) / 2;
  return free;
}

void Session::make_room(int64_t n) {
  if (when_full_ != ContextPolicy::Shift || n <= context_length_ - n_past_ || n_past_ <= shift_keep_) return;
  // The oldest half of what a shift may drop, or more when `n` needs it.
  const int64_t movable = n_past_ - shift_keep_;
  const int64_t discard = std::max((movable + 1) / 2, n - (context_length_ - n_past_));
  if (discard <= movable) shift(shift_keep_, discard);
}

}  // namespace cria
