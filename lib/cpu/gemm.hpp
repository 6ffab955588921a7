#pragma once
// Matrix x matrix products for prompts (many positions at once), on BLAS-style libraries:
// oneDNN (f32, or bf16 with f32 accumulation) and OpenBLAS sgemm. Weights of other types are
// converted in chunks of rows into a scratch buffer right before use.
#include <cstdint>

#include "cpu/thread_pool.hpp"
#include "cria/engine/session.hpp"
#include "cria/tensor.hpp"

namespace cria::cpu {

// out[t][r] = dot(w.row(r), x[t]) for t < n_tokens, as cpu::matmul. Returns false (and does
// nothing) when `backend` does not apply, so the caller falls back to the dot kernels.
bool gemm(GemmBackend backend, const TensorView& w, const float* x, int64_t n_tokens,
          int64_t x_stride, float* out, int64_t out_stride, ThreadPool& pool);

// The backend Auto resolves to for a weight matrix and a number of positions.
GemmBackend resolve_gemm_backend(GemmBackend requested, const TensorView& w, int64_t n_tokens);

}  // namespace cria::cpu
