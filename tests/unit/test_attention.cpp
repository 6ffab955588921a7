// Block attention kernels (lib/cpu/attention.hpp) against a float64 reference, and a block of
// positions against the same positions one at a time.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "available_isas.hpp"
#include "cpu/kernels.hpp"
#include "cria/quant.hpp"

using namespace cria;
using namespace cria::cpu;

namespace {

struct Case {
  int64_t head_dim, first_keys;
  int n_queries;
};

}  // namespace

TEST_CASE("block attention equals a float64 reference and gives each position its own bits") {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  bool ran = false;
  for (Isa isa : available_isas()) {
    const Kernels& k = kernels_for(isa);
    if (!k.attention_scores_f16) continue;
    ran = true;
    // head_dim 8 and 24 leave part of a 16-lane chunk; 1 key; key counts that are not a
    // multiple of the four keys summed together.
    for (Case c : {Case{128, 1, 4}, Case{128, 37, 4}, Case{64, 9, 3}, Case{8, 5, 2}, Case{24, 2, 1}, Case{128, 70, 1}}) {
      CAPTURE(c.head_dim);
      CAPTURE(c.first_keys);
      CAPTURE(c.n_queries);
      const int64_t kv_stride = c.head_dim * 3;  // the head sits inside a wider row
      const int64_t n_keys = c.first_keys + c.n_queries - 1, scores_stride = n_keys + 5;
      std::vector<uint16_t> keys(n_keys * kv_stride), values(n_keys * kv_stride);
      for (uint16_t& h : keys) h = fp32_to_fp16(normal(rng));
      for (uint16_t& h : values) h = fp32_to_fp16(normal(rng));
      std::vector<float> q(c.n_queries * c.head_dim);
      for (float& v : q) v = normal(rng);
      const float scale = 0.125f;
      std::vector<float> scores(c.n_queries * scores_stride, -1.0f);
      k.attention_scores_f16(q.data(), c.head_dim, c.n_queries, c.first_keys, keys.data() + c.head_dim, kv_stride,
                             c.head_dim, scale, scores.data(), scores_stride);
      for (int i = 0; i < c.n_queries; ++i) {
        for (int64_t j = 0; j < c.first_keys + i; ++j) {
          double dot = 0, magnitude = 0;
          for (int64_t d = 0; d < c.head_dim; ++d) {
            const double p = static_cast<double>(fp16_to_fp32(keys[j * kv_stride + c.head_dim + d])) * q[i * c.head_dim + d];
            dot += p;
            magnitude += std::fabs(p);
          }
          CHECK(std::fabs(scores[i * scores_stride + j] - scale * dot) <= 1e-6 * scale * magnitude);
        }
        for (int64_t j = c.first_keys + i; j < scores_stride; ++j) CHECK(scores[i * scores_stride + j] == -1.0f);
      }
      // Attention weights as a softmax would leave them (any values do for the sums).
      for (float& s : scores) s = std::fabs(normal(rng));
      std::vector<float> out(c.n_queries * c.head_dim * 2, 7.0f);
      const int64_t out_stride = c.head_dim * 2;
      k.attention_values_f16(scores.data(), scores_stride, c.n_queries, c.first_keys, values.data() + c.head_dim,
                             kv_stride, c.head_dim, out.data(), out_stride);
      for (int i = 0; i < c.n_queries; ++i) {
        for (int64_t d = 0; d < c.head_dim; ++d) {
          double sum = 0, magnitude = 0;
          for (int64_t j = 0; j < c.first_keys + i; ++j) {
            const double p = static_cast<double>(scores[i * scores_stride + j]) * fp16_to_fp32(values[j * kv_stride + c.head_dim + d]);
            sum += p;
            magnitude += std::fabs(p);
          }
          CHECK(std::fabs(out[i * out_stride + d] - sum) <= 1e-6 * magnitude);
        }
        for (int64_t d = c.head_dim; d < out_stride; ++d) CHECK(out[i * out_stride + d] == 7.0f);  // untouched
      }
      // Each position of the block alone (as when generating) gives the same bits.
      for (int i = 0; i < c.n_queries; ++i) {
        std::vector<float> alone(scores_stride, -1.0f), alone_out(c.head_dim);
        k.attention_scores_f16(q.data() + i * c.head_dim, c.head_dim, 1, c.first_keys + i, keys.data() + c.head_dim,
                               kv_stride, c.head_dim, scale, alone.data(), scores_stride);
        k.attention_scores_f16(q.data(), c.head_dim, c.n_queries, c.first_keys, keys.data() + c.head_dim, kv_stride,
                               c.head_dim, scale, scores.data(), scores_stride);
        for (int64_t j = 0; j < c.first_keys + i; ++j) CHECK(alone[j] == scores[i * scores_stride + j]);
        k.attention_values_f16(scores.data() + i * scores_stride, scores_stride, 1, c.first_keys + i,
                               values.data() + c.head_dim, kv_stride, c.head_dim, alone_out.data(), c.head_dim);
        k.attention_values_f16(scores.data(), scores_stride, c.n_queries, c.first_keys, values.data() + c.head_dim,
                               kv_stride, c.head_dim, out.data(), out_stride);
        for (int64_t d = 0; d < c.head_dim; ++d) CHECK(alone_out[d] == out[i * out_stride + d]);
      }
    }
  }
  if (!ran) MESSAGE("no instruction set here has the block attention kernels; nothing checked");
}
