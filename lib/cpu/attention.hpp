#pragma once
// Causal attention of one head for a block of consecutive positions over an fp16 KV cache.
// Query i of the block (i < n_queries <= kAttentionBlock) sees keys 0 .. first_keys + i - 1;
// keys and values are rows kv_stride elements apart, the head's elements first.
#include <cstdint>

namespace cria::cpu {

constexpr int kAttentionBlock = 4;

// scores[i * scores_stride + j] = scale * dot(query i, key j) for the keys query i sees.
using AttentionScoresFn = void (*)(const float* q, int64_t q_stride, int n_queries, int64_t first_keys,
                                   const uint16_t* keys, int64_t kv_stride, int64_t head_dim, float scale,
                                   float* scores, int64_t scores_stride);
// out[i * out_stride + d] = sum over the keys query i sees of scores[i][j] * value j [d], in
// key order.
using AttentionValuesFn = void (*)(const float* scores, int64_t scores_stride, int n_queries,
                                   int64_t first_keys, const uint16_t* values, int64_t kv_stride,
                                   int64_t head_dim, float* out, int64_t out_stride);

void attention_scores_f16_avx512(const float* q, int64_t q_stride, int n_queries, int64_t first_keys,
                                 const uint16_t* keys, int64_t kv_stride, int64_t head_dim, float scale,
                                 float* scores, int64_t scores_stride);
void attention_values_f16_avx512(const float* scores, int64_t scores_stride, int n_queries, int64_t first_keys,
                                 const uint16_t* values, int64_t kv_stride, int64_t head_dim, float* out,
                                 int64_t out_stride);

}  // namespace cria::cpu
