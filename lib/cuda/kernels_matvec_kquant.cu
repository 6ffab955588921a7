// Generation's matrix-vector products for the K-quants (256-value super-blocks).
#include "cuda/matvec.cuh"

namespace cria::cuda {

void matvec_kquant(const Matrix& w, const float* x, int64_t x_stride, float* y, int64_t y_stride, int n,
                   cudaStream_t stream) {
  switch (w.type) {
    case DType::Q2_K: return launch_matvec<Q2_K>(w, x, x_stride, y, y_stride, n, stream);
    case DType::Q3_K: return launch_matvec<Q3_K>(w, x, x_stride, y, y_stride, n, stream);
    case DType::Q4_K: return launch_matvec<Q4_K>(w, x, x_stride, y, y_stride, n, stream);
    case DType::Q5_K: return launch_matvec<Q5_K>(w, x, x_stride, y, y_stride, n, stream);
    case DType::Q6_K: return launch_matvec<Q6_K>(w, x, x_stride, y, y_stride, n, stream);
    default:
      throw Error(ErrorCode::Unsupported, std::string("the CUDA backend has no kernels for weights of type ") +
                                              dtype_name(w.type));
  }
}

}  // namespace cria::cuda
