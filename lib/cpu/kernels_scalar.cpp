// Portable kernels for every weight type: decode a block's integers, integer dot product
// with the activations, then scale. The SIMD kernels compute the same sums.
#include <cmath>
#include <cstring>

#include "cpu/kernels.hpp"
#include "cpu/ops.hpp"
#include "cria/quant.hpp"

namespace cria::cpu {

namespace {

// x rounded to the nearest int8, saturated; NaN gives 0 (converting it is undefined in C++).
inline int8_t to_int8(float x) {
  const float q = std::nearbyint(x);
  if (q >= 127.0f) return 127;
  if (q <= -128.0f) return -128;
  return q == q ? static_cast<int8_t>(q) : 0;
}

void quantize_q8(const float* x, void* out, int64_t n) {
  BlockQ8* y = static_cast<BlockQ8*>(out);
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const float d = amax / 127.0f, id = d != 0 ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) sum += y[b].qs[i] = to_int8(x[i] * id);
    y[b].d = d;
    y[b].sum = sum;
  }
}

void quantize_q8k(const float* x, void* out, int64_t n) {
  BlockQ8K* y = static_cast<BlockQ8K*>(out);
  for (int64_t b = 0; b < n / 256; ++b, x += 256) {
    float amax = 0;
    for (int i = 0; i < 256; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const float d = amax / 127.0f, id = d != 0 ? 127.0f / amax : 0.0f;
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 16 * g; i < 16 * g + 16; ++i)
        sum += y[b].qs[i] = to_int8(x[i] * id);
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = d;
  }
}

float dot_f32(const void* w, const void* x, int64_t n) {
  return cpu::dot_f32(static_cast<const float*>(w), static_cast<const float*>(x), n);
}

template <float (*Convert)(uint16_t)>
float dot_16bit(const void* w, const void* x, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(w);
  const float* a = static_cast<const float*>(x);
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += Convert(h[i + k]) * a[i + k];
  for (int k = 0; i < n; ++i, ++k) acc[k] += Convert(h[i]) * a[i];
  for (int width = 8; width > 0; width /= 2)
    for (int k = 0; k < width; ++k) acc[k] += acc[k + width];
  return acc[0];
}

int32_t idot(const int8_t* a, const int8_t* b, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// The 32-element formats: decode one block's integer values q and its scale and offset such
// that w = d * q + m.
float dot_q8_0(const void* w, const void* x, int64_t n) {
  const BlockQ8_0* wb = static_cast<const BlockQ8_0*>(w);
  const BlockQ8* xb = static_cast<const BlockQ8*>(x);
  float acc = 0;
  for (int64_t b = 0; b < n / 32; ++b)
    acc += fp16_to_fp32(wb[b].d) * xb[b].d * idot(wb[b].qs, xb[b].qs, 32);
  return acc;
}

float dot_q4_0(const void* w, const void* x, int64_t n) {
  const BlockQ4_0* wb = static_cast<const BlockQ4_0*>(w);
  const BlockQ8* xb = static_cast<const BlockQ8*>(x);
  float acc = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j)
      s += (wb[b].qs[j] & 0x0f) * xb[b].qs[j] + (wb[b].qs[j] >> 4) * xb[b].qs[j + 16];
    acc += fp16_to_fp32(wb[b].d) * xb[b].d * (s - 8 * xb[b].sum);
  }
  return acc;
}

float dot_q4_1(const void* w, const void* x, int64_t n) {
  const BlockQ4_1* wb = static_cast<const BlockQ4_1*>(w);
  const BlockQ8* xb = static_cast<const BlockQ8*>(x);
  float acc = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j)
      s += (wb[b].qs[j] & 0x0f) * xb[b].qs[j] + (wb[b].qs[j] >> 4) * xb[b].qs[j + 16];
    acc += fp16_to_fp32(wb[b].d) * xb[b].d * s + fp16_to_fp32(wb[b].m) * xb[b].d * xb[b].sum;
  }
  return acc;
}

template <typename Block>
int32_t q5_dot(const Block& w, const BlockQ8& x) {
  uint32_t qh;
  std::memcpy(&qh, w.qh, 4);
  int32_t s = 0;
  for (int j = 0; j < 16; ++j) {
    s += ((w.qs[j] & 0x0f) | (((qh >> j) & 1) << 4)) * x.qs[j];
    s += ((w.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) * x.qs[j + 16];
  }
  return s;
}

float dot_q5_0(const void* w, const void* x, int64_t n) {
  const BlockQ5_0* wb = static_cast<const BlockQ5_0*>(w);
  const BlockQ8* xb = static_cast<const BlockQ8*>(x);
  float acc = 0;
  for (int64_t b = 0; b < n / 32; ++b)
    acc += fp16_to_fp32(wb[b].d) * xb[b].d * (q5_dot(wb[b], xb[b]) - 16 * xb[b].sum);
  return acc;
}

float dot_q5_1(const void* w, const void* x, int64_t n) {
  const BlockQ5_1* wb = static_cast<const BlockQ5_1*>(w);
  const BlockQ8* xb = static_cast<const BlockQ8*>(x);
  float acc = 0;
  for (int64_t b = 0; b < n / 32; ++b)
    acc += fp16_to_fp32(wb[b].d) * xb[b].d * q5_dot(wb[b], xb[b]) +
           fp16_to_fp32(wb[b].m) * xb[b].d * xb[b].sum;
  return acc;
}

// K-quants: the super-block's values w = d * scale_g * q - dmin * min_g for groups g of 16
// (or 32) values; the dot product is d * sum_g scale_g * (q . a)_g - dmin * sum_g min_g * sum(a)_g.
int32_t group_dot(const int8_t* q, const int8_t* a, int n) { return idot(q, a, n); }

float dot_q2_k(const void* w, const void* x, int64_t n) {
  const BlockQ2_K* wb = static_cast<const BlockQ2_K*>(w);
  const BlockQ8K* xb = static_cast<const BlockQ8K*>(x);
  float acc = 0;
  for (int64_t b = 0; b < n / 256; ++b) {
    int8_t q[256];
    for (int half = 0; half < 2; ++half)
      for (int shift = 0; shift < 4; ++shift)
        for (int l = 0; l < 32; ++l)
          q[128 * half + 32 * shift + l] = (wb[b].qs[32 * half + l] >> (2 * shift)) & 3;
    int32_t scaled = 0, mins = 0;
    for (int g = 0; g < 16; ++g) {
      scaled += (wb[b].scales[g] & 0x0f) * group_dot(q + 16 * g, xb[b].qs + 16 * g, 16);
      mins += (wb[b].scales[g] >> 4) * xb[b].bsums[g];
    }
    acc += xb[b].d * (fp16_to_fp32(wb[b].d) * scaled - fp16_to_fp32(wb[b].dmin) * mins);
  }
  return acc;
}

float dot_q3_k(const void* w, const void* x, int64_t n) {
  const BlockQ3_K* wb = static_cast<const BlockQ3_K*>(w);
  const BlockQ8K* xb = static_cast<const BlockQ8K*>(x);
  float acc = 0;
  for (int64_t b = 0; b < n / 256; ++b) {
    int8_t q[256];
    for (int half = 0; half < 2; ++half)
      for (int shift = 0; shift < 4; ++shift)
        for (int l = 0; l < 32; ++l) {
          const int bit = 4 * half + shift;
          q[128 * half + 32 * shift + l] =
              static_cast<int8_t>(((wb[b].qs[32 * half + l] >> (2 * shift)) & 3) -
                                  ((wb[b].hmask[l] >> bit) & 1 ? 0 : 4));
        }
    int32_t scaled = 0;
    for (int g = 0; g < 16; ++g) {
      const int low = g < 8 ? (wb[b].scales[g] & 0x0f) : (wb[b].scales[g - 8] >> 4);
      const int high = (wb[b].scales[8 + (g % 4)] >> (2 * (g / 4))) & 3;
      scaled += ((low | (high << 4)) - 32) * group_dot(q + 16 * g, xb[b].qs + 16 * g, 16);
    }
    acc += xb[b].d * fp16_to_fp32(wb[b].d) * scaled;
  }
  return acc;
}


template <typename Block, bool kFifthBit>
float dot_q45_k(const void* w, const void* x, int64_t n) {
  const Block* wb = static_cast<const Block*>(w);
  const BlockQ8K* xb = static_cast<const BlockQ8K*>(x);
  float acc = 0;
  for (int64_t b = 0; b < n / 256; ++b) {
    int8_t q[256];
    for (int chunk = 0; chunk < 4; ++chunk)
      for (int l = 0; l < 32; ++l) {
        const uint8_t byte = wb[b].qs[32 * chunk + l];
        int lo = byte & 0x0f, hi = byte >> 4;
        if constexpr (kFifthBit) {
          lo |= ((wb[b].qh[l] >> (2 * chunk)) & 1) << 4;
          hi |= ((wb[b].qh[l] >> (2 * chunk + 1)) & 1) << 4;
        }
        q[64 * chunk + l] = static_cast<int8_t>(lo);
        q[64 * chunk + 32 + l] = static_cast<int8_t>(hi);
      }
    int32_t scaled = 0, mins = 0;
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      k_quant_scale_min(j, wb[b].scales, &sc, &m);
      scaled += sc * group_dot(q + 32 * j, xb[b].qs + 32 * j, 32);
      mins += m * (xb[b].bsums[2 * j] + xb[b].bsums[2 * j + 1]);
    }
    acc += xb[b].d * (fp16_to_fp32(wb[b].d) * scaled - fp16_to_fp32(wb[b].dmin) * mins);
  }
  return acc;
}

float dot_q6_k(const void* w, const void* x, int64_t n) {
  const BlockQ6_K* wb = static_cast<const BlockQ6_K*>(w);
  const BlockQ8K* xb = static_cast<const BlockQ8K*>(x);
  float acc = 0;
  for (int64_t b = 0; b < n / 256; ++b) {
    uint8_t values[256];
    q6_k_values(wb[b], values);
    int8_t q[256];
    for (int i = 0; i < 256; ++i) q[i] = static_cast<int8_t>(values[i] - 32);
    int32_t scaled = 0;
    for (int g = 0; g < 16; ++g) scaled += wb[b].scales[g] * group_dot(q + 16 * g, xb[b].qs + 16 * g, 16);
    acc += xb[b].d * fp16_to_fp32(wb[b].d) * scaled;
  }
  return acc;
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void axpy_f16(float a, const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * fp16_to_fp32(x[i]);
}

void f32_to_f16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void f32_to_bf16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

uint64_t read_sum(const void* data, size_t bytes) {
  const uint64_t* p = static_cast<const uint64_t*>(data);
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (size_t i = 0; i < bytes / 8; i += 4) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
  }
  return a0 + a1 + a2 + a3;
}

Kernels make_scalar() {
  Kernels k{};
  k.isa = Isa::Scalar;
  k.quantize_q8 = quantize_q8;
  k.quantize_q8k = quantize_q8k;
  k.dot[static_cast<int>(DType::F32)] = dot_f32;
  k.dot[static_cast<int>(DType::F16)] = dot_16bit<fp16_to_fp32>;
  k.dot[static_cast<int>(DType::BF16)] = dot_16bit<bf16_to_fp32>;
  k.dot[static_cast<int>(DType::Q8_0)] = dot_q8_0;
  k.dot[static_cast<int>(DType::Q4_0)] = dot_q4_0;
  k.dot[static_cast<int>(DType::Q4_1)] = dot_q4_1;
  k.dot[static_cast<int>(DType::Q5_0)] = dot_q5_0;
  k.dot[static_cast<int>(DType::Q5_1)] = dot_q5_1;
  k.dot[static_cast<int>(DType::Q2_K)] = dot_q2_k;
  k.dot[static_cast<int>(DType::Q3_K)] = dot_q3_k;
  k.dot[static_cast<int>(DType::Q4_K)] = dot_q45_k<BlockQ4_K, false>;
  k.dot[static_cast<int>(DType::Q5_K)] = dot_q45_k<BlockQ5_K, true>;
  k.dot[static_cast<int>(DType::Q6_K)] = dot_q6_k;
  k.axpy_f32 = axpy_f32;
  k.axpy_f16 = axpy_f16;
  k.f32_to_f16 = f32_to_f16;
  k.f32_to_bf16 = f32_to_bf16;
  k.read_sum = read_sum;
  return k;
}

}  // namespace

const Kernels& scalar_kernels() {
  static const Kernels k = make_scalar();
  return k;
}

const Kernels& kernels_for(Isa isa) {
  switch (isa) {
#if defined(__x86_64__)
    case Isa::Avx512: return avx512_kernels();
    case Isa::Avx2: return avx2_kernels();
#elif defined(__aarch64__)
    case Isa::NeonI8mm: return neon_i8mm_kernels();
    case Isa::NeonDotprod: return neon_dotprod_kernels();
    case Isa::Neon: return neon_kernels();
#endif
    default: return scalar_kernels();
  }
}

const Kernels& active_kernels() {
  static const Kernels& k = kernels_for(active_isa());
  return k;
}

void dequantize_fast(const Kernels& k, DType t, const void* row, float* y, int64_t n) {
  if (auto fn = k.dequantize[static_cast<int>(t)]) fn(row, y, n);
  else dequantize_row(t, row, y, n);
}

ActFormat activation_format(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: return ActFormat::F32;
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return ActFormat::Q8K;
    default: return ActFormat::Q8;
  }
}

size_t activation_row_bytes(DType t, int64_t n) {
  switch (activation_format(t)) {
    case ActFormat::F32: return static_cast<size_t>(n) * sizeof(float);
    case ActFormat::Q8: return static_cast<size_t>(n / 32) * sizeof(BlockQ8);
    case ActFormat::Q8K: return static_cast<size_t>(n / 256) * sizeof(BlockQ8K);
  }
  return 0;
}

void quantize_activations(const Kernels& k, DType t, const float* x, void* y, int64_t n) {
  switch (activation_format(t)) {
    case ActFormat::F32: std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float)); return;
    case ActFormat::Q8: k.quantize_q8(x, y, n); return;
    case ActFormat::Q8K: k.quantize_q8k(x, y, n); return;
  }
}

}  // namespace cria::cpu
