// The OpenBLAS backend: sgemm, held to one thread of its own inside each of ours.
#include "cpu/gemm_backends.hpp"

#include "cria/error.hpp"

#if CRIA_WITH_OPENBLAS

#include <cblas.h>

namespace cria::cpu {

bool openblas_built() { return true; }

void run_openblas(const float* src, int64_t m, int64_t src_stride, const float* weights, int64_t n,
                  int64_t k, float* dst, int64_t dst_stride) {
  static const bool single_threaded = [] {
    openblas_set_num_threads(1);  // OpenBLAS must not start threads under ours
    return true;
  }();
  (void)single_threaded;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, src,
              static_cast<blasint>(src_stride), weights, static_cast<blasint>(k), 0.0f, dst,
              static_cast<blasint>(dst_stride));
}

}  // namespace cria::cpu

#else  // built without OpenBLAS

namespace cria::cpu {

bool openblas_built() { return false; }
void run_openblas(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*, int64_t) {
  throw Error(ErrorCode::Unsupported, "this cria was built without OpenBLAS (CRIA_OPENBLAS=OFF)");
}

}  // namespace cria::cpu

#endif
