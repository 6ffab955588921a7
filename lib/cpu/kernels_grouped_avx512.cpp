// AVX-512 VNNI GEMM on grouped Q4_0 / Q8_0 rows (layout in packed.hpp). Each 32-bit lane
// of the accumulator is one block: eight vpdpbusd cover 16 blocks, then one subtraction
// removes the weights' offset, one conversion and one fused multiply-add apply both scales.
// Compiled with AVX-512 flags; called only when the
// CPU has them.
#include <immintrin.h>

#include "cpu/packed.hpp"

// GCC 12 flags the undefined upper halves inside its own reduction intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace cria::cpu {

namespace {

// vpdpbusd through inline assembly: GCC 12 treats the intrinsic as non-destructive and
// surrounds each one with register copies, which halves the kernel's throughput.
// Loads the 4-byte lanes of `lanes` (a group of fewer than 16 blocks ends early).
inline __m512i load_lanes(__mmask16 lanes, bool full, const uint8_t* p) {
  return full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi32(lanes, p);
}

inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
  return acc;
}

// kRows rows by kTokens positions. Per group, each weight chunk is loaded and unpacked once
// for all positions, each activation chunk once for all rows, and the kRows * kTokens
// accumulators are independent chains of vpdpbusd.
template <bool kQ4, int kRows, int kTokens>
void gemm_tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes,
               int64_t cols, float* out, int64_t out_stride) {
  const int64_t n_blocks = cols / 32;
  const int64_t n_groups = (n_blocks + kGroupBlocks - 1) / kGroupBlocks;
  const size_t block_bytes = kQ4 ? 18 : 34;
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  __m512 acc[kRows][kTokens];
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t g = 0; g < n_groups; ++g) {
    const int64_t left = n_blocks - g * kGroupBlocks;
    const int blocks = left < kGroupBlocks ? static_cast<int>(left) : kGroupBlocks;
    const __mmask16 lanes = static_cast<__mmask16>((1u << blocks) - 1);
    const bool full = blocks == kGroupBlocks;
    const size_t group_offset = static_cast<size_t>(g) * kGroupBlocks * block_bytes;
    const uint8_t* ag = act + g * kGroupedActivationBytes;
    // The rows after this tile, a slice per group: by the time they are needed they are in
    // cache, where the hardware prefetcher alone leaves generation short of the bandwidth.
    const uint8_t* ahead = w + kRows * row_bytes + g * kRows * kGroupBlocks * block_bytes;
    if (kTokens == 1)
      for (size_t i = 0; i < kRows * kGroupBlocks * block_bytes; i += 64)
        _mm_prefetch(reinterpret_cast<const char*>(ahead + i), _MM_HINT_T0);
    __m512i isum[kRows][kTokens];
    for (int r = 0; r < kRows; ++r)
      for (int t = 0; t < kTokens; ++t) isum[r][t] = _mm512_setzero_si512();
    if (kQ4) {
      for (int k = 0; k < 4; ++k) {
        __m512i low[kRows], high[kRows];
        for (int r = 0; r < kRows; ++r) {
          const uint8_t* q = w + r * row_bytes + group_offset + 2 * blocks + 4 * blocks * k;
          const __m512i packed = load_lanes(lanes, full, q);
          low[r] = _mm512_and_si512(packed, nibble);
          high[r] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), nibble);
        }
        for (int t = 0; t < kTokens; ++t) {
          const uint8_t* xq = ag + t * act_bytes + 128;
          const __m512i x_low = _mm512_loadu_si512(xq + 64 * (2 * k));
          const __m512i x_high = _mm512_loadu_si512(xq + 64 * (2 * k + 1));
          for (int r = 0; r < kRows; ++r) {
            isum[r][t] = dpbusd(isum[r][t], low[r], x_low);
            isum[r][t] = dpbusd(isum[r][t], high[r], x_high);
          }
        }
      }
    } else {
      for (int c = 0; c < 8; ++c) {
        __m512i wq[kRows];
        for (int r = 0; r < kRows; ++r)
          wq[r] = load_lanes(lanes, full, w + r * row_bytes + group_offset + 2 * blocks + 4 * blocks * c);
        for (int t = 0; t < kTokens; ++t) {
          const __m512i x = _mm512_loadu_si512(ag + t * act_bytes + 128 + 64 * c);
          for (int r = 0; r < kRows; ++r) isum[r][t] = dpbusd(isum[r][t], wq[r], x);
        }
      }
    }
    // Remove the weights' offset (8 for Q4_0, 128 for Q8_0) times each block's activation
    // sum, then apply both scales.
    for (int t = 0; t < kTokens; ++t) {
      const uint8_t* at = ag + t * act_bytes;
      const __m512i offset = _mm512_slli_epi32(_mm512_loadu_si512(at + 64), kQ4 ? 3 : 7);
      const __m512 x_scale = _mm512_loadu_ps(at);
      for (int r = 0; r < kRows; ++r) {
        const __m512 w_scale = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, w + r * row_bytes + group_offset));
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum[r][t], offset)),
                                    _mm512_mul_ps(w_scale, x_scale), acc[r][t]);
      }
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) out[t * out_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}

template <bool kQ4, int kRows>
void gemm_row_tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes,
                   int64_t n_tokens, int64_t cols, float* out, int64_t out_stride) {
  int64_t t = 0;
  for (; t + 4 <= n_tokens; t += 4)
    gemm_tile<kQ4, kRows, 4>(w, row_bytes, act + t * act_bytes, act_bytes, cols, out + t * out_stride, out_stride);
  const uint8_t* a = act + t * act_bytes;
  float* o = out + t * out_stride;
  switch (n_tokens - t) {
    case 3: gemm_tile<kQ4, kRows, 3>(w, row_bytes, a, act_bytes, cols, o, out_stride); break;
    case 2: gemm_tile<kQ4, kRows, 2>(w, row_bytes, a, act_bytes, cols, o, out_stride); break;
    case 1: gemm_tile<kQ4, kRows, 1>(w, row_bytes, a, act_bytes, cols, o, out_stride); break;
    default: break;
  }
}

// Positions in tiles of four on the outside, so that a work item's rows stay in cache while
// each tile of activations is reused by all of them.
template <bool kQ4>
void gemm_rows(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
               size_t act_bytes, int64_t n_tokens, int64_t cols, float* out, int64_t out_stride) {
  for (int64_t t0 = 0; t0 < n_tokens; t0 += 4) {
    const int64_t tokens = n_tokens - t0 < 4 ? n_tokens - t0 : 4;
    const uint8_t* a = act + t0 * act_bytes;
    float* o = out + t0 * out_stride;
    int64_t r = 0;
    for (; r + 4 <= n_rows; r += 4)
      gemm_row_tile<kQ4, 4>(w + r * row_bytes, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride);
    const uint8_t* rest = w + r * row_bytes;
    switch (n_rows - r) {
      case 3: gemm_row_tile<kQ4, 3>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride); break;
      case 2: gemm_row_tile<kQ4, 2>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride); break;
      case 1: gemm_row_tile<kQ4, 1>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride); break;
      default: break;
    }
  }
}

}  // namespace

void grouped_gemm_q4_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<true>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void grouped_gemm_q8_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<false>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

}  // namespace cria::cpu
