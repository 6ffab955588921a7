// The grouped row layout (see packed.hpp): conversion, decoding, activations, reference GEMM.
#include "cpu/packed.hpp"

#include <cstring>
#include <type_traits>
#include <vector>

#include "cria/error.hpp"
#include "cria/quant.hpp"

namespace cria::cpu {

namespace {

// Element offset of 4-byte chunk c within a block (Q4_0's nibble order).
inline int chunk_offset(int c) { return 16 * (c & 1) + 4 * (c >> 1); }

// Four bytes as one word, whose bytes per-byte masks and shifts (within a byte) treat alike on
// any byte order; grouping works a word of bytes at a time.
inline uint32_t load4(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void store4(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
constexpr uint32_t kLowNibbles = 0x0f0f0f0fu;

// Bytes of 32 weights (one lane) in the file's layout.
size_t lane_bytes(DType t) {
  switch (t) {
    case DType::Q4_0: return sizeof(BlockQ4_0);
    case DType::Q4_K: return sizeof(BlockQ4_K) / 8;
    case DType::Q5_K: return sizeof(BlockQ5_K) / 8;
    default: return sizeof(BlockQ8_0);
  }
}


// One lane of a grouped row, decoded: w[i] = scale * (q[i] - offset) - min.
struct Lane {
  float scale, min;
  int offset;
  int q[32];
};

Lane lane_of(DType t, const uint8_t* group, int blocks, int j) {
  Lane lane{};
  const uint8_t* q = group + 2 * blocks;
  uint16_t h;
  if (t == DType::Q4_K || t == DType::Q5_K) {
    q4_k_lane_scale_min(group, blocks, j, &lane.scale, &lane.min);
  } else {
    std::memcpy(&h, group + 2 * j, 2);
    lane.scale = fp16_to_fp32(h);
  }
  lane.offset = t == DType::Q4_0 ? 8 : t == DType::Q8_0 ? 128 : 0;
  for (int c = 0; c < 8; ++c)
    for (int b = 0; b < 4; ++b) {
      if (t == DType::Q8_0) {
        lane.q[chunk_offset(c) + b] = q[(c * blocks + j) * 4 + b];
      } else {
        const uint8_t byte = q[((c >> 1) * blocks + j) * 4 + b];
        lane.q[chunk_offset(c) + b] = (c & 1) ? byte >> 4 : byte & 15;
        if (t == DType::Q5_K)  // bit c/2 (low nibbles) or 4 + c/2 (high) of the lane's fifth bits
          lane.q[chunk_offset(c) + b] |= ((q[16 * blocks + 4 * j + b] >> (4 * (c & 1) + (c >> 1))) & 1) << 4;
      }
    }
  return lane;
}

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
          static_cast<size_t>(first) * lane_bytes(t)};
}

int64_t group_count(int64_t cols) { return (cols / 32 + kGroupBlocks - 1) / kGroupBlocks; }

// A Q4_K group: the super-blocks' 6-bit scales packed lane after lane (6 bits each), the mins
// likewise, then d and dmin per super-block, then the nibbles as Q4_0's. Q5_K: the same, then
// each lane's fifth bits (packed.hpp).
template <typename Block>
void group_q45_k(const uint8_t* plain, uint8_t* out, int blocks) {
  constexpr bool kFifthBit = std::is_same_v<Block, BlockQ5_K>;
  uint8_t* q = out + 2 * blocks;
  uint8_t* mins = out + q4_k_packed_bytes(blocks);
  for (int j = 0; j < blocks; ++j) {
    const Block* super = reinterpret_cast<const Block*>(plain) + j / 8;
    const int sub = j % 8;
    if (sub == 0) {
      // A super-block's eight 6-bit scales (and mins) fill six bytes exactly.
      uint64_t scales = 0, mins_bits = 0;
      for (int i = 0; i < 8; ++i) {
        int sc, m;
        k_quant_scale_min(i, super->scales, &sc, &m);
        scales |= static_cast<uint64_t>(sc) << (6 * i);
        mins_bits |= static_cast<uint64_t>(m) << (6 * i);
      }
      for (int byte = 0; byte < 6; ++byte) {
        out[6 * (j / 8) + byte] = static_cast<uint8_t>(scales >> (8 * byte));
        mins[6 * (j / 8) + byte] = static_cast<uint8_t>(mins_bits >> (8 * byte));
      }
      uint8_t* dd = out + 2 * q4_k_packed_bytes(blocks) + 4 * (j / 8);
      std::memcpy(dd, &super->d, 2);
      std::memcpy(dd + 2, &super->dmin, 2);
    }
    // Sub-block `sub` holds the low (even) or high (odd) nibbles of 32 bytes; weights 4k..4k+3
    // go to the low nibbles of chunk k, weights 16+4k.. to its high ones.
    const uint8_t* qs = super->qs + 32 * (sub / 2);
    const int nibble_shift = 4 * (sub & 1);
    for (int k = 0; k < 4; ++k) {
      const uint32_t low = (load4(qs + 4 * k) >> nibble_shift) & kLowNibbles;
      const uint32_t high = (load4(qs + 16 + 4 * k) >> nibble_shift) & kLowNibbles;
      store4(q + (k * blocks + j) * 4, low | high << 4);
    }
    if constexpr (kFifthBit) {  // bit k: weight 4k+b's fifth bit; bit 4+k: weight 16+4k+b's
      uint32_t fifth = 0;
      for (int k = 0; k < 4; ++k) {
        fifth |= ((load4(super->qh + 4 * k) >> sub) & 0x01010101u) << k;
        fifth |= ((load4(super->qh + 16 + 4 * k) >> sub) & 0x01010101u) << (4 + k);
      }
      store4(q + 16 * blocks + 4 * j, fifth);
    }
  }
}

constexpr size_t kQ6Low = 18, kQ6High = 18 + 128;  // offsets in a grouped Q6_K super-block

// Lane j (weights 16j..16j+15) lies in quarter m = (j / 2) % 4 of half n = j / 8 of the file's
// super-block: low 4 bits in ql[64n + 32 (m & 1) + l] (low nibbles for m < 2, high ones
// after), top 2 bits at bits 2m of qh[32n + l], l = 16 (j % 2) + 0..15.
void group_q6_k(const BlockQ6_K* b, uint8_t* out) {
  std::memcpy(out, b->scales, 16);
  std::memcpy(out + 16, &b->d, 2);
  for (int j = 0; j < 16; ++j) {
    const int n = j / 8, m = (j / 2) % 4, l = 16 * (j % 2);
    const uint8_t* ql = b->ql + 64 * n + 32 * (m & 1) + l;
    const uint8_t* qh = b->qh + 32 * n + l;
    const int nibble_shift = 4 * (m / 2);
    for (int k = 0; k < 2; ++k) {
      const uint32_t low = (load4(ql + 8 * k) >> nibble_shift) & kLowNibbles;
      const uint32_t high = (load4(ql + 8 * k + 4) >> nibble_shift) & kLowNibbles;
      store4(out + kQ6Low + (k * 16 + j) * 4, low | high << 4);
    }
    uint32_t top = 0;
    for (int c = 0; c < 4; ++c) top |= ((load4(qh + 4 * c) >> (2 * m)) & 0x03030303u) << (2 * c);
    store4(out + kQ6High + j * 4, top);
  }
}

// Value i (0-255) of a grouped Q6_K super-block, 0-63.
int q6_k_grouped_value(const uint8_t* group, int i) {
  const int j = i / 16, e = i % 16, c = e / 4, b = e % 4;
  const uint8_t low = group[kQ6Low + ((c / 2) * 16 + j) * 4 + b];
  const int nibble = (c & 1) ? low >> 4 : low & 15;
  return nibble | ((group[kQ6High + j * 4 + b] >> (2 * c)) & 3) << 4;
}

}  // namespace

bool groupable(DType t, int64_t cols) {
  if (t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K) return cols > 0 && cols % 256 == 0;
  return (t == DType::Q4_0 || t == DType::Q8_0) && cols > 0 && cols % 32 == 0;
}

void group_row(DType t, const void* plain, void* grouped, int64_t cols) {
  if (!groupable(t, cols)) throw Error(ErrorCode::InvalidArgument, "group_row: type has no grouped layout");
  const uint8_t* src = static_cast<const uint8_t*>(plain);
  uint8_t* dst = static_cast<uint8_t*>(grouped);
  if (t == DType::Q6_K) {
    for (int64_t s = 0; s < cols / 256; ++s) group_q6_k(reinterpret_cast<const BlockQ6_K*>(src) + s, dst + s * sizeof(BlockQ6_K));
    return;
  }
  for (int64_t g = 0; g < group_count(cols); ++g) {
    const Group grp = group_at(t, cols, g);
    uint8_t* out = dst + grp.offset;
    if (t == DType::Q4_K) {
      group_q45_k<BlockQ4_K>(src + grp.offset, out, grp.blocks);
      continue;
    }
    if (t == DType::Q5_K) {
      group_q45_k<BlockQ5_K>(src + grp.offset, out, grp.blocks);
      continue;
    }
    uint8_t* q = out + 2 * grp.blocks;  // after the blocks' fp16 scales
    for (int j = 0; j < grp.blocks; ++j) {
      const uint8_t* block = src + grp.offset + static_cast<size_t>(j) * lane_bytes(t);
      std::memcpy(out + 2 * j, block, 2);
      if (t == DType::Q4_0) {
        const uint8_t* qs = reinterpret_cast<const BlockQ4_0*>(block)->qs;
        for (int k = 0; k < 4; ++k) std::memcpy(q + (k * grp.blocks + j) * 4, qs + 4 * k, 4);
      } else {
        const uint8_t* qs = reinterpret_cast<const uint8_t*>(reinterpret_cast<const BlockQ8_0*>(block)->qs);
        for (int c = 0; c < 8; ++c)  // + 128 of each int8, modulo 256
          store4(q + (c * grp.blocks + j) * 4, load4(qs + chunk_offset(c)) ^ 0x80808080u);
      }
    }
  }
}

void dequantize_grouped_row(DType t, const void* grouped, float* y, int64_t cols) {
  const uint8_t* row = static_cast<const uint8_t*>(grouped);
  if (t == DType::Q6_K) {
    for (int64_t s = 0; s < cols / 256; ++s) {
      const uint8_t* group = row + s * sizeof(BlockQ6_K);
      uint16_t dh;
      std::memcpy(&dh, group + 16, 2);
      const float d = fp16_to_fp32(dh);
      for (int i = 0; i < 256; ++i)
        y[s * 256 + i] = d * static_cast<int8_t>(group[i / 16]) * (q6_k_grouped_value(group, i) - 32);
    }
    return;
  }
  for (int64_t g = 0; g < group_count(cols); ++g) {
    const Group grp = group_at(t, cols, g);
    for (int j = 0; j < grp.blocks; ++j) {
      const Lane lane = lane_of(t, row + grp.offset, grp.blocks, j);
      float* out = y + (grp.first_block + j) * 32;
      for (int i = 0; i < 32; ++i) out[i] = lane.scale * static_cast<float>(lane.q[i] - lane.offset) - lane.min;
    }
  }
}

void q4_k_lane_scale_min(const uint8_t* group, int blocks, int j, float* scale, float* min) {
  auto six_bits = [j](const uint8_t* bits) {
    const int at = 6 * j;
    return ((bits[at / 8] | bits[at / 8 + 1] << 8) >> (at % 8)) & 63;  // the next byte is still in the header
  };
  const size_t packed = q4_k_packed_bytes(blocks);
  const uint8_t* dd = group + 2 * packed + 4 * (j / 8);  // d, dmin of its super-block
  uint16_t h;
  std::memcpy(&h, dd, 2);
  *scale = fp16_to_fp32(h) * static_cast<float>(six_bits(group));
  std::memcpy(&h, dd + 2, 2);
  *min = fp16_to_fp32(h) * static_cast<float>(six_bits(group + packed));
}

size_t grouped_activation_bytes(DType t, int64_t cols) {
  if (t == DType::Q6_K) return static_cast<size_t>(cols / 256) * kGroupedActivationBytesQ6K;
  return static_cast<size_t>(group_count(cols)) * kGroupedActivationBytes;
}

void quantize_grouped_activations(const Kernels& k, DType t, const float* x, void* y, int64_t cols) {
  thread_local std::vector<BlockQ8> blocks;
  const int64_t n_blocks = cols / 32;
  blocks.resize(static_cast<size_t>(n_blocks));
  k.quantize_q8(x, blocks.data(), cols);
  uint8_t* out = static_cast<uint8_t*>(y);
  std::memset(out, 0, grouped_activation_bytes(t, cols));
  if (t == DType::Q6_K) {
    // Lanes of 16 values: two lanes per 32-value block, which gives both its scale.
    for (int64_t b = 0; b < n_blocks; ++b) {
      uint8_t* group = out + (b / 8) * kGroupedActivationBytesQ6K;
      for (int h = 0; h < 2; ++h) {
        const int j = static_cast<int>(b % 8) * 2 + h;
        const int8_t* qs = blocks[b].qs + 16 * h;
        int32_t sum = 0;
        for (int i = 0; i < 16; ++i) sum += qs[i];
        std::memcpy(group + 4 * j, &blocks[b].d, 4);
        std::memcpy(group + 64 + 4 * j, &sum, 4);
        for (int c = 0; c < 4; ++c) std::memcpy(group + 128 + (c * 16 + j) * 4, qs + 4 * c, 4);
      }
    }
    return;
  }
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
  if (t == DType::Q6_K) {
    for (int64_t r = 0; r < n_rows; ++r)
      for (int64_t tok = 0; tok < n_tokens; ++tok) {
        float lanes[16] = {};
        for (int64_t s = 0; s < cols / 256; ++s) {
          const uint8_t* group = w + r * row_bytes + s * sizeof(BlockQ6_K);
          const uint8_t* ag = act + tok * act_bytes + s * kGroupedActivationBytesQ6K;
          uint16_t dh;
          std::memcpy(&dh, group + 16, 2);
          for (int j = 0; j < 16; ++j) {
            int32_t isum = 0, asum;
            for (int c = 0; c < 4; ++c)
              for (int b = 0; b < 4; ++b)
                isum += q6_k_grouped_value(group, 16 * j + 4 * c + b) *
                        static_cast<int8_t>(ag[128 + (c * 16 + j) * 4 + b]);
            float ad;
            std::memcpy(&asum, ag + 64 + 4 * j, 4);
            std::memcpy(&ad, ag + 4 * j, 4);
            lanes[j] += static_cast<float>(isum - 32 * asum) *
                        (fp16_to_fp32(dh) * static_cast<int8_t>(group[j]) * ad);
          }
        }
        float sum = 0;
        for (float v : lanes) sum += v;
        out[tok * out_stride + r] = sum;
      }
    return;
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = w + r * row_bytes;
    for (int64_t tok = 0; tok < n_tokens; ++tok) {
      const uint8_t* a = act + tok * act_bytes;
      float lanes[16] = {};
      for (int64_t g = 0; g < group_count(cols); ++g) {
        const Group grp = group_at(t, cols, g);
        const uint8_t* ag = a + g * kGroupedActivationBytes;
        const int8_t* aq = reinterpret_cast<const int8_t*>(ag + 128);
        for (int j = 0; j < grp.blocks; ++j) {
          const Lane lane = lane_of(t, row + grp.offset, grp.blocks, j);
          int32_t isum = 0;
          for (int c = 0; c < 8; ++c)
            for (int b = 0; b < 4; ++b) isum += lane.q[chunk_offset(c) + b] * aq[(c * 16 + j) * 4 + b];
          int32_t asum;
          float ad;
          std::memcpy(&asum, ag + 64 + 4 * j, 4);
          std::memcpy(&ad, ag + 4 * j, 4);
          lanes[j] += static_cast<float>(isum - lane.offset * asum) * (lane.scale * ad) -
                      lane.min * (static_cast<float>(asum) * ad);
        }
      }
      float sum = 0;
      for (float v : lanes) sum += v;
      out[tok * out_stride + r] = sum;
    }
  }
}

}  // namespace cria::cpu
