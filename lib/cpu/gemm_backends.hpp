#pragma once
// The libraries behind the GEMM backends, each compiled in or out at build time
// (CRIA_ONEDNN, CRIA_OPENBLAS). Calls run single-threaded on the calling thread.
#include <cstdint>

namespace cria::cpu {

bool onednn_built();
// Whether oneDNN has a bf16 matmul for this CPU (false when oneDNN is not built).
bool onednn_bf16_available();
// dst[m x n] = src[m x k] * weights^T, weights stored as n rows of k; f32 or bf16 inputs, f32
// output. Throws cria::Error (Unsupported) when oneDNN is not built or has no such matmul.
void run_onednn(const void* src, int64_t m, int64_t src_stride, const void* weights, int64_t n,
                int64_t k, float* dst, int64_t dst_stride, bool bf16);

bool openblas_built();
// The same product in f32 with OpenBLAS's sgemm (Unsupported when OpenBLAS is not built).
void run_openblas(const float* src, int64_t m, int64_t src_stride, const float* weights, int64_t n,
                  int64_t k, float* dst, int64_t dst_stride);

}  // namespace cria::cpu
