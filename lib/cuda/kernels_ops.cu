// The element-wise and row-wise operations of a pass: RMSNorm (one kernel: the sum of
// squares and the scaling), RoPE, the residual add, SwiGLU, storing keys and values, and the
// read-bandwidth probe.
#include <cuda_fp16.h>

#include <algorithm>

#include "cuda/check.hpp"
#include "cuda/kernels.hpp"

namespace cria::cuda {

namespace {

constexpr int kNormThreads = 256;

unsigned grid_for(int64_t count, int threads) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((count + threads - 1) / threads, 65535)));
}

__global__ void __launch_bounds__(kNormThreads)
    rmsnorm_kernel(const float* in, const float* weight, float* out, int64_t dim, float eps, const int32_t* rows) {
  const int64_t i = blockIdx.x;
  const float* x = in + (rows ? rows[i] : i) * dim;
  float* y = out + i * dim;
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < dim; j += kNormThreads) ss += x[j] * x[j];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, offset);
  __shared__ float warp_sums[kNormThreads / 32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = ss;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kNormThreads / 32; ++w) total += warp_sums[w];
  const float scale = 1.0f / sqrtf(total / static_cast<float>(dim) + eps);
  for (int64_t j = threadIdx.x; j < dim; j += kNormThreads) y[j] = weight[j] * (scale * x[j]);
}

__global__ void rope_kernel(float* a, int64_t width, int64_t pairs, int64_t head_dim, float base,
                            const DeviceEntry* entries) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= pairs) return;
  const int64_t e = blockIdx.y;
  const int64_t half = head_dim / 2;
  const int64_t i = 2 * (p % half);
  const float freq = 1.0f / powf(base, static_cast<float>(i) / static_cast<float>(head_dim));
  const float angle = static_cast<float>(entries[e].position) * freq;
  float sin, cos;
  sincosf(angle, &sin, &cos);
  float* v = a + e * width + (p / half) * head_dim + i;
  const float v0 = v[0], v1 = v[1];
  v[0] = v0 * cos - v1 * sin;
  v[1] = v0 * sin + v1 * cos;
}

__global__ void add_kernel(float* into, const float* from, int64_t count) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    into[i] += from[i];
}

__global__ void swiglu_kernel(float* gate, const float* up, int64_t count) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    gate[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void store_kv_kernel(const float* keys, const float* values, int64_t kv_dim, int64_t layer,
                                const DeviceEntry* entries) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= kv_dim) return;
  const int64_t e = blockIdx.y;
  const DeviceEntry entry = entries[e];
  const int64_t at = (layer * entry.capacity + entry.position) * kv_dim + i;
  const float k = keys[e * kv_dim + i], v = values[e * kv_dim + i];
  if (entry.cache_f16) {
    static_cast<__half*>(entry.keys)[at] = __float2half_rn(k);
    static_cast<__half*>(entry.values)[at] = __float2half_rn(v);
  } else {
    static_cast<float*>(entry.keys)[at] = k;
    static_cast<float*>(entry.values)[at] = v;
  }
}

__global__ void read_probe_kernel(const uint4* data, size_t count, uint32_t* sink) {
  uint32_t acc = 0;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const uint4 v = data[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9e3779b9u) sink[blockIdx.x % 256] = acc;  // keeps the reads; almost never written
}

}  // namespace

void rmsnorm(const float* in, const float* weight, float* out, int64_t dim, float eps, const int32_t* rows, int n,
             cudaStream_t stream) {
  if (n <= 0) return;
  rmsnorm_kernel<<<static_cast<unsigned>(n), kNormThreads, 0, stream>>>(in, weight, out, dim, eps, rows);
  check_launch("the RMSNorm kernel");
}

void rope(float* a, int64_t width, int64_t n_heads, int64_t head_dim, float base, const DeviceEntry* entries, int n,
          cudaStream_t stream) {
  const int64_t pairs = n_heads * head_dim / 2;
  if (n <= 0 || pairs <= 0) return;
  rope_kernel<<<dim3(static_cast<unsigned>((pairs + 127) / 128), static_cast<unsigned>(n)), 128, 0, stream>>>(
      a, width, pairs, head_dim, base, entries);
  check_launch("the RoPE kernel");
}

void add(float* into, const float* from, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  add_kernel<<<grid_for(count, 256), 256, 0, stream>>>(into, from, count);
  check_launch("the add kernel");
}

void swiglu(float* gate, const float* up, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  swiglu_kernel<<<grid_for(count, 256), 256, 0, stream>>>(gate, up, count);
  check_launch("the SwiGLU kernel");
}

void store_kv(const float* keys, const float* values, int64_t kv_dim, int64_t layer, const DeviceEntry* entries, int n,
              cudaStream_t stream) {
  if (n <= 0) return;
  store_kv_kernel<<<dim3(static_cast<unsigned>((kv_dim + 127) / 128), static_cast<unsigned>(n)), 128, 0, stream>>>(
      keys, values, kv_dim, layer, entries);
  check_launch("the KV store kernel");
}

void read_probe(const void* data, size_t bytes, uint32_t* sink, cudaStream_t stream) {
  read_probe_kernel<<<1024, 256, 0, stream>>>(static_cast<const uint4*>(data), bytes / 16, sink);
  check_launch("the read-bandwidth probe kernel");
}

}  // namespace cria::cuda
