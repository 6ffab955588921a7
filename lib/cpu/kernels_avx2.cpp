// AVX2 + FMA + F16C kernels (compiled with those flags; selected at run time).
#define CRIA_SIMD_NS avx2
#include "cpu/kernels_simd.inc"
#include "cpu/packed.hpp"

namespace cria::cpu {
const Kernels& avx2_kernels() {
  static const Kernels k = [] {
    Kernels k = avx2::make_kernels(scalar_kernels(), Isa::Avx2);
    k.grouped_gemm[static_cast<int>(DType::Q4_0)] = grouped_gemm_q4_0_avx2;
    k.plain_gemm[static_cast<int>(DType::Q4_0)] = plain_gemm_q4_0_avx2;
    k.grouped_gemm[static_cast<int>(DType::Q4_K)] = grouped_gemm_q4_k_avx2;
    k.plain_gemm[static_cast<int>(DType::Q4_K)] = plain_gemm_q4_k_avx2;
    k.grouped_gemm[static_cast<int>(DType::Q5_K)] = grouped_gemm_q5_k_avx2;
    k.plain_gemm[static_cast<int>(DType::Q5_K)] = plain_gemm_q5_k_avx2;
    k.grouped_gemm[static_cast<int>(DType::Q6_K)] = grouped_gemm_q6_k_avx2;
    k.plain_gemm[static_cast<int>(DType::Q6_K)] = plain_gemm_q6_k_avx2;
    return k;
  }();
  return k;
}
}  // namespace cria::cpu
