// The OpenBLAS backend: sgemm, held to one thread of its own inside each of ours. OpenBLAS is
// opened on first use rather than linked: loading it starts its thread pool and reserves its
// buffers, which a process that never asks for this backend should not pay for (and which
// can stall such a process's exit under an address-space limit).
#include "cpu/gemm_backends.hpp"

#include "cria/error.hpp"

#if CRIA_WITH_OPENBLAS

#include <cblas.h>
#include <dlfcn.h>

#include <string>

namespace cria::cpu {

namespace {

struct OpenBlas {
  decltype(&cblas_sgemm) sgemm = nullptr;
  std::string error;  // why it could not be opened, when sgemm is null
};

const OpenBlas& openblas() {
  static const OpenBlas lib = [] {
    OpenBlas l;
    void* handle = nullptr;
    for (const char* name : {"libopenblas.so.0", CRIA_OPENBLAS_LIBRARY}) {
      if ((handle = ::dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
      l.error += std::string(l.error.empty() ? "" : "; ") + ::dlerror();
    }
    if (!handle) return l;
    auto set_threads = reinterpret_cast<decltype(&openblas_set_num_threads)>(
        ::dlsym(handle, "openblas_set_num_threads"));
    l.sgemm = reinterpret_cast<decltype(&cblas_sgemm)>(::dlsym(handle, "cblas_sgemm"));
    if (!set_threads || !l.sgemm) {
      l.sgemm = nullptr;
      l.error = "the OpenBLAS library lacks cblas_sgemm or openblas_set_num_threads";
      return l;
    }
    set_threads(1);  // OpenBLAS must not start threads under ours
    return l;
  }();
  return lib;
}

}  // namespace

bool openblas_built() { return true; }

void run_openblas(const float* src, int64_t m, int64_t src_stride, const float* weights, int64_t n,
                  int64_t k, float* dst, int64_t dst_stride) {
  const OpenBlas& lib = openblas();
  if (!lib.sgemm)
    throw Error(ErrorCode::Unsupported, "the OpenBLAS GEMM backend cannot be loaded: " + lib.error);
  lib.sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m),
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
