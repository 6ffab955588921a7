#include "cuda/cublas.hpp"

#include <dlfcn.h>

#include <string>

#include "cria/error.hpp"

namespace cria::cuda {

namespace {

struct Loaded {
  Cublas functions{};
  std::string failure;  // empty when loaded
};

template <class F>
void resolve(void* library, const char* name, F& f, std::string& failure) {
  f = reinterpret_cast<F>(dlsym(library, name));
  if (!f && failure.empty()) failure = std::string("libcublas has no ") + name;
}

Loaded open_library() {
  Loaded l;
  void* library = nullptr;
  // The major version the backend was built against first, then the unversioned name.
  for (const char* name : {"libcublas.so.13", "libcublas.so"}) {
    library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (library) break;
  }
  if (!library) {
    const char* why = dlerror();
    l.failure = std::string("cuBLAS (libcublas.so.13) cannot be opened, and prompts on the CUDA backend need it: ") +
                (why ? why : "not found") + " (install the CUDA 13 cuBLAS library or add its folder to LD_LIBRARY_PATH)";
    return l;
  }
  Cublas& f = l.functions;
  resolve(library, "cublasCreate_v2", f.create, l.failure);
  resolve(library, "cublasDestroy_v2", f.destroy, l.failure);
  resolve(library, "cublasSetStream_v2", f.set_stream, l.failure);
  resolve(library, "cublasSetMathMode", f.set_math_mode, l.failure);
  resolve(library, "cublasGemmEx", f.gemm_ex, l.failure);
  resolve(library, "cublasGetStatusString", f.status_string, l.failure);
  return l;  // the library stays open for the process
}

}  // namespace

const Cublas& Cublas::get() {
  static const Loaded loaded = open_library();
  if (!loaded.failure.empty()) throw Error(ErrorCode::Unsupported, loaded.failure);
  return loaded.functions;
}

void Cublas::check(cublasStatus_t status, const char* what) const {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  const std::string message = std::string(what) + " failed: " + status_string(status);
  if (status == CUBLAS_STATUS_ALLOC_FAILED) throw Error(ErrorCode::OutOfMemory, message);
  throw Error(ErrorCode::Unsupported, message);
}

}  // namespace cria::cuda
