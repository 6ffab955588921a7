#pragma once
// Scalar conversions and GGUF block formats: the reference definitions that kernels are
// tested against. Q8_0: 32 int8 with one fp16 scale; Q4_0: 32 4-bit values (offset 8) with
// one fp16 scale, low nibbles holding elements 0-15 and high nibbles 16-31.
#include <cstdint>

#include "cria/tensor.hpp"

namespace cria {

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);  // round to nearest even
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);  // round to nearest even

constexpr int kQ8_0Block = 32;
constexpr int kQ4_0Block = 32;

#pragma pack(push, 1)
struct BlockQ8_0 {
  uint16_t d;        // scale, fp16
  int8_t qs[32];     // x = d * q
};
struct BlockQ4_0 {
  uint16_t d;        // scale, fp16
  uint8_t qs[16];    // x = d * (nibble - 8)
};
#pragma pack(pop)
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block layout");
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block layout");

// Converts one row of n elements to f32. Throws cria::Error for types without a decoder.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);
// Encodes one row of n f32 elements (F32, F16, BF16, Q8_0, Q4_0), for writers and tests.
void quantize_row(DType type, const float* src, void* dst, int64_t n);

}  // namespace cria
