#pragma once
// Q4_0, Q8_0, Q4_K, Q5_K and Q6_K weight rows regrouped at load time (RowLayout::Grouped16) so that one 512-bit
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
// t = 8). In place of d[t], 2t header bytes: the sub-blocks' 6-bit scales packed lane after
// lane (lane j at bits 6j..6j+5 of 3t/4 bytes, least significant bit first), the mins the
// same way, then fp16 d and dmin of each super-block. Then the nibbles exactly as Q4_0's
// (w = scale q - min). Q5_K: the same 18t bytes, then each lane's fifth bits as 4t bytes:
// bit k of byte b of lane j is the fifth bit of weight 4k+b (the low nibble of chunk k), bit
// 4+k that of weight 16+4k+b (the high nibble), so that one shift and one mask per chunk put
// them at bit 4 of each byte. A lane's 6 bits lie within two bytes, so SIMD code extracts them
// with a byte shuffle, a variable shift and a mask.
// Q6_K: a group is one super-block (210 bytes), a lane one 16-weight sub-block:
//   int8 scales[16]; fp16 d; uint8 low[2][16][4]: low[k][j][b] = low 4 bits of weights
//   8k+b (low nibble) and 8k+4+b (high nibble) of lane j; uint8 high[16][4]: bits 2c..2c+1
//   of high[j][b] = top 2 bits of weight 4c+b of lane j (w = d scale (q - 32)).
// Activations for these rows (one per position) use groups of 16 lanes, zero-padded:
//   float d[16]; int32 sum[16] (sum of each lane's qs); int8 q[...][16][4]: for 32-weight
//   lanes q[c][j] in the o(c) order (8 chunks, 640 bytes a group); for Q6_K's 16-weight
//   lanes q[c][j][b] = value 16j+4c+b, and d[j] the scale of the 32-block it lies in (4
//   chunks, 384 bytes a group).
#include <cstddef>
#include <cstdint>

#include "cpu/kernels.hpp"
#include "cpu/matrix.hpp"

namespace cria::cpu {

constexpr int kGroupBlocks = 16;
constexpr size_t kGroupedActivationBytes = 16 * 4 + 16 * 4 + 16 * 32;  // per group: 640
constexpr size_t kGroupedActivationBytesQ6K = 16 * 4 + 16 * 4 + 16 * 16;  // 384

// Types and widths that have a grouped layout.
bool groupable(DType t, int64_t cols);
// Rewrites one row from the file's layout to the grouped one (`plain` and `grouped` must not
// overlap; both take row_bytes(t, cols)).
void group_row(DType t, const void* plain, void* grouped, int64_t cols);
// Decodes a grouped row to floats (the same values dequantize_row gives for the plain row).
void dequantize_grouped_row(DType t, const void* grouped, float* y, int64_t cols);

// Scale (d * 6-bit scale) and min (dmin * 6-bit min) of lane j of a grouped Q4_K group of
// `blocks` lanes, read from its header.
void q4_k_lane_scale_min(const uint8_t* group, int blocks, int j, float* scale, float* min);
// Bytes of a Q4_K group's packed 6-bit scales (and again of its mins).
constexpr size_t q4_k_packed_bytes(int blocks) { return static_cast<size_t>(blocks) * 6 / 8; }
// For SIMD code, per lane j of a group: the byte-shuffle indices of the two bytes that hold
// bits 6j..6j+5 (the upper two bytes of the lane cleared), and the shift 6j mod 8 after them.
struct Q4KSixBitLanes {
  uint32_t pick[16];
  uint32_t shift[16];
};
constexpr Q4KSixBitLanes q4_k_six_bit_lanes() {
  Q4KSixBitLanes lanes{};
  for (uint32_t j = 0; j < 16; ++j) {
    const uint32_t byte = 6 * j / 8;
    lanes.pick[j] = 0xffff0000u | (byte + 1) << 8 | byte;
    lanes.shift[j] = 6 * j % 8;
  }
  return lanes;
}
inline constexpr Q4KSixBitLanes kQ4KSixBitLanes = q4_k_six_bit_lanes();

size_t grouped_activation_bytes(DType t, int64_t cols);
// Quantizes one activation row for rows of type t, with the same rounding as the plain
// kernels (quantize_q8: 32 values per scale).
void quantize_grouped_activations(const Kernels& k, DType t, const float* x, void* y, int64_t cols);

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
void grouped_gemm_q5_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride);
void grouped_gemm_q6_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride);
void grouped_gemm_q8_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride);
// The grouped_gemm_*_avx512 kernels on rows in the file's layout, with the same results bit for
// bit.
void plain_gemm_q4_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                            int64_t cols, float* out, int64_t out_stride);
void plain_gemm_q8_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                            int64_t cols, float* out, int64_t out_stride);
void plain_gemm_q4_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                            int64_t cols, float* out, int64_t out_stride);
void plain_gemm_q5_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                            int64_t cols, float* out, int64_t out_stride);
void plain_gemm_q6_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                            int64_t cols, float* out, int64_t out_stride);

// AVX2 versions (kernels_grouped_avx2.cpp) for Q4_0, Q4_K, Q5_K and Q6_K.
void grouped_gemm_q4_0_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                            size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                            int64_t out_stride);
// The grouped_gemm_*_avx2 kernels on rows in the file's layout, with the same results bit for
// bit.
void plain_gemm_q4_0_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                          size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                          int64_t out_stride);
void plain_gemm_q4_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                          size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                          int64_t out_stride);
void grouped_gemm_q4_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                            size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                            int64_t out_stride);
void grouped_gemm_q5_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                            size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                            int64_t out_stride);
void plain_gemm_q5_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                          size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                          int64_t out_stride);
void grouped_gemm_q6_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                            size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                            int64_t out_stride);
void plain_gemm_q6_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                          size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                          int64_t out_stride);

// AMX bf16 GEMM for prompts (kernels_grouped_amx.cpp; call only when amx_active()):
// activations are converted once per call into tiles of 16 positions, and each call decodes
// its rows to bf16 once for all positions. Not bit-identical to the int8 kernels.
// Grouped Q4_0, Q8_0, Q4_K, Q6_K rows; rows in the file's layout of any type cria runs but
// F32, `cols` a multiple of 32.
bool amx_supports(DType t, RowLayout layout, int64_t cols);
// Rows each thread decodes together (two tiles of 16); work items are multiples of it.
constexpr int64_t kAmxPanelRows = 32;
// Size of the buffer amx_prepare_activations needs for n_tokens positions of `cols` values.
size_t amx_activation_values(int64_t n_tokens, int64_t cols);
// Writes the tiles of blocks [block_begin, block_end) (of 32 values) into `buffer` from its
// first 64-byte boundary (a tile row is then one cache line) and returns where the tiles
// start. Calls for disjoint block ranges may run at the same time.
const uint16_t* amx_prepare_activations(const float* x, int64_t x_stride, int64_t n_tokens, int64_t cols,
                                        uint16_t* buffer, int64_t block_begin, int64_t block_end);
// out[t * out_stride + r] for r < n_rows, t < n_tokens.
void amx_gemm(DType t, RowLayout layout, const uint8_t* w, size_t row_bytes, int64_t n_rows,
              const uint16_t* act_tiles, int64_t n_tokens, int64_t cols, float* out, int64_t out_stride);

// `iterations` x 4 tile multiplies of 16 x 16 x 32 bf16 on registers: the AMX peak probe.
uint64_t amx_bf16_peak_loop(int64_t iterations);

// `iterations` x 16 vpdpbusd (64 multiply-adds each) on registers: the int8 peak probe.
uint64_t int8_peak_loop_avx512(int64_t iterations);

}  // namespace cria::cpu
