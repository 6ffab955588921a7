// AVX-512 VNNI GEMM on grouped Q4_0 / Q8_0 / Q4_K / Q5_K / Q6_K rows (layout in packed.hpp).
// Each 32-bit lane of the accumulator is one block: eight vpdpbusd cover 16 blocks, then one
// subtraction removes the weights' offset, one conversion and one fused multiply-add apply
// both scales. Rows in the file's layout run through the same tiles, their blocks read into
// the grouped lanes as they are loaded, with the same results bit for bit
// (plain_gemm_*_avx512). Compiled with AVX-512 flags; called only when the CPU has them.
#include <immintrin.h>

// GCC 12 flags the undefined upper halves inside its own reduction intrinsics.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/grouped_avx512.hpp"
#include "cpu/k_scale_bytes.hpp"
#include "cpu/packed.hpp"
#include "cria/quant.hpp"

namespace cria::cpu {

namespace {

enum class Kind { Q4_0, Q8_0, Q4_K, Q5_K };

// vpdpbusd through inline assembly: GCC 12 treats the intrinsic as non-destructive and
// surrounds each one with register copies, which slow the inner loop.
inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
  return acc;
}

// Requests `bytes` from `ahead` on. Generation (one position) asks for L2 rather than L1:
// the L1 fill buffers are few, and holding them for DRAM misses caps the read rate. Prompts,
// which fetch a work item ahead and reread every row, keep it in L1.
template <int kTokens>
inline void prefetch_ahead(const uint8_t* ahead, size_t bytes) {
  for (size_t i = 0; i < bytes; i += 64) {
    if (kTokens == 1) _mm_prefetch(reinterpret_cast<const char*>(ahead + i), _MM_HINT_T1);
    else _mm_prefetch(reinterpret_cast<const char*>(ahead + i), _MM_HINT_T0);
  }
}

// Where prefetch_ahead starts, in rows past a tile's first: the next tile, but at least two
// rows on, when generating; the next work item (four tiles of positions on) for prompts.
constexpr int64_t rows_ahead(int rows, int tokens) { return tokens == 1 ? (rows > 2 ? rows : 2) : 4 * rows; }

// Rows in the file's layout (plain_gemm_*_avx512): each group's blocks are read into the
// grouped layout's 16 lanes (packed.hpp) as they are loaded, so that the arithmetic after is
// the grouped rows' and so are the results, bit for bit. A row's last group of fewer than 16
// blocks is read from a zeroed copy (zero blocks give the zero lanes of the grouped kernels'
// masked loads), so that nothing past the row is touched.

// Bytes of 32 weights in the file (and in a grouped row).
constexpr size_t block_bytes_of(Kind k) { return k == Kind::Q8_0 ? 34 : k == Kind::Q5_K ? 22 : 18; }
// A K-quant super-block (eight 32-weight lanes).
constexpr size_t super_block_bytes(Kind k) { return 8 * block_bytes_of(k); }

// The group at `group` of `blocks` blocks, or a zeroed copy of it in `buffer` when it is short.
template <Kind kKind>
inline const uint8_t* whole_group(const uint8_t* group, int blocks, uint8_t* buffer) {
  if (blocks == kGroupBlocks) return group;
  std::memset(buffer, 0, kGroupBlocks * block_bytes_of(kKind));
  std::memcpy(buffer, group, static_cast<size_t>(blocks) * block_bytes_of(kKind));
  return buffer;
}

// words[k] lane j = bytes 4k..4k+3 of the 16 at g + stride * j + offset, for 16 lanes j.
inline void strided_words(const uint8_t* g, size_t stride, size_t offset, __m512i words[4]) {
  __m512i y[4];
  for (int i = 0; i < 4; ++i) {
    auto at = [&](int p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(g + stride * (4 * p + i) + offset)); };
    y[i] = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(at(0)), at(1), 1), at(2), 2), at(3), 3);
  }
  transpose_lanes(y, words);
}

// Word indices for block_scales: block j's scale is 16-bit word kBlockWords * (j % kPerWindow)
// of the 128 bytes at its window.
template <int kBlockWords, int kPerWindow>
struct ScaleWords {
  alignas(64) uint16_t index[32];
  constexpr ScaleWords() : index() {
    for (int j = 0; j < 32; ++j) index[j] = static_cast<uint16_t>(kBlockWords * (j % kPerWindow));
  }
};
template <int kBlockWords, int kPerWindow>
inline constexpr ScaleWords<kBlockWords, kPerWindow> kScaleWords{};

// The fp16 scales that open 16 blocks of kBlockWords 16-bit words, as floats: one two-register
// word permute per window of kPerWindow blocks (their scales within its first 128 bytes).
template <int kBlockWords, int kPerWindow>
inline __m512 block_scales(const uint8_t* g) {
  static_assert((kPerWindow - 1) * kBlockWords < 64 && 16 % kPerWindow == 0, "a window's scales lie in 128 bytes");
  const __m512i index = _mm512_load_si512(kScaleWords<kBlockWords, kPerWindow>.index);
  __m512i d = _mm512_setzero_si512();
  for (int w = 0; w < 16 / kPerWindow; ++w) {
    const uint8_t* window = g + 2 * kBlockWords * kPerWindow * w;
    const __m512i picked = _mm512_permutex2var_epi16(_mm512_loadu_si512(window), index, _mm512_loadu_si512(window + 64));
    d = _mm512_mask_blend_epi16(static_cast<__mmask32>(((1u << kPerWindow) - 1) << (kPerWindow * w)), d, picked);
  }
  return _mm512_cvtph_ps(_mm512_castsi512_si256(d));
}

// Q4_0, Q4_K, Q5_K: words[k] as the grouped layout's nibbles (low nibbles weights 4k.. of each
// lane, high nibbles 16 + 4k..). Q8_0: words[c], c < 8, its weights o(c).. plus 128.
template <Kind kKind>
inline void plain_words(const uint8_t* g, __m512i* words) {
  if constexpr (kKind == Kind::Q4_0) {
    strided_words(g, 18, 2, words);
  } else if constexpr (kKind == Kind::Q8_0) {
    __m512i first[4], second[4];  // bytes 0-15 of each block's int8 values (chunks 0, 2, 4, 6), bytes 16-31
    strided_words(g, 34, 2, first);
    strided_words(g, 34, 18, second);
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int k = 0; k < 4; ++k) {
      words[2 * k] = _mm512_xor_si512(first[k], offset);
      words[2 * k + 1] = _mm512_xor_si512(second[k], offset);
    }
  } else {
    static_assert(kKind == Kind::Q4_K || kKind == Kind::Q5_K, "Q6_K has its own");
    // Super-block s's sub-blocks 2c (low nibbles) and 2c + 1 (high) share qs[32c..32c+31]: with
    // its first 16 bytes in `first` and its last 16 in `second` (128-bit lane c), the even lane
    // takes both low nibbles and the odd lane both high ones.
    const __m512i nibble = _mm512_set1_epi8(0x0f), high_nibble = _mm512_set1_epi8(static_cast<char>(0xf0));
    __m512i even[2], odd[2];
    for (int s = 0; s < 2; ++s) {
      const uint8_t* qs = g + super_block_bytes(kKind) * s + (kKind == Kind::Q5_K ? 48 : 16);
      const __m512i a = _mm512_loadu_si512(qs), b = _mm512_loadu_si512(qs + 64);
      const __m512i first = _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(2, 0, 2, 0));
      const __m512i second = _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 1, 3, 1));
      even[s] = _mm512_or_si512(_mm512_and_si512(first, nibble), _mm512_slli_epi16(_mm512_and_si512(second, nibble), 4));
      odd[s] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(first, 4), nibble), _mm512_and_si512(second, high_nibble));
    }
    // even[s] holds sub-blocks 0, 2, 4, 6 of super-block s, odd[s] 1, 3, 5, 7: lanes 8s + ...
    const __m512i y[4] = {_mm512_shuffle_i64x2(even[0], even[1], _MM_SHUFFLE(2, 0, 2, 0)),   // lanes 0, 4, 8, 12
                          _mm512_shuffle_i64x2(odd[0], odd[1], _MM_SHUFFLE(2, 0, 2, 0)),     // 1, 5, 9, 13
                          _mm512_shuffle_i64x2(even[0], even[1], _MM_SHUFFLE(3, 1, 3, 1)),   // 2, 6, 10, 14
                          _mm512_shuffle_i64x2(odd[0], odd[1], _MM_SHUFFLE(3, 1, 3, 1))};    // 3, 7, 11, 15
    transpose_lanes(y, words);
  }
}

// Q5_K: the grouped layout's fifth bits of the two super-blocks' lanes (bit k of byte b of
// lane j is bit j mod 8 of qh[4k + b], bit 4 + k that of qh[16 + 4k + b]).
inline __m512i plain_fifth_bits(const uint8_t* g) {
  const __m512i qh = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 16))),
                                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + super_block_bytes(Kind::Q5_K) + 16)), 1);
  const __m512i sub_block = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
  const __m512i super_block = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8, 8, 8);
  const __m512i one = _mm512_set1_epi8(1);
  __m512i fifth = _mm512_setzero_si512();
  for (int i = 0; i < 8; ++i) {  // qh's word i (bytes 4i..4i+3) to bit i
    const __m512i word = _mm512_permutexvar_epi32(_mm512_add_epi32(super_block, _mm512_set1_epi32(i)), qh);
    fifth = _mm512_or_si512(fifth, _mm512_slli_epi32(_mm512_and_si512(_mm512_srlv_epi32(word, sub_block), one), i));
  }
  return fifth;
}

// Q4_K, Q5_K: each lane's scale (d * 6-bit scale) and min (dmin * 6-bit min), the same
// products q4_k_scales takes from the grouped header.
template <Kind kKind>
inline void plain_k_scales(const uint8_t* g, __m512* scale, __m512* min) {
  const uint8_t* second = g + super_block_bytes(kKind);
  const __m128i a = k_scale_bytes(g + 4), b = k_scale_bytes(second + 4);
  const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi64(a, b)));
  const __m512 mn = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpackhi_epi64(a, b)));
  auto halves = [&](size_t at) {  // lanes 0-7 from the first super-block, 8-15 from the second
    uint16_t h0, h1;
    std::memcpy(&h0, g + at, 2);
    std::memcpy(&h1, second + at, 2);
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(_cvtsh_ss(h0))),
                                               _mm256_castps_pd(_mm256_set1_ps(_cvtsh_ss(h1))), 1));
  };
  *scale = _mm512_mul_ps(halves(0), sc);
  *min = _mm512_mul_ps(halves(2), mn);
}

// Q6_K: words[c] lane j = the 6-bit weights 16j + 4c .. 16j + 4c + 3 of the super-block (ql[128],
// qh[64], int8 scales[16], fp16 d). Weights 128n + 32q + l (l < 32) take the low (q = 0, 1) or
// high (2, 3) nibbles of ql[64n + 32 (q & 1) + l] and bits 2q of qh[32n + l].
inline void plain_q6_k_words(const uint8_t* g, __m512i words[4]) {
  auto halves = [](const uint8_t* first, const uint8_t* second) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(first))),
                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(second)), 1);
  };
  const __m512i low = halves(g, g + 64), high = halves(g + 32, g + 96);  // ql of both halves
  const __m512i qh = _mm512_loadu_si512(g + offsetof(BlockQ6_K, qh));
  const __m512i nibble = _mm512_set1_epi8(0x0f), top = _mm512_set1_epi8(0x30);
  // Quarter q's 128-bit lanes: lanes 2q, 2q + 1 (first half), 8 + 2q, 9 + 2q (second).
  const __m512i quarter0 = _mm512_or_si512(_mm512_and_si512(low, nibble), _mm512_and_si512(_mm512_slli_epi16(qh, 4), top));
  const __m512i quarter1 = _mm512_or_si512(_mm512_and_si512(high, nibble), _mm512_and_si512(_mm512_slli_epi16(qh, 2), top));
  const __m512i quarter2 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low, 4), nibble), _mm512_and_si512(qh, top));
  const __m512i quarter3 =
      _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(high, 4), nibble), _mm512_and_si512(_mm512_srli_epi16(qh, 2), top));
  const __m512i evens = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), odds = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  const __m512i y[4] = {_mm512_permutex2var_epi64(quarter0, evens, quarter2),   // lanes 0, 4, 8, 12
                        _mm512_permutex2var_epi64(quarter0, odds, quarter2),    // 1, 5, 9, 13
                        _mm512_permutex2var_epi64(quarter1, evens, quarter3),   // 2, 6, 10, 14
                        _mm512_permutex2var_epi64(quarter1, odds, quarter3)};   // 3, 7, 11, 15
  transpose_lanes(y, words);
}

// Loops over the rows and positions of a tile are unrolled before GCC places its arrays of
// vectors, so that the accumulators stay in registers: left as loops, each one is also stored
// to the stack in every group, and a 512-bit store costs about one vpdpbusd slot.
#define CRIA_UNROLL _Pragma("GCC unroll 16")

// kRows rows by kTokens positions. Per group, each weight chunk is loaded and unpacked once
// for all positions, each activation chunk once for all rows, and the kRows * kTokens
// accumulators are independent chains of vpdpbusd.
// `decoded` (Q4_K, may be null): each row's scales and mins already decoded, 32 floats per
// group, `decoded_stride` floats from one row to the next. kPlain: rows in the file's layout.
template <Kind kKind, int kRows, int kTokens, bool kPlain>
void gemm_tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes,
               int64_t cols, float* out, int64_t out_stride, const float* decoded,
               size_t decoded_stride, bool prefetch) {
  const int64_t n_blocks = cols / 32;
  const int64_t n_groups = (n_blocks + kGroupBlocks - 1) / kGroupBlocks;
  constexpr bool kQ4 = kKind != Kind::Q8_0;  // nibbles, unpacked in registers
  constexpr bool kK = kKind == Kind::Q4_K || kKind == Kind::Q5_K;  // scales and mins per lane
  constexpr size_t block_bytes = block_bytes_of(kKind);
  const __m512i fifth_bit = _mm512_set1_epi8(0x10);
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  __m512 acc[kRows][kTokens];
  CRIA_UNROLL for (int r = 0; r < kRows; ++r)
    CRIA_UNROLL for (int t = 0; t < kTokens; ++t) acc[r][t] = _mm512_setzero_ps();
  // One group of 16 blocks, or fewer at a row's end. With full_group true the group is known
  // to be full (plain loads, a constant block count); otherwise the loads are masked to the
  // group's lanes.
  auto group_step = [&](int64_t g, auto full_group) {
    constexpr bool full = decltype(full_group)::value;
    const int blocks = full || n_blocks - g * kGroupBlocks >= kGroupBlocks ? kGroupBlocks : static_cast<int>(n_blocks - g * kGroupBlocks);
    const __mmask16 lanes = static_cast<__mmask16>((1u << blocks) - 1);
    auto lanes_at = [lanes](const uint8_t* p) { return load_lanes(lanes, full, p); };
    const size_t group_offset = static_cast<size_t>(g) * kGroupBlocks * block_bytes;
    const uint8_t* ag = act + g * kGroupedActivationBytes;
    // Rows ahead, a slice per group (on the first pass over the rows): the next tile but at
    // least two rows on when generating, the next work item's rows for prompts. By the time
    // they are needed they are in cache; the hardware prefetcher alone leaves both well short
    // of the bandwidth.
    const uint8_t* ahead = w + rows_ahead(kRows, kTokens) * row_bytes + g * kRows * kGroupBlocks * block_bytes;
    if (prefetch) prefetch_ahead<kTokens>(ahead, kRows * kGroupBlocks * block_bytes);
    // A tile of one row and one position (generation) sums each group in two chains of
    // vpdpbusd, whose latencies overlap; larger tiles have chains enough and no registers to spare.
    constexpr bool kTwoChains = kRows * kTokens == 1;
    __m512i isum[kRows][kTokens], isum_odd[kRows][kTokens];
    CRIA_UNROLL for (int r = 0; r < kRows; ++r)
      CRIA_UNROLL for (int t = 0; t < kTokens; ++t) isum[r][t] = isum_odd[r][t] = _mm512_setzero_si512();
    // kPlain: each row's group (a short one copied), read into the grouped lanes.
    alignas(64) uint8_t short_group[kPlain ? kRows : 1][kPlain ? kGroupBlocks * block_bytes : 1];
    const uint8_t* plain[kRows];
    __m512i words[kRows][kKind == Kind::Q8_0 ? 8 : 4];
    __m512i plain_fifth[kRows];
    if constexpr (kPlain)
      CRIA_UNROLL for (int r = 0; r < kRows; ++r) {
        plain[r] = whole_group<kKind>(w + r * row_bytes + group_offset, blocks, short_group[r]);
        plain_words<kKind>(plain[r], words[r]);
        if constexpr (kKind == Kind::Q5_K) plain_fifth[r] = plain_fifth_bits(plain[r]);
      }
    if (kQ4) {
      // Chunk k's low nibbles (weights 4k.. of each lane), then its high ones (16 + 4k..):
      // one register per row holds the unpacked weights at a time.
      CRIA_UNROLL for (int k = 0; k < 4; ++k)
        CRIA_UNROLL for (int half = 0; half < 2; ++half) {
          __m512i wq[kRows];
          CRIA_UNROLL for (int r = 0; r < kRows; ++r) {
            const uint8_t* q = w + r * row_bytes + group_offset + 2 * blocks + 4 * blocks * k;
            const __m512i packed = kPlain ? words[r][k] : lanes_at(q);
            wq[r] = _mm512_and_si512(half == 0 ? packed : _mm512_srli_epi16(packed, 4), nibble);
            if (kKind == Kind::Q5_K) {  // bit k (low nibbles) or 4+k (high) of each byte of the fifth bits, to bit 4
              const __m512i fifth = kPlain ? plain_fifth[r] : lanes_at(w + r * row_bytes + group_offset + 18 * blocks);
              const __m512i placed = half == 0 ? _mm512_slli_epi16(fifth, 4 - k) : _mm512_srli_epi16(fifth, k);
              wq[r] = _mm512_or_si512(wq[r], _mm512_and_si512(placed, fifth_bit));
            }
          }
          CRIA_UNROLL for (int t = 0; t < kTokens; ++t) {
            const __m512i x = _mm512_loadu_si512(ag + t * act_bytes + 128 + 64 * (2 * k + half));
            CRIA_UNROLL for (int r = 0; r < kRows; ++r) {
              if (kTwoChains && half == 1) isum_odd[r][t] = dpbusd(isum_odd[r][t], wq[r], x);
              else isum[r][t] = dpbusd(isum[r][t], wq[r], x);
            }
          }
        }
    } else {
      CRIA_UNROLL for (int c = 0; c < 8; ++c) {
        __m512i wq[kRows];
        CRIA_UNROLL for (int r = 0; r < kRows; ++r)
          wq[r] = kPlain ? words[r][c] : lanes_at(w + r * row_bytes + group_offset + 2 * blocks + 4 * blocks * c);
        CRIA_UNROLL for (int t = 0; t < kTokens; ++t) {
          const __m512i x = _mm512_loadu_si512(ag + t * act_bytes + 128 + 64 * c);
          CRIA_UNROLL for (int r = 0; r < kRows; ++r) {
            if (kTwoChains && c % 2) isum_odd[r][t] = dpbusd(isum_odd[r][t], wq[r], x);
            else isum[r][t] = dpbusd(isum[r][t], wq[r], x);
          }
        }
      }
    }
    if (kTwoChains)
      CRIA_UNROLL for (int r = 0; r < kRows; ++r)
        CRIA_UNROLL for (int t = 0; t < kTokens; ++t) isum[r][t] = _mm512_add_epi32(isum[r][t], isum_odd[r][t]);
    // Remove the weights' offset (8 for Q4_0, 128 for Q8_0) times each block's activation
    // sum, or for Q4_K the min times that sum, and apply both scales.
    if (kK && decoded) {
      // Scales and mins straight from the decoded copy (L1), which keeps registers free.
      CRIA_UNROLL for (int t = 0; t < kTokens; ++t) {
        const uint8_t* at = ag + t * act_bytes;
        const __m512 x_scale = _mm512_loadu_ps(at);
        const __m512 x_total = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(at + 64)), x_scale);
        CRIA_UNROLL for (int r = 0; r < kRows; ++r) {
          const float* rd = decoded + r * decoded_stride + g * 32;
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][t]), _mm512_mul_ps(_mm512_loadu_ps(rd), x_scale), acc[r][t]);
          acc[r][t] = _mm512_fnmadd_ps(_mm512_loadu_ps(rd + 16), x_total, acc[r][t]);
        }
      }
      return;
    }
    __m512 w_scale[kRows], w_min[kRows];
    CRIA_UNROLL for (int r = 0; r < kRows; ++r) {
      const uint8_t* header = w + r * row_bytes + group_offset;
      if constexpr (kPlain) {
        if constexpr (kK) plain_k_scales<kKind>(plain[r], &w_scale[r], &w_min[r]);
        else if constexpr (kKind == Kind::Q4_0) w_scale[r] = block_scales<9, 8>(plain[r]);
        else w_scale[r] = block_scales<17, 4>(plain[r]);
      } else if (kK) {
        q4_k_scales(header, blocks, &w_scale[r], &w_min[r]);
      } else {
        w_scale[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, header));
      }
    }
    CRIA_UNROLL for (int t = 0; t < kTokens; ++t) {
      const uint8_t* at = ag + t * act_bytes;
      const __m512 x_scale = _mm512_loadu_ps(at);
      const __m512i x_sum = _mm512_loadu_si512(at + 64);
      if (kK) {
        const __m512 x_total = _mm512_mul_ps(_mm512_cvtepi32_ps(x_sum), x_scale);
        CRIA_UNROLL for (int r = 0; r < kRows; ++r) {
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][t]), _mm512_mul_ps(w_scale[r], x_scale), acc[r][t]);
          acc[r][t] = _mm512_fnmadd_ps(w_min[r], x_total, acc[r][t]);
        }
      } else {
        const __m512i offset = _mm512_slli_epi32(x_sum, kKind == Kind::Q4_0 ? 3 : 7);
        CRIA_UNROLL for (int r = 0; r < kRows; ++r)
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum[r][t], offset)),
                                      _mm512_mul_ps(w_scale[r], x_scale), acc[r][t]);
      }
    }
  };
  // Q4_K and Q8_0 run faster with their full groups compiled apart; Q4_0 and Q5_K with one
  // masked body for every group, as GCC then keeps more of their tiles in registers
  // (docs/performance-notes.md).
  constexpr bool kUnmaskedFull = kKind == Kind::Q4_K || kKind == Kind::Q8_0;
  int64_t g = 0;
  if constexpr (kUnmaskedFull)
    for (; g < n_blocks / kGroupBlocks; ++g) group_step(g, std::true_type());
  for (; g < n_groups; ++g) group_step(g, std::false_type());
  CRIA_UNROLL for (int r = 0; r < kRows; ++r)
    CRIA_UNROLL for (int t = 0; t < kTokens; ++t) out[t * out_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}

// Generation (one position) on rows of more than kWideRowBytes: one row at a time, so that
// each tile reads a single stream from memory (two chains of vpdpbusd cover its latency).
// Narrower rows, and Q8_0 rows, run faster in tiles of four.
constexpr size_t kWideRowBytes = 2048;

// Positions per tile of prompts. Q4_0 in tiles of 4 rows by 3 positions keeps its 12
// accumulators and 12 block sums in registers, where 4 by 4 spills some in every group; the
// other types measured faster 4 by 4 (docs/performance-notes.md).
template <Kind kKind>
constexpr int64_t tile_tokens() { return kKind == Kind::Q4_0 ? 3 : 4; }

template <Kind kKind, int kRows, bool kPlain>
void gemm_row_tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes,
                   int64_t n_tokens, int64_t cols, float* out, int64_t out_stride,
                   const float* decoded, size_t decoded_stride, bool prefetch) {
  switch (n_tokens) {
    case 4: gemm_tile<kKind, kRows, 4, kPlain>(w, row_bytes, act, act_bytes, cols, out, out_stride, decoded, decoded_stride, prefetch); break;
    case 3: gemm_tile<kKind, kRows, 3, kPlain>(w, row_bytes, act, act_bytes, cols, out, out_stride, decoded, decoded_stride, prefetch); break;
    case 2: gemm_tile<kKind, kRows, 2, kPlain>(w, row_bytes, act, act_bytes, cols, out, out_stride, decoded, decoded_stride, prefetch); break;
    default: gemm_tile<kKind, kRows, 1, kPlain>(w, row_bytes, act, act_bytes, cols, out, out_stride, decoded, decoded_stride, prefetch); break;
  }
}

// Positions in tiles (tile_tokens) on the outside, so that a work item's rows stay in cache
// while each tile of activations is reused by all of them.
template <Kind kKind, bool kPlain>
void gemm_rows(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
               size_t act_bytes, int64_t n_tokens, int64_t cols, float* out, int64_t out_stride) {
  if (kKind != Kind::Q8_0 && n_tokens == 1 && row_bytes > kWideRowBytes) {
    for (int64_t r = 0; r < n_rows; ++r)
      gemm_tile<kKind, 1, 1, kPlain>(w + r * row_bytes, row_bytes, act, 0, cols, out + r, 1, nullptr, 0, true);
    return;
  }
  // Q4_K and Q5_K with more than one tile of positions: decode the rows' scales and mins once.
  const int64_t n_groups = (cols / 32 + kGroupBlocks - 1) / kGroupBlocks;
  const size_t decoded_stride = static_cast<size_t>(n_groups) * 32;
  const float* decoded = nullptr;
  if ((kKind == Kind::Q4_K || kKind == Kind::Q5_K) && n_tokens > tile_tokens<kKind>()) {
    thread_local std::vector<float> buffer;
    buffer.resize(decoded_stride * static_cast<size_t>(n_rows));
    for (int64_t r = 0; r < n_rows; ++r)
      for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t left = cols / 32 - g * kGroupBlocks;
        const int blocks = left < kGroupBlocks ? static_cast<int>(left) : kGroupBlocks;
        const uint8_t* group = w + r * row_bytes + static_cast<size_t>(g) * kGroupBlocks * block_bytes_of(kKind);
        __m512 scale, min;
        if constexpr (kPlain) {
          alignas(64) uint8_t short_group[kGroupBlocks * block_bytes_of(kKind)];
          plain_k_scales<kKind>(whole_group<kKind>(group, blocks, short_group), &scale, &min);
        } else {
          q4_k_scales(group, blocks, &scale, &min);
        }
        _mm512_storeu_ps(&buffer[r * decoded_stride + g * 32], scale);
        _mm512_storeu_ps(&buffer[r * decoded_stride + g * 32 + 16], min);
      }
    decoded = buffer.data();
  }
  constexpr int64_t kTileTokens = tile_tokens<kKind>();
  for (int64_t t0 = 0, tokens = 0; t0 < n_tokens; t0 += tokens) {
    const int64_t left = n_tokens - t0;
    // One position more than a tile left: two tiles of two, as a tile of one position has too
    // few chains of vpdpbusd to hide their latency.
    tokens = left == kTileTokens + 1 ? 2 : left < kTileTokens ? left : kTileTokens;
    const uint8_t* a = act + t0 * act_bytes;
    float* o = out + t0 * out_stride;
    int64_t r = 0;
    auto rows_decoded = [&](int64_t row) { return decoded ? decoded + row * decoded_stride : nullptr; };
    for (; r + 4 <= n_rows; r += 4)
      gemm_row_tile<kKind, 4, kPlain>(w + r * row_bytes, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, rows_decoded(r), decoded_stride, t0 == 0);
    const uint8_t* rest = w + r * row_bytes;
    switch (n_rows - r) {
      case 3: gemm_row_tile<kKind, 3, kPlain>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, rows_decoded(r), decoded_stride, t0 == 0); break;
      case 2: gemm_row_tile<kKind, 2, kPlain>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, rows_decoded(r), decoded_stride, t0 == 0); break;
      case 1: gemm_row_tile<kKind, 1, kPlain>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, rows_decoded(r), decoded_stride, t0 == 0); break;
      default: break;
    }
  }
}

// Q6_K: one super-block per group and one 16-weight sub-block per lane; each 6-bit weight
// is its low nibble with its two high bits shifted into place (layout in packed.hpp).
template <int kRows, int kTokens, bool kPlain>
void q6_k_tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes,
               int64_t cols, float* out, int64_t out_stride, bool prefetch) {
  constexpr size_t kGroup = 210, kLow = 18, kHigh = 18 + 128;
  const int64_t n_groups = cols / 256;
  const __m512i nibble = _mm512_set1_epi8(0x0f), top = _mm512_set1_epi8(0x30);
  __m512 acc[kRows][kTokens];
  CRIA_UNROLL for (int r = 0; r < kRows; ++r)
    CRIA_UNROLL for (int t = 0; t < kTokens; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t g = 0; g < n_groups; ++g) {
    const uint8_t* ag = act + g * kGroupedActivationBytesQ6K;
    if (prefetch) {
      const uint8_t* ahead = w + rows_ahead(kRows, kTokens) * row_bytes + g * kRows * kGroup;
      prefetch_ahead<kTokens>(ahead, kRows * kGroup);
    }
    constexpr bool kTwoChains = kRows * kTokens == 1;  // as in gemm_tile
    __m512i isum[kRows][kTokens], isum_odd[kRows][kTokens];
    CRIA_UNROLL for (int r = 0; r < kRows; ++r)
      CRIA_UNROLL for (int t = 0; t < kTokens; ++t) isum[r][t] = isum_odd[r][t] = _mm512_setzero_si512();
    __m512i words[kRows][4];  // kPlain: the file's super-block read into the lanes
    if constexpr (kPlain)
      CRIA_UNROLL for (int r = 0; r < kRows; ++r) plain_q6_k_words(w + r * row_bytes + g * kGroup, words[r]);
    CRIA_UNROLL for (int k = 0; k < 2; ++k) {
      __m512i even[kRows], odd[kRows];  // weights 8k+b and 8k+4+b of each lane
      CRIA_UNROLL for (int r = 0; r < kRows; ++r) {
        if constexpr (kPlain) {
          even[r] = words[r][2 * k];
          odd[r] = words[r][2 * k + 1];
          continue;
        }
        const uint8_t* group = w + r * row_bytes + g * kGroup;
        const __m512i low = _mm512_loadu_si512(group + kLow + 64 * k);
        const __m512i high = _mm512_loadu_si512(group + kHigh);
        const __m512i high_even = k == 0 ? _mm512_slli_epi16(high, 4) : high;
        const __m512i high_odd = k == 0 ? _mm512_slli_epi16(high, 2) : _mm512_srli_epi16(high, 2);
        even[r] = _mm512_or_si512(_mm512_and_si512(low, nibble), _mm512_and_si512(high_even, top));
        odd[r] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low, 4), nibble),
                                 _mm512_and_si512(high_odd, top));
      }
      CRIA_UNROLL for (int t = 0; t < kTokens; ++t) {
        const uint8_t* xq = ag + t * act_bytes + 128;
        const __m512i x_even = _mm512_loadu_si512(xq + 64 * (2 * k));
        const __m512i x_odd = _mm512_loadu_si512(xq + 64 * (2 * k + 1));
        CRIA_UNROLL for (int r = 0; r < kRows; ++r) {
          isum[r][t] = dpbusd(isum[r][t], even[r], x_even);
          if (kTwoChains) isum_odd[r][t] = dpbusd(isum_odd[r][t], odd[r], x_odd);
          else isum[r][t] = dpbusd(isum[r][t], odd[r], x_odd);
        }
      }
    }
    if (kTwoChains) isum[0][0] = _mm512_add_epi32(isum[0][0], isum_odd[0][0]);
    __m512 w_scale[kRows];
    CRIA_UNROLL for (int r = 0; r < kRows; ++r) {
      const uint8_t* group = w + r * row_bytes + g * kGroup;
      const size_t scales_at = kPlain ? offsetof(BlockQ6_K, scales) : 0, d_at = kPlain ? offsetof(BlockQ6_K, d) : 16;
      uint16_t d;
      std::memcpy(&d, group + d_at, 2);
      const __m512 scales =
          _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group + scales_at))));
      w_scale[r] = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(d)), scales);
    }
    CRIA_UNROLL for (int t = 0; t < kTokens; ++t) {
      const uint8_t* at = ag + t * act_bytes;
      const __m512 x_scale = _mm512_loadu_ps(at);
      const __m512i offset = _mm512_slli_epi32(_mm512_loadu_si512(at + 64), 5);  // 32 * sum
      CRIA_UNROLL for (int r = 0; r < kRows; ++r)
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum[r][t], offset)),
                                    _mm512_mul_ps(w_scale[r], x_scale), acc[r][t]);
    }
  }
  CRIA_UNROLL for (int r = 0; r < kRows; ++r)
    CRIA_UNROLL for (int t = 0; t < kTokens; ++t) out[t * out_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}

template <int kRows, bool kPlain>
void q6_k_row_tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes,
                   int64_t n_tokens, int64_t cols, float* out, int64_t out_stride, bool prefetch) {
  switch (n_tokens) {
    case 4: q6_k_tile<kRows, 4, kPlain>(w, row_bytes, act, act_bytes, cols, out, out_stride, prefetch); break;
    case 3: q6_k_tile<kRows, 3, kPlain>(w, row_bytes, act, act_bytes, cols, out, out_stride, prefetch); break;
    case 2: q6_k_tile<kRows, 2, kPlain>(w, row_bytes, act, act_bytes, cols, out, out_stride, prefetch); break;
    default: q6_k_tile<kRows, 1, kPlain>(w, row_bytes, act, act_bytes, cols, out, out_stride, prefetch); break;
  }
}

template <bool kPlain>
void q6_k_rows(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
               size_t act_bytes, int64_t n_tokens, int64_t cols, float* out, int64_t out_stride) {
  if (n_tokens == 1 && row_bytes > kWideRowBytes) {  // generation, as in gemm_rows
    for (int64_t r = 0; r < n_rows; ++r) q6_k_tile<1, 1, kPlain>(w + r * row_bytes, row_bytes, act, 0, cols, out + r, 1, true);
    return;
  }
  for (int64_t t0 = 0; t0 < n_tokens; t0 += 4) {
    const int64_t tokens = n_tokens - t0 < 4 ? n_tokens - t0 : 4;
    const uint8_t* a = act + t0 * act_bytes;
    float* o = out + t0 * out_stride;
    int64_t r = 0;
    for (; r + 4 <= n_rows; r += 4)
      q6_k_row_tile<4, kPlain>(w + r * row_bytes, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, t0 == 0);
    const uint8_t* rest = w + r * row_bytes;
    switch (n_rows - r) {
      case 3: q6_k_row_tile<3, kPlain>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, t0 == 0); break;
      case 2: q6_k_row_tile<2, kPlain>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, t0 == 0); break;
      case 1: q6_k_row_tile<1, kPlain>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, t0 == 0); break;
      default: break;
    }
  }
}

}  // namespace

void grouped_gemm_q4_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q4_0, false>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void grouped_gemm_q8_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q8_0, false>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

}  // namespace cria::cpu

namespace cria::cpu {

void grouped_gemm_q4_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q4_K, false>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void grouped_gemm_q5_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q5_K, false>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

}  // namespace cria::cpu

namespace cria::cpu {

void grouped_gemm_q6_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  q6_k_rows<false>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

}  // namespace cria::cpu

namespace cria::cpu {

void plain_gemm_q4_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                            int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q4_0, true>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void plain_gemm_q8_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                            int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q8_0, true>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void plain_gemm_q4_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                            int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q4_K, true>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void plain_gemm_q5_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                            int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q5_K, true>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void plain_gemm_q6_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                            int64_t cols, float* out, int64_t out_stride) {
  q6_k_rows<true>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

}  // namespace cria::cpu

namespace cria::cpu {

uint64_t int8_peak_loop_avx512(int64_t iterations) {
  // Sixteen independent accumulators: enough to cover vpdpbusd's latency.
  __m512i acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_epi32(i);
  __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(5);
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < 16; ++i) acc[i] = dpbusd(acc[i], u, s);
    __asm__ volatile("" : "+v"(u), "+v"(s));  // keeps the loop from being folded away
  }
  __m512i sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_epi32(sum, acc[i]);
  return static_cast<uint64_t>(static_cast<uint32_t>(_mm512_reduce_add_epi32(sum)));
}

}  // namespace cria::cpu
