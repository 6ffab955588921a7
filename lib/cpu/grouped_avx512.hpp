#pragma once
// Helpers shared by the AVX-512 and AMX kernels on grouped rows (layout in packed.hpp).
// Include only from translation units compiled with AVX-512 flags; everything here has
// internal linkage, so each of them keeps its own copy.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "cpu/packed.hpp"

namespace cria::cpu {
namespace {

// Per-lane scale (d * 6-bit scale) and min (dmin * 6-bit min) of a Q4_K group of kLanes
// lanes: 16 (two super-blocks) or 8 (one, a row's last group; lanes 8-15 are zero). The
// header holds kLanes / 2 bytes of low nibbles for the scales, as many for the mins, kLanes / 4
// bytes of high bit pairs for each, then fp16 d and dmin per super-block.
template <int kLanes>
inline void q4_k_scales_of(const uint8_t* group, __m512* scale, __m512* min) {
  constexpr int kHalf = kLanes / 2;
  const __mmask16 lanes = static_cast<__mmask16>((1u << kLanes) - 1);
  // Lane j's nibble: byte j % kHalf, the high nibble from lane kHalf on.
  const __m512i nibble_shift = kLanes == 16 ? _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4)
                                            : _mm512_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i pair_shift = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  auto six_bits = [&](const uint8_t* low, const uint8_t* high) {
    uint64_t nibbles = 0;
    uint32_t pairs = 0;
    std::memcpy(&nibbles, low, kHalf);
    std::memcpy(&pairs, high, kLanes / 4);
    const __m128i bytes = kLanes == 16 ? _mm_set1_epi64x(static_cast<long long>(nibbles))
                                       : _mm_set1_epi32(static_cast<int>(nibbles));
    const __m512i lo = _mm512_and_si512(_mm512_srlv_epi32(_mm512_cvtepu8_epi32(bytes), nibble_shift),
                                        _mm512_set1_epi32(15));
    const __m512i hi = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(static_cast<int>(pairs)), pair_shift),
                                        _mm512_set1_epi32(3));
    return _mm512_maskz_cvtepi32_ps(lanes, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)));
  };
  const uint8_t* dd = group + kLanes + kLanes / 2;  // d, dmin of each super-block
  uint64_t halves = 0;
  std::memcpy(&halves, dd, kLanes / 4 * 2);
  const __m256i dd_words = _mm256_castsi128_si256(_mm_cvtsi64_si128(static_cast<long long>(halves)));
  const __m512 d = _mm512_cvtph_ps(_mm256_permutexvar_epi16(
      _mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2), dd_words));
  const __m512 dmin = _mm512_cvtph_ps(_mm256_permutexvar_epi16(
      _mm256_setr_epi16(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3), dd_words));
  *scale = _mm512_mul_ps(d, six_bits(group, group + kLanes));
  *min = _mm512_mul_ps(dmin, six_bits(group + kHalf, group + kLanes + kLanes / 4));
}

inline void q4_k_scales(const uint8_t* group, int blocks, __m512* scale, __m512* min) {
  if (blocks == kGroupBlocks) return q4_k_scales_of<kGroupBlocks>(group, scale, min);
  if (blocks == kGroupBlocks / 2) return q4_k_scales_of<kGroupBlocks / 2>(group, scale, min);
  // Rows are whole super-blocks, so groups hold 16 or 8 lanes; any other count goes lane by lane.
  alignas(64) float sc[16] = {}, mn[16] = {};
  for (int j = 0; j < blocks; ++j) q4_k_lane_scale_min(group, blocks, j, &sc[j], &mn[j]);
  *scale = _mm512_load_ps(sc);
  *min = _mm512_load_ps(mn);
}

// Loads the 4-byte lanes of `lanes` (a group of fewer than 16 blocks ends early).
inline __m512i load_lanes(__mmask16 lanes, bool full, const uint8_t* p) {
  return full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi32(lanes, p);
}

}  // namespace
}  // namespace cria::cpu
