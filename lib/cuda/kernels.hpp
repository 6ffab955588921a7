#pragma once
// The backend's kernels as host functions: each launches its kernel on `stream` and checks
// the launch. Activations are f32 rows; weights keep the file's block layout on the device.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "cria/tensor.hpp"

namespace cria::cuda {

// One batch entry as the kernels read it: the sequence's cache is [layer][position][kv_dim]
// of keys and of values, `capacity` positions per layer, F16 or F32.
struct DeviceEntry {
  int32_t token;
  int32_t position;
  int32_t cache_f16;
  int32_t capacity;
  void* keys;
  void* values;
};

// A weight matrix in device memory: `rows` rows of `row_bytes` bytes in `type`'s layout.
struct Matrix {
  const void* data = nullptr;
  DType type = DType::F32;
  int64_t rows = 0, cols = 0;
  size_t row_bytes = 0;
};

// Whether the kernels decode `type` (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K).
bool decodes(DType type);

// The most entries one matvec launch takes: generation's batches. Larger batches go through
// cuBLAS (gemm_cublas.cpp).
constexpr int kMatvecEntries = 8;
// y[e][r] = dot(row r of w, x[e]) for e < n <= kMatvecEntries; rows x_stride / y_stride floats
// apart. Each weight row is read once for all entries.
void matvec(const Matrix& w, const float* x, int64_t x_stride, float* y, int64_t y_stride, int n, cudaStream_t stream);

// Rows [first, first + count) of w decoded to f16, [count][cols]: prompt GEMM tiles.
void dequantize_f16(const Matrix& w, int64_t first, int64_t count, void* out, cudaStream_t stream);
// out[e] = row entries[e].token of w, decoded to f32, for e < n.
void embed(const Matrix& w, const DeviceEntry* entries, int n, float* out, cudaStream_t stream);
// f32 to f16, `count` values.
void to_f16(const float* in, void* out, int64_t count, cudaStream_t stream);

// out[i] = RMSNorm(in[rows ? rows[i] : i]) * weight, rows of `dim`, for i < n.
void rmsnorm(const float* in, const float* weight, float* out, int64_t dim, float eps, const int32_t* rows, int n,
             cudaStream_t stream);
// Rotates pairs of the first n_heads heads of each row (`width` floats) by its entry's position.
void rope(float* a, int64_t width, int64_t n_heads, int64_t head_dim, float base, const DeviceEntry* entries, int n,
          cudaStream_t stream);
void add(float* into, const float* from, int64_t count, cudaStream_t stream);
// gate = silu(gate) * up
void swiglu(float* gate, const float* up, int64_t count, cudaStream_t stream);
// Each entry's key and value rows into its cache at its position, layer `layer`.
void store_kv(const float* keys, const float* values, int64_t kv_dim, int64_t layer, const DeviceEntry* entries, int n,
              cudaStream_t stream);

// Causal attention of every head of every entry over its sequence's cache. Positions are cut
// in `splits` parts done in parallel (long contexts with few entries), each leaving a partial
// result in `partials` (floats: attention_partials()), then combined.
struct AttentionShape {
  int64_t layer, n_heads, n_kv_heads, head_dim, dim, kv_dim;
};
size_t attention_partials(const AttentionShape& s, int n, int splits);
void attention(const AttentionShape& s, const float* query, float* out, const DeviceEntry* entries, int n,
               int64_t max_position, int splits, float* partials, cudaStream_t stream);

// Reads `bytes` (a multiple of 16) from `data`, leaving a checksum in `sink` (256 u32):
// the read-bandwidth probe.
void read_probe(const void* data, size_t bytes, uint32_t* sink, cudaStream_t stream);

}  // namespace cria::cuda
