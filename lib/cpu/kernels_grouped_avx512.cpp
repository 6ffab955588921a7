// AVX-512 VNNI GEMM on grouped Q4_0 / Q8_0 rows (layout in packed.hpp). Each 32-bit lane
// of the accumulator is one block: eight vpdpbusd cover 16 blocks, then one subtraction
// removes the weights' offset, one conversion and one fused multiply-add apply both scales.
// Compiled with AVX-512 flags; called only when the
// CPU has them.
#include <immintrin.h>

// GCC 12 flags the undefined upper halves inside its own reduction intrinsics.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/grouped_avx512.hpp"
#include "cpu/packed.hpp"

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

// kRows rows by kTokens positions. Per group, each weight chunk is loaded and unpacked once
// for all positions, each activation chunk once for all rows, and the kRows * kTokens
// accumulators are independent chains of vpdpbusd.
// `decoded` (Q4_K, may be null): each row's scales and mins already decoded, 32 floats per
// group, `decoded_stride` floats from one row to the next.
template <Kind kKind, int kRows, int kTokens>
void gemm_tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes,
               int64_t cols, float* out, int64_t out_stride, const float* decoded,
               size_t decoded_stride, bool prefetch) {
  const int64_t n_blocks = cols / 32;
  const int64_t n_groups = (n_blocks + kGroupBlocks - 1) / kGroupBlocks;
  constexpr bool kQ4 = kKind != Kind::Q8_0;  // nibbles, unpacked in registers
  constexpr bool kK = kKind == Kind::Q4_K || kKind == Kind::Q5_K;  // scales and mins per lane
  const size_t block_bytes = kKind == Kind::Q8_0 ? 34 : kKind == Kind::Q5_K ? 22 : 18;  // per 32 weights
  const __m512i fifth_bit = _mm512_set1_epi8(0x10);
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
    // Rows ahead, a slice per group (on the first pass over the rows): the next tile when
    // generating, the next work item's rows for prompts. By the time they are needed they are
    // in cache; the hardware prefetcher alone leaves both well short of the bandwidth.
    const uint8_t* ahead = w + (kTokens == 1 ? 1 : 4) * kRows * row_bytes + g * kRows * kGroupBlocks * block_bytes;
    if (prefetch) prefetch_ahead<kTokens>(ahead, kRows * kGroupBlocks * block_bytes);
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
          if (kKind == Kind::Q5_K) {  // bits k and 4+k of each byte of the fifth bits, to bit 4
            const __m512i fifth = load_lanes(lanes, full, w + r * row_bytes + group_offset + 18 * blocks);
            low[r] = _mm512_or_si512(low[r], _mm512_and_si512(_mm512_slli_epi16(fifth, 4 - k), fifth_bit));
            high[r] = _mm512_or_si512(high[r], _mm512_and_si512(_mm512_srli_epi16(fifth, k), fifth_bit));
          }
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
    // sum, or for Q4_K the min times that sum, and apply both scales.
    if (kK && decoded) {
      // Scales and mins straight from the decoded copy (L1), which keeps registers free.
      for (int t = 0; t < kTokens; ++t) {
        const uint8_t* at = ag + t * act_bytes;
        const __m512 x_scale = _mm512_loadu_ps(at);
        const __m512 x_total = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(at + 64)), x_scale);
        for (int r = 0; r < kRows; ++r) {
          const float* rd = decoded + r * decoded_stride + g * 32;
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][t]), _mm512_mul_ps(_mm512_loadu_ps(rd), x_scale), acc[r][t]);
          acc[r][t] = _mm512_fnmadd_ps(_mm512_loadu_ps(rd + 16), x_total, acc[r][t]);
        }
      }
      continue;
    }
    __m512 w_scale[kRows], w_min[kRows];
    for (int r = 0; r < kRows; ++r) {
      const uint8_t* header = w + r * row_bytes + group_offset;
      if (kK) q4_k_scales(header, blocks, &w_scale[r], &w_min[r]);
      else w_scale[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, header));
    }
    for (int t = 0; t < kTokens; ++t) {
      const uint8_t* at = ag + t * act_bytes;
      const __m512 x_scale = _mm512_loadu_ps(at);
      const __m512i x_sum = _mm512_loadu_si512(at + 64);
      if (kK) {
        const __m512 x_total = _mm512_mul_ps(_mm512_cvtepi32_ps(x_sum), x_scale);
        for (int r = 0; r < kRows; ++r) {
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][t]), _mm512_mul_ps(w_scale[r], x_scale), acc[r][t]);
          acc[r][t] = _mm512_fnmadd_ps(w_min[r], x_total, acc[r][t]);
        }
      } else {
        const __m512i offset = _mm512_slli_epi32(x_sum, kKind == Kind::Q4_0 ? 3 : 7);
        for (int r = 0; r < kRows; ++r)
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum[r][t], offset)),
                                      _mm512_mul_ps(w_scale[r], x_scale), acc[r][t]);
      }
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) out[t * out_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}

// Generation (one position) on 4-bit rows of more than kPairRowBytes: tiles of two rows
// instead of four, which stream such wide rows from memory faster. Narrower 4-bit rows and
// Q8_0 rows run faster in tiles of four.
constexpr size_t kPairRowBytes = 2048;

// Calls tile(r, rows) for rows r, r + 1 of [0, n_rows), rows an integral_constant of 2 (of 1
// for an odd last row).
template <typename Tile>
void rows_in_pairs(int64_t n_rows, Tile tile) {
  int64_t r = 0;
  for (; r + 2 <= n_rows; r += 2) tile(r, std::integral_constant<int, 2>());
  if (r < n_rows) tile(r, std::integral_constant<int, 1>());
}

template <Kind kKind, int kRows>
void gemm_row_tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes,
                   int64_t n_tokens, int64_t cols, float* out, int64_t out_stride,
                   const float* decoded, size_t decoded_stride, bool prefetch) {
  switch (n_tokens) {
    case 4: gemm_tile<kKind, kRows, 4>(w, row_bytes, act, act_bytes, cols, out, out_stride, decoded, decoded_stride, prefetch); break;
    case 3: gemm_tile<kKind, kRows, 3>(w, row_bytes, act, act_bytes, cols, out, out_stride, decoded, decoded_stride, prefetch); break;
    case 2: gemm_tile<kKind, kRows, 2>(w, row_bytes, act, act_bytes, cols, out, out_stride, decoded, decoded_stride, prefetch); break;
    default: gemm_tile<kKind, kRows, 1>(w, row_bytes, act, act_bytes, cols, out, out_stride, decoded, decoded_stride, prefetch); break;
  }
}

// Positions in tiles of four on the outside, so that a work item's rows stay in cache while
// each tile of activations is reused by all of them.
template <Kind kKind>
void gemm_rows(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
               size_t act_bytes, int64_t n_tokens, int64_t cols, float* out, int64_t out_stride) {
  if (kKind != Kind::Q8_0 && n_tokens == 1 && row_bytes > kPairRowBytes) {
    rows_in_pairs(n_rows, [&](int64_t r, auto rows) {
      gemm_tile<kKind, decltype(rows)::value, 1>(w + r * row_bytes, row_bytes, act, 0, cols, out + r, 1, nullptr, 0, true);
    });
    return;
  }
  // Q4_K and Q5_K with more than one tile of positions: decode the rows' scales and mins once.
  const int64_t n_groups = (cols / 32 + kGroupBlocks - 1) / kGroupBlocks;
  const size_t decoded_stride = static_cast<size_t>(n_groups) * 32;
  const float* decoded = nullptr;
  if ((kKind == Kind::Q4_K || kKind == Kind::Q5_K) && n_tokens > 4) {
    thread_local std::vector<float> buffer;
    buffer.resize(decoded_stride * static_cast<size_t>(n_rows));
    const size_t block_bytes = kKind == Kind::Q5_K ? 22 : 18;
    for (int64_t r = 0; r < n_rows; ++r)
      for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t left = cols / 32 - g * kGroupBlocks;
        __m512 scale, min;
        q4_k_scales(w + r * row_bytes + static_cast<size_t>(g) * kGroupBlocks * block_bytes,
                    left < kGroupBlocks ? static_cast<int>(left) : kGroupBlocks, &scale, &min);
        _mm512_storeu_ps(&buffer[r * decoded_stride + g * 32], scale);
        _mm512_storeu_ps(&buffer[r * decoded_stride + g * 32 + 16], min);
      }
    decoded = buffer.data();
  }
  for (int64_t t0 = 0; t0 < n_tokens; t0 += 4) {
    const int64_t tokens = n_tokens - t0 < 4 ? n_tokens - t0 : 4;
    const uint8_t* a = act + t0 * act_bytes;
    float* o = out + t0 * out_stride;
    int64_t r = 0;
    auto rows_decoded = [&](int64_t row) { return decoded ? decoded + row * decoded_stride : nullptr; };
    for (; r + 4 <= n_rows; r += 4)
      gemm_row_tile<kKind, 4>(w + r * row_bytes, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, rows_decoded(r), decoded_stride, t0 == 0);
    const uint8_t* rest = w + r * row_bytes;
    switch (n_rows - r) {
      case 3: gemm_row_tile<kKind, 3>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, rows_decoded(r), decoded_stride, t0 == 0); break;
      case 2: gemm_row_tile<kKind, 2>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, rows_decoded(r), decoded_stride, t0 == 0); break;
      case 1: gemm_row_tile<kKind, 1>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, rows_decoded(r), decoded_stride, t0 == 0); break;
      default: break;
    }
  }
}

// Q6_K: one super-block per group and one 16-weight sub-block per lane; each 6-bit weight
// is its low nibble with its two high bits shifted into place (layout in packed.hpp).
template <int kRows, int kTokens>
void q6_k_tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes,
               int64_t cols, float* out, int64_t out_stride, bool prefetch) {
  constexpr size_t kGroup = 210, kLow = 18, kHigh = 18 + 128;
  const int64_t n_groups = cols / 256;
  const __m512i nibble = _mm512_set1_epi8(0x0f), top = _mm512_set1_epi8(0x30);
  __m512 acc[kRows][kTokens];
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t g = 0; g < n_groups; ++g) {
    const uint8_t* ag = act + g * kGroupedActivationBytesQ6K;
    if (prefetch) {
      const uint8_t* ahead = w + (kTokens == 1 ? 1 : 4) * kRows * row_bytes + g * kRows * kGroup;
      prefetch_ahead<kTokens>(ahead, kRows * kGroup);
    }
    __m512i isum[kRows][kTokens];
    for (int r = 0; r < kRows; ++r)
      for (int t = 0; t < kTokens; ++t) isum[r][t] = _mm512_setzero_si512();
    for (int k = 0; k < 2; ++k) {
      __m512i even[kRows], odd[kRows];  // weights 8k+b and 8k+4+b of each lane
      for (int r = 0; r < kRows; ++r) {
        const uint8_t* group = w + r * row_bytes + g * kGroup;
        const __m512i low = _mm512_loadu_si512(group + kLow + 64 * k);
        const __m512i high = _mm512_loadu_si512(group + kHigh);
        const __m512i high_even = k == 0 ? _mm512_slli_epi16(high, 4) : high;
        const __m512i high_odd = k == 0 ? _mm512_slli_epi16(high, 2) : _mm512_srli_epi16(high, 2);
        even[r] = _mm512_or_si512(_mm512_and_si512(low, nibble), _mm512_and_si512(high_even, top));
        odd[r] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low, 4), nibble),
                                 _mm512_and_si512(high_odd, top));
      }
      for (int t = 0; t < kTokens; ++t) {
        const uint8_t* xq = ag + t * act_bytes + 128;
        const __m512i x_even = _mm512_loadu_si512(xq + 64 * (2 * k));
        const __m512i x_odd = _mm512_loadu_si512(xq + 64 * (2 * k + 1));
        for (int r = 0; r < kRows; ++r) {
          isum[r][t] = dpbusd(isum[r][t], even[r], x_even);
          isum[r][t] = dpbusd(isum[r][t], odd[r], x_odd);
        }
      }
    }
    __m512 w_scale[kRows];
    for (int r = 0; r < kRows; ++r) {
      const uint8_t* group = w + r * row_bytes + g * kGroup;
      uint16_t d;
      std::memcpy(&d, group + 16, 2);
      const __m512 scales = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group))));
      w_scale[r] = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(d)), scales);
    }
    for (int t = 0; t < kTokens; ++t) {
      const uint8_t* at = ag + t * act_bytes;
      const __m512 x_scale = _mm512_loadu_ps(at);
      const __m512i offset = _mm512_slli_epi32(_mm512_loadu_si512(at + 64), 5);  // 32 * sum
      for (int r = 0; r < kRows; ++r)
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum[r][t], offset)),
                                    _mm512_mul_ps(w_scale[r], x_scale), acc[r][t]);
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) out[t * out_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}

template <int kRows>
void q6_k_row_tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_bytes,
                   int64_t n_tokens, int64_t cols, float* out, int64_t out_stride, bool prefetch) {
  switch (n_tokens) {
    case 4: q6_k_tile<kRows, 4>(w, row_bytes, act, act_bytes, cols, out, out_stride, prefetch); break;
    case 3: q6_k_tile<kRows, 3>(w, row_bytes, act, act_bytes, cols, out, out_stride, prefetch); break;
    case 2: q6_k_tile<kRows, 2>(w, row_bytes, act, act_bytes, cols, out, out_stride, prefetch); break;
    default: q6_k_tile<kRows, 1>(w, row_bytes, act, act_bytes, cols, out, out_stride, prefetch); break;
  }
}

void q6_k_rows(const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint8_t* act,
               size_t act_bytes, int64_t n_tokens, int64_t cols, float* out, int64_t out_stride) {
  if (n_tokens == 1 && row_bytes > kPairRowBytes) {  // generation, as in gemm_rows
    rows_in_pairs(n_rows, [&](int64_t r, auto rows) {
      q6_k_tile<decltype(rows)::value, 1>(w + r * row_bytes, row_bytes, act, 0, cols, out + r, 1, true);
    });
    return;
  }
  for (int64_t t0 = 0; t0 < n_tokens; t0 += 4) {
    const int64_t tokens = n_tokens - t0 < 4 ? n_tokens - t0 : 4;
    const uint8_t* a = act + t0 * act_bytes;
    float* o = out + t0 * out_stride;
    int64_t r = 0;
    for (; r + 4 <= n_rows; r += 4)
      q6_k_row_tile<4>(w + r * row_bytes, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, t0 == 0);
    const uint8_t* rest = w + r * row_bytes;
    switch (n_rows - r) {
      case 3: q6_k_row_tile<3>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, t0 == 0); break;
      case 2: q6_k_row_tile<2>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, t0 == 0); break;
      case 1: q6_k_row_tile<1>(rest, row_bytes, a, act_bytes, tokens, cols, o + r, out_stride, t0 == 0); break;
      default: break;
    }
  }
}

}  // namespace

void grouped_gemm_q4_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q4_0>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void grouped_gemm_q8_0_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q8_0>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

}  // namespace cria::cpu

namespace cria::cpu {

void grouped_gemm_q4_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q4_K>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

void grouped_gemm_q5_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  gemm_rows<Kind::Q5_K>(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
}

}  // namespace cria::cpu

namespace cria::cpu {

void grouped_gemm_q6_k_avx512(const uint8_t* w, size_t row_bytes, int64_t n_rows,
                              const uint8_t* act, size_t act_bytes, int64_t n_tokens,
                              int64_t cols, float* out, int64_t out_stride) {
  q6_k_rows(w, row_bytes, n_rows, act, act_bytes, n_tokens, cols, out, out_stride);
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
