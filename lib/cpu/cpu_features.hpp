#pragma once
// Which instruction set the kernels use, chosen once at run time from the CPU (and the
// CRIA_ISA environment variable: "scalar", "avx2", "avx512" or "amx", capped at what the CPU
// has).
namespace cria::cpu {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

Isa detected_isa();       // the best the CPU and OS support
Isa active_isa();         // detected_isa() lowered by CRIA_ISA, fixed at first use
const char* isa_name(Isa isa);

// AMX bf16 tile multiplies (Intel Sapphire Rapids and later) and AVX-512 BF16: the CPU has
// them and the OS granted this process the tile state. Used for prompts on grouped rows.
bool amx_available();
// amx_available(), active_isa() is AVX-512, and CRIA_ISA is unset or "amx" (any other
// value, "avx512" included, leaves AMX out).
bool amx_active();

}  // namespace cria::cpu
