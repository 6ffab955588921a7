#pragma once
// Elementwise and row kernels of the forward pass. They see only arrays, never files.
#include <cstdint>
#include <vector>

#include "cpu/kernels.hpp"
#include "cpu/matrix.hpp"
#include "cpu/thread_pool.hpp"

namespace cria::cpu {

struct Kernels;

// Dot product with one fixed summation order (16 interleaved partial sums).
float dot_f32(const float* a, const float* b, int64_t n);

// The input of matmul: n_tokens rows of `cols` values, row stride x_stride. Each weight's
// kernel reads the activations in its own format (8-bit blocks, 8-bit lanes for grouped
// rows, bf16 tiles for AMX); they are converted on first use, split across the pool by
// position or block, and kept for the next weight that reads the same input in the same
// format: the query, key and value projections share one conversion, as do gate and up.
class MatmulInput {
 public:
  // Points at new values; earlier conversions are dropped (their memory is kept). `run` is
  // the most positions of one sequence among the n_tokens (see amx_applies).
  void reset(const float* x, int64_t n_tokens, int64_t x_stride, int64_t cols, int64_t run);
  const float* x() const { return x_; }
  int64_t n_tokens() const { return n_tokens_; }
  int64_t run() const { return run_; }
  int64_t x_stride() const { return x_stride_; }
  int64_t cols() const { return cols_; }
  // The activations as amx_gemm reads them, as the grouped kernels of type t read them
  // (grouped_activation_bytes apart), and as the dot kernels of type t read them
  // (activation_row_bytes apart).
  const uint16_t* amx_tiles(ThreadPool& pool);
  const uint8_t* grouped(DType t, ThreadPool& pool);
  const uint8_t* rows(DType t, ThreadPool& pool);

 private:
  struct Converted {
    bool ready = false;
    std::vector<uint8_t> buffer;
    uint8_t* data = nullptr;  // from the buffer's first 64-byte boundary
  };
  enum Format { kAmx, kGrouped, kGroupedQ6K, kRowsF32, kRowsQ8, kRowsQ8K, kFormats };
  // Room for `bytes` of `format` from a 64-byte boundary (also kept as its data).
  uint8_t* room(Format format, size_t bytes);
  // `format` made by convert() position by position (act_bytes each), across the pool.
  using ConvertPosition = void (*)(const Kernels& k, DType t, const float* x, void* y, int64_t cols);
  const uint8_t* by_position(Format format, DType t, size_t act_bytes, ConvertPosition convert, ThreadPool& pool);

  const float* x_ = nullptr;
  int64_t n_tokens_ = 0, x_stride_ = 0, cols_ = 0, run_ = 0;
  Converted converted_[kFormats];
};

// out[t][r] = dot(w.row(r), x[t]) for t < x.n_tokens(): x holds [n_tokens][w.cols] values with row
// stride x_stride, out is [n_tokens][w.rows] with row stride out_stride. Work is split across the
// pool by output rows, so the result does not depend on the number of threads.
// On CPUs with AMX, prompts (runs of 24 positions of one sequence or more, F16 16) on the types
// amx_supports takes run on bf16 tiles: weights and activations rounded to bf16, products
// summed in f32.
void matmul(const Matrix& w, MatmulInput& x, float* out, int64_t out_stride, ThreadPool& pool);
// Whether matmul runs on AMX tiles for this matrix and a run of `run` positions of one
// sequence. Decided by the run, not the batch, so that a position gets the same arithmetic
// alone as beside other sequences.
bool amx_applies(const Matrix& w, int64_t run);
// The kernel on grouped activations for w as placed: grouped_gemm for regrouped rows,
// plain_gemm for rows in the file's layout where the CPU has one (then both layouts give the
// same bits); null: the row kernels (dot, dot4) take w.
GroupedGemmFn grouped_gemm_for(const Matrix& w);

// out = x / sqrt(mean(x^2) + eps) * weight
void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps);
// In-place softmax over n values.
void softmax(float* x, int64_t n);
// gate[i] = silu(gate[i]) * up[i]
void swiglu(float* gate, const float* up, int64_t n);
// Causal attention of one head for positions t0 .. t0 + n_queries - 1 (n_queries at most
// kAttentionBlock): query i (at q + i * q_stride) sees cached positions 0 .. first_keys + i - 1
// of the head's keys and values (rows of head_dim elements of kv_type, one after another) and
// writes its output at out + i * out_stride. `scores` holds n_queries rows of scores_stride
// floats (at least first_keys + n_queries - 1). With the block kernels of attention.hpp where
// the CPU has them for this cache type, else key by key with the dot and axpy kernels; either
// way a position's result does not depend on the others in its block.
void attend(DType kv_type, const float* q, int64_t q_stride, int n_queries, int64_t first_keys,
            const uint8_t* keys, const uint8_t* values, int64_t head_dim, float scale, float* scores,
            int64_t scores_stride, float* out, int64_t out_stride);
// Rotates adjacent pairs (2i, 2i+1) of every head in vec by pos * base^(-2i/head_dim).
void rope(float* vec, int64_t n_heads, int64_t head_dim, int64_t pos, float base);

}  // namespace cria::cpu
