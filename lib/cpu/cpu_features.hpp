#pragma once
// Which instruction set the kernels use, chosen once at run time from the CPU (and the
// CRIA_ISA environment variable, one of isa_name's names: "scalar", "avx2", "avx512" or "amx"
// on x86-64, "scalar", "neon", "neon-dotprod" or "neon-i8mm" on ARM64; a name the CPU lacks
// gives the best it has).
#include <vector>

namespace cria::cpu {

// Ordered within each processor family, from slower to faster.
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3, NeonDotprod = 4, NeonI8mm = 5 };

Isa detected_isa();       // the best the CPU and OS support (ARM64: cpu_features_arm.cpp)
Isa active_isa();         // detected_isa() lowered by CRIA_ISA, fixed at first use
const char* isa_name(Isa isa);
// Every instruction set this CPU runs kernels of, from Scalar up to detected_isa().
std::vector<Isa> supported_isas();

// AMX bf16 tile multiplies (Intel Sapphire Rapids and later) and AVX-512 BF16: the CPU has
// them and the OS granted this process the tile state. Used for prompts on grouped rows.
bool amx_available();
// amx_available(), active_isa() is AVX-512, and CRIA_ISA is unset or "amx" (any other
// value, "avx512" included, leaves AMX out).
bool amx_active();

}  // namespace cria::cpu
