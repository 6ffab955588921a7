// Grouped Q4_0 / Q8_0 / Q4_K / Q5_K / Q6_K rows (lib/cpu/packed.hpp): regrouping keeps every weight's value, the
// plain-C++ GEMM equals the float dot product of decoded weights and activations, and the
// SIMD kernels equal that reference for every row count, position count and row width,
// including widths whose last group holds fewer than 16 blocks.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "available_isas.hpp"
#include "cpu/kernels.hpp"
#include "cpu/packed.hpp"
#include "cria/quant.hpp"

using namespace cria;
using namespace cria::cpu;

namespace {

std::vector<uint8_t> random_rows(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  const size_t bytes = row_bytes(t, cols);
  std::vector<uint8_t> data(bytes * rows);
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : data) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  // Finite scales: d first, but last in Q6_K (208) and Q3_K (108); Q4_K and Q5_K add dmin.
  const size_t block = dtype_traits(static_cast<uint32_t>(t))->block_bytes;
  const size_t d_at = t == DType::Q6_K ? 208 : t == DType::Q3_K ? 108 : 0;
  for (size_t at = 0; at < data.size(); at += block) {
    const uint16_t h = fp32_to_fp16(scale(rng));
    std::memcpy(&data[at + d_at], &h, 2);
    if (t == DType::Q4_K || t == DType::Q5_K) {  // dmin
      const uint16_t m = fp32_to_fp16(scale(rng));
      std::memcpy(&data[at + 2], &m, 2);
    }
  }
  return data;
}

std::vector<uint8_t> grouped_copy(DType t, const std::vector<uint8_t>& plain, int64_t rows, int64_t cols) {
  const size_t bytes = row_bytes(t, cols);
  std::vector<uint8_t> grouped(plain.size());
  for (int64_t r = 0; r < rows; ++r) group_row(t, &plain[r * bytes], &grouped[r * bytes], cols);
  return grouped;
}

// Decodes grouped activations back to floats, in natural element order.
std::vector<float> decoded_activations(DType t, const std::vector<uint8_t>& act, int64_t cols) {
  std::vector<float> x(cols);
  if (t == DType::Q6_K) {  // lanes of 16 values
    for (int64_t lane = 0; lane < cols / 16; ++lane) {
      const uint8_t* group = &act[(lane / 16) * kGroupedActivationBytesQ6K];
      const int j = static_cast<int>(lane % 16);
      float d;
      int32_t sum = 0, stored_sum;
      std::memcpy(&d, group + 4 * j, 4);
      std::memcpy(&stored_sum, group + 64 + 4 * j, 4);
      for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 4; ++i) {
          const int8_t v = static_cast<int8_t>(group[128 + (c * 16 + j) * 4 + i]);
          x[lane * 16 + 4 * c + i] = d * v;
          sum += v;
        }
      REQUIRE(sum == stored_sum);
    }
    return x;
  }
  for (int64_t b = 0; b < cols / 32; ++b) {
    const uint8_t* group = &act[(b / 16) * kGroupedActivationBytes];
    const int j = static_cast<int>(b % 16);
    float d;
    std::memcpy(&d, group + 4 * j, 4);
    const int8_t* q = reinterpret_cast<const int8_t*>(group + 128);
    int32_t sum = 0, stored_sum;
    std::memcpy(&stored_sum, group + 64 + 4 * j, 4);
    for (int c = 0; c < 8; ++c)
      for (int i = 0; i < 4; ++i) {
        const int8_t v = q[(c * 16 + j) * 4 + i];
        x[b * 32 + 16 * (c & 1) + 4 * (c >> 1) + i] = d * v;
        sum += v;
      }
    REQUIRE(sum == stored_sum);
  }
  return x;
}

const int64_t kWidths[] = {32, 96, 512, 544, 1024 + 7 * 32, 11008};
const int64_t kWidthsK[] = {256, 512, 768, 11008};  // 768: a last group of one super-block

std::vector<std::pair<DType, int64_t>> cases() {
  std::vector<std::pair<DType, int64_t>> all;
  for (DType t : {DType::Q4_0, DType::Q8_0})
    for (int64_t cols : kWidths) all.emplace_back(t, cols);
  for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K})
    for (int64_t cols : kWidthsK) all.emplace_back(t, cols);
  return all;
}

}  // namespace

TEST_CASE("grouped rows decode to the same values as the file's rows") {
  std::mt19937 rng(7);
  for (auto [t, cols] : cases()) {
    {
      CAPTURE(dtype_name(t));
      CAPTURE(cols);
      const std::vector<uint8_t> plain = random_rows(t, 1, cols, rng);
      const std::vector<uint8_t> grouped = grouped_copy(t, plain, 1, cols);
      std::vector<float> expected(cols), got(cols);
      dequantize_row(t, plain.data(), expected.data(), cols);
      dequantize_grouped_row(t, grouped.data(), got.data(), cols);
      CHECK(std::memcmp(expected.data(), got.data(), cols * sizeof(float)) == 0);
    }
  }
  CHECK(groupable(DType::Q4_0, 64));
  CHECK_FALSE(groupable(DType::Q4_0, 48));
  CHECK(groupable(DType::Q4_K, 256));
  CHECK_FALSE(groupable(DType::Q4_K, 288));
  CHECK(groupable(DType::Q6_K, 256));
  CHECK(groupable(DType::Q5_K, 256));
  CHECK_FALSE(groupable(DType::Q5_K, 288));
  CHECK_FALSE(groupable(DType::Q3_K, 256));
}

TEST_CASE("grouped GEMM kernels equal the dot product of the decoded values") {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<const Kernels*> isas;
  for (Isa isa : available_isas()) isas.push_back(&kernels_for(isa));
  for (auto [t, cols] : cases()) {
    {
      // One position (generation) and several (prompts); 3 and 7 rows leave partial tiles.
      for (auto [rows, tokens] : {std::pair<int64_t, int64_t>{1, 1}, {1, 2}, {3, 1}, {3, 2}, {4, 2}, {7, 1}, {7, 5}}) {
        CAPTURE(dtype_name(t));
        CAPTURE(cols);
        CAPTURE(rows);
        const size_t wbytes = row_bytes(t, cols);
        const std::vector<uint8_t> plain = random_rows(t, rows, cols, rng);
        const std::vector<uint8_t> grouped = grouped_copy(t, plain, rows, cols);
        const size_t abytes = grouped_activation_bytes(t, cols);
        std::vector<uint8_t> act(abytes * tokens);
        std::vector<std::vector<float>> x_decoded;
        for (int64_t k = 0; k < tokens; ++k) {
          std::vector<float> x(cols);
          for (float& v : x) v = normal(rng);
          quantize_grouped_activations(scalar_kernels(), t, x.data(), &act[k * abytes], cols);
          x_decoded.push_back(decoded_activations(t, std::vector<uint8_t>(act.begin() + k * abytes, act.begin() + (k + 1) * abytes), cols));
        }
        std::vector<float> reference(rows * tokens);
        grouped_gemm_reference(t, grouped.data(), wbytes, rows, act.data(), abytes, tokens, cols,
                               reference.data(), rows);
        std::vector<float> w(cols);
        for (int64_t r = 0; r < rows; ++r) {
          dequantize_row(t, &plain[r * wbytes], w.data(), cols);
          for (int64_t k = 0; k < tokens; ++k) {
            double exact = 0, magnitude = 0;
            for (int64_t i = 0; i < cols; ++i) {
              exact += static_cast<double>(w[i]) * x_decoded[k][i];
              magnitude += std::fabs(static_cast<double>(w[i]) * x_decoded[k][i]);
            }
            CHECK(std::fabs(reference[k * rows + r] - exact) <= 1e-5 * magnitude);
          }
        }
        for (const Kernels* isa : isas) {
          const GroupedGemmFn fn = isa->grouped_gemm[static_cast<int>(t)];
          if (!fn) continue;
          CAPTURE(isa_name(isa->isa));
          std::vector<float> got(rows * tokens, -1.0f);
          fn(grouped.data(), wbytes, rows, act.data(), abytes, tokens, cols, got.data(), rows);
          for (size_t i = 0; i < got.size(); ++i)
            CHECK(std::fabs(got[i] - reference[i]) <= 1e-5f * (1.0f + std::fabs(reference[i])) * std::sqrt(static_cast<float>(cols)));
        }
      }
    }
  }
}

TEST_CASE("grouped GEMM kernels give each position the bits it gets alone, for any number of positions") {
  // Generation steps of several sequences go through these kernels with several positions;
  // each sequence must get the logits it gets alone.
  std::mt19937 rng(23);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<const Kernels*> isas;
  for (Isa isa : available_isas()) isas.push_back(&kernels_for(isa));
  for (auto [t, cols] : cases()) {
    const int64_t rows = 5, most = 9;
    const size_t wbytes = row_bytes(t, cols), abytes = grouped_activation_bytes(t, cols);
    const std::vector<uint8_t> grouped = grouped_copy(t, random_rows(t, rows, cols, rng), rows, cols);
    std::vector<uint8_t> act(abytes * most);
    std::vector<float> x(cols);
    for (int64_t k = 0; k < most; ++k) {
      for (float& v : x) v = normal(rng);
      quantize_grouped_activations(scalar_kernels(), t, x.data(), &act[k * abytes], cols);
    }
    for (const Kernels* isa : isas) {
      const GroupedGemmFn fn = isa->grouped_gemm[static_cast<int>(t)];
      if (!fn) continue;
      CAPTURE(dtype_name(t));
      CAPTURE(cols);
      CAPTURE(isa_name(isa->isa));
      std::vector<float> alone(rows * most);
      for (int64_t k = 0; k < most; ++k) fn(grouped.data(), wbytes, rows, &act[k * abytes], abytes, 1, cols, &alone[k * rows], rows);
      for (int64_t tokens = 2; tokens <= most; ++tokens) {
        CAPTURE(tokens);
        std::vector<float> together(rows * tokens);
        fn(grouped.data(), wbytes, rows, act.data(), abytes, tokens, cols, together.data(), rows);
        CHECK(together == std::vector<float>(alone.begin(), alone.begin() + rows * tokens));
      }
    }
  }
}

TEST_CASE("kernels on rows in the file's layout give the grouped kernels' bits") {
  // Where an instruction set reads a type's rows in place as if regrouped (plain_gemm), the
  // file's layout and the regrouped one must give the same logits: mapped files then run in
  // place or copied with the same results.
  std::mt19937 rng(31);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int checked = 0;
  for (Isa isa_id : available_isas()) {
    const Kernels& isa = kernels_for(isa_id);
    for (auto [t, cols] : cases()) {
      const GroupedGemmFn plain_fn = isa.plain_gemm[static_cast<int>(t)];
      if (!plain_fn) continue;
      const GroupedGemmFn grouped_fn = isa.grouped_gemm[static_cast<int>(t)];
      REQUIRE(static_cast<bool>(grouped_fn));
      for (auto [rows, tokens] : {std::pair<int64_t, int64_t>{1, 1}, {2, 1}, {3, 2}, {4, 4}, {5, 9}, {7, 5}}) {
        CAPTURE(isa_name(isa_id));
        CAPTURE(dtype_name(t));
        CAPTURE(cols);
        CAPTURE(rows);
        CAPTURE(tokens);
        const size_t wbytes = row_bytes(t, cols), abytes = grouped_activation_bytes(t, cols);
        // The rows end the buffer: a kernel reading past a row's last block would leave it.
        const std::vector<uint8_t> plain = random_rows(t, rows, cols, rng);
        const std::vector<uint8_t> grouped = grouped_copy(t, plain, rows, cols);
        std::vector<uint8_t> act(abytes * tokens);
        std::vector<float> x(cols);
        for (int64_t k = 0; k < tokens; ++k) {
          for (float& v : x) v = normal(rng);
          quantize_grouped_activations(isa, t, x.data(), &act[k * abytes], cols);
        }
        std::vector<float> expected(rows * tokens), got(rows * tokens, -1.0f);
        grouped_fn(grouped.data(), wbytes, rows, act.data(), abytes, tokens, cols, expected.data(), rows);
        plain_fn(plain.data(), wbytes, rows, act.data(), abytes, tokens, cols, got.data(), rows);
        CHECK(std::memcmp(expected.data(), got.data(), expected.size() * sizeof(float)) == 0);
        ++checked;
      }
    }
  }
  // AVX-512 has them for Q4_0, Q8_0, Q4_K, Q5_K and Q6_K, AVX2 for all but Q8_0; a machine
  // without AVX2 checks nothing here.
  if (checked == 0) MESSAGE("no instruction set of this CPU reads rows in the file's layout as if regrouped");
}

TEST_CASE("grouped activations quantize as the plain kernels do") {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const int64_t cols = 544;
  std::vector<float> x(cols);
  for (float& v : x) v = normal(rng);
  const DType t = DType::Q4_0;
  std::vector<uint8_t> act(grouped_activation_bytes(t, cols));
  quantize_grouped_activations(active_kernels(), t, x.data(), act.data(), cols);
  std::vector<BlockQ8> blocks(cols / 32);
  active_kernels().quantize_q8(x.data(), blocks.data(), cols);
  const std::vector<float> decoded = decoded_activations(t, act, cols);
  for (int64_t i = 0; i < cols; ++i) CHECK(decoded[i] == blocks[i / 32].d * blocks[i / 32].qs[i % 32]);
  // Padding lanes of the last group are zero, so they add nothing.
  const uint8_t* last = &act[(cols / 32 / 16) * kGroupedActivationBytes];
  for (int j = (cols / 32) % 16; j < 16; ++j) {
    float d;
    std::memcpy(&d, last + 4 * j, 4);
    CHECK(d == 0.0f);
  }
}

TEST_CASE("AMX prompt kernel (grouped Q4_0, Q8_0, Q4_K, Q6_K; the file's layout) equals the dot product of bf16-rounded weights and activations") {
  if (!amx_available() || detected_isa() != Isa::Avx512) {
    MESSAGE("this CPU has no AMX bf16: the AMX kernel is checked on machines that have it");
    return;
  }
  std::mt19937 rng(23);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto bf16 = [](float v) { return bf16_to_fp32(fp32_to_bf16(v)); };
  struct AmxCase {
    DType t;
    int64_t cols;
    RowLayout layout;
  };
  std::vector<AmxCase> amx_cases;
  for (auto [t, cols] : cases())
    if (amx_supports(t, RowLayout::Grouped16, cols)) amx_cases.push_back({t, cols, RowLayout::Grouped16});
  // The file's layout: F16 converted directly, the others through their row decoders.
  for (int64_t cols : kWidths) amx_cases.push_back({DType::F16, cols, RowLayout::Plain});
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::BF16})
    for (int64_t cols : {int64_t{96}, int64_t{11008}}) amx_cases.push_back({t, cols, RowLayout::Plain});
  for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q3_K})
    for (int64_t cols : {int64_t{256}, int64_t{4352}}) amx_cases.push_back({t, cols, RowLayout::Plain});
  CHECK(amx_supports(DType::F16, RowLayout::Plain, 4096));
  CHECK_FALSE(amx_supports(DType::F16, RowLayout::Plain, 172));  // stories260K's FFN width
  CHECK_FALSE(amx_supports(DType::F32, RowLayout::Plain, 4096));
  CHECK(amx_supports(DType::Q5_K, RowLayout::Plain, 4096));
  CHECK(amx_supports(DType::Q6_K, RowLayout::Grouped16, 256));
  CHECK_FALSE(amx_supports(DType::Q5_K, RowLayout::Grouped16, 256));
  for (const AmxCase& c : amx_cases) {
    const DType t = c.t;
    const int64_t cols = c.cols;
    // Row counts around one panel (32 rows), position counts around one tile (16). With more
    // than 1.5 MB of bf16 activations (80 positions of 11008 values: 1.7 MB), groups of four
    // panels (the last one short) share chunks of them; with less, every panel goes over all.
    for (auto [rows, tokens] : {std::pair<int64_t, int64_t>{32, 16}, {5, 8}, {33, 17}, {17, 40}, {161, 97}, {40, 80}}) {
      const bool grouped_order = rows == 40 && tokens == 80 && cols == 11008;
      if (tokens > 64 && cols > 4352 && !grouped_order) continue;  // many positions on the widest rows: time
      CAPTURE(dtype_name(t));
      CAPTURE(cols);
      CAPTURE(rows);
      CAPTURE(tokens);
      const size_t wbytes = row_bytes(t, cols);
      CAPTURE(c.layout == RowLayout::Plain);
      std::vector<uint8_t> plain, grouped;
      if (t == DType::F16 || t == DType::BF16) {
        std::vector<uint16_t> halves(rows * cols);
        for (uint16_t& h : halves) h = t == DType::F16 ? fp32_to_fp16(0.05f * normal(rng)) : fp32_to_bf16(0.05f * normal(rng));
        plain.resize(halves.size() * 2);
        std::memcpy(plain.data(), halves.data(), plain.size());
        grouped = plain;
      } else if (c.layout == RowLayout::Plain) {
        plain = random_rows(t, rows, cols, rng);  // any block type: random bytes and scales
        grouped = plain;
      } else {
        plain = random_rows(t, rows, cols, rng);
        grouped = grouped_copy(t, plain, rows, cols);
      }
      const int64_t x_stride = cols + 3;  // positions need not be packed
      std::vector<float> x(tokens * x_stride);
      for (float& v : x) v = normal(rng);
      // Prepared in two ranges of blocks, as threads share the work.
      std::vector<uint16_t> buffer(amx_activation_values(tokens, cols));
      const int64_t split = cols / 32 / 3;
      const uint16_t* tiles = amx_prepare_activations(x.data(), x_stride, tokens, cols, buffer.data(), split, cols / 32);
      CHECK(amx_prepare_activations(x.data(), x_stride, tokens, cols, buffer.data(), 0, split) == tiles);
      const int64_t out_stride = rows + 2;
      std::vector<float> got(tokens * out_stride, -7.0f);
      amx_gemm(t, c.layout, grouped.data(), wbytes, rows, tiles, tokens, cols, got.data(), out_stride);
      std::vector<float> w(cols);
      for (int64_t r = 0; r < rows; ++r) {
        dequantize_row(t, &plain[r * wbytes], w.data(), cols);
        for (int64_t k = 0; k < tokens; ++k) {
          double rounded = 0, exact = 0, magnitude = 0;
          for (int64_t i = 0; i < cols; ++i) {
            const double xi = x[k * x_stride + i];
            rounded += static_cast<double>(bf16(w[i])) * bf16(static_cast<float>(xi));
            exact += w[i] * xi;
            magnitude += std::fabs(w[i] * xi);
          }
          const float value = got[k * out_stride + r];
          // f32 accumulation of the bf16 products; and bf16 costs at most 2^-8 of each product.
          CHECK(std::fabs(value - rounded) <= 1e-5 * magnitude);
          CHECK(std::fabs(value - exact) <= 4.0e-3 * magnitude);
        }
      }
      // Padding between rows and after the last position is left alone.
      for (int64_t k = 0; k < tokens; ++k)
        for (int64_t r = rows; r < out_stride; ++r) CHECK(got[k * out_stride + r] == -7.0f);
    }
  }
}
