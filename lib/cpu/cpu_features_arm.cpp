// ARM64 CPU features: NEON (Advanced SIMD) is part of every ARMv8-A CPU; the 8-bit dot product
// (SDOT, ARMv8.2-A, optional before ARMv8.4-A) and matrix multiply (SMMLA, I8MM, optional
// before ARMv8.6-A) are reported by the kernel.
#include "cpu/cpu_features.hpp"

#if defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace cria::cpu {

namespace {

bool has_dotprod() {
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__ARM_FEATURE_DOTPROD)
  return true;  // the baseline this file is compiled for has it (Apple silicon, say)
#else
  return false;
#endif
}

bool has_i8mm() {
#if defined(__linux__) && defined(HWCAP2_I8MM)
  return (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
#elif defined(__ARM_FEATURE_MATMUL_INT8)
  return true;
#else
  return false;
#endif
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = !has_dotprod() ? Isa::Neon : has_i8mm() ? Isa::NeonI8mm : Isa::NeonDotprod;
  return isa;
}

}  // namespace cria::cpu
