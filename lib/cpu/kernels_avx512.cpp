// AVX-512 VNNI kernels (compiled with those flags; selected at run time).
#define CRIA_SIMD_NS avx512
#include "cpu/kernels_simd.inc"
#include "cpu/attention.hpp"
#include "cpu/packed.hpp"

namespace cria::cpu {
const Kernels& avx512_kernels() {
  static const Kernels k = [] {
    Kernels k = avx512::make_kernels(scalar_kernels(), Isa::Avx512);
    k.grouped_gemm[static_cast<int>(DType::Q4_0)] = grouped_gemm_q4_0_avx512;
    k.grouped_gemm[static_cast<int>(DType::Q8_0)] = grouped_gemm_q8_0_avx512;
    k.grouped_gemm[static_cast<int>(DType::Q4_K)] = grouped_gemm_q4_k_avx512;
    k.grouped_gemm[static_cast<int>(DType::Q5_K)] = grouped_gemm_q5_k_avx512;
    k.grouped_gemm[static_cast<int>(DType::Q6_K)] = grouped_gemm_q6_k_avx512;
    k.plain_gemm[static_cast<int>(DType::Q4_0)] = plain_gemm_q4_0_avx512;
    k.plain_gemm[static_cast<int>(DType::Q8_0)] = plain_gemm_q8_0_avx512;
    k.plain_gemm[static_cast<int>(DType::Q4_K)] = plain_gemm_q4_k_avx512;
    k.plain_gemm[static_cast<int>(DType::Q5_K)] = plain_gemm_q5_k_avx512;
    k.plain_gemm[static_cast<int>(DType::Q6_K)] = plain_gemm_q6_k_avx512;
    k.int8_peak_loop = int8_peak_loop_avx512;
    k.attention_scores_f16 = attention_scores_f16_avx512;
    k.attention_values_f16 = attention_values_f16_avx512;
    return k;
  }();
  return k;
}
}  // namespace cria::cpu
