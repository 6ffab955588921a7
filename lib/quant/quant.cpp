#include "cria/quant.hpp"

#include <cmath>
#include <cstring>
#include <string>

#include "cria/error.hpp"

namespace cria {

namespace {
uint32_t bits_of(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
float float_of(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
}  // namespace

float fp16_to_fp32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    if (mant == 0) return float_of(sign);
    // Subnormal: renormalise the mantissa.
    uint32_t e = 113;
    while (!(mant & 0x400)) { mant <<= 1; --e; }
    return float_of(sign | (e << 23) | ((mant & 0x3ff) << 13));
  }
  if (exp == 31) return float_of(sign | 0x7f800000u | (mant << 13));
  return float_of(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16(float f) {
  uint32_t x = bits_of(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return sign | 0x7c00 | (x > 0x7f800000u ? 0x200 : 0);  // inf, nan
  if (x >= 0x477ff000u) return sign | 0x7c00;  // rounds past the largest half: infinity
  if (x < 0x38800000u) {
    // Below the smallest normal half: a multiple of 2^-24, rounded to nearest even.
    return sign | static_cast<uint16_t>(std::nearbyint(float_of(x) * 16777216.0f));
  }
  uint32_t h = (((x >> 23) - 112) << 10) | ((x & 0x7fffff) >> 13);
  uint32_t rest = x & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // a carry moves into the exponent
  return sign | static_cast<uint16_t>(h);
}

float bf16_to_fp32(uint16_t h) { return float_of(static_cast<uint32_t>(h) << 16); }

uint16_t fp32_to_bf16(float f) {
  uint32_t x = bits_of(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // nan
  return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

// Decoders of the other block formats, in lib/quant/decode_blocks.cpp.
void dequantize_q4_1(const BlockQ4_1* b, float* y, int64_t n);
void dequantize_q5_0(const BlockQ5_0* b, float* y, int64_t n);
void dequantize_q5_1(const BlockQ5_1* b, float* y, int64_t n);
void dequantize_q2_k(const BlockQ2_K* b, float* y, int64_t n);
void dequantize_q3_k(const BlockQ3_K* b, float* y, int64_t n);
void dequantize_q4_k(const BlockQ4_K* b, float* y, int64_t n);
void dequantize_q5_k(const BlockQ5_K* b, float* y, int64_t n);
void dequantize_q6_k(const BlockQ6_K* b, float* y, int64_t n);
// Encoders of the other block formats, in lib/quant/encode_blocks.cpp.
void quantize_q4_1(const float* x, BlockQ4_1* b, int64_t n);
void quantize_q5_0(const float* x, BlockQ5_0* b, int64_t n);
void quantize_q5_1(const float* x, BlockQ5_1* b, int64_t n);
void quantize_q2_k(const float* x, BlockQ2_K* b, int64_t n);
void quantize_q3_k(const float* x, BlockQ3_K* b, int64_t n);
void quantize_q4_k(const float* x, BlockQ4_K* b, int64_t n);
void quantize_q5_k(const float* x, BlockQ5_K* b, int64_t n);
void quantize_q6_k(const float* x, BlockQ6_K* b, int64_t n);

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::F16: {
      const uint16_t* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
      return;
    }
    case DType::BF16: {
      const uint16_t* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
      return;
    }
    case DType::Q8_0: {
      const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
      for (int64_t k = 0; k < n / kQ8_0Block; ++k) {
        float d = fp16_to_fp32(b[k].d);
        for (int j = 0; j < 32; ++j) dst[k * 32 + j] = d * b[k].qs[j];
      }
      return;
    }
    case DType::Q4_0: {
      const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
      for (int64_t k = 0; k < n / kQ4_0Block; ++k) {
        float d = fp16_to_fp32(b[k].d);
        for (int j = 0; j < 16; ++j) {
          dst[k * 32 + j] = d * static_cast<float>((b[k].qs[j] & 0x0f) - 8);
          dst[k * 32 + j + 16] = d * static_cast<float>((b[k].qs[j] >> 4) - 8);
        }
      }
      return;
    }
    case DType::Q4_1: dequantize_q4_1(static_cast<const BlockQ4_1*>(src), dst, n); return;
    case DType::Q5_0: dequantize_q5_0(static_cast<const BlockQ5_0*>(src), dst, n); return;
    case DType::Q5_1: dequantize_q5_1(static_cast<const BlockQ5_1*>(src), dst, n); return;
    case DType::Q2_K: dequantize_q2_k(static_cast<const BlockQ2_K*>(src), dst, n); return;
    case DType::Q3_K: dequantize_q3_k(static_cast<const BlockQ3_K*>(src), dst, n); return;
    case DType::Q4_K: dequantize_q4_k(static_cast<const BlockQ4_K*>(src), dst, n); return;
    case DType::Q5_K: dequantize_q5_k(static_cast<const BlockQ5_K*>(src), dst, n); return;
    case DType::Q6_K: dequantize_q6_k(static_cast<const BlockQ6_K*>(src), dst, n); return;
    default:
      throw Error(ErrorCode::Unsupported,
                  std::string("no decoder for weight type ") + dtype_name(type));
  }
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  switch (type) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::F16: {
      uint16_t* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
      return;
    }
    case DType::BF16: {
      uint16_t* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
      return;
    }
    case DType::Q8_0: {
      BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
      for (int64_t k = 0; k < n / kQ8_0Block; ++k) {
        const float* x = src + k * 32;
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        float d = amax / 127.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[k].d = fp32_to_fp16(d);
        for (int j = 0; j < 32; ++j) b[k].qs[j] = static_cast<int8_t>(std::lround(x[j] * id));
      }
      return;
    }
    case DType::Q4_0: {
      BlockQ4_0* b = static_cast<BlockQ4_0*>(dst);
      for (int64_t k = 0; k < n / kQ4_0Block; ++k) {
        const float* x = src + k * 32;
        // The signed value of largest magnitude maps to -8, so the full range is used.
        float max = 0;
        for (int j = 0; j < 32; ++j)
          if (std::fabs(x[j]) > std::fabs(max)) max = x[j];
        float d = max / -8.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[k].d = fp32_to_fp16(d);
        for (int j = 0; j < 16; ++j) {
          int lo = static_cast<int>(x[j] * id + 8.5f);
          int hi = static_cast<int>(x[j + 16] * id + 8.5f);
          lo = lo < 0 ? 0 : (lo > 15 ? 15 : lo);
          hi = hi < 0 ? 0 : (hi > 15 ? 15 : hi);
          b[k].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
      }
      return;
    }
    case DType::Q4_1: quantize_q4_1(src, static_cast<BlockQ4_1*>(dst), n); return;
    case DType::Q5_0: quantize_q5_0(src, static_cast<BlockQ5_0*>(dst), n); return;
    case DType::Q5_1: quantize_q5_1(src, static_cast<BlockQ5_1*>(dst), n); return;
    case DType::Q2_K: quantize_q2_k(src, static_cast<BlockQ2_K*>(dst), n); return;
    case DType::Q3_K: quantize_q3_k(src, static_cast<BlockQ3_K*>(dst), n); return;
    case DType::Q4_K: quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), n); return;
    case DType::Q5_K: quantize_q5_k(src, static_cast<BlockQ5_K*>(dst), n); return;
    case DType::Q6_K: quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), n); return;
    default:
      throw Error(ErrorCode::Unsupported,
                  std::string("no encoder for weight type ") + dtype_name(type));
  }
}

}  // namespace cria
