// The CUDA kernels' weight decoders (lib/cuda/decode.cuh), run on the host, against the
// reference decoders of lib/quant: every weight type and every vector width, value by value.
// Needs no GPU, so it runs wherever the CUDA backend is built.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "cria/quant.hpp"
#include "cuda/decode.cuh"

namespace {

int failures = 0;

// Rows of `cols` values encoded in `type`, decoded by U unit by unit and by dequantize_row.
template <class U>
void check(cria::DType type, const char* name, int64_t cols) {
  const int64_t rows = 3;
  const size_t row_bytes = cria::row_bytes(type, cols);
  std::vector<float> values(static_cast<size_t>(cols)), expected(static_cast<size_t>(cols));
  // 16-byte aligned rows, as cudaMalloc gives and the 16-byte loads need.
  std::vector<uint4> storage((static_cast<size_t>(rows) * row_bytes + 15) / 16 + 1);
  uint8_t* data = reinterpret_cast<uint8_t*>(storage.data());
  std::mt19937 random(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : values) v = normal(random) * (r == 2 ? 1e-3f : 1.0f);
    uint8_t* row = data + r * row_bytes;
    cria::quantize_row(type, values.data(), row, cols);
    cria::dequantize_row(type, row, expected.data(), cols);
    double scale = 0;
    for (float e : expected) scale = std::fmax(scale, std::fabs(e));
    for (int64_t u = 0; u < cols / U::kValues; ++u) {
      float got[U::kValues];
      U::decode(row, u, got);
      for (int i = 0; i < U::kValues; ++i)
        worst = std::fmax(worst, std::fabs(got[i] - expected[static_cast<size_t>(u * U::kValues + i)]) / scale);
    }
  }
  const bool ok = worst <= 1e-6;
  std::printf("%s %-7s %-5s units of %2d: largest difference %.3g of the row's largest value\n", ok ? "ok  " : "FAIL",
              name, cria::dtype_name(type), U::kValues, worst);
  if (!ok) ++failures;
}

}  // namespace

int main() {
  using cria::DType;
  namespace c = cria::cuda;
  const int64_t cols = 512;  // two K-quant super-blocks
  check<c::F32x4>(DType::F32, "F32x4", cols);
  check<c::F32x1>(DType::F32, "F32x1", cols);
  check<c::F16x8>(DType::F16, "F16x8", cols);
  check<c::F16x1>(DType::F16, "F16x1", cols);
  check<c::BF16x8>(DType::BF16, "BF16x8", cols);
  check<c::BF16x1>(DType::BF16, "BF16x1", cols);
  check<c::Q4_0>(DType::Q4_0, "Q4_0", cols);
  check<c::Q4_1>(DType::Q4_1, "Q4_1", cols);
  check<c::Q5_0>(DType::Q5_0, "Q5_0", cols);
  check<c::Q5_1>(DType::Q5_1, "Q5_1", cols);
  check<c::Q8_0>(DType::Q8_0, "Q8_0", cols);
  check<c::Q2_K>(DType::Q2_K, "Q2_K", cols);
  check<c::Q3_K>(DType::Q3_K, "Q3_K", cols);
  check<c::Q4_K>(DType::Q4_K, "Q4_K", cols);
  check<c::Q5_K>(DType::Q5_K, "Q5_K", cols);
  check<c::Q6_K>(DType::Q6_K, "Q6_K", cols);
  if (failures) std::printf("%d decoder(s) differ from lib/quant\n", failures);
  return failures ? 1 : 0;
}
