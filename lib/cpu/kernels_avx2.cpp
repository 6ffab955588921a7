// AVX2 + FMA + F16C kernels (compiled with those flags; selected at run time).
#define CRIA_SIMD_NS avx2
#include "cpu/kernels_simd.inc"

namespace cria::cpu {
const Kernels& avx2_kernels() {
  static const Kernels k = avx2::make_kernels(scalar_kernels(), Isa::Avx2);
  return k;
}
}  // namespace cria::cpu
