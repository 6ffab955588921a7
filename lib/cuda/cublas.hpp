#pragma once
// cuBLAS, opened at run time (dlopen of libcublas.so.13) the first time a prompt needs it,
// so that libcria loads, and its other backends run, on machines without the CUDA libraries.
#include <cublas_api.h>

namespace cria::cuda {

struct Cublas {
  cublasStatus_t (*create)(cublasHandle_t*);
  cublasStatus_t (*destroy)(cublasHandle_t);
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
  cublasStatus_t (*set_math_mode)(cublasHandle_t, cublasMath_t);
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                            cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  const char* (*status_string)(cublasStatus_t);

  // The library's functions, opened once per process; throws Unsupported naming the library
  // and the loader's reason when it cannot be opened.
  static const Cublas& get();
  // Throws for a failed call, with cuBLAS's name for the status.
  void check(cublasStatus_t status, const char* what) const;
};

}  // namespace cria::cuda
