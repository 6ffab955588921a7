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
struct BlockQ4_1 {
  uint16_t d, m;     // x = d * nibble + m
  uint8_t qs[16];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];     // fifth bit of each of the 32 values
  uint8_t qs[16];    // low four bits; x = d * (q - 16)
};
struct BlockQ5_1 {
  uint16_t d, m;     // x = d * q + m
  uint8_t qh[4];
  uint8_t qs[16];
};
// K-quants: super-blocks of 256 values in sub-blocks with their own 6- or 8-bit scales.
constexpr int kQK_K = 256;
struct BlockQ2_K {
  uint8_t scales[16];  // per 16 values: scale (low 4 bits) and min (high 4 bits)
  uint8_t qs[64];      // 2-bit values
  uint16_t d, dmin;
};
struct BlockQ3_K {
  uint8_t hmask[32];   // high bit of each 3-bit value
  uint8_t qs[64];      // low 2 bits
  uint8_t scales[12];  // sixteen 6-bit scales
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];  // eight 6-bit scales and eight 6-bit mins
  uint8_t qs[128];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];     // low 4 bits
  uint8_t qh[64];      // high 2 bits
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block layout");
static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24,
              "Q4_1/Q5_0/Q5_1 block layouts");
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
                  sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210,
              "K-quant block layouts");
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block layout");

// Scale and min j (0-7) of a Q4_K / Q5_K super-block: 6 bits each, packed in its 12 bytes.
void k_quant_scale_min(int j, const uint8_t* scales, int* scale, int* min);
// The 256 6-bit values (0-63, before the offset of 32) of a Q6_K super-block, in order.
void q6_k_values(const BlockQ6_K& block, uint8_t* q);

// Converts one row of n elements to f32. Throws cria::Error for types without a decoder.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);
// Encodes one row of n f32 elements (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K;
// n a multiple of the block size), for writers and tests. Values must be finite.
void quantize_row(DType type, const float* src, void* dst, int64_t n);

}  // namespace cria
