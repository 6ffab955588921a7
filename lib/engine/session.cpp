// The Llama forward pass over a batch of positions, top to bottom.
#include "cria/engine/session.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <thread>

#include "cpu/gemm.hpp"
#include "cpu/kernels.hpp"
#include "cpu/ops.hpp"
#include "cpu/thread_pool.hpp"
#include "cria/error.hpp"
#include "cria/quant.hpp"

namespace cria {

namespace {

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

std::unique_ptr<uint8_t[]> allocate(uint64_t bytes, const char* what) {
  try {
    return std::unique_ptr<uint8_t[]>(new uint8_t[bytes]);  // not zeroed: pages stay untouched
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::OutOfMemory, std::string("cannot allocate the ") + what + " (" +
                                            std::to_string(bytes >> 20) + " MiB)");
  }
}

}  // namespace

Session::Session(const Model& model, const SessionOptions& options)
    : model_(model),
      context_length_(options.context_length > 0 ? options.context_length
                                                 : model.config().context_length),
      max_batch_(options.max_batch > 0 ? options.max_batch : kDefaultMaxBatch),
      gemm_(options.gemm),
      kv_type_(options.kv_type) {
  const LlamaConfig& c = model.config();
  if (!model.runnable())
    throw Error(ErrorCode::Unsupported,
                model.path() + ": the model was loaded for inspection and has weight types "
                               "cria cannot run");
  if (options.context_length < 0)
    throw Error(ErrorCode::InvalidArgument, "context length must not be negative");
  if (kv_type_ != DType::F16 && kv_type_ != DType::F32)
    throw Error(ErrorCode::InvalidArgument, std::string("the KV cache holds F16 or F32, not ") +
                                                dtype_name(kv_type_));
  if (options.n_threads < 0 || options.n_threads > 1024)
    throw Error(ErrorCode::InvalidArgument,
                "thread count " + std::to_string(options.n_threads) + " is outside [0, 1024]");
  if (context_length_ > (int64_t{1} << 24))
    throw Error(ErrorCode::InvalidArgument,
                "context length " + std::to_string(context_length_) + " is too large");
  max_batch_ = std::min(max_batch_, context_length_);
  matmul_input_ = std::make_unique<cpu::MatmulInput>();
  pool_ = std::make_unique<cpu::ThreadPool>(options.n_threads > 0 ? options.n_threads
                                                                  : default_threads());

  uint64_t cache_floats = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(c.n_layers * c.kv_dim()),
                             static_cast<uint64_t>(context_length_), &cache_floats) ||
      cache_floats > (uint64_t{1} << 40))
    throw Error(ErrorCode::OutOfMemory, "the KV cache for " + std::to_string(context_length_) +
                                            " positions is too large");
  const uint64_t element = kv_type_ == DType::F16 ? 2 : 4;
  key_cache_ = allocate(cache_floats * element, "key cache");
  value_cache_ = allocate(cache_floats * element, "value cache");

  const size_t batch = static_cast<size_t>(max_batch_);
  x_.resize(batch * c.dim);
  xb_.resize(batch * c.dim);
  q_.resize(batch * c.dim);
  k_.resize(batch * c.kv_dim());
  v_.resize(batch * c.kv_dim());
  attn_out_.resize(batch * c.dim);
  gate_.resize(batch * c.hidden_dim);
  up_.resize(batch * c.hidden_dim);
  scores_.resize(static_cast<size_t>(pool_->size()) * cpu::kAttentionBlock * context_length_);
  logits_.resize(static_cast<size_t>(c.vocab_size));
}

Session::~Session() = default;

int Session::n_threads() const { return pool_->size(); }

void Session::eval(const int32_t* tokens, int64_t n, float* all_logits) {
  if (n <= 0) return;
  if (!tokens) throw Error(ErrorCode::InvalidArgument, "eval: tokens is null");
  const int64_t vocab = model_.config().vocab_size;
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      throw Error(ErrorCode::InvalidArgument, "token id " + std::to_string(tokens[i]) +
                                                  " is outside the vocabulary [0, " +
                                                  std::to_string(vocab) + ")");
  if (n > context_length_ - n_past_)
    throw Error(ErrorCode::ContextFull,
                "the context holds " + std::to_string(context_length_) + " positions; " +
                    std::to_string(n_past_) + " are used and " + std::to_string(n) +
                    " more were given");
  for (int64_t done = 0; done < n; done += max_batch_) {
    int64_t count = std::min(max_batch_, n - done);
    bool last_batch = done + count == n;
    if (all_logits) {
      forward_batch(tokens + done, count, all_logits + done * vocab, true);
      if (last_batch)
        std::copy(all_logits + (n - 1) * vocab, all_logits + n * vocab, logits_.begin());
    } else {
      // Only the final position's logits are needed: skip the classifier elsewhere.
      forward_batch(tokens + done, count, last_batch ? logits_.data() : nullptr, false);
    }
  }
}

// Prompts go to the GEMM backend when it applies; the rest to the kernels, which keep the
// input's converted activations for the next projection of the same input.
static void project(const TensorView& w, cpu::MatmulInput& x, float* out, int64_t out_stride,
                    GemmBackend backend, cpu::ThreadPool& pool) {
  if (!cpu::gemm(backend, w, x.x(), x.n_tokens(), x.x_stride(), out, out_stride, pool))
    cpu::matmul(w, x, out, out_stride, pool);
}

void Session::forward_batch(const int32_t* tokens, int64_t n, float* logits_out,
                            bool all_positions) {
  const LlamaConfig& c = model_.config();
  const LlamaWeights& w = model_.weights();
  const int64_t dim = c.dim, kv_dim = c.kv_dim(), hidden = c.hidden_dim;
  const int64_t head_dim = c.head_dim(), n_heads = c.n_heads;
  const int64_t heads_per_kv = c.n_heads / c.n_kv_heads;  // grouped-query attention
  const int64_t pos0 = n_past_;
  cpu::ThreadPool& pool = *pool_;
  cpu::MatmulInput& input = *matmul_input_;
  const cpu::Kernels& kernels = cpu::active_kernels();

  // The KV cache holds, per layer and KV head, one row of head_dim elements of kv_type_ per
  // position: a head's keys (and values) are contiguous, so attention streams them in order.
  const bool kv_f16 = kv_type_ == DType::F16;
  const size_t kv_element = kv_f16 ? 2 : 4;
  const size_t head_bytes = static_cast<size_t>(head_dim) * kv_element;
  const size_t kv_head_bytes = static_cast<size_t>(context_length_) * head_bytes;  // one head's rows
  const size_t kv_layer_bytes = static_cast<size_t>(c.n_kv_heads) * kv_head_bytes;
  // Stores a position's kv_dim values, head by head.
  auto store_kv = [&](const float* row, uint8_t* layer_cache, int64_t pos) {
    for (int64_t hk = 0; hk < c.n_kv_heads; ++hk) {
      uint8_t* dst = layer_cache + hk * kv_head_bytes + pos * head_bytes;
      if (kv_f16) kernels.f32_to_f16(row + hk * head_dim, reinterpret_cast<uint16_t*>(dst), head_dim);
      else std::memcpy(dst, row + hk * head_dim, head_bytes);
    }
  };

  // Token embeddings: one row each, decoded to f32.
  for (int64_t t = 0; t < n; ++t)
    dequantize_row(w.token_embd.dtype, w.token_embd.row(tokens[t]), &x_[t * dim], dim);

  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LlamaLayerWeights& layer = w.layers[static_cast<size_t>(l)];
    uint8_t* key_cache = key_cache_.get() + l * kv_layer_bytes;
    uint8_t* value_cache = value_cache_.get() + l * kv_layer_bytes;

    // Attention block: normalise, project to queries/keys/values, rotate, cache.
    for (int64_t t = 0; t < n; ++t)
      cpu::rmsnorm(&xb_[t * dim], &x_[t * dim], static_cast<const float*>(layer.attn_norm.data),
                   dim, c.rms_eps);
    input.reset(xb_.data(), n, dim, dim);
    project(layer.wq, input, q_.data(), dim, gemm_, pool);
    project(layer.wk, input, k_.data(), kv_dim, gemm_, pool);
    project(layer.wv, input, v_.data(), kv_dim, gemm_, pool);
    pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
      for (int64_t t = begin; t < end; ++t) {
        cpu::rope(&q_[t * dim], n_heads, head_dim, pos0 + t, c.rope_base);
        cpu::rope(&k_[t * kv_dim], c.n_kv_heads, head_dim, pos0 + t, c.rope_base);
        store_kv(&k_[t * kv_dim], key_cache, pos0 + t);
        store_kv(&v_[t * kv_dim], value_cache, pos0 + t);
      }
    });

    // Causal attention: position pos0+t attends to positions 0..pos0+t. One task per (head,
    // block of consecutive positions): the block shares each key and value it reads, and a
    // thread's next task reads the same head's rows again, from its cache. Each thread has
    // its own rows of attention weights.
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    const int64_t n_blocks = (n + cpu::kAttentionBlock - 1) / cpu::kAttentionBlock;
    pool.parallel_for(n_heads * n_blocks, [&](int64_t begin, int64_t end, int thread) {
      float* att = &scores_[static_cast<size_t>(thread) * cpu::kAttentionBlock * context_length_];
      for (int64_t task = begin; task < end; ++task) {
        const int64_t h = task / n_blocks, t0 = (task % n_blocks) * cpu::kAttentionBlock;
        const int n_queries = static_cast<int>(std::min<int64_t>(cpu::kAttentionBlock, n - t0));
        const size_t kv_head = static_cast<size_t>(h / heads_per_kv) * kv_head_bytes;
        cpu::attend(kv_type_, &q_[t0 * dim + h * head_dim], dim, n_queries, pos0 + t0 + 1, key_cache + kv_head,
                    value_cache + kv_head, head_dim, scale, att, context_length_,
                    &attn_out_[t0 * dim + h * head_dim], dim);
      }
    });

    // Output projection, added to the residual stream.
    input.reset(attn_out_.data(), n, dim, dim);
    project(layer.wo, input, xb_.data(), dim, gemm_, pool);
    for (int64_t i = 0; i < n * dim; ++i) x_[i] += xb_[i];

    // Feed-forward block: SwiGLU, w_down(silu(w_gate x) * w_up x).
    for (int64_t t = 0; t < n; ++t)
      cpu::rmsnorm(&xb_[t * dim], &x_[t * dim], static_cast<const float*>(layer.ffn_norm.data),
                   dim, c.rms_eps);
    input.reset(xb_.data(), n, dim, dim);
    project(layer.w_gate, input, gate_.data(), hidden, gemm_, pool);
    project(layer.w_up, input, up_.data(), hidden, gemm_, pool);
    pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {  // per position: any thread count
      for (int64_t t = begin; t < end; ++t) cpu::swiglu(&gate_[t * hidden], &up_[t * hidden], hidden);
    });
    input.reset(gate_.data(), n, hidden, hidden);
    project(layer.w_down, input, xb_.data(), dim, gemm_, pool);
    for (int64_t i = 0; i < n * dim; ++i) x_[i] += xb_[i];
  }
  n_past_ += n;

  if (!logits_out) return;
  // Final norm and classifier, for every position or only the last.
  const int64_t first = all_positions ? 0 : n - 1;
  const int64_t count = n - first;
  for (int64_t t = first; t < n; ++t)
    cpu::rmsnorm(&xb_[(t - first) * dim], &x_[t * dim],
                 static_cast<const float*>(w.output_norm.data), dim, c.rms_eps);
  input.reset(xb_.data(), count, dim, dim);
  project(w.output, input, logits_out, c.vocab_size, gemm_, pool);
}

}  // namespace cria
