#include "reference/backend.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "cria/error.hpp"
#include "cria/quant.hpp"

namespace cria::reference {

namespace {

// Keys and values as f32, [layer][position][kv_dim]; an F16 cache keeps each value rounded to
// fp16, as a cache of that type stores it.
class ReferenceKvCache final : public KvCache {
 public:
  ReferenceKvCache(const LlamaConfig& c, int64_t positions, DType type)
      : KvCache(positions, type),
        kv_dim(c.kv_dim()),
        layer_values(static_cast<size_t>(positions * c.kv_dim())),
        keys(static_cast<size_t>(c.n_layers) * layer_values),
        values(static_cast<size_t>(c.n_layers) * layer_values) {}
  float* key(int64_t layer, int64_t position) { return &keys[layer * layer_values + position * kv_dim]; }
  float* value(int64_t layer, int64_t position) { return &values[layer * layer_values + position * kv_dim]; }

  int64_t kv_dim;
  size_t layer_values;
  std::vector<float> keys, values;
};

float stored(DType type, float v) { return type == DType::F16 ? fp16_to_fp32(fp32_to_fp16(v)) : v; }

}  // namespace

class ReferencePass final : public Pass {
 public:
  ReferencePass(ReferenceBackend& backend, const BatchEntry* entries, int64_t n)
      : b_(backend), c_(backend.config_), hold_(backend.busy_), entries_(entries), n_(n) {
    for (int a = 0; a < kActivationCount; ++a)
      activations_[a].assign(static_cast<size_t>(n * activation_width(c_, static_cast<Activation>(a))), 0.0f);
  }

  void embed(Activation out) override {
    const TensorView& table = b_.weight({WeightKind::TokenEmbedding});
    for (int64_t t = 0; t < n_; ++t) dequantize_row(table.dtype, table.row(entries_[t].token), row(out, t), c_.dim);
  }

  void rmsnorm(Activation out, Activation in, WeightId weight) override {
    const float* w = static_cast<const float*>(b_.weight(weight).data);
    for (int64_t t = 0; t < n_; ++t) rmsnorm_row(row(out, t), row(in, t), w);
  }

  void matmul(Activation in, std::initializer_list<Projection> projections) override {
    for (const Projection& p : projections)
      multiply(b_.weight(p.weight), in, [&](int64_t t) { return row(p.out, t); });
  }

  void rope(Activation a, int64_t n_heads) override {
    const int64_t head_dim = c_.head_dim();
    for (int64_t t = 0; t < n_; ++t) {
      float* vec = row(a, t);
      for (int64_t h = 0; h < n_heads; ++h)
        for (int64_t i = 0; i < head_dim; i += 2) {
          const float freq = 1.0f / std::pow(c_.rope_base, static_cast<float>(i) / static_cast<float>(head_dim));
          const float angle = static_cast<float>(entries_[t].position) * freq;
          const float cos = std::cos(angle), sin = std::sin(angle);
          float* v = vec + h * head_dim + i;
          const float v0 = v[0], v1 = v[1];
          v[0] = v0 * cos - v1 * sin;
          v[1] = v0 * sin + v1 * cos;
        }
    }
  }

  void store_kv(int64_t layer, Activation key, Activation value) override {
    for (int64_t t = 0; t < n_; ++t) {
      auto& cache = static_cast<ReferenceKvCache&>(*entries_[t].cache);
      float* k = cache.key(layer, entries_[t].position);
      float* v = cache.value(layer, entries_[t].position);
      for (int64_t i = 0; i < c_.kv_dim(); ++i) {
        k[i] = stored(cache.type(), row(key, t)[i]);
        v[i] = stored(cache.type(), row(value, t)[i]);
      }
    }
  }

  void attention(int64_t layer, Activation query, Activation out) override {
    const int64_t head_dim = c_.head_dim(), heads_per_kv = c_.n_heads / c_.n_kv_heads;
    for (int64_t t = 0; t < n_; ++t) {
      auto& cache = static_cast<ReferenceKvCache&>(*entries_[t].cache);
      const int64_t n_keys = entries_[t].position + 1;
      std::vector<float> scores(static_cast<size_t>(n_keys));
      for (int64_t h = 0; h < c_.n_heads; ++h) {
        const float* q = row(query, t) + h * head_dim;
        const int64_t kv_offset = (h / heads_per_kv) * head_dim;
        // Scores of every earlier position, softmax, then the weighted sum of the values.
        for (int64_t p = 0; p < n_keys; ++p) {
          const float* k = cache.key(layer, p) + kv_offset;
          float score = 0.0f;
          for (int64_t i = 0; i < head_dim; ++i) score += q[i] * k[i];
          scores[static_cast<size_t>(p)] = score / std::sqrt(static_cast<float>(head_dim));
        }
        softmax(scores.data(), n_keys);
        float* o = row(out, t) + h * head_dim;
        for (int64_t i = 0; i < head_dim; ++i) o[i] = 0.0f;
        for (int64_t p = 0; p < n_keys; ++p) {
          const float* v = cache.value(layer, p) + kv_offset;
          for (int64_t i = 0; i < head_dim; ++i) o[i] += scores[static_cast<size_t>(p)] * v[i];
        }
      }
    }
  }

  void add(Activation into, Activation from) override {
    std::vector<float>& x = activations_[static_cast<int>(into)];
    const std::vector<float>& y = activations_[static_cast<int>(from)];
    for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
  }

  void swiglu(Activation gate, Activation up) override {
    std::vector<float>& g = activations_[static_cast<int>(gate)];
    const std::vector<float>& u = activations_[static_cast<int>(up)];
    for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }

  void read(Activation a, float* out) override {
    const std::vector<float>& x = activations_[static_cast<int>(a)];
    std::copy(x.begin(), x.end(), out);
  }

  void write(Activation a, const float* in) override {
    std::vector<float>& x = activations_[static_cast<int>(a)];
    std::copy(in, in + x.size(), x.begin());
  }

  void logits(Activation in, float* out) override {
    const float* norm = static_cast<const float*>(b_.weight({WeightKind::OutputNorm}).data);
    std::vector<float*> out_rows(static_cast<size_t>(n_), nullptr);  // null: no logits wanted
    int64_t count = 0;
    for (int64_t t = 0; t < n_; ++t) {
      if (!entries_[t].wants_logits) continue;
      rmsnorm_row(row(Activation::Normed, t), row(in, t), norm);
      out_rows[static_cast<size_t>(t)] = out + count++ * c_.vocab_size;
    }
    multiply(b_.weight({WeightKind::Output}), Activation::Normed, [&](int64_t t) { return out_rows[static_cast<size_t>(t)]; });
  }

 private:
  float* row(Activation a, int64_t t) {
    return activations_[static_cast<int>(a)].data() + t * activation_width(c_, a);
  }

  void rmsnorm_row(float* out, const float* x, const float* weight) const {
    float ss = 0.0f;
    for (int64_t i = 0; i < c_.dim; ++i) ss += x[i] * x[i];
    const float scale = 1.0f / std::sqrt(ss / static_cast<float>(c_.dim) + c_.rms_eps);
    for (int64_t i = 0; i < c_.dim; ++i) out[i] = weight[i] * (scale * x[i]);
  }

  static void softmax(float* x, int64_t n) {
    float max = x[0];
    for (int64_t i = 1; i < n; ++i) max = std::fmax(max, x[i]);
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) sum += (x[i] = std::exp(x[i] - max));
    for (int64_t i = 0; i < n; ++i) x[i] /= sum;
  }

  // out_row(t)[r] = dot(row r of w, the input of entry t), for every entry whose out_row is
  // not null. Each weight row is decoded once for all entries.
  template <class OutRow>
  void multiply(const TensorView& w, Activation in, OutRow out_row) {
    std::vector<float> weight_row(static_cast<size_t>(w.cols));
    for (int64_t r = 0; r < w.rows; ++r) {
      dequantize_row(w.dtype, w.row(r), weight_row.data(), w.cols);
      for (int64_t t = 0; t < n_; ++t) {
        float* out = out_row(t);
        if (!out) continue;
        const float* x = row(in, t);
        float sum = 0.0f;
        for (int64_t i = 0; i < w.cols; ++i) sum += weight_row[static_cast<size_t>(i)] * x[i];
        out[r] = sum;
      }
    }
  }

  ReferenceBackend& b_;
  const LlamaConfig& c_;
  std::lock_guard<std::mutex> hold_;
  const BatchEntry* entries_;
  int64_t n_;
  std::vector<float> activations_[kActivationCount];
};

ReferenceBackend::ReferenceBackend(const BackendOptions& options) {
  if (options.device != 0)
    throw Error(ErrorCode::InvalidArgument,
                "device " + std::to_string(options.device) + ": the reference backend has one device, 0");
  if (options.gemm != "auto" && !options.gemm.empty())
    throw Error(ErrorCode::InvalidArgument,
                "gemm '" + options.gemm + "': the reference backend has no prompt GEMM choice (use \"auto\")");
}

void ReferenceBackend::place(const LlamaConfig& config, const LlamaWeights& weights, io::MappedFile*) {
  config_ = config;
  weights_ = weights;
  for (const TensorView* t : {&weights_.token_embd, &weights_.output}) {
    std::vector<float> probe(static_cast<size_t>(t->cols));
    dequantize_row(t->dtype, t->row(0), probe.data(), t->cols);  // throws for a type without a decoder
  }
}

std::unique_ptr<KvCache> ReferenceBackend::create_kv_cache(int64_t positions, DType type) {
  if (type != DType::F16 && type != DType::F32)
    throw Error(ErrorCode::InvalidArgument, std::string("the KV cache holds F16 or F32, not ") + dtype_name(type));
  return std::make_unique<ReferenceKvCache>(config_, positions, type);
}

void ReferenceBackend::read_kv(const KvCache& kv, int64_t first, int64_t n, void* out) {
  const auto& cache = static_cast<const ReferenceKvCache&>(kv);
  const size_t count = static_cast<size_t>(n * cache.kv_dim);
  for (int64_t l = 0; l < config_.n_layers; ++l)
    for (int side = 0; side < 2; ++side) {
      const float* from = (side == 0 ? cache.keys : cache.values).data() + l * cache.layer_values + first * cache.kv_dim;
      const size_t element = cache.type() == DType::F16 ? 2 : 4;
      uint8_t* to = static_cast<uint8_t*>(out) + static_cast<size_t>(2 * l + side) * count * element;
      for (size_t i = 0; i < count; ++i) {  // bytes: the host buffer need not be aligned
        if (cache.type() == DType::F16) {
          const uint16_t h = fp32_to_fp16(from[i]);
          std::memcpy(to + 2 * i, &h, 2);
        } else {
          std::memcpy(to + 4 * i, &from[i], 4);
        }
      }
    }
}

void ReferenceBackend::write_kv(KvCache& kv, int64_t first, int64_t n, const void* in) {
  auto& cache = static_cast<ReferenceKvCache&>(kv);
  const size_t count = static_cast<size_t>(n * cache.kv_dim);
  const size_t element = cache.type() == DType::F16 ? 2 : 4;
  for (int64_t l = 0; l < config_.n_layers; ++l)
    for (int side = 0; side < 2; ++side) {
      float* to = (side == 0 ? cache.keys : cache.values).data() + l * cache.layer_values + first * cache.kv_dim;
      const uint8_t* from = static_cast<const uint8_t*>(in) + static_cast<size_t>(2 * l + side) * count * element;
      for (size_t i = 0; i < count; ++i) {  // bytes: the host buffer need not be aligned
        if (cache.type() == DType::F16) {
          uint16_t h;
          std::memcpy(&h, from + 2 * i, 2);
          to[i] = fp16_to_fp32(h);
        } else {
          std::memcpy(&to[i], from + 4 * i, 4);
        }
      }
    }
}

std::unique_ptr<Pass> ReferenceBackend::begin_pass(const BatchEntry* entries, int64_t n, int) {
  return std::make_unique<ReferencePass>(*this, entries, n);
}

const TensorView& ReferenceBackend::weight(WeightId id) const {
  if (id.layer < 0) {
    switch (id.kind) {
      case WeightKind::TokenEmbedding: return weights_.token_embd;
      case WeightKind::OutputNorm: return weights_.output_norm;
      case WeightKind::Output: return weights_.output;
      default: break;
    }
    throw Error(ErrorCode::InvalidArgument, "a layer's weight without its layer");
  }
  const LlamaLayerWeights& l = weights_.layers.at(static_cast<size_t>(id.layer));
  switch (id.kind) {
    case WeightKind::AttentionNorm: return l.attn_norm;
    case WeightKind::Query: return l.wq;
    case WeightKind::Key: return l.wk;
    case WeightKind::Value: return l.wv;
    case WeightKind::AttentionOutput: return l.wo;
    case WeightKind::FfnNorm: return l.ffn_norm;
    case WeightKind::Gate: return l.w_gate;
    case WeightKind::Up: return l.w_up;
    case WeightKind::Down: return l.w_down;
    default: throw Error(ErrorCode::InvalidArgument, "the weight is not a layer's");
  }
}

}  // namespace cria::reference
