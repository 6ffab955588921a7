#pragma once
// Elementwise and row kernels of the forward pass. They see only arrays, never files.
#include <cstdint>

#include "cpu/thread_pool.hpp"
#include "cria/tensor.hpp"

namespace cria::cpu {

// Dot product with one fixed summation order (16 interleaved partial sums).
float dot_f32(const float* a, const float* b, int64_t n);

// out[t][r] = dot(w.row(r), x[t]) for t < n_tokens: x is [n_tokens][w.cols] with row stride
// x_stride, out is [n_tokens][w.rows] with row stride out_stride. Work is split across the
// pool by output rows, so the result does not depend on the number of threads.
// On CPUs with AMX, prompts (24 positions or more, F16 16) on the types amx_supports takes run on
// bf16 tiles: weights and activations rounded to bf16, products summed in f32.
void matmul(const TensorView& w, const float* x, int64_t n_tokens, int64_t x_stride, float* out,
            int64_t out_stride, ThreadPool& pool);
// Whether matmul runs on AMX tiles for this matrix and number of positions.
bool amx_applies(const TensorView& w, int64_t n_tokens);

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
