#include "cpu/cpu_features.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace cria::cpu {

#if defined(__x86_64__) || defined(__i386__)
namespace {

// F16C (CPUID.1:ECX bit 29), which not every compiler's __builtin_cpu_supports names.
bool has_f16c() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}

}  // namespace
#endif

#if !defined(__aarch64__)
Isa detected_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks that the OS saves the wider registers.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("fma") && has_f16c())
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c())
    return Isa::Avx2;
#endif
  return Isa::Scalar;
}
#endif

std::vector<Isa> supported_isas() {
#if defined(__aarch64__)
  const Isa family[] = {Isa::Neon, Isa::NeonDotprod, Isa::NeonI8mm};
#elif defined(__x86_64__)
  const Isa family[] = {Isa::Avx2, Isa::Avx512};
#else
  const Isa family[] = {Isa::Scalar};
#endif
  const Isa best = detected_isa();
  std::vector<Isa> isas = {Isa::Scalar};
  for (Isa isa : family)
    if (isa != Isa::Scalar && isa <= best) isas.push_back(isa);
  return isas;
}

Isa active_isa() {
  static const Isa isa = [] {
    const char* want = std::getenv("CRIA_ISA");
    if (want && *want)
      for (Isa supported : supported_isas())
        if (!std::strcmp(want, isa_name(supported))) return supported;
    return detected_isa();  // unset, "amx", or an instruction set this CPU lacks
  }();
  return isa;
}

bool amx_available() {
  static const bool available = [] {
#if defined(__x86_64__) && defined(__linux__)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool tile = d & (1u << 24), bf16 = d & (1u << 22);
    // The AMX kernels also use AVX-512 BF16 and VBMI (which every AMX CPU has).
    if (!tile || !bf16 || !__builtin_cpu_supports("avx512bf16") || !__builtin_cpu_supports("avx512vbmi")) return false;
    // The OS must manage the tile state (XCR0 bits 17 and 18) ...
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
    uint32_t xcr0_low, xcr0_high;
    __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    if ((xcr0_low & (3u << 17)) != (3u << 17)) return false;
    // ... and Linux hands the 8 KB of tile data to a process only when asked.
    constexpr long kRequestPermission = 0x1023, kTileData = 18;  // ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA
    return syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
#else
    return false;
#endif
  }();
  return available;
}

bool amx_active() {
  static const bool active = [] {
    if (active_isa() != Isa::Avx512 || !amx_available()) return false;
    const char* want = std::getenv("CRIA_ISA");
    return !want || !*want || !std::strcmp(want, "amx");
  }();
  return active;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
    case Isa::NeonDotprod: return "neon-dotprod";
    case Isa::NeonI8mm: return "neon-i8mm";
  }
  return "?";
}

}  // namespace cria::cpu
