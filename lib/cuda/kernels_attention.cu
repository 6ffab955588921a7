// Causal attention over a sequence's cache, for contexts of any length: each block takes one
// head of one entry over one part of its positions, its warps walking positions with an
// online softmax (running max, sum and weighted values in registers), so nothing grows with
// the context; a second kernel combines the parts. With few entries (generation) the
// positions are cut in several parts so that long contexts still fill the device.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "cuda/check.hpp"
#include "cuda/kernels.hpp"

namespace cria::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kMaxHeadDim = 256;
constexpr int kPerLane = kMaxHeadDim / 32;

__device__ __forceinline__ float load(const float* p) { return *p; }
__device__ __forceinline__ float load(const __half* p) { return __half2float(*p); }

// Partial result of one part: running max m, sum l, then head_dim weighted values.
template <class T>
__device__ void attend(const DeviceEntry& entry, const float* q, int64_t kv_offset, int64_t layer, int64_t head_dim,
                       int64_t kv_dim, float scale, int64_t begin, int64_t end, float* partial) {
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const T* keys = static_cast<const T*>(entry.keys) + layer * entry.capacity * kv_dim + kv_offset;
  const T* values = static_cast<const T*>(entry.values) + layer * entry.capacity * kv_dim + kv_offset;
  float qv[kPerLane], acc[kPerLane];
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int64_t d = lane + 32 * j;
    qv[j] = d < head_dim ? q[d] : 0.0f;
    acc[j] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int64_t p = begin + warp; p < end; p += kWarps) {
    const T* k = keys + p * kv_dim;
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const int64_t d = lane + 32 * j;
      if (d < head_dim) s += qv[j] * load(k + d);
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) s += __shfl_xor_sync(0xffffffffu, s, offset);
    s *= scale;
    const float m_new = fmaxf(m, s);
    const float keep = expf(m - m_new), weight = expf(s - m_new);
    l = l * keep + weight;
    const T* v = values + p * kv_dim;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const int64_t d = lane + 32 * j;
      acc[j] = acc[j] * keep + (d < head_dim ? weight * load(v + d) : 0.0f);
    }
    m = m_new;
  }
  // The warps' results into one.
  __shared__ float warp_m[kWarps], warp_l[kWarps], warp_acc[kWarps][kMaxHeadDim];
  if (lane == 0) warp_m[warp] = m, warp_l[warp] = l;
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) warp_acc[warp][lane + 32 * j] = acc[j];
  __syncthreads();
  float top = -INFINITY;
  for (int w = 0; w < kWarps; ++w)
    if (warp_l[w] > 0.0f) top = fmaxf(top, warp_m[w]);
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float sum = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (warp_l[w] > 0.0f) sum += warp_acc[w][d] * expf(warp_m[w] - top);
    partial[2 + d] = sum;
  }
  if (threadIdx.x == 0) {
    float total = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (warp_l[w] > 0.0f) total += warp_l[w] * expf(warp_m[w] - top);
    partial[0] = top;
    partial[1] = total;
  }
}

__global__ void __launch_bounds__(32 * kWarps)
    attention_kernel(AttentionShape s, const float* query, const DeviceEntry* entries, float scale, float* partials) {
  const int64_t h = blockIdx.x, e = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
  const DeviceEntry entry = entries[e];
  const int64_t count = entry.position + 1;
  const int64_t per_split = (count + splits - 1) / splits;
  const int64_t begin = split * per_split, end = begin + per_split < count ? begin + per_split : count;
  const int64_t kv_offset = (h / (s.n_heads / s.n_kv_heads)) * s.head_dim;
  float* partial = partials + ((e * s.n_heads + h) * splits + split) * (s.head_dim + 2);
  const float* q = query + e * s.dim + h * s.head_dim;
  if (entry.cache_f16)
    attend<__half>(entry, q, kv_offset, s.layer, s.head_dim, s.kv_dim, scale, begin, end, partial);
  else
    attend<float>(entry, q, kv_offset, s.layer, s.head_dim, s.kv_dim, scale, begin, end, partial);
}

// out = the parts' weighted values over their sums, rescaled to the largest max.
__global__ void combine_kernel(AttentionShape s, int splits, const float* partials, float* out) {
  const int64_t h = blockIdx.x, e = blockIdx.y;
  const float* first = partials + (e * s.n_heads + h) * splits * (s.head_dim + 2);
  float top = -INFINITY;
  for (int i = 0; i < splits; ++i) {
    const float* p = first + i * (s.head_dim + 2);
    if (p[1] > 0.0f) top = fmaxf(top, p[0]);
  }
  float total = 0.0f;
  for (int i = 0; i < splits; ++i) {
    const float* p = first + i * (s.head_dim + 2);
    if (p[1] > 0.0f) total += p[1] * expf(p[0] - top);
  }
  for (int64_t d = threadIdx.x; d < s.head_dim; d += blockDim.x) {
    float sum = 0.0f;
    for (int i = 0; i < splits; ++i) {
      const float* p = first + i * (s.head_dim + 2);
      if (p[1] > 0.0f) sum += p[2 + d] * expf(p[0] - top);
    }
    out[e * s.dim + h * s.head_dim + d] = sum / total;
  }
}

}  // namespace

size_t attention_partials(const AttentionShape& s, int n, int splits) {
  return static_cast<size_t>(n) * static_cast<size_t>(s.n_heads) * static_cast<size_t>(splits) *
         static_cast<size_t>(s.head_dim + 2);
}

void attention(const AttentionShape& s, const float* query, float* out, const DeviceEntry* entries, int n,
               int64_t max_position, int splits, float* partials, cudaStream_t stream) {
  if (n <= 0) return;
  if (s.head_dim > kMaxHeadDim)
    throw Error(ErrorCode::Unsupported, "the CUDA backend's attention takes heads of up to 256 values");
  // No more parts than positions: each part has work.
  splits = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(splits, max_position + 1)));
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  attention_kernel<<<dim3(static_cast<unsigned>(s.n_heads), static_cast<unsigned>(n), static_cast<unsigned>(splits)),
                     32 * kWarps, 0, stream>>>(s, query, entries, scale, partials);
  check_launch("the attention kernel");
  combine_kernel<<<dim3(static_cast<unsigned>(s.n_heads), static_cast<unsigned>(n)), 128, 0, stream>>>(s, splits,
                                                                                                    partials, out);
  check_launch("the attention combining kernel");
}

}  // namespace cria::cuda
