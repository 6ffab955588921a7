// Generation's matrix-vector products for the dense and 32-value block formats; the
// K-quants are in kernels_matvec_kquant.cu (compiled in parallel).
#include "cuda/matvec.cuh"

namespace cria::cuda {

namespace {
// Dense rows take 16-byte loads where rows and inputs are aligned for them.
bool vector_rows(const Matrix& w, int64_t x_stride, int values) {
  return w.cols % values == 0 && w.row_bytes % 16 == 0 && x_stride % 4 == 0 &&
         reinterpret_cast<uintptr_t>(w.data) % 16 == 0;
}
}  // namespace

void matvec(const Matrix& w, const float* x, int64_t x_stride, float* y, int64_t y_stride, int n, cudaStream_t stream) {
  if (n <= 0) return;
  if (n > kMatvecEntries) throw Error(ErrorCode::InvalidArgument, "matvec: more entries than one launch takes");
  if (w.type != DType::F32 && w.type != DType::F16 && w.type != DType::BF16 &&
      (x_stride % 4 != 0 || reinterpret_cast<uintptr_t>(x) % 16 != 0))
    throw Error(ErrorCode::Unsupported, "the CUDA backend's block kernels take inputs in rows of a multiple of 4 floats");
  switch (w.type) {
    case DType::F32:
      return vector_rows(w, x_stride, 4) ? launch_matvec<F32x4>(w, x, x_stride, y, y_stride, n, stream)
                                         : launch_matvec<F32x1>(w, x, x_stride, y, y_stride, n, stream);
    case DType::F16:
      return vector_rows(w, x_stride, 8) ? launch_matvec<F16x8>(w, x, x_stride, y, y_stride, n, stream)
                                         : launch_matvec<F16x1>(w, x, x_stride, y, y_stride, n, stream);
    case DType::BF16:
      return vector_rows(w, x_stride, 8) ? launch_matvec<BF16x8>(w, x, x_stride, y, y_stride, n, stream)
                                         : launch_matvec<BF16x1>(w, x, x_stride, y, y_stride, n, stream);
    case DType::Q4_0: return launch_matvec<Q4_0>(w, x, x_stride, y, y_stride, n, stream);
    case DType::Q4_1: return launch_matvec<Q4_1>(w, x, x_stride, y, y_stride, n, stream);
    case DType::Q5_0: return launch_matvec<Q5_0>(w, x, x_stride, y, y_stride, n, stream);
    case DType::Q5_1: return launch_matvec<Q5_1>(w, x, x_stride, y, y_stride, n, stream);
    case DType::Q8_0: return launch_matvec<Q8_0>(w, x, x_stride, y, y_stride, n, stream);
    default: return matvec_kquant(w, x, x_stride, y, y_stride, n, stream);
  }
}

}  // namespace cria::cuda
