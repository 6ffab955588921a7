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

// Per-lane scale (d * 6-bit scale) and min (dmin * 6-bit min) of a Q4_K group's header.
inline void q4_k_scales(const uint8_t* group, int blocks, __m512* scale, __m512* min) {
  if (blocks == kGroupBlocks) {
    const __m512i low_shift = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4);
    const __m512i pair_shift = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    auto six_bits = [&](const uint8_t* low, const uint8_t* high) {
      const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(low));
      const __m512i lo = _mm512_and_si512(
          _mm512_srlv_epi32(_mm512_cvtepu8_epi32(_mm_unpacklo_epi64(bytes, bytes)), low_shift),
          _mm512_set1_epi32(15));
      uint32_t bits;
      std::memcpy(&bits, high, 4);
      const __m512i hi = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(static_cast<int>(bits)), pair_shift),
                                          _mm512_set1_epi32(3));
      return _mm512_cvtepi32_ps(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)));
    };
    const __m256i dd = _mm256_castsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(group + 24)));
    const __m512 d = _mm512_cvtph_ps(_mm256_permutexvar_epi16(
        _mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2), dd));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_permutexvar_epi16(
        _mm256_setr_epi16(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3), dd));
    *scale = _mm512_mul_ps(d, six_bits(group, group + 16));
    *min = _mm512_mul_ps(dmin, six_bits(group + 8, group + 20));
    return;
  }
  if (blocks == kGroupBlocks / 2) {
    // A last group of one super-block (a 11008-wide row ends with one): the same fields at
    // half the width in lanes 0-7, lanes 8-15 zero.
    const __m512i low_shift = _mm512_setr_epi32(0, 8, 16, 24, 4, 12, 20, 28, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i pair_shift = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    auto six_bits = [&](const uint8_t* low, const uint8_t* high) {
      uint32_t nibbles;
      uint16_t pairs;
      std::memcpy(&nibbles, low, 4);
      std::memcpy(&pairs, high, 2);
      const __m512i lo = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(static_cast<int>(nibbles)), low_shift),
                                          _mm512_set1_epi32(15));
      const __m512i hi = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(pairs), pair_shift), _mm512_set1_epi32(3));
      return _mm512_maskz_cvtepi32_ps(0x00ff, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)));
    };
    uint16_t d, dmin;
    std::memcpy(&d, group + 12, 2);
    std::memcpy(&dmin, group + 14, 2);
    *scale = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(d)), six_bits(group, group + 8));
    *min = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(dmin)), six_bits(group + 4, group + 10));
    return;
  }
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
