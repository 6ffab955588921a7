// NEON kernels for every ARMv8-A CPU (ARM64 targets only; selected at run time).
#define CRIA_SIMD_NS neon
#include "cpu/kernels_neon.inc"

namespace cria::cpu {
const Kernels& neon_kernels() {
  static const Kernels k = neon::make_kernels(scalar_kernels(), Isa::Neon);
  return k;
}
}  // namespace cria::cpu
