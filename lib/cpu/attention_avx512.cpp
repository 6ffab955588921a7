// Causal attention of a block of up to four consecutive positions of one head over an fp16
// KV cache, with AVX-512 (compiled with its flags; used only when the CPU has it).
//
// Scores: each (query, key) pair is one 16-lane accumulator over the head's elements, so four
// queries share each key's conversion, and sixteen pairs are summed across lanes together.
// Values: each output element adds its keys' weighted values in key order, in registers.
// A pair's arithmetic depends on nothing else in its block: a prompt gives the same bits as
// its positions one at a time, for any thread count.
#include <immintrin.h>

#include <cstdint>

#include "cpu/attention.hpp"

// GCC 12 flags the undefined upper halves inside its own conversion intrinsics.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace cria::cpu {

namespace {

// Lane sums of 16 vectors, one per output lane: lane 4k + m holds the sum of v[4m + k]. The
// lanes pair as (i, i + 8), (i, i + 4), (i, i + 2), (i, i + 1), whatever the inputs.
inline __m512 sum_lanes16(const __m512 v[16]) {
  __m512 u[8], w[4], z[2];
  for (int p = 0; p < 8; ++p)
    u[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  for (int p = 0; p < 4; ++p)
    w[p] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * p], u[2 * p + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(u[2 * p], u[2 * p + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  for (int p = 0; p < 2; ++p)
    z[p] = _mm512_add_ps(_mm512_shuffle_ps(w[2 * p], w[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(w[2 * p], w[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(z[0], z[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

inline __mmask16 chunk_mask(int64_t c, int64_t head_dim) {
  const int64_t left = head_dim - c;
  return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
}

// Four 16-element chunks at a time: sixteen independent sums keep the multiply-adds busy
// (four would wait on each other's latency).
template <int kQueries>
void values_block(const float* scores, int64_t scores_stride, int64_t first_keys, const uint16_t* values,
                  int64_t kv_stride, int64_t head_dim, float* out, int64_t out_stride) {
  constexpr int kChunks = 4;
  const int64_t all_keys = first_keys + kQueries - 1;
  for (int64_t c0 = 0; c0 < head_dim; c0 += 16 * kChunks) {
    __mmask16 m[kChunks];
    for (int u = 0; u < kChunks; ++u)
      m[u] = c0 + 16 * u < head_dim ? chunk_mask(c0 + 16 * u, head_dim) : static_cast<__mmask16>(0);
    __m512 acc[kQueries][kChunks];
    for (int i = 0; i < kQueries; ++i)
      for (int u = 0; u < kChunks; ++u) acc[i][u] = _mm512_setzero_ps();
    auto add_key = [&](int64_t j, int first_query) {
      __m512 v[kChunks];
      for (int u = 0; u < kChunks; ++u)
        v[u] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m[u], values + j * kv_stride + c0 + 16 * u));
      for (int i = first_query; i < kQueries; ++i) {
        const __m512 weight = _mm512_set1_ps(scores[i * scores_stride + j]);
        for (int u = 0; u < kChunks; ++u) acc[i][u] = _mm512_fmadd_ps(weight, v[u], acc[i][u]);
      }
    };
    int64_t j = 0;
    for (; j < first_keys; ++j) add_key(j, 0);  // keys every query of the block sees
    // The block's own positions: query i sees keys below first_keys + i.
    for (; j < all_keys; ++j) add_key(j, static_cast<int>(j - first_keys) + 1);
    for (int i = 0; i < kQueries; ++i)
      for (int u = 0; u < kChunks; ++u)
        if (m[u]) _mm512_mask_storeu_ps(out + i * out_stride + c0 + 16 * u, m[u], acc[i][u]);
  }
}

// Keys four at a time: sixteen (query, key) accumulators in registers (the query count is a
// template argument so that none of them spills), absent queries and keys left at zero.
template <int kQueries>
void scores_block(const float* q, int64_t q_stride, int64_t first_keys, const uint16_t* keys, int64_t kv_stride,
                  int64_t head_dim, float scale, float* scores, int64_t scores_stride) {
  const int64_t all_keys = first_keys + kQueries - 1;
  for (int64_t j0 = 0; j0 < all_keys; j0 += 4) {
    const int n_block_keys = all_keys - j0 < 4 ? static_cast<int>(all_keys - j0) : 4;
    __m512 acc[16];  // [query * 4 + key]
    for (__m512& a : acc) a = _mm512_setzero_ps();
    for (int64_t c = 0; c < head_dim; c += 16) {
      const __mmask16 m = chunk_mask(c, head_dim);
      __m512 k[4];
      for (int kk = 0; kk < 4; ++kk)
        k[kk] = kk < n_block_keys ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, keys + (j0 + kk) * kv_stride + c))
                                  : _mm512_setzero_ps();
      for (int i = 0; i < kQueries; ++i) {
        const __m512 qv = _mm512_maskz_loadu_ps(m, q + i * q_stride + c);
        for (int kk = 0; kk < 4; ++kk) acc[i * 4 + kk] = _mm512_fmadd_ps(k[kk], qv, acc[i * 4 + kk]);
      }
    }
    alignas(64) float sums[16];
    _mm512_store_ps(sums, sum_lanes16(acc));
    for (int i = 0; i < kQueries; ++i)
      for (int kk = 0; kk < n_block_keys; ++kk)
        if (j0 + kk < first_keys + i) scores[i * scores_stride + j0 + kk] = sums[kk * 4 + i] * scale;
  }
}

}  // namespace

void attention_scores_f16_avx512(const float* q, int64_t q_stride, int n_queries, int64_t first_keys,
                                 const uint16_t* keys, int64_t kv_stride, int64_t head_dim, float scale,
                                 float* scores, int64_t scores_stride) {
  switch (n_queries) {
    case 4: scores_block<4>(q, q_stride, first_keys, keys, kv_stride, head_dim, scale, scores, scores_stride); break;
    case 3: scores_block<3>(q, q_stride, first_keys, keys, kv_stride, head_dim, scale, scores, scores_stride); break;
    case 2: scores_block<2>(q, q_stride, first_keys, keys, kv_stride, head_dim, scale, scores, scores_stride); break;
    default: scores_block<1>(q, q_stride, first_keys, keys, kv_stride, head_dim, scale, scores, scores_stride); break;
  }
}

void attention_values_f16_avx512(const float* scores, int64_t scores_stride, int n_queries, int64_t first_keys,
                                 const uint16_t* values, int64_t kv_stride, int64_t head_dim, float* out,
                                 int64_t out_stride) {
  switch (n_queries) {
    case 4: values_block<4>(scores, scores_stride, first_keys, values, kv_stride, head_dim, out, out_stride); break;
    case 3: values_block<3>(scores, scores_stride, first_keys, values, kv_stride, head_dim, out, out_stride); break;
    case 2: values_block<2>(scores, scores_stride, first_keys, values, kv_stride, head_dim, out, out_stride); break;
    default: values_block<1>(scores, scores_stride, first_keys, values, kv_stride, head_dim, out, out_stride); break;
  }
}

}  // namespace cria::cpu
