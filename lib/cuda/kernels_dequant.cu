// Whole weight rows decoded: to f16 for the prompt GEMM's tiles, to f32 for the token
// embedding. A thread per unit of a row, rows along the grid's y.
#include <algorithm>

#include "cuda/check.hpp"
#include "cuda/decode.cuh"
#include "cuda/kernels.hpp"

namespace cria::cuda {

namespace {

constexpr int64_t kMaxGridY = 65535;

template <class U, bool kHalf>
__global__ void decode_rows_kernel(const uint8_t* w, size_t row_bytes, int64_t cols, int64_t first,
                                   const DeviceEntry* entries, void* out) {
  const int64_t i = blockIdx.y;
  const int64_t source = entries ? entries[i].token : first + i;
  const uint8_t* r = w + source * row_bytes;
  const int64_t units = cols / U::kValues;
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < units;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v[U::kValues];
    U::decode(r, u, v);
#pragma unroll
    for (int j = 0; j < U::kValues; ++j) {
      const int64_t at = i * cols + u * U::kValues + j;
      if constexpr (kHalf)
        static_cast<__half*>(out)[at] = __float2half_rn(v[j]);
      else
        static_cast<float*>(out)[at] = v[j];
    }
  }
}

template <class U, bool kHalf>
void launch(const Matrix& w, int64_t first, int64_t count, const DeviceEntry* entries, void* out, cudaStream_t stream) {
  const int64_t units = w.cols / U::kValues;
  const unsigned blocks_x = static_cast<unsigned>(std::min<int64_t>((units + 127) / 128, 1024));
  // The grid's y reaches 65535 rows: longer runs go in parts.
  for (int64_t done = 0; done < count; done += kMaxGridY) {
    const int64_t part = std::min(kMaxGridY, count - done);
    void* part_out = static_cast<char*>(out) + done * w.cols * (kHalf ? 2 : 4);
    decode_rows_kernel<U, kHalf><<<dim3(blocks_x, static_cast<unsigned>(part)), 128, 0, stream>>>(
        static_cast<const uint8_t*>(w.data), w.row_bytes, w.cols, first + done, entries ? entries + done : nullptr,
        part_out);
    check_launch("the weight decoding kernel");
  }
}

template <bool kHalf>
void decode_rows(const Matrix& w, int64_t first, int64_t count, const DeviceEntry* entries, void* out,
                 cudaStream_t stream) {
  if (count <= 0) return;
  switch (w.type) {
    case DType::F32: return launch<F32x1, kHalf>(w, first, count, entries, out, stream);
    case DType::F16: return launch<F16x1, kHalf>(w, first, count, entries, out, stream);
    case DType::BF16: return launch<BF16x1, kHalf>(w, first, count, entries, out, stream);
    case DType::Q4_0: return launch<Q4_0, kHalf>(w, first, count, entries, out, stream);
    case DType::Q4_1: return launch<Q4_1, kHalf>(w, first, count, entries, out, stream);
    case DType::Q5_0: return launch<Q5_0, kHalf>(w, first, count, entries, out, stream);
    case DType::Q5_1: return launch<Q5_1, kHalf>(w, first, count, entries, out, stream);
    case DType::Q8_0: return launch<Q8_0, kHalf>(w, first, count, entries, out, stream);
    case DType::Q2_K: return launch<Q2_K, kHalf>(w, first, count, entries, out, stream);
    case DType::Q3_K: return launch<Q3_K, kHalf>(w, first, count, entries, out, stream);
    case DType::Q4_K: return launch<Q4_K, kHalf>(w, first, count, entries, out, stream);
    case DType::Q5_K: return launch<Q5_K, kHalf>(w, first, count, entries, out, stream);
    case DType::Q6_K: return launch<Q6_K, kHalf>(w, first, count, entries, out, stream);
    default:
      throw Error(ErrorCode::Unsupported, std::string("the CUDA backend has no kernels for weights of type ") +
                                              dtype_name(w.type));
  }
}

__global__ void to_f16_kernel(const float* in, __half* out, int64_t count) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = __float2half_rn(in[i]);
}

}  // namespace

bool decodes(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q4_0: case DType::Q4_1: case DType::Q5_0:
    case DType::Q5_1: case DType::Q8_0: case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K:
    case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

void dequantize_f16(const Matrix& w, int64_t first, int64_t count, void* out, cudaStream_t stream) {
  decode_rows<true>(w, first, count, nullptr, out, stream);
}

void embed(const Matrix& w, const DeviceEntry* entries, int n, float* out, cudaStream_t stream) {
  decode_rows<false>(w, 0, n, entries, out, stream);
}

void to_f16(const float* in, void* out, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((count + 255) / 256, 4096));
  to_f16_kernel<<<blocks, 256, 0, stream>>>(in, static_cast<__half*>(out), count);
  check_launch("the f16 conversion kernel");
}

}  // namespace cria::cuda
