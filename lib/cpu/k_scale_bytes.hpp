#pragma once
// The 6-bit sub-block scales and mins of a Q4_K / Q5_K super-block, unpacked with SSE2 for the
// SIMD kernels that read the file's layout. Include only from translation units compiled with
// SIMD flags; internal linkage, so each keeps its own copy.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace cria::cpu {
namespace {

// From the super-block's 12 bytes of scales: the eight sub-blocks' 6-bit scales in bytes 0-7
// and their mins in bytes 8-15. Those of sub-blocks 0-3 are the low bits of bytes 0-3 (scales)
// and 4-7 (mins); those of 4-7 take their low 4 bits from bytes 8-11 and their top 2 from the
// top bits of bytes 0-3 and 4-7.
inline __m128i k_scale_bytes(const uint8_t* q) {
  uint32_t w0, w1, w2;
  std::memcpy(&w0, q, 4);
  std::memcpy(&w1, q + 4, 4);
  std::memcpy(&w2, q + 8, 4);
  const __m128i low6 = _mm_set1_epi32(0x3f3f3f3f), low4 = _mm_set1_epi32(0x0f0f0f0f), top2 = _mm_set1_epi32(0x30303030);
  const __m128i v0 = _mm_cvtsi32_si128(static_cast<int>(w0)), v1 = _mm_cvtsi32_si128(static_cast<int>(w1));
  const __m128i v2 = _mm_cvtsi32_si128(static_cast<int>(w2));
  const __m128i sc_low = _mm_and_si128(v0, low6);
  const __m128i sc_high = _mm_or_si128(_mm_and_si128(v2, low4), _mm_and_si128(_mm_srli_epi16(v0, 2), top2));
  const __m128i mn_low = _mm_and_si128(v1, low6);
  const __m128i mn_high = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(v2, 4), low4), _mm_and_si128(_mm_srli_epi16(v1, 2), top2));
  return _mm_unpacklo_epi64(_mm_unpacklo_epi32(sc_low, sc_high), _mm_unpacklo_epi32(mn_low, mn_high));
}

}  // namespace
}  // namespace cria::cpu
