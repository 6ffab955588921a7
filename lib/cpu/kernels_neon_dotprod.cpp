// NEON kernels with the 8-bit dot product (compiled for ARMv8.2-A + dotprod; selected at run
// time where the CPU has it).
#define CRIA_SIMD_NS neon_dotprod
#include "cpu/kernels_neon.inc"

namespace cria::cpu {
const Kernels& neon_dotprod_kernels() {
  static const Kernels k = neon_dotprod::make_kernels(scalar_kernels(), Isa::NeonDotprod);
  return k;
}
}  // namespace cria::cpu
