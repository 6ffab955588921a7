#include "cpu/cpu_features.hpp"

#include <cstdlib>
#include <cstring>

namespace cria::cpu {

Isa detected_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks that the OS saves the wider registers.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    return Isa::Avx2;
#endif
  return Isa::Scalar;
}

Isa active_isa() {
  static const Isa isa = [] {
    Isa best = detected_isa();
    const char* want = std::getenv("CRIA_ISA");
    if (!want || !*want) return best;
    Isa asked = !std::strcmp(want, "scalar") ? Isa::Scalar
                : !std::strcmp(want, "avx2") ? Isa::Avx2
                                             : Isa::Avx512;
    return asked < best ? asked : best;
  }();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

}  // namespace cria::cpu
