#pragma once
// Matrix x matrix products for prompts (many positions at once), on BLAS-style libraries:
// oneDNN (f32, or bf16 with f32 accumulation) and OpenBLAS sgemm. Weights of other types are
// converted in chunks of rows into a scratch buffer right before use.
#include <cstdint>
#include <string>

#include "cpu/matrix.hpp"
#include "cpu/thread_pool.hpp"

namespace cria::cpu {

// How prompts multiply weights: Kernels uses cria's own kernels, the dot-product kernels of
// single tokens or, on CPUs with AMX, bf16 tiles from 24 positions (16 for F16/BF16; every
// type but F32); OneDnnF32 and OpenBlas compute in f32; OneDnnBf16 rounds weights and
// activations to bf16 and accumulates in f32 (twice the f32 speed, about 3 significant
// digits per operand). Auto picks per weight type and number of positions: the AMX tiles
// wherever they apply.
enum class GemmBackend { Auto, Kernels, OneDnnF32, OneDnnBf16, OpenBlas };
const char* gemm_backend_name(GemmBackend b);
// Parses "auto", "kernels", "onednn-f32", "onednn-bf16", "openblas"; throws InvalidArgument.
GemmBackend parse_gemm_backend(const std::string& name);
// Throws Unsupported when `b` is not built in or this CPU lacks it.
void check_gemm_backend(GemmBackend b);

// out[t][r] = dot(w.row(r), x[t]) for t < n_tokens, as cpu::matmul. Returns false (and does
// nothing) when `backend` does not apply, so the caller falls back to the dot kernels.
// `run` is the most positions of one sequence among the n_tokens: Auto decides by it, so
// that a position gets the same arithmetic whatever other sequences share its batch.
bool gemm(GemmBackend backend, const Matrix& w, const float* x, int64_t n_tokens, int64_t run,
          int64_t x_stride, float* out, int64_t out_stride, ThreadPool& pool);

// The backend Auto resolves to for a weight matrix and a run of positions of one sequence.
GemmBackend resolve_gemm_backend(GemmBackend requested, const Matrix& w, int64_t run);

}  // namespace cria::cpu
