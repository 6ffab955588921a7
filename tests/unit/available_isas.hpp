#pragma once
// The instruction sets this CPU runs, for tests that check every kernel table it can use.
#include <vector>

#include "cpu/cpu_features.hpp"

inline std::vector<cria::cpu::Isa> available_isas() {
  using cria::cpu::Isa;
  std::vector<Isa> isas = {Isa::Scalar};
  if (cria::cpu::detected_isa() >= Isa::Avx2) isas.push_back(Isa::Avx2);
  if (cria::cpu::detected_isa() >= Isa::Avx512) isas.push_back(Isa::Avx512);
  return isas;
}
