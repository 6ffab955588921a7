// Scalar conversions and the Q8_0 / Q4_0 block formats against their definitions: every half
// and bfloat16 value, round-to-nearest-even at every midpoint, overflow and subnormals; blocks
// built by hand decode to the values the format description gives; quantizing stays within
// half a step (and encodes exactly as ggml's reference quantizer does).
#include <doctest/doctest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "cria/error.hpp"
#include "cria/quant.hpp"
#include "model_file_helpers.hpp"

using namespace cria;

namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

bool half_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }
bool bf16_is_nan(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0; }

// IEEE binary16 from its definition: (-1)^s * 2^(e-15) * 1.m, subnormals 2^-14 * 0.m.
double half_value(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  double v;
  if (e == 0)
    v = std::ldexp(m, -24);
  else if (e == 31)
    v = m ? NAN : INFINITY;
  else
    v = std::ldexp(1024 + m, e - 25);
  return s ? -v : v;
}

}  // namespace

TEST_CASE("quant: every fp16 value converts to fp32 exactly and back unchanged") {
  int nans = 0;
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t h = static_cast<uint16_t>(i);
    const float f = fp16_to_fp32(h);
    CAPTURE(h);
    if (half_is_nan(h)) {
      ++nans;
      CHECK(std::isnan(f));
      CHECK(std::signbit(f) == bool(h & 0x8000));
      uint16_t back = fp32_to_fp16(f);  // a NaN stays a NaN of the same sign
      CHECK(half_is_nan(back));
      CHECK((back & 0x8000) == (h & 0x8000));
      continue;
    }
    CHECK(static_cast<double>(f) == half_value(h));
    CHECK(std::signbit(f) == bool(h & 0x8000));  // -0 stays -0
    CHECK(fp32_to_fp16(f) == h);
  }
  CHECK(nans == 2 * 1023);
  // The canonical quiet NaN survives a round trip bit for bit.
  CHECK(fp32_to_fp16(fp16_to_fp32(0x7e00)) == 0x7e00);
  CHECK(fp32_to_fp16(fp16_to_fp32(0xfe00)) == 0xfe00);
}

TEST_CASE("quant: fp32 to fp16 rounds to nearest, halfway cases to even") {
  // Between every two adjacent finite halfs (subnormal and normal, both signs): the midpoint
  // goes to the even one, anything off the midpoint to the nearer one.
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const uint16_t lo = static_cast<uint16_t>(h | sign), hi = static_cast<uint16_t>((h + 1) | sign);
      const double mid_d = (half_value(lo) + half_value(hi)) / 2;
      const float mid = static_cast<float>(mid_d);
      REQUIRE(static_cast<double>(mid) == mid_d);  // 12 significant bits: exact in fp32
      CAPTURE(lo);
      const uint16_t even = (h & 1) ? hi : lo;
      CHECK(fp32_to_fp16(mid) == even);
      const float toward_hi = std::nextafter(mid, sign ? -INFINITY : INFINITY);
      const float toward_lo = std::nextafter(mid, 0.0f);
      CHECK(fp32_to_fp16(toward_hi) == hi);
      CHECK(fp32_to_fp16(toward_lo) == lo);
    }
  }
  CHECK(fp32_to_fp16(1.0f) == 0x3c00);
  CHECK(fp32_to_fp16(1.0f + 1.0f / 2048) == 0x3c00);           // tie, 0x3c00 even
  CHECK(fp32_to_fp16(1.0f + 3.0f / 2048) == 0x3c02);           // tie, 0x3c02 even
  CHECK(fp32_to_fp16(0.1f) == 0x2e66);
  CHECK(fp32_to_fp16(-2.0f) == 0xc000);
}

TEST_CASE("quant: fp32 to fp16 overflows to infinity and keeps NaN") {
  CHECK(fp32_to_fp16(65504.0f) == 0x7bff);                     // largest half
  CHECK(fp32_to_fp16(std::nextafter(65520.0f, 0.0f)) == 0x7bff);
  CHECK(fp32_to_fp16(65520.0f) == 0x7c00);                     // halfway to 2^16: to even, inf
  CHECK(fp32_to_fp16(-65520.0f) == 0xfc00);
  CHECK(fp32_to_fp16(65536.0f) == 0x7c00);
  CHECK(fp32_to_fp16(1e10f) == 0x7c00);
  CHECK(fp32_to_fp16(FLT_MAX) == 0x7c00);
  CHECK(fp32_to_fp16(-FLT_MAX) == 0xfc00);
  CHECK(fp32_to_fp16(INFINITY) == 0x7c00);
  CHECK(fp32_to_fp16(-INFINITY) == 0xfc00);
  CHECK(half_is_nan(fp32_to_fp16(NAN)));
  CHECK(half_is_nan(fp32_to_fp16(from_bits(0x7f800001))));     // signalling, tiny payload
  CHECK(half_is_nan(fp32_to_fp16(from_bits(0x7fc00000))));
  CHECK((fp32_to_fp16(from_bits(0xffc00000)) & 0x8000) != 0);
  CHECK(half_is_nan(fp32_to_fp16(from_bits(0xff800001))));
}

TEST_CASE("quant: fp16 subnormals and underflow") {
  const float tiny = std::ldexp(1.0f, -24);                    // smallest subnormal half
  CHECK(fp16_to_fp32(0x0001) == tiny);
  CHECK(fp16_to_fp32(0x03ff) == std::ldexp(1023.0f, -24));     // largest subnormal
  CHECK(fp16_to_fp32(0x0400) == std::ldexp(1.0f, -14));        // smallest normal
  CHECK(fp32_to_fp16(tiny) == 0x0001);
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);        // halfway to 0: even is 0
  CHECK(fp32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
  CHECK(fp32_to_fp16(std::ldexp(3.0f, -25)) == 0x0002);        // halfway between 1 and 2
  CHECK(fp32_to_fp16(std::ldexp(5.0f, -25)) == 0x0002);        // halfway between 2 and 3
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -26)) == 0x0000);
  CHECK(fp32_to_fp16(-std::ldexp(1.0f, -26)) == 0x8000);       // underflow keeps the sign
  CHECK(fp32_to_fp16(FLT_TRUE_MIN) == 0x0000);
  CHECK(fp32_to_fp16(-FLT_TRUE_MIN) == 0x8000);
  CHECK(fp32_to_fp16(FLT_MIN) == 0x0000);                      // fp32's smallest normal
  CHECK(fp32_to_fp16(std::ldexp(2047.0f, -25)) == 0x0400);     // rounds up into the normals
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -14)) == 0x0400);
  CHECK(fp32_to_fp16(0.0f) == 0x0000);
  CHECK(fp32_to_fp16(-0.0f) == 0x8000);
  CHECK(std::signbit(fp16_to_fp32(0x8000)));
}

TEST_CASE("quant: bf16 conversions round to nearest even, keep NaN, overflow to infinity") {
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t b = static_cast<uint16_t>(i);
    const float f = bf16_to_fp32(b);
    CAPTURE(b);
    CHECK(bits(f) == (i << 16));
    if (bf16_is_nan(b)) {
      CHECK(std::isnan(f));
      CHECK(bf16_is_nan(fp32_to_bf16(f)));
      CHECK((fp32_to_bf16(f) & 0x8000) == (b & 0x8000));
    } else {
      CHECK(fp32_to_bf16(f) == b);
    }
  }
  // Midpoints between adjacent finite bf16 values, both signs.
  for (uint32_t b = 0; b < 0x7f7f; ++b) {
    for (uint32_t sign : {0u, 0x80000000u}) {
      CAPTURE(b);
      const uint32_t mid = sign | (b << 16) | 0x8000;
      const uint16_t s16 = static_cast<uint16_t>(sign >> 16);
      CHECK(fp32_to_bf16(from_bits(mid)) == (s16 | ((b & 1) ? b + 1 : b)));
      CHECK(fp32_to_bf16(from_bits(mid + 1)) == (s16 | (b + 1)));
      CHECK(fp32_to_bf16(from_bits(mid - 1)) == (s16 | b));
    }
  }
  CHECK(fp32_to_bf16(1.0f) == 0x3f80);
  CHECK(fp32_to_bf16(from_bits(0x7f7f7fff)) == 0x7f7f);        // below the last midpoint
  CHECK(fp32_to_bf16(from_bits(0x7f7f8000)) == 0x7f80);        // halfway to 2^128: infinity
  CHECK(fp32_to_bf16(FLT_MAX) == 0x7f80);
  CHECK(fp32_to_bf16(-FLT_MAX) == 0xff80);
  CHECK(fp32_to_bf16(INFINITY) == 0x7f80);
  CHECK(fp32_to_bf16(-INFINITY) == 0xff80);
  // A NaN whose payload lies only in the dropped bits must not become infinity.
  CHECK(bf16_is_nan(fp32_to_bf16(from_bits(0x7f800001))));
  CHECK(bf16_is_nan(fp32_to_bf16(from_bits(0xff800001))));
  CHECK((fp32_to_bf16(from_bits(0xff800001)) & 0x8000) != 0);
  CHECK(bf16_is_nan(fp32_to_bf16(from_bits(0x7fffffff))));     // no carry into the sign
  CHECK(fp32_to_bf16(from_bits(0x00008000)) == 0x0000);        // subnormal tie to even
  CHECK(fp32_to_bf16(from_bits(0x00018000)) == 0x0002);
  CHECK(fp32_to_bf16(-0.0f) == 0x8000);
}

TEST_CASE("quant: hand-made Q8_0 blocks decode to d * q") {
  BlockQ8_0 blocks[3];
  blocks[0].d = 0x3400;  // 0.25
  blocks[1].d = 0xb800;  // -0.5
  blocks[2].d = 0x0001;  // 2^-24, a subnormal scale
  for (int j = 0; j < 32; ++j) {
    blocks[0].qs[j] = static_cast<int8_t>(j * 8 - 128);
    blocks[1].qs[j] = static_cast<int8_t>(127 - j);
    blocks[2].qs[j] = static_cast<int8_t>(j % 2 ? -j : j);
  }
  std::vector<float> out(96);
  dequantize_row(DType::Q8_0, blocks, out.data(), 96);
  for (int j = 0; j < 32; ++j) {
    CAPTURE(j);
    CHECK(out[j] == 0.25f * (j * 8 - 128));
    CHECK(out[32 + j] == -0.5f * (127 - j));
    CHECK(out[64 + j] == std::ldexp(static_cast<float>(j % 2 ? -j : j), -24));
  }
  // The file layout: 2 bytes of little-endian fp16 scale, then 32 signed bytes.
  uint8_t raw[34] = {0x00, 0x3c};  // d = 1.0
  raw[2] = 0xff;                   // q0 = -1
  raw[33] = 0x7f;                  // q31 = 127
  dequantize_row(DType::Q8_0, raw, out.data(), 32);
  CHECK(out[0] == -1.0f);
  CHECK(out[1] == 0.0f);
  CHECK(out[31] == 127.0f);
}

TEST_CASE("quant: hand-made Q4_0 blocks decode to d * (nibble - 8), low nibbles first") {
  BlockQ4_0 blocks[2];
  blocks[0].d = 0x3c00;  // 1.0
  blocks[1].d = 0xc000;  // -2.0
  for (int j = 0; j < 16; ++j) {
    blocks[0].qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    blocks[1].qs[j] = static_cast<uint8_t>(((j * 7) & 15) | (((j * 3) & 15) << 4));
  }
  std::vector<float> out(64);
  dequantize_row(DType::Q4_0, blocks, out.data(), 64);
  for (int j = 0; j < 16; ++j) {
    CAPTURE(j);
    CHECK(out[j] == static_cast<float>(j - 8));                  // low nibble: element j
    CHECK(out[16 + j] == static_cast<float>((15 - j) - 8));      // high nibble: element j+16
    CHECK(out[32 + j] == -2.0f * static_cast<float>(((j * 7) & 15) - 8));
    CHECK(out[48 + j] == -2.0f * static_cast<float>(((j * 3) & 15) - 8));
  }
  uint8_t raw[18] = {0x00, 0x40, 0xf0};  // d = 2.0; byte 0: low nibble 0, high nibble 15
  dequantize_row(DType::Q4_0, raw, out.data(), 32);
  CHECK(out[0] == -16.0f);
  CHECK(out[16] == 14.0f);
  CHECK(out[1] == -16.0f);
}

namespace {

// Test rows: random at several magnitudes, with outliers, zeros, a single value, ties.
std::vector<std::vector<float>> sample_blocks() {
  std::vector<std::vector<float>> rows;
  std::mt19937 rng(1234);
  for (float scale : {1e-4f, 0.01f, 1.0f, 37.0f, 1e4f}) {  // x20: within fp16 scales
    for (int k = 0; k < 40; ++k) {
      std::vector<float> x = cria_test::random_floats(32, rng(), scale);
      if (k % 4 == 1) x[rng() % 32] *= 20;      // an outlier sets the scale
      if (k % 4 == 2) x[rng() % 32] = -scale;   // the negative extreme
      rows.push_back(x);
    }
  }
  rows.push_back(std::vector<float>(32, 0.0f));
  std::vector<float> one(32, 0.0f);
  one[5] = -3.0f;
  rows.push_back(one);
  std::vector<float> same(32, 0.75f);
  rows.push_back(same);
  std::vector<float> steps(32);
  for (int j = 0; j < 32; ++j) steps[j] = static_cast<float>(j - 16) / 2;  // exact multiples
  rows.push_back(steps);
  return rows;
}

}  // namespace

TEST_CASE("quant: Q8_0 quantize then dequantize stays within half a step") {
  for (const std::vector<float>& x : sample_blocks()) {
    BlockQ8_0 b;
    quantize_row(DType::Q8_0, x.data(), &b, 32);
    float y[32];
    dequantize_row(DType::Q8_0, &b, y, 32);
    float amax = 0;
    for (float v : x) amax = std::fmax(amax, std::fabs(v));
    const float d = amax / 127.0f;                 // the exact scale
    const float dh = fp16_to_fp32(b.d);            // the stored (fp16) scale
    CHECK(b.d == fp32_to_fp16(d));
    for (int j = 0; j < 32; ++j) {
      CAPTURE(x[j]);
      CAPTURE(amax);
      // Half a step, plus the error of storing the scale in fp16: the integers are chosen
      // with the exact scale, as ggml does (a subnormal fp16 scale for tiny blocks is coarse).
      const double bound = std::max(d, dh) / 2.0 + std::abs(b.qs[j]) * std::fabs(double(d) - dh) +
                           1e-6 * amax;
      CHECK(std::fabs(double(x[j]) - y[j]) <= bound);
      // With the exact scale: within half a step (and float rounding of x / d).
      CHECK(std::fabs(double(x[j]) - double(d) * b.qs[j]) <= d * (0.5 + 1e-4));
    }
  }
}

TEST_CASE("quant: Q4_0 quantize then dequantize stays within half a step except when clamped") {
  for (const std::vector<float>& x : sample_blocks()) {
    BlockQ4_0 b;
    quantize_row(DType::Q4_0, x.data(), &b, 32);
    float y[32];
    dequantize_row(DType::Q4_0, &b, y, 32);
    float max = 0;  // the signed value of largest magnitude maps to -8
    for (float v : x)
      if (std::fabs(v) > std::fabs(max)) max = v;
    const float d = max / -8.0f;
    const double ad = std::fabs(d), adh = std::fabs(fp16_to_fp32(b.d));
    CHECK(b.d == fp32_to_fp16(d));
    for (int j = 0; j < 32; ++j) {
      CAPTURE(x[j]);
      CAPTURE(max);
      const int q = j < 16 ? (b.qs[j] & 15) : (b.qs[j - 16] >> 4);
      const double fp16_error = 8 * std::fabs(ad - adh) + 1e-6 * std::fabs(max);
      const double r = d != 0 ? double(x[j]) / d : 0.0;  // in steps, within [-8, 8]
      const double err = std::fabs(double(x[j]) - y[j]);
      if (r < 7.5 - 1e-4) {
        CHECK(err <= std::max(ad, adh) / 2 + fp16_error);
      } else {
        // Above 7.5 steps the nibble is clamped to 15 (+7 steps): up to one step off.
        if (r > 7.5 + 1e-4) CHECK(q == 15);
        CHECK(err <= std::max(ad, adh) + fp16_error);
      }
    }
    if (max != 0) {  // the extreme value itself is represented by nibble 0
      int k = 0;
      while (x[k] != max) ++k;
      const int q = k < 16 ? (b.qs[k] & 15) : (b.qs[k - 16] >> 4);
      CHECK(q == 0);
    }
  }
}

TEST_CASE("quant: Q8_0 and Q4_0 encode as ggml's reference quantizer does") {
  // quantize_row_q8_0_ref / quantize_row_q4_0_ref from the format's reference code: files
  // cria writes then match llama.cpp's byte for byte.
  for (const std::vector<float>& x : sample_blocks()) {
    float amax = 0, max = 0;
    for (float v : x) {
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    BlockQ8_0 q8, want8;
    const float d8 = amax / 127, id8 = d8 ? 1.0f / d8 : 0.0f;
    want8.d = fp32_to_fp16(d8);
    for (int j = 0; j < 32; ++j) want8.qs[j] = static_cast<int8_t>(std::round(x[j] * id8));
    quantize_row(DType::Q8_0, x.data(), &q8, 32);
    CHECK(std::memcmp(&q8, &want8, sizeof q8) == 0);

    BlockQ4_0 q4, want4;
    const float d4 = max / -8, id4 = d4 ? 1.0f / d4 : 0.0f;
    want4.d = fp32_to_fp16(d4);
    for (int j = 0; j < 16; ++j) {
      int lo = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id4 + 8.5f)));
      int hi = std::min(15, static_cast<int>(static_cast<int8_t>(x[16 + j] * id4 + 8.5f)));
      want4.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
    quantize_row(DType::Q4_0, x.data(), &q4, 32);
    CHECK(std::memcmp(&q4, &want4, sizeof q4) == 0);
  }
}

TEST_CASE("quant: rows of several blocks, F16/BF16/F32 rows, and unsupported types") {
  const int64_t n = 32 * 5;
  std::vector<float> x = cria_test::random_floats(n, 99, 4.0f);
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    std::vector<uint8_t> row(row_bytes(t, n));
    quantize_row(t, x.data(), row.data(), n);
    std::vector<float> whole(n), block(32);
    dequantize_row(t, row.data(), whole.data(), n);
    const size_t bb = row_bytes(t, 32);
    for (int k = 0; k < 5; ++k) {  // each block on its own gives the same
      std::vector<uint8_t> one(bb);
      quantize_row(t, x.data() + 32 * k, one.data(), 32);
      CHECK(std::memcmp(one.data(), row.data() + k * bb, bb) == 0);
      dequantize_row(t, one.data(), block.data(), 32);
      CHECK(std::equal(block.begin(), block.end(), whole.begin() + 32 * k));
    }
  }
  std::vector<uint16_t> h(n);
  std::vector<float> y(n);
  quantize_row(DType::F16, x.data(), h.data(), n);
  dequantize_row(DType::F16, h.data(), y.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    CHECK(h[i] == fp32_to_fp16(x[i]));
    CHECK(y[i] == fp16_to_fp32(h[i]));
  }
  quantize_row(DType::BF16, x.data(), h.data(), n);
  dequantize_row(DType::BF16, h.data(), y.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    CHECK(h[i] == fp32_to_bf16(x[i]));
    CHECK(y[i] == bf16_to_fp32(h[i]));
  }
  std::vector<float> z(n);
  quantize_row(DType::F32, x.data(), z.data(), n);
  CHECK(z == x);
  dequantize_row(DType::F32, x.data(), z.data(), n);
  CHECK(z == x);

  CHECK_CRIA_ERROR(quantize_row(DType::Q8_K, x.data(), z.data(), 256), ErrorCode::Unsupported,
                   "Q8_K");
  CHECK_CRIA_ERROR(dequantize_row(DType::Q8_K, x.data(), z.data(), 256), ErrorCode::Unsupported,
                   "Q8_K");
  CHECK_CRIA_ERROR(dequantize_row(DType::I32, x.data(), z.data(), 4), ErrorCode::Unsupported,
                   "I32");
  CHECK(row_bytes(DType::Q8_0, 64) == 68);
  CHECK(row_bytes(DType::Q4_0, 64) == 36);
  CHECK(row_bytes(DType::BF16, 3) == 6);
  CHECK_CRIA_ERROR(row_bytes(DType::Q8_0, 33), ErrorCode::InvalidArgument, "33", "Q8_0");
}
