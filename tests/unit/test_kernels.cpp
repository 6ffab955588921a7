// Every dot-product kernel, for every instruction set this CPU has, equals the dot product of
// the dequantized weights (the format's reference decoder) with the dequantized activations.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "available_isas.hpp"
#include "cpu/kernels.hpp"
#include "cria/quant.hpp"

using namespace cria;
using namespace cria::cpu;

namespace {

// A row of random weight blocks: random bytes, with every fp16 scale field set to a sane
// value so that the row holds finite numbers.
std::vector<uint8_t> random_row(DType t, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> row(row_bytes(t, n));
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : row) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  auto set_half = [&](size_t at) {
    uint16_t h = fp32_to_fp16(scale(rng));
    std::memcpy(&row[at], &h, 2);
  };
  const DTypeTraits* tr = dtype_traits(static_cast<uint32_t>(t));
  for (size_t b = 0; b < row.size() / tr->block_bytes; ++b) {
    size_t base = b * tr->block_bytes;
    switch (t) {
      case DType::Q4_0: case DType::Q8_0: case DType::Q5_0: set_half(base); break;
      case DType::Q4_1: case DType::Q5_1: set_half(base); set_half(base + 2); break;
      case DType::Q2_K: set_half(base + 80); set_half(base + 82); break;
      case DType::Q3_K: set_half(base + 108); break;
      case DType::Q4_K: case DType::Q5_K: set_half(base); set_half(base + 2); break;
      case DType::Q6_K: set_half(base + 208); break;
      default: break;
    }
  }
  if (t == DType::F32 || t == DType::F16 || t == DType::BF16) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> values(n);
    for (float& v : values) v = normal(rng);
    quantize_row(t, values.data(), row.data(), n);
  }
  return row;
}

// The activations a kernel sees, decoded back to floats.
std::vector<float> decoded_activations(const Kernels& k, DType t, const std::vector<float>& x,
                                       std::vector<uint8_t>& encoded) {
  const int64_t n = static_cast<int64_t>(x.size());
  encoded.assign(activation_row_bytes(t, n), 0);
  quantize_activations(k, t, x.data(), encoded.data(), n);
  std::vector<float> out(n);
  switch (activation_format(t)) {
    case ActFormat::F32: return x;
    case ActFormat::Q8: {
      const BlockQ8* b = reinterpret_cast<const BlockQ8*>(encoded.data());
      for (int64_t i = 0; i < n; ++i) out[i] = b[i / 32].d * b[i / 32].qs[i % 32];
      for (int64_t j = 0; j < n / 32; ++j) {
        int s = 0;
        for (int i = 0; i < 32; ++i) s += b[j].qs[i];
        CHECK(s == b[j].sum);
      }
      return out;
    }
    case ActFormat::Q8K: {
      const BlockQ8K* b = reinterpret_cast<const BlockQ8K*>(encoded.data());
      for (int64_t i = 0; i < n; ++i) out[i] = b[i / 256].d * b[i / 256].qs[i % 256];
      for (int64_t j = 0; j < n / 256; ++j)
        for (int g = 0; g < 16; ++g) {
          int s = 0;
          for (int i = 0; i < 16; ++i) s += b[j].qs[16 * g + i];
          CHECK(s == b[j].bsums[g]);
        }
      return out;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("activation quantization rounds to the nearest step of max|x|/127") {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> x(512);
  for (float& v : x) v = normal(rng);
  for (Isa isa : available_isas()) {
    CAPTURE(isa_name(isa));
    for (DType t : {DType::Q8_0, DType::Q4_K}) {
      std::vector<uint8_t> enc;
      std::vector<float> dec = decoded_activations(kernels_for(isa), t, x, enc);
      const int block = t == DType::Q8_0 ? 32 : 256;
      for (size_t b = 0; b < x.size() / block; ++b) {
        float amax = 0;
        for (int i = 0; i < block; ++i) amax = std::fmax(amax, std::fabs(x[b * block + i]));
        for (int i = 0; i < block; ++i)
          {
          const float bound = amax / 127 * 0.5001f + 1e-7f;
          CHECK(std::fabs(dec[b * block + i] - x[b * block + i]) <= bound);
        }
      }
    }
  }
}

TEST_CASE("dot kernels equal the reference decoders for every type and instruction set") {
  const DType types[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                         DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K, DType::Q3_K,
                         DType::Q4_K, DType::Q5_K, DType::Q6_K};
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (DType t : types) {
    // An odd number of 32-element blocks where the type allows it: SIMD tails get covered.
    const int64_t n = dtype_traits(static_cast<uint32_t>(t))->block_elems == 256 ? 1024 : 1056;
    for (int trial = 0; trial < 8; ++trial) {
      std::vector<uint8_t> row = random_row(t, n, rng);
      std::vector<float> w(n);
      dequantize_row(t, row.data(), w.data(), n);
      std::vector<float> x(n);
      for (float& v : x) v = normal(rng);
      for (Isa isa : available_isas()) {
        const Kernels& k = kernels_for(isa);
        std::vector<uint8_t> enc;
        std::vector<float> xd = decoded_activations(k, t, x, enc);
        double ref = 0, magnitude = 0;
        for (int64_t i = 0; i < n; ++i) {
          ref += double(w[i]) * xd[i];
          magnitude += std::fabs(double(w[i]) * xd[i]);
        }
        const DotFn dot = k.dot[static_cast<int>(t)];
        REQUIRE(static_cast<bool>(dot));
        const float got = dot(row.data(), enc.data(), n);
        CAPTURE(dtype_name(t));
        CAPTURE(isa_name(isa));
        CHECK(std::fabs(got - ref) <= 1e-5 * magnitude + 1e-6);
      }
    }
  }
}

TEST_CASE("four-row kernels give each row's dot-kernel result bit for bit") {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (Isa isa : available_isas()) {
    const Kernels& k = kernels_for(isa);
    for (int type = 0; type < kMaxTypes; ++type) {
      if (!k.dot4[type]) continue;
      const DType t = static_cast<DType>(type);
      // 17 blocks of 32 (an odd count exercises the tails), or 3 super-blocks of 256.
      const int64_t n = dtype_traits(static_cast<uint32_t>(type))->block_elems == 256 ? 768 : 544;
      std::vector<uint8_t> rows;
      for (int r = 0; r < 4; ++r) {
        std::vector<uint8_t> row = random_row(t, n, rng);
        rows.insert(rows.end(), row.begin(), row.end());
      }
      const size_t row_bytes = rows.size() / 4;
      std::vector<float> x(n);
      for (float& v : x) v = normal(rng);
      std::vector<uint8_t> enc(activation_row_bytes(t, n));
      quantize_activations(k, t, x.data(), enc.data(), n);
      float four[4];
      k.dot4[type](rows.data(), row_bytes, enc.data(), n, four);
      CAPTURE(dtype_name(t));
      CAPTURE(isa_name(isa));
      for (int r = 0; r < 4; ++r) CHECK(four[r] == k.dot[type](rows.data() + r * row_bytes, enc.data(), n));
    }
  }
}

TEST_CASE("four-row kernels over several positions give each the dot kernel's result bit for bit") {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  bool ran = false;
  for (Isa isa : available_isas()) {
    const Kernels& k = kernels_for(isa);
    for (int type = 0; type < kMaxTypes; ++type) {
      if (!k.dot4_tokens[type]) continue;
      ran = true;
      const DType t = static_cast<DType>(type);
      const int64_t n = dtype_traits(static_cast<uint32_t>(type))->block_elems == 256 ? 512 : 544;
      std::vector<uint8_t> rows;
      for (int r = 0; r < 4; ++r) {
        std::vector<uint8_t> row = random_row(t, n, rng);
        rows.insert(rows.end(), row.begin(), row.end());
      }
      const size_t row_bytes = rows.size() / 4, act_bytes = activation_row_bytes(t, n);
      const int64_t most = 7;  // chunks of positions and pairs of them, with remainders
      std::vector<uint8_t> act(act_bytes * most);
      std::vector<float> x(n);
      for (int64_t p = 0; p < most; ++p) {
        for (float& v : x) v = normal(rng);
        quantize_activations(k, t, x.data(), &act[p * act_bytes], n);
      }
      CAPTURE(dtype_name(t));
      CAPTURE(isa_name(isa));
      for (int64_t tokens = 1; tokens <= most; ++tokens) {
        CAPTURE(tokens);
        const int64_t stride = 6;  // wider than four rows
        std::vector<float> out(stride * tokens, -1.0f);
        k.dot4_tokens[type](rows.data(), row_bytes, act.data(), act_bytes, tokens, n, out.data(), stride);
        for (int64_t p = 0; p < tokens; ++p)
          for (int r = 0; r < 4; ++r)
            CHECK(out[p * stride + r] == k.dot[type](rows.data() + r * row_bytes, &act[p * act_bytes], n));
      }
    }
  }
  if (!ran) MESSAGE("no instruction set of this CPU has prompt kernels over several positions (ARM64 NEON has)");
}

TEST_CASE("SIMD row decoders and the bf16 conversion equal the reference ones bit for bit") {
  std::mt19937 rng(11);
  const int64_t n = 512;
  for (Isa isa : available_isas()) {
    const Kernels& k = kernels_for(isa);
    CAPTURE(isa_name(isa));
    for (int type = 0; type < kMaxTypes; ++type) {
      const DType t = static_cast<DType>(type);
      const DTypeTraits* traits = dtype_traits(static_cast<uint32_t>(type));
      if (!traits || !traits->runs) continue;
      std::vector<uint8_t> row = random_row(t, n, rng);
      std::vector<float> want(n), got(n);
      dequantize_row(t, row.data(), want.data(), n);
      dequantize_fast(k, t, row.data(), got.data(), n);
      CAPTURE(dtype_name(t));
      CHECK(std::memcmp(want.data(), got.data(), n * sizeof(float)) == 0);
    }
    // bf16: ordinary values, halfway cases, infinities and NaN.
    std::vector<float> x = {0.0f, -0.0f, 1.0f, -1.5f, 3.14159f, 1e-40f, 65504.0f, 3.4e38f,
                            INFINITY, -INFINITY, NAN};
    for (uint32_t bits : {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7fffffu}) {
      float f;
      std::memcpy(&f, &bits, 4);
      x.push_back(f);
    }
    std::normal_distribution<float> normal(0.0f, 100.0f);
    while (x.size() < 67) x.push_back(normal(rng));
    std::vector<uint16_t> y(x.size());
    k.f32_to_bf16(x.data(), y.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      CAPTURE(x[i]);
      if (std::isnan(x[i])) CHECK(std::isnan(bf16_to_fp32(y[i])));
      else CHECK(y[i] == fp32_to_bf16(x[i]));
    }
  }
}

TEST_CASE("F16 rows convert to bf16 in one pass with the bits of decoding then rounding") {
  std::vector<uint16_t> halves;
  for (uint32_t h = 0; h < 65536; ++h) halves.push_back(static_cast<uint16_t>(h));  // every value
  const int64_t n = static_cast<int64_t>(halves.size());
  for (Isa isa : available_isas()) {
    const Kernels& k = kernels_for(isa);
    if (!k.f16_to_bf16) continue;
    CAPTURE(isa_name(isa));
    std::vector<float> decoded(n);
    dequantize_row(DType::F16, halves.data(), decoded.data(), n);
    std::vector<uint16_t> expected(n), got(n);
    k.f32_to_bf16(decoded.data(), expected.data(), n);
    k.f16_to_bf16(halves.data(), got.data(), n - 3);  // and a tail shorter than a vector
    k.f16_to_bf16(halves.data() + n - 3, got.data() + n - 3, 3);
    CHECK(got == expected);
  }
}

TEST_CASE("NEON kernels give the portable kernels' results bit for bit") {
  // They form their floating-point results in the portable kernels' order (kernels_neon.inc).
  std::vector<Isa> neon;
  for (Isa isa : available_isas())
    if (isa == Isa::Neon || isa == Isa::NeonDotprod || isa == Isa::NeonI8mm) neon.push_back(isa);
  if (neon.empty()) {
    MESSAGE("this CPU has no NEON: checked on ARM64 (scripts/test-arm64.sh runs it under qemu-aarch64)");
    return;
  }
  const Kernels& portable = scalar_kernels();
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (Isa isa : neon) {
    const Kernels& k = kernels_for(isa);
    CAPTURE(isa_name(isa));
    for (int type = 0; type < kMaxTypes; ++type) {
      if (!portable.dot[type]) continue;
      const DType t = static_cast<DType>(type);
      CAPTURE(dtype_name(t));
      // 33 blocks of 32 or 3 super-blocks of 256.
      const int64_t n = dtype_traits(static_cast<uint32_t>(type))->block_elems == 256 ? 768 : 1056;
      std::vector<uint8_t> rows;
      for (int r = 0; r < 4; ++r) {
        std::vector<uint8_t> row = random_row(t, n, rng);
        rows.insert(rows.end(), row.begin(), row.end());
      }
      const size_t row_bytes = rows.size() / 4;
      std::vector<float> x(n);
      for (float& v : x) v = normal(rng);
      std::vector<uint8_t> want_act(activation_row_bytes(t, n)), got_act(want_act.size());
      quantize_activations(portable, t, x.data(), want_act.data(), n);
      quantize_activations(k, t, x.data(), got_act.data(), n);
      CHECK(want_act == got_act);
      for (int64_t cols : {n, n - 4}) {  // F32, F16 and BF16 also with a tail of 12
        if (activation_format(t) != ActFormat::F32 && cols != n) continue;
        float four[4];
        if (k.dot4[type]) k.dot4[type](rows.data(), row_bytes, got_act.data(), cols, four);
        for (int r = 0; r < 4; ++r) {
          const float want = portable.dot[type](rows.data() + r * row_bytes, want_act.data(), cols);
          CHECK(k.dot[type](rows.data() + r * row_bytes, got_act.data(), cols) == want);
          if (k.dot4[type]) CHECK(four[r] == want);
        }
      }
    }
    // Attention's helpers, with a tail.
    std::vector<float> x(203), y0(203), y1(203);
    for (float& v : x) v = normal(rng);
    for (float& v : y0) v = normal(rng);
    std::vector<uint16_t> h0(x.size()), h1(x.size());
    portable.f32_to_f16(x.data(), h0.data(), 203);
    k.f32_to_f16(x.data(), h1.data(), 203);
    CHECK(h0 == h1);
    y1 = y0;
    portable.axpy_f32(0.37f, x.data(), y0.data(), 203);
    k.axpy_f32(0.37f, x.data(), y1.data(), 203);
    CHECK(y0 == y1);
    portable.axpy_f16(-1.3f, h0.data(), y0.data(), 203);
    k.axpy_f16(-1.3f, h0.data(), y1.data(), 203);
    CHECK(y0 == y1);
  }
}
