#pragma once
// Which instruction set the kernels use, chosen once at run time from the CPU (and the
// CRIA_ISA environment variable: "scalar", "avx2" or "avx512", capped at what the CPU has).
namespace cria::cpu {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

Isa detected_isa();       // the best the CPU and OS support
Isa active_isa();         // detected_isa() lowered by CRIA_ISA, fixed at first use
const char* isa_name(Isa isa);

}  // namespace cria::cpu
