#pragma once
// The instruction sets this CPU runs, for tests that check every kernel table it can use.
#include <vector>

#include "cpu/cpu_features.hpp"

inline std::vector<cria::cpu::Isa> available_isas() { return cria::cpu::supported_isas(); }
