// AVX-512 VNNI kernels (compiled with those flags; selected at run time).
#define CRIA_SIMD_NS avx512
#include "cpu/kernels_simd.inc"

namespace cria::cpu {
const Kernels& avx512_kernels() {
  static const Kernels k = avx512::make_kernels(scalar_kernels(), Isa::Avx512);
  return k;
}
}  // namespace cria::cpu
