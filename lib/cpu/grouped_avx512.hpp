#pragma once
// Helpers shared by the AVX-512 and AMX kernels on grouped rows (layout in packed.hpp).
// Include only from translation units compiled with AVX-512 flags; everything here has
// internal linkage, so each of them keeps its own copy.
#include <immintrin.h>

#include <cstdint>

#include "cpu/packed.hpp"

namespace cria::cpu {
namespace {

// Per-lane scale (d * 6-bit scale) and min (dmin * 6-bit min) of a Q4_K group of kLanes
// lanes: 16 (two super-blocks) or 8 (one, a row's last group; lanes 8-15 are zero). The
// header (packed.hpp) holds the lanes' 6-bit scales at bits 6j, then the mins likewise, then
// fp16 d and dmin per super-block.
template <int kLanes>
inline void q4_k_scales_of(const uint8_t* group, __m512* scale, __m512* min) {
  constexpr size_t kPacked = q4_k_packed_bytes(kLanes);
  const __mmask16 lanes = static_cast<__mmask16>((1u << kLanes) - 1);
  // Lane j takes the two bytes that hold bits 6j..6j+5 (each 128-bit lane of the shuffle
  // sees the same 16 bytes), shifts them down by 6j mod 8 and keeps 6 bits.
  const __m512i pick = _mm512_loadu_si512(kQ4KSixBitLanes.pick);
  const __m512i shift = _mm512_loadu_si512(kQ4KSixBitLanes.shift);
  auto six_bits = [&](const uint8_t* bits) {
    const __m512i bytes = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bits)));
    const __m512i fields = _mm512_srlv_epi32(_mm512_shuffle_epi8(bytes, pick), shift);
    return _mm512_maskz_cvtepi32_ps(lanes, _mm512_and_si512(fields, _mm512_set1_epi32(63)));
  };
  // d, dmin of each super-block as floats, spread over the super-block's 8 lanes.
  const uint8_t* halves = group + 2 * kPacked;
  const __m512 dd = _mm512_castps128_ps512(_mm_cvtph_ps(
      kLanes == 16 ? _mm_loadl_epi64(reinterpret_cast<const __m128i*>(halves)) : _mm_loadu_si32(halves)));
  constexpr int kSecond = kLanes == 16 ? 2 : 0;  // lanes 8-15 of a one-super-block group: anything finite
  const __m512 d = _mm512_permutexvar_ps(
      _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, kSecond, kSecond, kSecond, kSecond, kSecond, kSecond, kSecond, kSecond), dd);
  const __m512 dmin = _mm512_permutexvar_ps(_mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, kSecond + 1, kSecond + 1,
      kSecond + 1, kSecond + 1, kSecond + 1, kSecond + 1, kSecond + 1, kSecond + 1), dd);
  *scale = _mm512_mul_ps(d, six_bits(group));
  *min = _mm512_mul_ps(dmin, six_bits(group + kPacked));
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

// A 4 x 4 transpose of 32-bit words within each 128-bit lane: with in[i] holding lanes (4-byte
// words) 4L .. 4L + 3 of row i in its 128-bit lane L, out[m] holds word m of rows 0-3 there. So
// from 16 lanes of 4 bytes in four vectors, out[m]'s 128-bit lane L holds lanes 4L + m, and
// from 16-byte blocks with block 4L + i in in[i]'s lane L, out[k] holds word k of blocks 4L..4L + 3.
inline void transpose_lanes(const __m512i in[4], __m512i out[4]) {
  const __m512i a = _mm512_unpacklo_epi32(in[0], in[1]), b = _mm512_unpackhi_epi32(in[0], in[1]);
  const __m512i c = _mm512_unpacklo_epi32(in[2], in[3]), d = _mm512_unpackhi_epi32(in[2], in[3]);
  out[0] = _mm512_unpacklo_epi64(a, c);
  out[1] = _mm512_unpackhi_epi64(a, c);
  out[2] = _mm512_unpacklo_epi64(b, d);
  out[3] = _mm512_unpackhi_epi64(b, d);
}

// Loads the 4-byte lanes of `lanes` (a group of fewer than 16 blocks ends early).
inline __m512i load_lanes(__mmask16 lanes, bool full, const uint8_t* p) {
  return full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi32(lanes, p);
}

}  // namespace
}  // namespace cria::cpu
