// NEON kernels with the 8-bit dot product and matrix multiply (compiled for ARMv8.2-A +
// dotprod + i8mm; selected at run time where the CPU has both): SMMLA for prompts.
#define CRIA_SIMD_NS neon_i8mm
#include "cpu/kernels_neon.inc"

namespace cria::cpu {
const Kernels& neon_i8mm_kernels() {
  static const Kernels k = neon_i8mm::make_kernels(scalar_kernels(), Isa::NeonI8mm);
  return k;
}
}  // namespace cria::cpu
