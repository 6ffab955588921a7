// Saved sessions: a session's positions, cache, logits, decoder and sampler state as bytes.
//
// Format (little-endian), version 1:
//   "CRIASESS", u32 version, u64 model fingerprint, model name (u64 length + bytes),
//   i64 dim, n_layers, n_kv_heads, head_dim, vocab_size (for messages),
//   u8 KV type (0 F32, 1 F16), i64 n_past, n_past x i32 tokens,
//   u8 has_logits [+ vocab_size x f32 logits], decoder state (length + bytes),
//   sampler state (length + bytes, empty when none),
//   keys and values of positions 0 .. n_past-1 (Backend::read_kv's layout),
//   u64 checksum of every byte before it.
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "cria/engine/session.hpp"
#include "cria/error.hpp"
#include "cria/io/atomic_file.hpp"
#include "cria/io/bytes.hpp"
#include "cria/quant.hpp"
#include "cria/sampling/sampler.hpp"

namespace cria {

namespace {

constexpr char kMagic[8] = {'C', 'R', 'I', 'A', 'S', 'E', 'S', 'S'};
constexpr uint32_t kVersion = 1;

// A 64-bit hash of bytes, eight at a time (a multiply-xorshift mix): fast enough for a
// gigabyte of cache, and any changed byte changes it.
uint64_t hash_bytes(const void* data, size_t n, uint64_t h = 0x243f6a8885a308d3ull) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  auto mix = [&h](uint64_t w) {
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
  };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    mix(w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p + i, n - i);
  mix(tail ^ (static_cast<uint64_t>(n) << 56));
  return h;
}

// What identifies a model without reading its weights: its shape, the types and shapes of its
// tensors, its vocabulary and its norm weights (kept in the file's layout by every backend,
// and different between fine-tunes of one base model).
uint64_t model_fingerprint(const Model& model) {
  const LlamaConfig& c = model.config();
  std::string d;
  io::ByteWriter w(d);
  for (int64_t v : {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size}) w.i64(v);
  w.f32(c.rms_eps);
  w.f32(c.rope_base);
  for (const TensorDescription& t : model.tensors()) {
    w.bytes(t.name);
    w.bytes(t.type);
    for (int64_t s : t.shape) w.i64(s);
  }
  if (const Tokenizer* tok = model.tokenizer())
    for (int32_t id = 0; id < tok->n_vocab(); ++id) w.bytes(tok->piece(id));
  uint64_t h = hash_bytes(d.data(), d.size());
  auto add_norm = [&h](const TensorView& t) {
    if (!t.empty()) h = hash_bytes(t.data, t.row_bytes * static_cast<size_t>(t.rows), h);
  };
  const LlamaWeights& weights = model.weights();
  for (const LlamaLayerWeights& layer : weights.layers) {
    add_norm(layer.attn_norm);
    add_norm(layer.ffn_norm);
  }
  add_norm(weights.output_norm);
  return h;
}

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

size_t kv_bytes(const LlamaConfig& c, DType type, int64_t positions) {
  return static_cast<size_t>(2 * c.n_layers * positions * c.kv_dim()) * (type == DType::F16 ? 2 : 4);
}

}  // namespace

std::string Session::save_state(const Sampler* sampler) const {
  const LlamaConfig& c = model_.config();
  std::string out;
  io::ByteWriter w(out);
  w.raw(kMagic, sizeof kMagic);
  w.u32(kVersion);
  w.u64(model_fingerprint(model_));
  w.bytes(base_name(model_.path()));
  for (int64_t v : {c.dim, c.n_layers, c.n_kv_heads, c.head_dim(), c.vocab_size}) w.i64(v);
  w.u8(cache_->type() == DType::F16 ? 1 : 0);
  w.i64(n_past_);
  for (int32_t t : tokens_) w.i32(t);
  w.u8(has_logits_ ? 1 : 0);
  if (has_logits_) w.raw(logits_.data(), logits_.size() * sizeof(float));
  w.bytes(decoder_ ? decoder_->state() : std::string());
  w.bytes(sampler ? sampler->state() : std::string());
  const size_t kv_at = out.size();
  out.resize(kv_at + kv_bytes(c, cache_->type(), n_past_));
  if (n_past_ > 0) model_.backend().read_kv(*cache_, 0, n_past_, out.data() + kv_at);
  w.u64(hash_bytes(out.data(), out.size()));
  return out;
}

void Session::load_state(std::string_view state, Sampler* sampler) {
  const LlamaConfig& c = model_.config();
  const ErrorCode bad = ErrorCode::InvalidFile;
  if (state.size() < sizeof kMagic + 4 || std::memcmp(state.data(), kMagic, sizeof kMagic) != 0)
    throw Error(bad, "the bytes are not a saved cria session (no CRIASESS header)");
  io::ByteReader in(state, "saved session", bad);
  in.take(sizeof kMagic);
  const uint32_t version = in.u32();
  if (version != kVersion)
    throw Error(bad, "the saved session has format version " + std::to_string(version) + "; this cria reads version " +
                         std::to_string(kVersion));
  if (state.size() < in.offset() + 8) in.fail("it ends early");
  const uint64_t stored_sum = io::ByteReader(state.substr(state.size() - 8), "saved session").u64();
  // Fuzzing builds go past the checksum, which random mutations would never satisfy, so that
  // the fields behind it are tried too.
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  if (hash_bytes(state.data(), state.size() - 8) != stored_sum)
    throw Error(bad, "the saved session is corrupted or truncated (its checksum does not match)");
#else
  (void)stored_sum;
#endif

  const uint64_t fingerprint = in.u64();
  const std::string name(in.bytes());
  int64_t shape[5];
  for (int64_t& v : shape) v = in.i64();
  if (fingerprint != model_fingerprint(model_))
    throw Error(ErrorCode::InvalidArgument,
                "the saved session belongs to another model ('" + name + "', dim " + std::to_string(shape[0]) + ", " +
                    std::to_string(shape[1]) + " layers, vocabulary " + std::to_string(shape[4]) + ") than this one ('" +
                    base_name(model_.path()) + "', dim " + std::to_string(c.dim) + ", " + std::to_string(c.n_layers) +
                    " layers, vocabulary " + std::to_string(c.vocab_size) + ")");
  const DType kv_type = in.u8() == 1 ? DType::F16 : DType::F32;
  if (kv_type != cache_->type())
    throw Error(ErrorCode::InvalidArgument, std::string("the saved session's KV cache holds ") + dtype_name(kv_type) +
                                                ", this session's " + dtype_name(cache_->type()) + " (kv_type)");
  const int64_t n_past = in.i64();
  if (n_past < 0 || static_cast<uint64_t>(n_past) > in.remaining() / 4) in.fail("it holds fewer tokens than it counts");
  if (n_past > context_length_)
    throw Error(ErrorCode::InvalidArgument, "the saved session holds " + std::to_string(n_past) +
                                                " positions; this session's context_length is " +
                                                std::to_string(context_length_));
  std::vector<int32_t> tokens(static_cast<size_t>(n_past));
  for (int32_t& t : tokens) {
    t = in.i32();
    if (t < 0 || t >= c.vocab_size) in.fail("a token is outside the vocabulary");
  }
  const bool has_logits = in.u8() == 1;
  std::vector<float> logits;
  if (has_logits) {
    std::string_view raw = in.take(static_cast<size_t>(c.vocab_size) * sizeof(float));
    logits.resize(static_cast<size_t>(c.vocab_size));
    std::memcpy(logits.data(), raw.data(), raw.size());
  }
  const std::string_view decoder_state = in.bytes();
  const std::string_view sampler_state = in.bytes();
  const std::string_view kv = in.take(kv_bytes(c, kv_type, n_past));
  if (in.remaining() != 8) in.fail("it has bytes left over");
  if (!sampler_state.empty() && !sampler)
    throw Error(ErrorCode::InvalidArgument, "the saved session has a sampler state; pass a sampler to take it");

  // Everything that can refuse the state does so before anything changes.
  std::optional<StreamDecoder> decoder;
  if (decoder_) {
    decoder.emplace(*model_.tokenizer());
    decoder->set_state(decoder_state);
  }
  const std::string sampler_before = sampler ? sampler->state() : std::string();
  if (sampler && !sampler_state.empty()) sampler->set_state(sampler_state);
  try {
    if (n_past > 0) model_.backend().write_kv(*cache_, 0, n_past, kv.data());
  } catch (...) {
    if (sampler) sampler->set_state(sampler_before);
    throw;
  }
  n_past_ = n_past;
  tokens_ = std::move(tokens);
  has_logits_ = has_logits;
  if (has_logits) logits_ = std::move(logits);
  decoder_ = std::move(decoder);
}

void Session::save_state_file(const std::string& path, const Sampler* sampler) const {
  const std::string bytes = save_state(sampler);
  io::AtomicFileWriter file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

void Session::load_state_file(const std::string& path, Sampler* sampler) {
  const std::string bytes = io::read_whole_file(path);
  try {
    load_state(bytes, sampler);
  } catch (const Error& e) {
    throw Error(e.code(), path + ": " + e.what());
  }
}

}  // namespace cria
