#include "cuda/gemm_cublas.hpp"

#include <algorithm>

#include "cria/error.hpp"

namespace cria::cuda {

namespace {
// f16 values per weight tile (32 MiB): large enough to keep tensor cores busy, small beside
// a model.
constexpr int64_t kTileValues = int64_t{16} << 20;
}  // namespace

PromptGemm::PromptGemm(cudaStream_t stream, const DeviceSummary& device, int64_t entries, int64_t widest_input)
    : stream_(stream),
      input_(static_cast<size_t>(entries * widest_input) * 2, "the f16 inputs of a prompt", device),
      tile_(static_cast<size_t>(kTileValues) * 2, "a prompt's f16 weight tile", device) {
  const Cublas& blas = Cublas::get();
  blas.check(blas.create(&handle_), "cublasCreate");
  try {
    blas.check(blas.set_stream(handle_, stream_), "cublasSetStream");
    blas.check(blas.set_math_mode(handle_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  } catch (...) {
    blas.destroy(handle_);
    throw;
  }
}

PromptGemm::~PromptGemm() {
  if (handle_) Cublas::get().destroy(handle_);
}

void PromptGemm::prepare(const float* x, int64_t x_stride, int64_t n) {
  if (static_cast<size_t>(n * x_stride) * 2 > input_.size())
    throw Error(ErrorCode::InvalidArgument, "a prompt GEMM's inputs are larger than its scratch");
  to_f16(x, input_.get(), n * x_stride, stream_);
  n_ = n;
  x_stride_ = x_stride;
}

void PromptGemm::multiply(const Matrix& w, float* y, int64_t y_stride) {
  const Cublas& blas = Cublas::get();
  const float one = 1.0f, zero = 0.0f;
  // Column-major, as cuBLAS sees row-major arrays: C (rows x n, ldc y_stride) = W^T' (W stored
  // cols x rows, transposed) x X (cols x n, ldb x_stride).
  auto gemm = [&](const void* a, int64_t first, int64_t rows) {
    blas.check(blas.gemm_ex(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), static_cast<int>(n_),
                            static_cast<int>(w.cols), &one, a, CUDA_R_16F, static_cast<int>(w.cols), input_.get(),
                            CUDA_R_16F, static_cast<int>(x_stride_), &zero, y + first, CUDA_R_32F,
                            static_cast<int>(y_stride), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
  };
  if (w.type == DType::F16) {
    gemm(w.data, 0, w.rows);
    return;
  }
  const int64_t tile_rows = std::max<int64_t>(1, std::min<int64_t>(w.rows, kTileValues / w.cols));
  for (int64_t first = 0; first < w.rows; first += tile_rows) {
    const int64_t rows = std::min(tile_rows, w.rows - first);
    dequantize_f16(w, first, rows, tile_.get(), stream_);
    gemm(tile_.get(), first, rows);
  }
}

}  // namespace cria::cuda
