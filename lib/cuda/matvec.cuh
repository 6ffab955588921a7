#pragma once
// The matrix-vector kernel for generation, one instantiation per weight decoder: a warp per
// weight row, its lanes on consecutive units (coalesced reads, each weight byte read once),
// the decoded values applied to every entry's input, then a warp reduction.
#include "cuda/check.hpp"
#include "cuda/decode.cuh"
#include "cuda/kernels.hpp"

namespace cria::cuda {

constexpr int kMatvecWarps = 4;  // rows per block of 128 threads

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <class U>
__global__ void __launch_bounds__(32 * kMatvecWarps)
    matvec_kernel(const uint8_t* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
                  float* y, int64_t y_stride, int n) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kMatvecWarps + threadIdx.x / 32;
  if (row >= rows) return;
  const uint8_t* r = w + row * row_bytes;
  const int64_t units = cols / U::kValues;
  float acc[kMatvecEntries] = {};
  for (int64_t u = lane; u < units; u += 32) {
    float v[U::kValues];
    U::decode(r, u, v);
#pragma unroll
    for (int e = 0; e < kMatvecEntries; ++e) {
      if (e >= n) break;
      const float* xe = x + e * x_stride + u * U::kValues;
      float s = 0.0f;
      if constexpr (U::kValues % 4 == 0) {  // the host checks that rows of x are 16-byte aligned
#pragma unroll
        for (int i = 0; i < U::kValues / 4; ++i) {
          const float4 f = reinterpret_cast<const float4*>(xe)[i];
          s += v[4 * i] * f.x + v[4 * i + 1] * f.y + v[4 * i + 2] * f.z + v[4 * i + 3] * f.w;
        }
      } else {
#pragma unroll
        for (int i = 0; i < U::kValues; ++i) s += v[i] * xe[i];
      }
      acc[e] += s;
    }
  }
#pragma unroll
  for (int e = 0; e < kMatvecEntries; ++e) {
    if (e >= n) break;
    const float total = warp_sum(acc[e]);
    if (lane == 0) y[e * y_stride + row] = total;
  }
}

template <class U>
void launch_matvec(const Matrix& w, const float* x, int64_t x_stride, float* y, int64_t y_stride, int n,
                   cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>((w.rows + kMatvecWarps - 1) / kMatvecWarps);
  matvec_kernel<U><<<blocks, 32 * kMatvecWarps, 0, stream>>>(static_cast<const uint8_t*>(w.data), w.row_bytes, w.rows,
                                                              w.cols, x, x_stride, y, y_stride, n);
  check_launch("the matrix-vector kernel");
}

// The K-quant instantiations, compiled in their own file (kernels_matvec_kquant.cu).
void matvec_kquant(const Matrix& w, const float* x, int64_t x_stride, float* y, int64_t y_stride, int n,
                   cudaStream_t stream);

}  // namespace cria::cuda
