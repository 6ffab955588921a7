// The SIMD softmax and SwiGLU (with their own e^x) against float64, for every instruction set
// this CPU has, on lengths with and without a tail.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "available_isas.hpp"
#include "cpu/kernels.hpp"

using namespace cria;
using namespace cria::cpu;

TEST_CASE("SIMD softmax and SwiGLU agree with float64 to 1e-6 relative") {
  std::mt19937 rng(5);
  bool ran = false;
  for (Isa isa : available_isas()) {
    const Kernels& k = kernels_for(isa);
    if (!k.softmax || !k.swiglu) continue;
    ran = true;
    CAPTURE(isa_name(isa));
    for (int64_t n : {1, 7, 8, 13, 64, 513}) {
      CAPTURE(n);
      for (float spread : {1.0f, 30.0f, 200.0f}) {  // 200: e^x far below the smallest float
        CAPTURE(spread);
        std::uniform_real_distribution<float> value(-spread, spread);
        std::vector<float> x(n), up(n);
        for (float& v : x) v = value(rng);
        for (float& v : up) v = value(rng);
        // softmax
        std::vector<float> got = x;
        k.softmax(got.data(), n);
        // From x - max in float, as the kernels (and the portable softmax) compute it.
        float max = x[0];
        for (float v : x) max = std::fmax(max, v);
        double sum = 0;
        for (float v : x) sum += std::exp(static_cast<double>(v - max));
        for (int64_t i = 0; i < n; ++i) {
          const double want = std::exp(static_cast<double>(x[i] - max)) / sum;
          CHECK(std::fabs(got[i] - want) <= 1e-6 * want + 1e-37);
        }
        // SwiGLU: silu(gate) * up
        std::vector<float> gate = x;
        k.swiglu(gate.data(), up.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          const double g = x[i], want = g / (1.0 + std::exp(-g)) * up[i];
          CHECK(std::fabs(gate[i] - want) <= 1e-6 * std::fabs(want) + 1e-30);
        }
      }
    }
  }
  if (!ran) MESSAGE("no instruction set here has SIMD softmax and SwiGLU; nothing checked");
}
