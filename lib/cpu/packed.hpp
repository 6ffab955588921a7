#pragma once
// Q4_0, Q8_0 and Q4_K weight rows regrouped at load time (RowLayout::Grouped16) so that one 512-bit
// VNNI instruction accumulates 16 blocks at once, one block per 32-bit lane: no horizontal
// sums in the inner loop, one scale multiply per 16 blocks.
//
// A row of B blocks is cut into groups of 16 blocks (the last group holds t = B mod 16 when
// that is not 0). A group of t blocks takes exactly the bytes its blocks took in the file:
//   uint16 d[t]                     the blocks' fp16 scales
//   Q4_0: uint8 q[4][t][4]          q[k][j][0..3] = bytes 4k..4k+3 of block j's qs (low
//                                   nibbles are elements 4k.., high nibbles 16+4k..)
//   Q8_0: uint8 q[8][t][4]          q[c][j][0..3] = 128 + block j's elements o(c)..o(c)+3,
//                                   o(c) = 16 (c & 1) + 4 (c >> 1) (same order as Q4_0's)
// Q4_K: a lane is one 32-weight sub-block, a group two super-blocks (the last may hold one,
// t = 8). In place of d[t], 2t header bytes: the sub-blocks' 6-bit scales and mins as low
// nibbles (byte i: lane i, lane i + t/2 in the high nibble; scales then mins, t/2 bytes
// each), high bit pairs (lane j at bits 2j of t/4 bytes; scales then mins), then fp16 d and
// dmin of each super-block. Then the nibbles exactly as Q4_0's (w = scale q - min).
// Activations for these rows (one per position) use groups of 16 blocks, zero-padded:
//   float d[16]; int32 sum[16] (sum of each block's qs); int8 q[8][16][4] in the o(c) order.
#include <cstddef>
#include <cstdint>

#include "cpu/kernels.hpp"
#include "cria/tensor.hpp"

namespace cria::cpu {

constexpr int kGroupBlocks = 16;
constexpr size_t kGroupedActivationBytes = 16 * 4 + 16 * 4 + 16 * 32;  // per group: 640

// Types and widths that have a grouped layout.
bool groupable(DType t, int64_t cols);
// Rewrites one row from the file's layout to the grouped one (`plain` and `grouped` must not
// overlap; both take row_bytes(t, cols)).
void group_row(DType t, const void* plain, void* grouped, int64_t cols);
// Decodes a grouped row to floats (the same values dequantize_row gives for the plain row).
void dequantize_grouped_row(DType t, const void* grouped, float* y, int64_t cols);

size_t grouped_activation_bytes(int64_t cols);
// Quantizes one activation row with the same rounding as the plain kernels (quantize_q8).
void quantize_grouped_activations(const Kernels& k, const float* x, void* y, int64_t cols);

// out[t * out_stride + r] = dot(row r, activation t) for r < n_rows, t < n_tokens, in plain
// C++: the reference the SIMD kernels are tested against.
void grouped_gemm_reference(DType t, const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens, int64_t cols,
                            float* out, int64_t out_stride);

// AVX-512 VNNI versions (kernels_grouped_avx512.cpp; call only when the CPU has them).
void grouped_gemm_q4_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride);
void grouped_gemm_q4_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride);
void grouped_gemm_q8_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride);

}  // namespace cria::cpu
