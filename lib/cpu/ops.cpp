#include "cpu/ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include <string>

#include "cpu/kernels.hpp"
#include "cpu/packed.hpp"
#include "cria/error.hpp"
#include "cria/quant.hpp"

namespace cria::cpu {

float dot_f32(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k] * b[i + k];
  for (int k = 0; i < n; ++i, ++k) acc[k] += a[i] * b[i];
  // Pairwise reduction of the partial sums.
  for (int width = 8; width > 0; width /= 2)
    for (int k = 0; k < width; ++k) acc[k] += acc[k + width];
  return acc[0];
}

namespace {

// Rows per work item for grouped weights: a split that does not depend on the thread count.
constexpr int64_t kGroupedRowsPerItem = 16;
// Positions from which rows in the file's layout are regrouped per work item (matmul_grouped).
constexpr int64_t kRegroupPositions = 4;
// Fewest positions for which the AMX kernel beats the dot kernels: it decodes every weight
// once per call, a fixed cost that few positions do not repay. F16 and BF16 from 16, and
// types without a SIMD row decoder from 32: the counts from which the GEMM backends (which
// decode rows the same way) take those types otherwise (gemm.cpp).
constexpr int64_t kAmxMinTokens = 24;
constexpr int64_t kAmxMinTokensF16 = 16;
constexpr int64_t kAmxMinTokensSlowDecode = 32;
constexpr int64_t kAmxRowsPerItem = kAmxPanelRows;

// Prompts split their work items into ranges taken in turn, shrinking as the items run out
// (parallel_for_guided). The cores of a shared machine do not run at one speed, so with one
// fixed range each the faster thread would wait for the slower; ranges taken in turn let it
// do more of the work, and shrinking them leaves little of a last range to wait on.
// Which thread computes a row does not change its result.
void split_prompt(ThreadPool& pool, int64_t items, const std::function<void(int64_t, int64_t, int)>& fn) {
  pool.parallel_for_guided(items, 1, fn);
}

// Prompts on AMX: activations converted to bf16 tiles once, rows decoded per work item.
void matmul_amx(const Matrix& w, MatmulInput& x, float* out, int64_t out_stride, ThreadPool& pool) {
  const uint16_t* act_tiles = x.amx_tiles(pool);
  // Ranges of rows taken in turn (split_prompt); within one, each panel prefetches the next
  // one's rows.
  const int64_t items = (w.rows + kAmxRowsPerItem - 1) / kAmxRowsPerItem;
  split_prompt(pool, items, [&](int64_t begin, int64_t end, int) {
    const int64_t r0 = begin * kAmxRowsPerItem;
    const int64_t rows = std::min(end * kAmxRowsPerItem, w.rows) - r0;
    amx_gemm(w.dtype, w.layout, w.row(r0), w.row_bytes, rows, act_tiles, x.n_tokens(), w.cols, out + r0, out_stride);
  });
}

void matmul_grouped(const Matrix& w, GroupedGemmFn gemm, MatmulInput& x, float* out, int64_t out_stride,
                    ThreadPool& pool) {
  const size_t act_bytes = grouped_activation_bytes(w.dtype, w.cols);
  const uint8_t* act = x.grouped(w.dtype, pool);
  const int64_t n_tokens = x.n_tokens();
  const int64_t items = (w.rows + kGroupedRowsPerItem - 1) / kGroupedRowsPerItem;
  // The kernels prefetch the rows that follow, which helps only the thread that goes on to
  // them. Generating, each thread goes through its own range in order and then takes the
  // last items of the other's (parallel_for_stealing), so that a faster thread helps without
  // breaking either thread's order, as ranges taken in turn would. Prompts: split_prompt's
  // ranges taken in turn.
  // Rows in the file's layout that several positions share are regrouped first, item by item,
  // into a buffer of the thread's (the same bytes as a regrouped copy, so the same results):
  // the plain kernel's rearranging of every block for every tile of positions costs more.
  const Kernels& k = active_kernels();
  const bool regroup_items = w.layout == RowLayout::Plain && n_tokens >= kRegroupPositions;
  auto run = [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<uint8_t> regrouped;
    for (int64_t i = begin; i < end; ++i) {
      const int64_t r0 = i * kGroupedRowsPerItem;
      const int64_t rows = std::min(kGroupedRowsPerItem, w.rows - r0);
      if (regroup_items) {
        if (regrouped.size() < static_cast<size_t>(rows) * w.row_bytes) regrouped.resize(kGroupedRowsPerItem * w.row_bytes);
        for (int64_t r = 0; r < rows; ++r) group_row(w.dtype, w.row(r0 + r), &regrouped[r * w.row_bytes], w.cols);
        k.grouped_gemm[static_cast<int>(w.dtype)](regrouped.data(), w.row_bytes, rows, act, act_bytes, n_tokens, w.cols,
                                                  out + r0, out_stride);
        continue;
      }
      gemm(w.row(r0), w.row_bytes, rows, act, act_bytes, n_tokens, w.cols, out + r0, out_stride);
    }
  };
  if (n_tokens == 1) pool.parallel_for_stealing(items, 1, run);
  else split_prompt(pool, items, run);
}

}  // namespace

void MatmulInput::reset(const float* x, int64_t n_tokens, int64_t x_stride, int64_t cols, int64_t run) {
  x_ = x;
  run_ = run;
  n_tokens_ = n_tokens;
  x_stride_ = x_stride;
  cols_ = cols;
  for (Converted& c : converted_) c.ready = false;
}

// Every format starts on a 64-byte boundary: for the grouped kernels (act_bytes a multiple of
// 64) no activation load then spans two cache lines, which would slow them, and for AMX a
// tile row is one line.
uint8_t* MatmulInput::room(Format format, size_t bytes) {
  std::vector<uint8_t>& buffer = converted_[format].buffer;
  if (buffer.size() < bytes + 63) buffer.resize(bytes + 63);
  uint8_t* data = buffer.data() + (-reinterpret_cast<uintptr_t>(buffer.data()) & 63);
  converted_[format].data = data;
  return data;
}

const uint16_t* MatmulInput::amx_tiles(ThreadPool& pool) {
  Converted& c = converted_[kAmx];
  if (c.ready) return reinterpret_cast<const uint16_t*>(c.data);
  uint16_t* const tiles = reinterpret_cast<uint16_t*>(room(kAmx, amx_activation_values(n_tokens_, cols_) * sizeof(uint16_t)));
  // Blocks of 32 values are converted independently.
  pool.parallel_for(cols_ / 32, [&](int64_t begin, int64_t end, int) {
    amx_prepare_activations(x_, x_stride_, n_tokens_, cols_, tiles, begin, end);
  });
  c.ready = true;
  return tiles;
}

const uint8_t* MatmulInput::by_position(Format format, DType t, size_t act_bytes, ConvertPosition convert,
                                        ThreadPool& pool) {
  Converted& c = converted_[format];
  if (c.ready) return c.data;
  uint8_t* act = room(format, act_bytes * n_tokens_);
  const Kernels& k = active_kernels();
  pool.parallel_for(n_tokens_, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) convert(k, t, x_ + i * x_stride_, act + i * act_bytes, cols_);
  });
  c.ready = true;
  return act;
}

const uint8_t* MatmulInput::grouped(DType t, ThreadPool& pool) {
  return by_position(t == DType::Q6_K ? kGroupedQ6K : kGrouped, t, grouped_activation_bytes(t, cols_),
                     quantize_grouped_activations, pool);
}

const uint8_t* MatmulInput::rows(DType t, ThreadPool& pool) {
  const ActFormat format = activation_format(t);
  return by_position(format == ActFormat::F32 ? kRowsF32 : format == ActFormat::Q8 ? kRowsQ8 : kRowsQ8K, t,
                     activation_row_bytes(t, cols_), quantize_activations, pool);
}

GroupedGemmFn grouped_gemm_for(const Matrix& w) {
  const Kernels& k = active_kernels();
  const int t = static_cast<int>(w.dtype);
  if (w.layout == RowLayout::Grouped16) return k.grouped_gemm[t];
  return k.plain_gemm[t] && groupable(w.dtype, w.cols) ? k.plain_gemm[t] : nullptr;
}

bool amx_applies(const Matrix& w, int64_t run) {
  const bool simd_decode = w.layout == RowLayout::Grouped16 || active_kernels().dequantize[static_cast<int>(w.dtype)];
  const int64_t min_tokens = w.dtype == DType::F16 || w.dtype == DType::BF16 ? kAmxMinTokensF16
                             : simd_decode                                   ? kAmxMinTokens
                                                                             : kAmxMinTokensSlowDecode;
  return run >= min_tokens && amx_supports(w.dtype, w.layout, w.cols) && amx_active();
}

void matmul(const Matrix& w, MatmulInput& x, float* out, int64_t out_stride, ThreadPool& pool) {
  if (x.cols() != w.cols)
    throw Error(ErrorCode::InvalidArgument, "matmul: the input has " + std::to_string(x.cols()) +
                                                " values per position, the weight " + std::to_string(w.cols));
  const int64_t n_tokens = x.n_tokens();
  if (amx_applies(w, x.run())) {
    matmul_amx(w, x, out, out_stride, pool);
    return;
  }
  if (const GroupedGemmFn gemm = grouped_gemm_for(w)) {
    matmul_grouped(w, gemm, x, out, out_stride, pool);
    return;
  }
  if (w.layout == RowLayout::Grouped16)
    throw Error(ErrorCode::Unsupported, std::string("no grouped kernel for ") + dtype_name(w.dtype));
  const Kernels& k = active_kernels();
  const DotFn dot = k.dot[static_cast<int>(w.dtype)];
  if (!dot) throw Error(ErrorCode::Unsupported, std::string("no kernel for weight type ") + dtype_name(w.dtype));
  const int64_t cols = w.cols;
  const size_t act_bytes = activation_row_bytes(w.dtype, cols);
  const uint8_t* act = x.rows(w.dtype, pool);
  // Work goes out in groups of four rows (a split that does not depend on the thread count);
  // full groups use the four-row kernel where the type has one (for all positions at once
  // where it has that).
  const Dot4Fn dot4 = k.dot4[static_cast<int>(w.dtype)];
  const Dot4TokensFn dot4_tokens = k.dot4_tokens[static_cast<int>(w.dtype)];
  const int64_t groups = (w.rows + 3) / 4;
  // Each thread goes through its rows in order, as the grouped kernels do (matmul_grouped).
  pool.parallel_for_stealing(groups, 4, [&](int64_t begin, int64_t end, int) {
    float four[4];
    for (int64_t g = begin; g < end; ++g) {
      const int64_t r0 = 4 * g;
      if (dot4_tokens && r0 + 4 <= w.rows) {
        dot4_tokens(w.row(r0), w.row_bytes, act, act_bytes, n_tokens, cols, out + r0, out_stride);
        continue;
      }
      if (dot4 && r0 + 4 <= w.rows) {
        for (int64_t t = 0; t < n_tokens; ++t) {
          dot4(w.row(r0), w.row_bytes, act + t * act_bytes, cols, four);
          for (int i = 0; i < 4; ++i) out[t * out_stride + r0 + i] = four[i];
        }
        continue;
      }
      for (int64_t r = r0; r < std::min(r0 + 4, w.rows); ++r) {
        const uint8_t* row = w.row(r);
        for (int64_t t = 0; t < n_tokens; ++t) out[t * out_stride + r] = dot(row, act + t * act_bytes, cols);
      }
    }
  });
}

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  float ss = dot_f32(x, x, n);
  float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (scale * x[i]);
}

void softmax(float* x, int64_t n) {
  if (const auto simd = active_kernels().softmax) return simd(x, n);
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = std::fmax(max, x[i]);
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  for (int64_t i = 0; i < n; ++i) x[i] /= sum;
}

void swiglu(float* gate, const float* up, int64_t n) {
  if (const auto simd = active_kernels().swiglu) return simd(gate, up, n);
  for (int64_t i = 0; i < n; ++i) {
    float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void attend(DType kv_type, const float* q, int64_t q_stride, int n_queries, int64_t first_keys,
            const uint8_t* keys, const uint8_t* values, int64_t head_dim, float scale, float* scores,
            int64_t scores_stride, float* out, int64_t out_stride) {
  const Kernels& k = active_kernels();
  const bool f16 = kv_type == DType::F16;
  if (f16 && k.attention_scores_f16) {
    const auto* key_rows = reinterpret_cast<const uint16_t*>(keys);
    const auto* value_rows = reinterpret_cast<const uint16_t*>(values);
    k.attention_scores_f16(q, q_stride, n_queries, first_keys, key_rows, head_dim, head_dim, scale, scores,
                           scores_stride);
    for (int i = 0; i < n_queries; ++i) softmax(scores + i * scores_stride, first_keys + i);
    k.attention_values_f16(scores, scores_stride, n_queries, first_keys, value_rows, head_dim, head_dim, out,
                           out_stride);
    return;
  }
  const size_t row_bytes = static_cast<size_t>(head_dim) * (f16 ? 2 : 4);
  const DotFn dot = k.dot[static_cast<int>(kv_type)];
  for (int i = 0; i < n_queries; ++i) {
    const int64_t n_keys = first_keys + i;
    float* att = scores + i * scores_stride;
    for (int64_t j = 0; j < n_keys; ++j) att[j] = dot(keys + j * row_bytes, q + i * q_stride, head_dim) * scale;
    softmax(att, n_keys);
    float* o = out + i * out_stride;
    std::fill_n(o, head_dim, 0.0f);
    for (int64_t j = 0; j < n_keys; ++j) {
      const uint8_t* v = values + j * row_bytes;
      if (f16) k.axpy_f16(att[j], reinterpret_cast<const uint16_t*>(v), o, head_dim);
      else k.axpy_f32(att[j], reinterpret_cast<const float*>(v), o, head_dim);
    }
  }
}

void rope(float* vec, int64_t n_heads, int64_t head_dim, int64_t pos, float base) {
  for (int64_t i = 0; i < head_dim; i += 2) {
    float freq = 1.0f / std::pow(base, static_cast<float>(i) / static_cast<float>(head_dim));
    float angle = static_cast<float>(pos) * freq;
    float c = std::cos(angle), s = std::sin(angle);
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = vec + h * head_dim + i;
      float v0 = v[0], v1 = v[1];
      v[0] = v0 * c - v1 * s;
      v[1] = v0 * s + v1 * c;
    }
  }
}

}  // namespace cria::cpu
