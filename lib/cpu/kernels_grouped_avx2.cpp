// AVX2 GEMM on grouped Q4_0 / Q4_K / Q5_K / Q6_K rows (layout in packed.hpp), for CPUs without
// AVX-512: each 16-lane group is handled as two halves of eight 32-bit lanes, with the 8-bit
// products summed by vpmaddubsw + vpmaddwd (the weights are at most 63, so the 16-bit pair
// sums cannot saturate; grouped Q8_0's 0-255 could, so Q8_0 keeps the file's layout here).
// Two rows by up to two positions per tile: AVX2 has 16 vector registers.
// Rows in the file's layout run through the same tiles: their blocks are rearranged into the
// grouped lanes as they are read, so that they give the grouped rows' results bit for bit
// (plain_gemm_q4_0_avx2, plain_gemm_q4_k_avx2, plain_gemm_q5_k_avx2, plain_gemm_q6_k_avx2).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "cpu/k_scale_bytes.hpp"
#include "cpu/packed.hpp"

namespace cria::cpu {

namespace {

enum class Kind { Q4_0, Q4_K, Q5_K, Q6_K };

inline __m256i dot_u8s8(__m256i acc, __m256i u8, __m256i s8) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8), _mm256_set1_epi16(1)));
}

// Eight lanes of 4 bytes from p; lanes at or past `count` read as zero (without touching them).
inline __m256i load_lanes(const uint8_t* p, int count) {
  if (count >= 8) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), index);
  return _mm256_maskload_epi32(reinterpret_cast<const int*>(p), mask);
}

// Scale and min (Q4_K) of lanes 8h..8h+7 of a group of `blocks` lanes.
template <Kind kKind>
inline void half_scales(const uint8_t* group, int blocks, int h, __m256* scale, __m256* min) {
  if (kKind == Kind::Q6_K) {  // int8 scales[16], then fp16 d
    uint16_t d;
    std::memcpy(&d, group + 16, 2);
    const __m256i s = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(group + 8 * h)));
    *scale = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(d)), _mm256_cvtepi32_ps(s));
    return;
  }
  if (blocks == kGroupBlocks) {
    if (kKind == Kind::Q4_0) {
      *scale = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group + 16 * h)));
      return;
    }
    // Q4_K: lane j's 6 bits at bits 6j of the packed scales (then of the mins): a byte
    // shuffle takes the two bytes that hold them, a shift and a mask the bits.
    const __m256i pick = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kQ4KSixBitLanes.pick + 8 * h));
    const __m256i shift = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kQ4KSixBitLanes.shift + 8 * h));
    auto six_bits = [&](const uint8_t* bits) {
      const __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bits)));
      const __m256i fields = _mm256_srlv_epi32(_mm256_shuffle_epi8(bytes, pick), shift);
      return _mm256_cvtepi32_ps(_mm256_and_si256(fields, _mm256_set1_epi32(63)));
    };
    constexpr size_t kPacked = q4_k_packed_bytes(kGroupBlocks);
    uint16_t dd[2];
    std::memcpy(dd, group + 2 * kPacked + 4 * h, 4);
    *scale = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(dd[0])), six_bits(group));
    *min = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(dd[1])), six_bits(group + kPacked));
    return;
  }
  // A last group with fewer than 16 lanes: lane by lane (layout in packed.hpp).
  alignas(32) float sc[8] = {}, mn[8] = {};
  for (int i = 0; i < 8 && 8 * h + i < blocks; ++i) {
    const int j = 8 * h + i;
    if (kKind == Kind::Q4_0) {
      uint16_t d;
      std::memcpy(&d, group + 2 * j, 2);
      sc[i] = _cvtsh_ss(d);
      continue;
    }
    q4_k_lane_scale_min(group, blocks, j, &sc[i], &mn[i]);
  }
  *scale = _mm256_load_ps(sc);
  *min = _mm256_load_ps(mn);
}

// Rows as the file stores them, read into the grouped layout's lanes (packed.hpp) for half h
// of a group: the same integers and scales, so the same arithmetic after. Q6_K: lanes 8h..8h+7
// of the super-block, each word one chunk of 6-bit values (not nibbles). Q4_0: blocks
// 8h..8h+7 of the group (each an fp16 scale and 16 bytes of nibbles; blocks at or past
// `count`, in a row's last group, read as zero without touching memory past the row). Q4_K:
// the group's super-block h (fp16 d and dmin, 12 bytes of 6-bit scales and mins, 128 bytes
// of nibbles; the 64 weights of sub-blocks 2c and 2c+1 share 32 bytes, low and high nibbles).
// Q5_K: as Q4_K, with qh[32] between the scales and the nibbles.
struct PlainHalf {
  __m256i words[4];  // words[k] lane i: 4 bytes, low nibbles weights 4k.., high 16 + 4k.. of lane i (Q6_K: weights 4k..)
  __m256 scale, min;
};

// Lanes j and j + 4 in y[j] (one per 128-bit half, 16 bytes each): a 4 x 4 transpose of 32-bit
// words in each half gives word k of lanes 0-3 and 4-7.
inline void transpose_lanes(const __m256i y[4], __m256i words[4]) {
  const __m256i t0 = _mm256_unpacklo_epi32(y[0], y[1]), t1 = _mm256_unpackhi_epi32(y[0], y[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(y[2], y[3]), t3 = _mm256_unpackhi_epi32(y[2], y[3]);
  words[0] = _mm256_unpacklo_epi64(t0, t2);
  words[1] = _mm256_unpackhi_epi64(t0, t2);
  words[2] = _mm256_unpacklo_epi64(t1, t3);
  words[3] = _mm256_unpackhi_epi64(t1, t3);
}

inline __m256i load_halves(const uint8_t* low, const uint8_t* high) {
  return _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(high), reinterpret_cast<const __m128i*>(low));
}

template <Kind kKind>
inline PlainHalf plain_half(const uint8_t* group, int h, int count) {
  PlainHalf half;
  __m256i y[4];
  if constexpr (kKind == Kind::Q4_0) {
    alignas(32) uint8_t partial[8 * 18];
    const uint8_t* b = group + 18 * 8 * h;
    if (count < 8) {
      std::memset(partial, 0, sizeof partial);
      std::memcpy(partial, b, static_cast<size_t>(count) * 18);
      b = partial;
    }
    for (int j = 0; j < 4; ++j) y[j] = load_halves(b + 18 * j + 2, b + 18 * (j + 4) + 2);
    // Inserted one by one: eight 2-byte stores read back as one vector would stall the load.
    auto scale_bits = [&](int j) {
      uint16_t d;
      std::memcpy(&d, b + 18 * j, 2);
      return static_cast<int>(d);
    };
    __m128i d = _mm_cvtsi32_si128(scale_bits(0));
    d = _mm_insert_epi16(d, scale_bits(1), 1);
    d = _mm_insert_epi16(d, scale_bits(2), 2);
    d = _mm_insert_epi16(d, scale_bits(3), 3);
    d = _mm_insert_epi16(d, scale_bits(4), 4);
    d = _mm_insert_epi16(d, scale_bits(5), 5);
    d = _mm_insert_epi16(d, scale_bits(6), 6);
    d = _mm_insert_epi16(d, scale_bits(7), 7);
    half.scale = _mm256_cvtph_ps(d);
    half.min = _mm256_setzero_ps();
  } else if constexpr (kKind == Kind::Q6_K) {
    // Half h is the super-block's weights 128h..128h+127, in four quarters of 32: the low
    // nibbles (quarters 0, 1) or high nibbles (2, 3) of ql[64h..64h+31] and ql[64h+32..], and
    // bits 2q..2q+1 of qh[32h..32h+31] on top (then ql's 128 bytes, qh's 64, int8 scales[16],
    // fp16 d). The 6-bit values are whole here: words[c] is chunk c of each lane.
    const uint8_t* ql = group + 64 * h;
    const __m256i nibble = _mm256_set1_epi8(0x0f), top = _mm256_set1_epi8(0x30);
    const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
    const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 128 + 32 * h));
    const __m256i quarter0 = _mm256_or_si256(_mm256_and_si256(low, nibble), _mm256_and_si256(_mm256_slli_epi16(qh, 4), top));
    const __m256i quarter1 = _mm256_or_si256(_mm256_and_si256(high, nibble), _mm256_and_si256(_mm256_slli_epi16(qh, 2), top));
    const __m256i quarter2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low, 4), nibble), _mm256_and_si256(qh, top));
    const __m256i quarter3 =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(high, 4), nibble), _mm256_and_si256(_mm256_srli_epi16(qh, 2), top));
    // Quarter q holds the 16-weight lanes 2q (low 128 bits) and 2q + 1 (high).
    y[0] = _mm256_permute2x128_si256(quarter0, quarter2, 0x20);
    y[1] = _mm256_permute2x128_si256(quarter0, quarter2, 0x31);
    y[2] = _mm256_permute2x128_si256(quarter1, quarter3, 0x20);
    y[3] = _mm256_permute2x128_si256(quarter1, quarter3, 0x31);
    uint16_t d;
    std::memcpy(&d, group + 208, 2);
    const __m256i s = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(group + 192 + 8 * h)));
    half.scale = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(d)), _mm256_cvtepi32_ps(s));
    half.min = _mm256_setzero_ps();
  } else {
    static_assert(kKind == Kind::Q4_K || kKind == Kind::Q5_K, "the file's layout: Q4_0, Q4_K, Q5_K and Q6_K");
    // Q5_K's super-block adds qh[32] before the nibbles; its fifth bits are read by fifth_bits.
    constexpr bool kQ5 = kKind == Kind::Q5_K;
    const uint8_t* sb = group + (kQ5 ? 176 : 144) * h;
    const __m128i scales_mins = k_scale_bytes(sb + 4);
    const __m256i sc = _mm256_cvtepu8_epi32(scales_mins);
    const __m256i mn = _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(scales_mins, scales_mins));
    uint16_t dd[2];
    std::memcpy(dd, sb, 4);
    half.scale = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(dd[0])), _mm256_cvtepi32_ps(sc));
    half.min = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(dd[1])), _mm256_cvtepi32_ps(mn));
    // Sub-blocks 2c (low nibbles) and 2c+1 (high) of bytes qs[32c..32c+31], as lanes whose
    // bytes hold weight e (low nibble) and 16 + e (high nibble).
    const uint8_t* qs = sb + (kQ5 ? 48 : 16);
    const __m256i nibble = _mm256_set1_epi8(0x0f), high_nibble = _mm256_set1_epi8(static_cast<char>(0xf0));
    __m256i even[2], odd[2];  // [lanes 0 | 2], [1 | 3], then [4 | 6], [5 | 7]
    for (int p = 0; p < 2; ++p) {
      const __m256i first = load_halves(qs + 64 * p, qs + 64 * p + 32);        // bytes 0-15 of chunks 2p, 2p+1
      const __m256i second = load_halves(qs + 64 * p + 16, qs + 64 * p + 48);  // bytes 16-31
      even[p] = _mm256_or_si256(_mm256_and_si256(first, nibble), _mm256_slli_epi16(_mm256_and_si256(second, nibble), 4));
      odd[p] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(first, 4), nibble), _mm256_and_si256(second, high_nibble));
    }
    y[0] = _mm256_permute2x128_si256(even[0], even[1], 0x20);
    y[1] = _mm256_permute2x128_si256(odd[0], odd[1], 0x20);
    y[2] = _mm256_permute2x128_si256(even[0], even[1], 0x31);
    y[3] = _mm256_permute2x128_si256(odd[0], odd[1], 0x31);
  }
  transpose_lanes(y, half.words);
  return half;
}

// Q5_K rows in the file's layout: the fifth bits of chunk c of the eight lanes of super-block
// h (weights 4c..4c+3 of each 32-weight sub-block), at bit 4 of each byte. Bit i of qh[m] is
// the fifth bit of weight m of sub-block i: qh's word c is given to every lane, and lane i
// shifts its bit i down.
inline __m256i fifth_bits(const uint8_t* group, int h, int c) {
  int32_t word;
  std::memcpy(&word, group + 176 * h + 16 + 4 * c, 4);
  const __m256i lane_bit = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i bits = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(word), lane_bit), _mm256_set1_epi8(1));
  return _mm256_slli_epi16(bits, 4);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// kPlain: rows in the file's layout (plain_half, fifth_bits), otherwise grouped rows.
template <Kind kKind, int kRows, int kTokens, bool kPlain = false>
void tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes, int64_t cols,
          float* out, int64_t out_stride, bool prefetch) {
  constexpr bool kQ6 = kKind == Kind::Q6_K;
  const int64_t n_groups = kQ6 ? cols / 256 : (cols / 32 + kGroupBlocks - 1) / kGroupBlocks;
  constexpr bool kK = kKind == Kind::Q4_K || kKind == Kind::Q5_K;  // scales and mins per lane
  const size_t group_bytes = kQ6 ? 210 : kGroupBlocks * (kKind == Kind::Q5_K ? 22 : 18);  // per lane: 18, Q5_K 22
  const size_t act_group = kQ6 ? kGroupedActivationBytesQ6K : kGroupedActivationBytes;
  const __m256i nibble = _mm256_set1_epi8(0x0f), top = _mm256_set1_epi8(0x30), fifth_bit = _mm256_set1_epi8(0x10);
  __m256 acc[kRows][kTokens];
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t g = 0; g < n_groups; ++g) {
    const int blocks = kQ6 ? 16 : static_cast<int>(std::min<int64_t>(kGroupBlocks, cols / 32 - g * kGroupBlocks));
    const size_t offset = static_cast<size_t>(g) * group_bytes;
    if (prefetch)
      for (size_t i = 0; i < kRows * group_bytes; i += 64)
        _mm_prefetch(reinterpret_cast<const char*>(w + (kTokens == 1 ? 1 : 4) * kRows * row_bytes + g * kRows * group_bytes + i),
                     kTokens == 1 ? _MM_HINT_T1 : _MM_HINT_T0);  // L2 when generating, as in the AVX-512 kernels
    const uint8_t* ag = act + g * act_group;
    for (int h = 0; h < 2 && 8 * h < blocks; ++h) {
      const int count = blocks - 8 * h;
      __m256i isum[kRows][kTokens];
      for (int r = 0; r < kRows; ++r)
        for (int t = 0; t < kTokens; ++t) isum[r][t] = _mm256_setzero_si256();
      PlainHalf plain[kPlain ? kRows : 1];
      if constexpr (kPlain)
        for (int r = 0; r < kRows; ++r) plain[r] = plain_half<kKind>(w + r * row_bytes + offset, h, count);
      for (int k = 0; k < (kQ6 ? 2 : 4); ++k) {
        __m256i first[kRows], second[kRows];  // the weights of chunks 2k and 2k+1
        for (int r = 0; r < kRows; ++r) {
          const uint8_t* group = w + r * row_bytes + offset;
          if (kQ6 && kPlain) {
            first[r] = plain[r].words[2 * k];
            second[r] = plain[r].words[2 * k + 1];
          } else if (kQ6) {
            const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 18 + 64 * k + 32 * h));
            const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 146 + 32 * h));
            const __m256i high_even = k == 0 ? _mm256_slli_epi16(high, 4) : high;
            const __m256i high_odd = k == 0 ? _mm256_slli_epi16(high, 2) : _mm256_srli_epi16(high, 2);
            first[r] = _mm256_or_si256(_mm256_and_si256(low, nibble), _mm256_and_si256(high_even, top));
            second[r] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low, 4), nibble),
                                        _mm256_and_si256(high_odd, top));
          } else {
            const __m256i packed =
                kPlain ? plain[r].words[k] : load_lanes(group + 2 * blocks + 4 * blocks * k + 32 * h, count);
            first[r] = _mm256_and_si256(packed, nibble);
            second[r] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), nibble);
            if (kKind == Kind::Q5_K && kPlain) {  // weights 4k.. and 16 + 4k.. of each lane
              first[r] = _mm256_or_si256(first[r], fifth_bits(group, h, k));
              second[r] = _mm256_or_si256(second[r], fifth_bits(group, h, 4 + k));
            } else if (kKind == Kind::Q5_K) {  // bits k and 4+k of each byte of the fifth bits, to bit 4
              const __m256i fifth = load_lanes(group + 18 * blocks + 32 * h, count);
              first[r] = _mm256_or_si256(first[r], _mm256_and_si256(_mm256_slli_epi16(fifth, 4 - k), fifth_bit));
              second[r] = _mm256_or_si256(second[r], _mm256_and_si256(_mm256_srli_epi16(fifth, k), fifth_bit));
            }
          }
        }
        for (int t = 0; t < kTokens; ++t) {
          const uint8_t* xq = ag + t * act_bytes + 128 + 32 * h;
          const __m256i x_first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 64 * (2 * k)));
          const __m256i x_second = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 64 * (2 * k + 1)));
          for (int r = 0; r < kRows; ++r)
            isum[r][t] = dot_u8s8(dot_u8s8(isum[r][t], first[r], x_first), second[r], x_second);
        }
      }
      for (int r = 0; r < kRows; ++r) {
        __m256 scale, min = _mm256_setzero_ps();
        if constexpr (kPlain) {
          scale = plain[r].scale;
          min = plain[r].min;
        } else {
          half_scales<kKind>(w + r * row_bytes + offset, blocks, h, &scale, &min);
        }
        for (int t = 0; t < kTokens; ++t) {
          const uint8_t* at = ag + t * act_bytes;
          const __m256 x_scale = _mm256_loadu_ps(reinterpret_cast<const float*>(at) + 8 * h);
          const __m256i x_sum = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at + 64 + 32 * h));
          __m256i total = isum[r][t];
          if (kKind == Kind::Q4_0) total = _mm256_sub_epi32(total, _mm256_slli_epi32(x_sum, 3));
          if (kKind == Kind::Q6_K) total = _mm256_sub_epi32(total, _mm256_slli_epi32(x_sum, 5));
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(scale, x_scale), acc[r][t]);
          if (kK)
            acc[r][t] = _mm256_fnmadd_ps(min, _mm256_mul_ps(_mm256_cvtepi32_ps(x_sum), x_scale), acc[r][t]);
        }
      }
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) out[t * out_stride + r] = hsum(acc[r][t]);
}

template <Kind kKind, int kRows, bool kPlain>
void row_tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes,
              int64_t n_tokens, int64_t cols, float* out, int64_t out_stride, bool prefetch) {
  if (n_tokens == 2) tile<kKind, kRows, 2, kPlain>(w, row_bytes, act, act_bytes, cols, out, out_stride, prefetch);
  else tile<kKind, kRows, 1, kPlain>(w, row_bytes, act, act_bytes, cols, out, out_stride, prefetch);
}

// Rows by kTokens positions for several positions at once (Q4_0 and Q4_K): each chunk's 8-bit
// products are summed in 16 bits over a whole half-group (vpmaddubsw + vpaddw) and widened
// once (vpmaddwd), which halves the multiplies of dot_u8s8. The sums are exact (8 chunks of
// pairs of 4-bit weights times |activations| <= 127 stay within 16 bits), so every position
// gets the integers, and then the floats, of the one-position tiles. The loops over rows,
// positions and chunks are unrolled so that the sums stay in registers.
template <Kind kKind, int kRows, int kTokens, bool kPlain>
void tile_wide(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes, int64_t cols,
               float* out, int64_t out_stride, bool prefetch) {
  static_assert(kKind == Kind::Q4_0 || kKind == Kind::Q4_K, "5- and 6-bit weights overflow 16-bit sums over a half-group");
  const int64_t n_groups = (cols / 32 + kGroupBlocks - 1) / kGroupBlocks;
  const size_t group_bytes = kGroupBlocks * 18;  // Q4_0 and Q4_K: 18 per lane
  const __m256i nibble = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  __m256 acc[kRows][kTokens];
  #pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
    #pragma GCC unroll 8
    for (int t = 0; t < kTokens; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t g = 0; g < n_groups; ++g) {
    const int blocks = static_cast<int>(std::min<int64_t>(kGroupBlocks, cols / 32 - g * kGroupBlocks));
    const size_t offset = static_cast<size_t>(g) * group_bytes;
    const uint8_t* ag = act + g * kGroupedActivationBytes;
    if (prefetch)  // the rows four tiles ahead, as the other tiles of several positions do
      for (size_t i = 0; i < kRows * group_bytes; i += 64)
        _mm_prefetch(reinterpret_cast<const char*>(w + 4 * kRows * row_bytes + g * kRows * group_bytes + i), _MM_HINT_T0);
    for (int h = 0; h < 2 && 8 * h < blocks; ++h) {
      const int count = blocks - 8 * h;
      __m256i sum16[kRows][kTokens];
      #pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r)
        #pragma GCC unroll 8
        for (int t = 0; t < kTokens; ++t) sum16[r][t] = _mm256_setzero_si256();
      PlainHalf plain[kPlain ? kRows : 1];
      if constexpr (kPlain)
        for (int r = 0; r < kRows; ++r) plain[r] = plain_half<kKind>(w + r * row_bytes + offset, h, count);
      #pragma GCC unroll 8
      for (int k = 0; k < 4; ++k) {
        __m256i first[kRows], second[kRows];  // the weights of chunks 2k and 2k+1
        #pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r) {
          const uint8_t* group = w + r * row_bytes + offset;
          const __m256i packed =
              kPlain ? plain[r].words[k] : load_lanes(group + 2 * blocks + 4 * blocks * k + 32 * h, count);
          first[r] = _mm256_and_si256(packed, nibble);
          second[r] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), nibble);
        }
        #pragma GCC unroll 8
        for (int t = 0; t < kTokens; ++t) {
          const uint8_t* xq = ag + t * act_bytes + 128 + 32 * h;
          const __m256i x_first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 64 * (2 * k)));
          const __m256i x_second = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 64 * (2 * k + 1)));
          #pragma GCC unroll 8
          for (int r = 0; r < kRows; ++r)
            sum16[r][t] = _mm256_add_epi16(sum16[r][t], _mm256_add_epi16(_mm256_maddubs_epi16(first[r], x_first),
                                                                         _mm256_maddubs_epi16(second[r], x_second)));
        }
      }
      // The same arithmetic as the one-position tiles, with what depends only on the row or
      // only on the position worked out once.
      __m256 scale[kRows], min[kRows];
      #pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
        min[r] = _mm256_setzero_ps();
        if constexpr (kPlain) {
          scale[r] = plain[r].scale;
          min[r] = plain[r].min;
        } else {
          half_scales<kKind>(w + r * row_bytes + offset, blocks, h, &scale[r], &min[r]);
        }
      }
      #pragma GCC unroll 8
      for (int t = 0; t < kTokens; ++t) {
        const uint8_t* at = ag + t * act_bytes;
        const __m256 x_scale = _mm256_loadu_ps(reinterpret_cast<const float*>(at) + 8 * h);
        const __m256i x_sum = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at + 64 + 32 * h));
        const __m256i offset_sum = _mm256_slli_epi32(x_sum, 3);                         // Q4_0: 8 sum(x)
        const __m256 min_sum = _mm256_mul_ps(_mm256_cvtepi32_ps(x_sum), x_scale);     // Q4_K
        #pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r) {
          __m256i total = _mm256_madd_epi16(sum16[r][t], ones);
          if (kKind == Kind::Q4_0) total = _mm256_sub_epi32(total, offset_sum);
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(scale[r], x_scale), acc[r][t]);
          if (kKind == Kind::Q4_K) acc[r][t] = _mm256_fnmadd_ps(min[r], min_sum, acc[r][t]);
        }
      }
    }
  }
  #pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
    #pragma GCC unroll 8
    for (int t = 0; t < kTokens; ++t) out[t * out_stride + r] = hsum(acc[r][t]);
}

// Positions in fours through tile_wide, two rows at a time; the rest of the positions as
// for one or two.
template <Kind kKind, bool kPlain>
int64_t rows_wide(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act, size_t act_bytes,
                  int64_t n_tokens, int64_t cols, float* out, int64_t out_stride) {
  constexpr int kRows = 2, kTokens = 4;
  int64_t t0 = 0;
  for (; t0 + kTokens <= n_tokens; t0 += kTokens) {
    int64_t r = 0;
    for (; r + kRows <= n_rows; r += kRows)
      tile_wide<kKind, kRows, kTokens, kPlain>(w + r * row_bytes, row_bytes, act + t0 * act_bytes, act_bytes, cols,
                                       out + t0 * out_stride + r, out_stride, t0 == 0);
    for (; r < n_rows; ++r)
      tile_wide<kKind, 1, kTokens, kPlain>(w + r * row_bytes, row_bytes, act + t0 * act_bytes, act_bytes, cols,
                                   out + t0 * out_stride + r, out_stride, t0 == 0);
  }
  return t0;
}

template <Kind kKind, bool kPlain = false>
void rows(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act, size_t act_bytes,
          int64_t n_tokens, int64_t cols, float* out, int64_t out_stride) {
  int64_t done = 0;
  if constexpr (kKind == Kind::Q4_0 || kKind == Kind::Q4_K) {
    if (n_tokens >= 4) done = rows_wide<kKind, kPlain>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
  }
  for (int64_t t0 = done; t0 < n_tokens; t0 += 2) {
    const int64_t tokens = n_tokens - t0 < 2 ? n_tokens - t0 : 2;
    int64_t r = 0;
    for (; r + 2 <= n_rows; r += 2)
      row_tile<kKind, 2, kPlain>(w + r * row_bytes, row_bytes, act + t0 * act_bytes, act_bytes, tokens, cols,
                         out + t0 * out_stride + r, out_stride, t0 == 0);
    if (r < n_rows)
      row_tile<kKind, 1, kPlain>(w + r * row_bytes, row_bytes, act + t0 * act_bytes, act_bytes, tokens, cols,
                         out + t0 * out_stride + r, out_stride, t0 == 0);
  }
}

}  // namespace

void grouped_gemm_q4_0_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                            size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                            int64_t out_stride) {
  rows<Kind::Q4_0>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void plain_gemm_q4_0_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                          size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                          int64_t out_stride) {
  rows<Kind::Q4_0, true>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void grouped_gemm_q4_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                            size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                            int64_t out_stride) {
  rows<Kind::Q4_K>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void plain_gemm_q4_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                          size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                          int64_t out_stride) {
  rows<Kind::Q4_K, true>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void grouped_gemm_q5_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                            size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                            int64_t out_stride) {
  rows<Kind::Q5_K>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void plain_gemm_q5_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                          size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                          int64_t out_stride) {
  rows<Kind::Q5_K, true>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void grouped_gemm_q6_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                            size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                            int64_t out_stride) {
  rows<Kind::Q6_K>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void plain_gemm_q6_k_avx2(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
                          size_t act_bytes, int64_t n_tokens, int64_t cols, float* out,
                          int64_t out_stride) {
  rows<Kind::Q6_K, true>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

}  // namespace cria::cpu
