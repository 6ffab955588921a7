// Targets other than x86-64 have no AMX: amx_active() is false there, so ops.cpp and probes.cpp
// never reach these; they exist so that those files need no #if.
#include <cstdlib>

#include "cpu/packed.hpp"

namespace cria::cpu {

bool amx_supports(DType, RowLayout, int64_t) { return false; }
size_t amx_activation_values(int64_t, int64_t) { return 0; }
const uint16_t* amx_prepare_activations(const float*, int64_t, int64_t, int64_t, uint16_t*, int64_t, int64_t) {
  std::abort();
}
void amx_gemm(DType, RowLayout, const uint8_t*, size_t, int64_t, const uint16_t*, int64_t, int64_t, float*,
              int64_t) {
  std::abort();
}
uint64_t amx_bf16_peak_loop(int64_t) { std::abort(); }

}  // namespace cria::cpu
