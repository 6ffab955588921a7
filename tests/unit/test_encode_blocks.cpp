// Encoders of Q4_1, Q5_0, Q5_1 and the K-quants (lib/quant/encode_blocks.cpp), block by block:
// values already on a format's grid come back exactly; random values come back within each
// format's error (relative RMS bounds measured on these inputs, with margin); the fields of
// every block are in range and use the full range of the scales; rows encode block by block;
// and on the weights of the synth256 model our error is no worse than that of the files
// llama.cpp's quantizer made from the same weights.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cria/io/gguf.hpp"
#include "cria/quant.hpp"
#include "model_file_helpers.hpp"

using namespace cria;

namespace {

const DType kTypes[] = {DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K,
                        DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

int block_of(DType t) { return dtype_traits(static_cast<uint32_t>(t))->block_elems; }

std::vector<float> round_trip(DType t, const std::vector<float>& x, std::vector<uint8_t>* bytes = nullptr) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> row(row_bytes(t, n));
  quantize_row(t, x.data(), row.data(), n);
  std::vector<float> y(x.size());
  dequantize_row(t, row.data(), y.data(), n);
  if (bytes) *bytes = row;
  return y;
}

uint16_t random_half(std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(std::log(lo), std::log(hi));
  return fp32_to_fp16(std::exp(u(rng)));
}

// A random block of type t whose values are exactly on the grid and which an encoder should
// find again: scales use their full range, every sub-block reaches both ends of its integers.
std::vector<uint8_t> grid_block(DType t, std::mt19937& rng) {
  std::vector<uint8_t> raw(row_bytes(t, block_of(t)));
  auto randint = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  // q[v] for v in [0, n) with each group of `len` holding lo and hi somewhere.
  auto ints = [&](int n, int len, int lo, int hi) {
    std::vector<int> q(n);
    for (int& v : q) v = randint(lo, hi);
    for (int g = 0; g < n / len; ++g) {
      const int a = randint(0, len - 1);
      int b = randint(0, len - 2);
      if (b >= a) ++b;
      q[g * len + a] = lo;
      q[g * len + b] = hi;
    }
    return q;
  };
  switch (t) {
    case DType::Q4_1:
    case DType::Q5_1: {
      const int nmax = t == DType::Q4_1 ? 15 : 31;
      const uint16_t d = random_half(rng, 1e-3f, 10.0f);
      // The offset is comparable to the span, as for real data (a tiny offset next to a large
      // span is below what the fp16 offset's neighbours can tell apart from float rounding).
      const float span = fp16_to_fp32(d) * nmax;
      const uint16_t m = fp32_to_fp16(-span * std::uniform_real_distribution<float>(0.1f, 1.0f)(rng));
      std::vector<int> q = ints(32, 32, 0, nmax);
      if (t == DType::Q4_1) {
        BlockQ4_1 b;
        b.d = d; b.m = m;
        for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
        std::memcpy(raw.data(), &b, sizeof b);
      } else {
        BlockQ5_1 b;
        b.d = d; b.m = m;
        uint32_t qh = 0;
        for (int j = 0; j < 32; ++j) qh |= static_cast<uint32_t>(q[j] >> 4) << j;
        for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
        std::memcpy(b.qh, &qh, 4);
        std::memcpy(raw.data(), &b, sizeof b);
      }
      break;
    }
    case DType::Q5_0: {
      BlockQ5_0 b;
      b.d = random_half(rng, 1e-3f, 10.0f);
      if (randint(0, 1)) b.d ^= 0x8000;
      std::vector<int> q = ints(32, 32, 0, 31);  // 0 is -16: the value of largest magnitude
      uint32_t qh = 0;
      for (int j = 0; j < 32; ++j) qh |= static_cast<uint32_t>(q[j] >> 4) << j;
      for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
      std::memcpy(b.qh, &qh, 4);
      std::memcpy(raw.data(), &b, sizeof b);
      break;
    }
    case DType::Q2_K: {
      // Build through the encoder-independent layout: scales byte j = sc | mn << 4; value v at
      // bits 2 * ((v % 128) / 32) of qs[32 * (v / 128) + v % 32].
      BlockQ2_K b{};
      b.d = random_half(rng, 1e-3f, 1.0f);
      b.dmin = random_half(rng, 1e-3f, 1.0f);
      std::vector<int> sc(16), mn(16);
      for (int j = 0; j < 16; ++j) { sc[j] = randint(1, 15); mn[j] = randint(0, 15); }
      sc[randint(0, 15)] = 15;
      mn[randint(0, 15)] = 15;
      for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(sc[j] | (mn[j] << 4));
      std::vector<int> q = ints(256, 16, 0, 3);
      for (int v = 0; v < 256; ++v)
        b.qs[32 * (v / 128) + v % 32] |= static_cast<uint8_t>(q[v] << (2 * ((v % 128) / 32)));
      std::memcpy(raw.data(), &b, sizeof b);
      break;
    }
    case DType::Q3_K: {
      BlockQ3_K b{};
      b.d = random_half(rng, 1e-3f, 1.0f);
      std::vector<int> sc(16);
      for (int j = 0; j < 16; ++j) {
        sc[j] = randint(1, 31);
        if (randint(0, 1)) sc[j] = -sc[j];
      }
      sc[randint(0, 15)] = randint(0, 1) ? 31 : -31;
      for (int j = 0; j < 16; ++j) {
        const int u = sc[j] + 32;
        b.scales[j % 8] |= static_cast<uint8_t>((u & 15) << (j < 8 ? 0 : 4));
        b.scales[8 + j % 4] |= static_cast<uint8_t>((u >> 4) << (2 * (j / 4)));
      }
      std::vector<int> q = ints(256, 16, -4, 3);
      for (int v = 0; v < 256; ++v) {
        const int u = q[v] + 4, half = v / 128, plane = (v % 128) / 32, i = v % 32;
        b.qs[32 * half + i] |= static_cast<uint8_t>((u & 3) << (2 * plane));
        if (u & 4) b.hmask[i] |= static_cast<uint8_t>(1 << (4 * half + plane));
      }
      std::memcpy(raw.data(), &b, sizeof b);
      break;
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      const int nmax = t == DType::Q4_K ? 15 : 31;
      uint8_t sc[8], mn[8], packed[12] = {};
      for (int j = 0; j < 8; ++j) {
        sc[j] = static_cast<uint8_t>(randint(1, 63));
        mn[j] = static_cast<uint8_t>(randint(0, 63));
      }
      sc[randint(0, 7)] = 63;
      mn[randint(0, 7)] = 63;
      for (int j = 0; j < 8; ++j) {  // the 12-byte packing, written out from its description
        if (j < 4) {
          packed[j] |= sc[j];
          packed[j + 4] |= mn[j];
        } else {
          packed[j + 4] = static_cast<uint8_t>((sc[j] & 15) | ((mn[j] & 15) << 4));
          packed[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
          packed[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
        }
      }
      std::vector<int> q = ints(256, 32, 0, nmax);
      const uint16_t d = random_half(rng, 1e-3f, 1.0f), dmin = random_half(rng, 1e-3f, 1.0f);
      if (t == DType::Q4_K) {
        BlockQ4_K b{};
        b.d = d; b.dmin = dmin;
        std::memcpy(b.scales, packed, 12);
        for (int g = 0; g < 4; ++g)
          for (int l = 0; l < 32; ++l)
            b.qs[32 * g + l] = static_cast<uint8_t>(q[64 * g + l] | (q[64 * g + 32 + l] << 4));
        std::memcpy(raw.data(), &b, sizeof b);
      } else {
        BlockQ5_K b{};
        b.d = d; b.dmin = dmin;
        std::memcpy(b.scales, packed, 12);
        for (int g = 0; g < 4; ++g)
          for (int l = 0; l < 32; ++l) {
            const int lo = q[64 * g + l], hi = q[64 * g + 32 + l];
            b.qs[32 * g + l] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
            b.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * g)) | ((hi >> 4) << (2 * g + 1)));
          }
        std::memcpy(raw.data(), &b, sizeof b);
      }
      break;
    }
    case DType::Q6_K: {
      BlockQ6_K b{};
      b.d = random_half(rng, 1e-4f, 0.1f);
      for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(randint(1, 127) * (randint(0, 1) ? 1 : -1));
      b.scales[randint(0, 15)] = static_cast<int8_t>(randint(0, 1) ? 127 : -127);
      std::vector<int> q = ints(256, 16, -32, 31);
      for (int v = 0; v < 256; ++v) {
        const int u = q[v] + 32, half = v / 128, w = v % 128;
        b.ql[64 * half + w % 64] |= static_cast<uint8_t>((u & 15) << (w < 64 ? 0 : 4));
        b.qh[32 * half + w % 32] |= static_cast<uint8_t>((u >> 4) << (2 * (w / 32)));
      }
      std::memcpy(raw.data(), &b, sizeof b);
      break;
    }
    default:
      FAIL("no grid block for this type");
  }
  return raw;
}

std::vector<float> normal_floats(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

double rel_rms(const std::vector<float>& x, const std::vector<float>& y) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += double(x[i] - y[i]) * (x[i] - y[i]);
    den += double(x[i]) * x[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Integer scales (and mins) of a K-quant block, decoded from its bytes.
struct KFields {
  float d = 0, dmin = 0;
  std::vector<int> sc, mn;
};
KFields k_fields(DType t, const uint8_t* p) {
  KFields f;
  switch (t) {
    case DType::Q2_K: {
      BlockQ2_K b;
      std::memcpy(&b, p, sizeof b);
      f.d = fp16_to_fp32(b.d);
      f.dmin = fp16_to_fp32(b.dmin);
      for (int j = 0; j < 16; ++j) { f.sc.push_back(b.scales[j] & 15); f.mn.push_back(b.scales[j] >> 4); }
      break;
    }
    case DType::Q3_K: {
      BlockQ3_K b;
      std::memcpy(&b, p, sizeof b);
      f.d = fp16_to_fp32(b.d);
      for (int j = 0; j < 16; ++j) {
        const int low = (b.scales[j % 8] >> (j < 8 ? 0 : 4)) & 15;
        const int high = (b.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        f.sc.push_back((low | (high << 4)) - 32);
      }
      break;
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      uint16_t d, dmin;
      std::memcpy(&d, p, 2);
      std::memcpy(&dmin, p + 2, 2);
      f.d = fp16_to_fp32(d);
      f.dmin = fp16_to_fp32(dmin);
      const uint8_t* q = p + 4;
      for (int j = 0; j < 8; ++j) {
        if (j < 4) { f.sc.push_back(q[j] & 63); f.mn.push_back(q[j + 4] & 63); }
        else {
          f.sc.push_back((q[j + 4] & 15) | ((q[j - 4] >> 6) << 4));
          f.mn.push_back((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
        }
      }
      break;
    }
    case DType::Q6_K: {
      BlockQ6_K b;
      std::memcpy(&b, p, sizeof b);
      f.d = fp16_to_fp32(b.d);
      for (int j = 0; j < 16; ++j) f.sc.push_back(b.scales[j]);
      break;
    }
    default:
      break;
  }
  return f;
}

}  // namespace

TEST_CASE("block encoders: values already on a format's grid come back exactly") {
  std::mt19937 rng(2024);
  for (DType t : kTypes) {
    const std::string type = dtype_name(t);
    CAPTURE(type);
    const int n = block_of(t);
    int exact = 0;
    for (int k = 0; k < 200; ++k) {
      std::vector<uint8_t> block = grid_block(t, rng);
      std::vector<float> x(n);
      dequantize_row(t, block.data(), x.data(), n);
      const std::vector<float> y = round_trip(t, x);
      bool same = x == y;
      if (!same) {
        for (int i = 0; i < n; ++i)
          if (x[i] != y[i]) { MESSAGE("block " << k << " value " << i << ": " << x[i] << " -> " << y[i]); break; }
      }
      exact += same;
    }
    CHECK(exact == 200);
  }
}

TEST_CASE("block encoders: random values come back within each format's error") {
  // Relative RMS error (error RMS over value RMS) on normal values, measured with these
  // encoders: Q4_1 0.0701, Q5_0 0.0398, Q5_1 0.0337, Q2_K 0.263, Q3_K 0.145, Q4_K 0.0708,
  // Q5_K 0.0351, Q6_K 0.0169. Why these sizes: rounding to a uniform grid of step h costs
  // h / sqrt(12) RMS; the range of 32 (16) normal values is about 4.1 (3.5) sigma, so naive
  // min/max steps predict Q4_1 0.079, Q5_1 0.038, Q5_0 0.041, Q4_K 0.079, Q5_K 0.038,
  // Q3_K 0.144, Q6_K 0.016, Q2_K 0.34 sigma. The searched scales do a little better than
  // that (most where levels are few: Q2_K); Q3_K/Q6_K pay for quantized sub-block scales.
  // Bounds: measured + 10%.
  const std::map<DType, double> bound = {
      {DType::Q4_1, 0.077}, {DType::Q5_0, 0.044}, {DType::Q5_1, 0.037}, {DType::Q2_K, 0.29},
      {DType::Q3_K, 0.159}, {DType::Q4_K, 0.078}, {DType::Q5_K, 0.0386}, {DType::Q6_K, 0.0186}};
  for (DType t : kTypes) {
    const std::string type = dtype_name(t);
    CAPTURE(type);
    const int n = block_of(t);
    double num = 0, den = 0;
    for (float scale : {1e-3f, 0.02f, 1.0f, 50.0f}) {
      for (int k = 0; k < 64; ++k) {
        std::vector<float> x = normal_floats(n, 7919u * k + 13, scale);
        const std::vector<float> y = round_trip(t, x);
        float lo = x[0], hi = x[0];
        for (float v : x) { lo = std::min(lo, v); hi = std::max(hi, v); }
        // Every decoded value stays within the block's range, widened by a fraction of it
        // (a clamped or rounded scale, offset or min never reaches further).
        const float slack = 0.25f * (hi - lo);
        for (int i = 0; i < n; ++i) {
          CHECK(std::isfinite(y[i]));
          CHECK(y[i] >= std::min(lo, 0.0f) - slack);
          CHECK(y[i] <= std::max(hi, 0.0f) + slack);
          num += double(x[i] - y[i]) * (x[i] - y[i]) / (double(scale) * scale);
          den += double(x[i]) * x[i] / (double(scale) * scale);
        }
      }
    }
    const double err = std::sqrt(num / den);
    MESSAGE(type << ": relative RMS error on normal values " << err);
    CHECK(err < bound.at(t));
    CHECK(err > bound.at(t) / 2);  // a far smaller error would mean the bound is stale
  }
}

TEST_CASE("block encoders: zero, constant and one-hot blocks") {
  for (DType t : kTypes) {
    const std::string type = dtype_name(t);
    CAPTURE(type);
    const int n = block_of(t);
    std::vector<float> zeros(n, 0.0f);
    CHECK(round_trip(t, zeros) == zeros);
    // One non-zero value is represented well (within 1/20 of itself).
    for (float v : {1.0f, -3.5f, 1e-3f}) {
      std::vector<float> one(n, 0.0f);
      one[n / 3] = v;
      std::vector<float> y = round_trip(t, one);
      CHECK(std::fabs(y[n / 3] - v) <= 0.05f * std::fabs(v));
      for (int i = 0; i < n; ++i)
        if (i != n / 3) CHECK(std::fabs(y[i]) <= 0.05f * std::fabs(v));
    }
    // A constant block: within 1% (the formats without an offset need v as a multiple of d).
    for (float v : {0.75f, -2.0f}) {
      std::vector<float> same(n, v);
      for (float y : round_trip(t, same)) CHECK(std::fabs(y - v) <= 0.01f * std::fabs(v));
    }
  }
}

TEST_CASE("block encoders: block fields are in range and the scales use their full range") {
  for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    const std::string type = dtype_name(t);
    CAPTURE(type);
    const int smax = t == DType::Q2_K ? 15 : t == DType::Q3_K ? 31 : t == DType::Q6_K ? 127 : 63;
    const bool has_min = t == DType::Q2_K || t == DType::Q4_K || t == DType::Q5_K;
    for (int k = 0; k < 64; ++k) {
      std::vector<float> x = normal_floats(256, 31u * k + 5, k % 2 ? 0.01f : 3.0f);
      if (k % 4 == 3) for (float& v : x) v = std::fabs(v);  // all positive: mins are all zero
      std::vector<uint8_t> bytes;
      round_trip(t, x, &bytes);
      const KFields f = k_fields(t, bytes.data());
      CHECK(std::isfinite(f.d));
      CHECK(f.d > 0);
      int top = 0, top_min = 0;
      for (size_t j = 0; j < f.sc.size(); ++j) {
        if (has_min) {
          CHECK(f.sc[j] >= 0);
          CHECK(f.sc[j] <= smax);
          CHECK(f.mn[j] >= 0);
          CHECK(f.mn[j] <= smax);
          top_min = std::max(top_min, f.mn[j]);
        } else {
          CHECK(f.sc[j] >= -smax - 1);
          CHECK(f.sc[j] <= smax);
        }
        top = std::max(top, std::abs(f.sc[j]));
      }
      // The largest sub-block scale sits at (or, after rounding, next to) the top integer.
      CHECK(top >= smax - 1);
      if (has_min) {
        CHECK(std::isfinite(f.dmin));
        CHECK(f.dmin >= 0);
        // (For all-positive values the best fit may still use a small negative offset.)
        if (k % 4 != 3) CHECK(top_min >= smax - 1);
      }
    }
  }
  // Q4_1 / Q5_1: the offset is at most the block's minimum; Q5_0 / Q4_1 / Q5_1 scales finite.
  for (DType t : {DType::Q4_1, DType::Q5_1, DType::Q5_0}) {
    std::vector<float> x = normal_floats(32, 77, 2.0f);
    std::vector<uint8_t> bytes;
    round_trip(t, x, &bytes);
    uint16_t d, m;
    std::memcpy(&d, bytes.data(), 2);
    std::memcpy(&m, bytes.data() + 2, 2);
    CHECK(std::isfinite(fp16_to_fp32(d)));
    if (t != DType::Q5_0) {
      CHECK(fp16_to_fp32(d) > 0);
      CHECK(fp16_to_fp32(m) <= *std::min_element(x.begin(), x.end()) + 0.5f * fp16_to_fp32(d));
    }
  }
}

TEST_CASE("block encoders: a row is encoded block by block") {
  for (DType t : kTypes) {
    const std::string type = dtype_name(t);
    CAPTURE(type);
    const int n = block_of(t), blocks = 5;
    std::vector<float> x = normal_floats(static_cast<size_t>(n * blocks), 4242, 0.3f);
    std::vector<uint8_t> row;
    round_trip(t, x, &row);
    const size_t bb = row_bytes(t, n);
    for (int k = 0; k < blocks; ++k) {
      std::vector<float> one(x.begin() + k * n, x.begin() + (k + 1) * n);
      std::vector<uint8_t> bytes;
      round_trip(t, one, &bytes);
      CHECK(std::memcmp(bytes.data(), row.data() + k * bb, bb) == 0);
    }
  }
}

TEST_CASE("block encoders: on synth256's weights our error is no worse than llama.cpp's") {
  // Each tensor that llama.cpp's quantizer stored in a type is quantized here from the same F32
  // weights in that type; the squared error summed over the tensors of each type is compared.
  auto f32 = io::GgufFile::open(cria_test::shared_path("models/synth256.f32.gguf"));
  struct Acc { double ours = 0, theirs = 0, ref = 0; };
  std::map<DType, Acc> acc;
  for (const char* name : {"q4_1", "q5_0", "q5_1", "q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k"}) {
    auto q = io::GgufFile::open(cria_test::shared_path(std::string("models/synth256.") + name + ".gguf"));
    for (const io::GgufTensorInfo& ti : q->tensors()) {
      if (ti.n_dims != 2 || ti.dtype == DType::F32) continue;
      const io::GgufTensorInfo* src = f32->find_tensor(ti.name);
      REQUIRE(src != nullptr);
      const int64_t cols = ti.ne[0], rows = ti.ne[1];
      const size_t rb = row_bytes(ti.dtype, cols);
      std::vector<float> x(cols), ours(cols), theirs(cols);
      std::vector<uint8_t> enc(rb);
      Acc& a = acc[ti.dtype];
      for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(x.data(), src->data + r * cols * 4, cols * 4);
        quantize_row(ti.dtype, x.data(), enc.data(), cols);
        dequantize_row(ti.dtype, enc.data(), ours.data(), cols);
        dequantize_row(ti.dtype, ti.data + r * rb, theirs.data(), cols);
        for (int64_t i = 0; i < cols; ++i) {
          a.ours += double(ours[i] - x[i]) * (ours[i] - x[i]);
          a.theirs += double(theirs[i] - x[i]) * (theirs[i] - x[i]);
          a.ref += double(x[i]) * x[i];
        }
      }
    }
  }
  CHECK(acc.size() == 8);
  for (const auto& [t, a] : acc) {
    const std::string type = dtype_name(t);
    CAPTURE(type);
    const double ours = std::sqrt(a.ours / a.ref), theirs = std::sqrt(a.theirs / a.ref);
    MESSAGE(type << ": relative RMS weight error, cria " << ours << ", llama.cpp "
                          << theirs);
    CHECK(ours <= theirs * 1.02);
  }
}
