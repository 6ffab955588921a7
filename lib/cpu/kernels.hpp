#pragma once
// Dot-product kernels of one weight row with one activation row, per weight type and
// instruction set. Quantized weights meet activations quantized to 8 bits (BlockQ8 for the
// 32-element formats, BlockQ8K for the K-quants) so that the inner loops are integer dot
// products; F32, F16 and BF16 weights meet f32 activations.
//
// Only plain structs and function pointers here: the SIMD translation units are compiled
// for wider instruction sets and must not instantiate shared inline code.
#include <cstddef>
#include <cstdint>

#include "cpu/attention.hpp"
#include "cpu/cpu_features.hpp"
#include "cria/tensor.hpp"

namespace cria::cpu {

struct BlockQ8 {     // 32 activations: x ~= d * qs
  float d;
  int32_t sum;       // sum of qs, for formats with an offset or a min
  int8_t qs[32];
};
struct BlockQ8K {    // 256 activations
  float d;
  int16_t bsums[16]; // sums of each 16 consecutive qs
  int8_t qs[256];
};
static_assert(sizeof(BlockQ8) == 40 && sizeof(BlockQ8K) == 292, "activation block layouts");

enum class ActFormat { F32, Q8, Q8K };

using DotFn = float (*)(const void* w_row, const void* x_row, int64_t n);
// Four consecutive weight rows (row_bytes apart) with one activation row: out[0..3]. Each
// result equals DotFn's for that row bit for bit; interleaving rows only hides memory latency.
using Dot4Fn = void (*)(const void* w_rows, size_t row_bytes, const void* x_row, int64_t n,
                        float* out);
// Four consecutive weight rows with n_tokens activation rows (x_bytes apart), for prompts:
// out[t * out_stride + r] for r < 4, each equal to DotFn's result bit for bit.
using Dot4TokensFn = void (*)(const void* w_rows, size_t row_bytes, const void* x_rows, size_t x_bytes,
                              int64_t n_tokens, int64_t n, float* out, int64_t out_stride);
using QuantizeFn = void (*)(const float* x, void* y, int64_t n);
// Rows in RowLayout::Grouped16 with activations from quantize_grouped_activations (packed.hpp):
// out[t * out_stride + r] for r < n_rows, t < n_tokens.
using GroupedGemmFn = void (*)(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                               const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                               int64_t cols, float* out, int64_t out_stride);

constexpr int kMaxTypes = 32;

struct Kernels {
  Isa isa;
  QuantizeFn quantize_q8;    // n a multiple of 32
  QuantizeFn quantize_q8k;   // n a multiple of 256
  DotFn dot[kMaxTypes];      // indexed by DType value; null: type not supported
  Dot4Fn dot4[kMaxTypes];    // null: use dot row by row
  Dot4TokensFn dot4_tokens[kMaxTypes];  // null: dot4 position by position
  // Attention over the KV cache: y += a * x, and rows stored as fp16.
  void (*axpy_f32)(float a, const float* x, float* y, int64_t n);
  void (*axpy_f16)(float a, const uint16_t* x, float* y, int64_t n);
  void (*f32_to_f16)(const float* x, uint16_t* y, int64_t n);
  // In-place softmax, and gate = silu(gate) * up (ops.hpp); null: the portable ones.
  void (*softmax)(float* x, int64_t n);
  void (*swiglu)(float* gate, const float* up, int64_t n);
  // For the GEMM backends: rows decoded to f32 (null: dequantize_row), f32 to bf16.
  void (*dequantize[kMaxTypes])(const void* row, float* y, int64_t n);
  void (*f32_to_bf16)(const float* x, uint16_t* y, int64_t n);
  void (*f16_to_bf16)(const void* row, uint16_t* y, int64_t n);  // null: decode, then convert
  // Sum of 64-bit words (bytes a multiple of 256): reads memory as fast as this instruction
  // set can, for the bandwidth probe.
  uint64_t (*read_sum)(const void* data, size_t bytes);
  // iterations x 16 x 64 int8 multiply-adds on registers (null: no 8-bit dot instruction
  // worth probing), for the int8 peak probe.
  uint64_t (*int8_peak_loop)(int64_t iterations);
  // Attention of a block of positions over an fp16 KV cache (attention.hpp); null: key by
  // key with dot and axpy_f16.
  AttentionScoresFn attention_scores_f16;
  AttentionValuesFn attention_values_f16;
  // Kernels for grouped rows; null: this instruction set keeps the file's layout.
  GroupedGemmFn grouped_gemm[kMaxTypes];
  // The same products on rows in the file's layout (grouped activations still), equal to
  // grouped_gemm's on the regrouped rows bit for bit; null: none for the type.
  GroupedGemmFn plain_gemm[kMaxTypes];
};

// Decodes one row with the fastest decoder available for its type.
void dequantize_fast(const Kernels& k, DType t, const void* row, float* y, int64_t n);

ActFormat activation_format(DType weight_type);
// Bytes of one activation row of n elements in the format `weight_type` needs.
size_t activation_row_bytes(DType weight_type, int64_t n);
// Converts a row of activations into the format `weight_type` needs (a copy for F32).
void quantize_activations(const Kernels& k, DType weight_type, const float* x, void* y, int64_t n);

const Kernels& scalar_kernels();
const Kernels& avx2_kernels();           // x86-64 targets only
const Kernels& avx512_kernels();
const Kernels& neon_kernels();           // ARM64 targets only
const Kernels& neon_dotprod_kernels();
const Kernels& neon_i8mm_kernels();
const Kernels& kernels_for(Isa isa);
const Kernels& active_kernels();  // for active_isa()

}  // namespace cria::cpu
