// The grouped row layout (see packed.hpp): conversion, decoding, activations, reference GEMM.
#include "cpu/packed.hpp"

#include <cstring>
#include <vector>

#include "cria/error.hpp"
#include "cria/quant.hpp"

namespace cria::cpu {

namespace {

// Element offset of 4-byte chunk c within a block (Q4_0's nibble order).
inline int chunk_offset(int c) { return 16 * (c & 1) + 4 * (c >> 1); }

size_t block_bytes(DType t) { return t == DType::Q4_0 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0); }

struct Group {
  int64_t first_block;
  int blocks;         // t
  size_t offset;      // bytes into the row
};

Group group_at(DType t, int64_t cols, int64_t g) {
  const int64_t n_blocks = cols / 32;
  const int64_t first = g * kGroupBlocks;
  const int64_t left = n_blocks - first;
  return {first, static_cast<int>(left < kGroupBlocks ? left : kGroupBlocks),
          static_cast<size_t>(first) * block_bytes(t)};
}

int64_t group_count(int64_t cols) { return (cols / 32 + kGroupBlocks - 1) / kGroupBlocks; }

}  // namespace

bool groupable(DType t, int64_t cols) {
  return (t == DType::Q4_0 || t == DType::Q8_0) && cols > 0 && cols % 32 == 0;
}

void group_row(DType t, const void* plain, void* grouped, int64_t cols) {
  if (!groupable(t, cols)) throw Error(ErrorCode::InvalidArgument, "group_row: type has no grouped layout");
  const uint8_t* src = static_cast<const uint8_t*>(plain);
  uint8_t* dst = static_cast<uint8_t*>(grouped);
  for (int64_t g = 0; g < group_count(cols); ++g) {
    const Group grp = group_at(t, cols, g);
    uint8_t* out = dst + grp.offset;
    uint16_t* d = reinterpret_cast<uint16_t*>(out);
    uint8_t* q = out + 2 * grp.blocks;
    for (int j = 0; j < grp.blocks; ++j) {
      const uint8_t* block = src + grp.offset + static_cast<size_t>(j) * block_bytes(t);
      std::memcpy(&d[j], block, 2);
      if (t == DType::Q4_0) {
        const uint8_t* qs = reinterpret_cast<const BlockQ4_0*>(block)->qs;
        for (int k = 0; k < 4; ++k) std::memcpy(q + (k * grp.blocks + j) * 4, qs + 4 * k, 4);
      } else {
        const int8_t* qs = reinterpret_cast<const BlockQ8_0*>(block)->qs;
        for (int c = 0; c < 8; ++c)
          for (int b = 0; b < 4; ++b)
            q[(c * grp.blocks + j) * 4 + b] = static_cast<uint8_t>(qs[chunk_offset(c) + b] + 128);
      }
    }
  }
}

void dequantize_grouped_row(DType t, const void* grouped, float* y, int64_t cols) {
  const uint8_t* row = static_cast<const uint8_t*>(grouped);
  for (int64_t g = 0; g < group_count(cols); ++g) {
    const Group grp = group_at(t, cols, g);
    const uint8_t* in = row + grp.offset;
    const uint8_t* q = in + 2 * grp.blocks;
    for (int j = 0; j < grp.blocks; ++j) {
      uint16_t dh;
      std::memcpy(&dh, in + 2 * j, 2);
      const float d = fp16_to_fp32(dh);
      float* out = y + (grp.first_block + j) * 32;
      if (t == DType::Q4_0) {
        for (int k = 0; k < 4; ++k)
          for (int b = 0; b < 4; ++b) {
            const uint8_t byte = q[(k * grp.blocks + j) * 4 + b];
            out[4 * k + b] = d * static_cast<float>((byte & 15) - 8);
            out[16 + 4 * k + b] = d * static_cast<float>((byte >> 4) - 8);
          }
      } else {
        for (int c = 0; c < 8; ++c)
          for (int b = 0; b < 4; ++b)
            out[chunk_offset(c) + b] = d * static_cast<float>(q[(c * grp.blocks + j) * 4 + b] - 128);
      }
    }
  }
}

size_t grouped_activation_bytes(int64_t cols) {
  return static_cast<size_t>(group_count(cols)) * kGroupedActivationBytes;
}

void quantize_grouped_activations(const Kernels& k, const float* x, void* y, int64_t cols) {
  thread_local std::vector<BlockQ8> blocks;
  const int64_t n_blocks = cols / 32;
  blocks.resize(static_cast<size_t>(n_blocks));
  k.quantize_q8(x, blocks.data(), cols);
  uint8_t* out = static_cast<uint8_t*>(y);
  std::memset(out, 0, grouped_activation_bytes(cols));
  for (int64_t b = 0; b < n_blocks; ++b) {
    uint8_t* group = out + (b / kGroupBlocks) * kGroupedActivationBytes;
    const int j = static_cast<int>(b % kGroupBlocks);
    std::memcpy(group + 4 * j, &blocks[b].d, 4);
    std::memcpy(group + 64 + 4 * j, &blocks[b].sum, 4);
    int8_t* q = reinterpret_cast<int8_t*>(group + 128);
    for (int c = 0; c < 8; ++c) std::memcpy(q + (c * 16 + j) * 4, blocks[b].qs + chunk_offset(c), 4);
  }
}

void grouped_gemm_reference(DType t, const uint8_t* w, size_t row_bytes, int64_t n_rows,
                            const uint8_t* act, size_t act_bytes, int64_t n_tokens, int64_t cols,
                            float* out, int64_t out_stride) {
  const int32_t offset = t == DType::Q4_0 ? 8 : 128;
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = w + r * row_bytes;
    for (int64_t tok = 0; tok < n_tokens; ++tok) {
      const uint8_t* a = act + tok * act_bytes;
      float lanes[16] = {};
      for (int64_t g = 0; g < group_count(cols); ++g) {
        const Group grp = group_at(t, cols, g);
        const uint8_t* in = row + grp.offset;
        const uint8_t* q = in + 2 * grp.blocks;
        const uint8_t* ag = a + g * kGroupedActivationBytes;
        const int8_t* aq = reinterpret_cast<const int8_t*>(ag + 128);
        for (int j = 0; j < grp.blocks; ++j) {
          int32_t isum = 0;
          for (int c = 0; c < 8; ++c)
            for (int b = 0; b < 4; ++b) {
              int32_t wq;
              if (t == DType::Q4_0) {
                const uint8_t byte = q[((c >> 1) * grp.blocks + j) * 4 + b];
                wq = (c & 1) ? byte >> 4 : byte & 15;
              } else {
                wq = q[(c * grp.blocks + j) * 4 + b];
              }
              isum += wq * aq[(c * 16 + j) * 4 + b];
            }
          int32_t asum;
          float ad;
          uint16_t dh;
          std::memcpy(&asum, ag + 64 + 4 * j, 4);
          std::memcpy(&ad, ag + 4 * j, 4);
          std::memcpy(&dh, in + 2 * j, 2);
          lanes[j] += static_cast<float>(isum - offset * asum) * (fp16_to_fp32(dh) * ad);
        }
      }
      float sum = 0;
      for (float v : lanes) sum += v;
      out[tok * out_stride + r] = sum;
    }
  }
}

}  // namespace cria::cpu
