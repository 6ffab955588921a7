// AMX bf16 GEMM for prompts on grouped Q4_0, Q8_0, Q4_K and Q6_K rows (layout in packed.hpp)
// and on rows in the file's layout of every type but F32 (F16 converted directly, the block
// formats through their row decoders).
//
// Each work item decodes its rows once into bf16 (scales applied), and the tile unit
// multiplies them with the positions' activations in bf16, accumulating in f32 across the
// whole row. With many positions the decode is shared by all of them, and the tile unit
// does 16 x 16 x 32 multiply-adds per instruction, with no per-block rescaling: int8 tiles
// would need their sums scaled and stored after every 32-weight block.
//
// The products are not those of the int8 decode kernels (bf16 rounds weights and
// activations to 8 significant bits, the 8-bit activations round each block to its largest
// value / 127); the accuracy tests measure both paths.
// Compiled with AMX, AVX-512, AVX-512 BF16 and VBMI flags; called only when amx_active().
#include "cpu/amx_tile_stride.hpp"  // <immintrin.h>, fixed for GCC 12 on Windows

// GCC 12 flags the undefined upper halves inside its own intrinsics.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/grouped_avx512.hpp"
#include "cpu/kernels.hpp"
#include "cpu/packed.hpp"

namespace cria::cpu {

namespace {

constexpr int kTile = 16;        // rows, positions per tile
constexpr int kBlock = 32;       // bf16 values in a tile row (64 bytes)
constexpr int kPanelRows = kAmxPanelRows;  // rows decoded together: two tiles of rows
constexpr int64_t kChunkBlocks = 128;  // blocks decoded at a time: 256 KB, in L2
// Activations beyond kL2Activations bytes (three quarters of the 2 MB L2 of the CPUs with
// AMX so far, the rest for the decoded chunk) do not stay in L2 while every panel goes over
// them: then kGroupPanels panels share each chunk of kGroupChunkBlocks blocks of them. The
// limit is in bytes rather than positions: what has to stay in L2 is the activations' size,
// whatever the row width.
constexpr size_t kL2Activations = 1536 * 1024;
constexpr int64_t kGroupPanels = 4;
constexpr int64_t kGroupChunkBlocks = 32;

struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
};

// Tiles 0-3: sums (16 rows x 16 positions, f32), 4-5: weights (16 rows x 32 bf16),
// 6-7: activations (16 pairs x 16 positions x 2 bf16). All 16 x 64 bytes.
constexpr TileConfig kTileConfig = {1, 0, {}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

// From a constant in memory: GCC 12 does not treat ldtilecfg as a read of its operand, and
// has dropped the stores of a configuration built on the stack just before it (a fault).
void configure_tiles() { _tile_loadconfig(&kTileConfig); }

// Grouped Q4_0, Q8_0, Q4_K, Q6_K; F16 rows; rows of any other type in the file's layout
// (Plain: through dequantize_fast).
enum class Kind { Q4_0, Q8_0, Q4_K, Q6_K, F16, Plain };

// Tile rows are 64 bytes: on a 64-byte boundary each is one cache line, not two.
template <typename T>
T* aligned64(T* p) {
  return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t{63});
}

// Bytes 16 lane..16 lane + 15 of v as the floats 2^23 + 2^(8 kByte) byte, one byte permute:
// each byte goes into byte kByte of a float whose other bytes are those of 2^23. An FMA then
// scales and offsets these exactly, with no integer conversions.
template <int kByte>
inline __m512 biased_floats(__m512i v, int lane) {
  const __m512i index = _mm512_slli_epi32(
      _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(16 * lane)), 8 * kByte);
  const __mmask64 byte_k = 0x1111111111111111ull << kByte;
  return _mm512_castsi512_ps(_mm512_mask_permutexvar_epi8(_mm512_set1_epi32(0x4b000000), byte_k, index, v));
}

// For the floats of biased_floats<kByte>: per lane j, step[j] and offset[j] such that
// f * step - offset = scale[j] (byte - value_offset), given f = 2^23 + 2^(8 kByte) byte. The
// step is exact (a power of two), and so is the offset while the significant bits of scale[j]
// and of 2^(23 - 8 kByte) + value_offset add up to at most 24: then the FMA rounds once, as
// converting and multiplying does, and gives the same values.
template <int kByte>
inline void biased_scales(const float* scale, float value_offset, float* step, float* offset) {
  constexpr float kUnit = static_cast<float>(1 << (8 * kByte));
  _mm512_store_ps(step, _mm512_mul_ps(_mm512_load_ps(scale), _mm512_set1_ps(1.0f / kUnit)));
  _mm512_store_ps(offset, _mm512_mul_ps(_mm512_load_ps(scale), _mm512_set1_ps(8388608.0f / kUnit + value_offset)));
}

// One row's group of up to 16 blocks to bf16 in natural element order: block j of the
// group goes to out + j * out_stride.
template <Kind kKind>
void decode_group(const uint8_t* group, int blocks, uint16_t* out, size_t out_stride) {
  const __mmask16 lanes = static_cast<__mmask16>((1u << blocks) - 1);
  const bool full = blocks == kGroupBlocks;
  const uint8_t* q = group + 2 * blocks;
  alignas(64) float scale[16], min[16] = {};
  if (kKind == Kind::Q4_K) {
    __m512 s, m;
    q4_k_scales(group, blocks, &s, &m);
    _mm512_store_ps(scale, s);
    _mm512_store_ps(min, m);
  } else {
    _mm512_store_ps(scale, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, group)));
  }
  if (kKind != Kind::Q8_0) {
    // 4-bit values: each block's 16 bf16 values (scale q - min for q = 0..15) as a table, and
    // one word permute per block looks its 32 weights up (two blocks share a table).
    __m512i packed[4], both[4];  // both[m], 128-bit lane L: block 4L + m's 16 bytes
    for (int k = 0; k < 4; ++k) packed[k] = load_lanes(lanes, full, q + 4 * blocks * k);
    transpose_lanes(packed, both);
    const __m512 iota = kKind == Kind::Q4_0
        ? _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7)  // q - 8
        : _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i nibble = _mm512_set1_epi8(0x0f);
    const __m512i second_table = _mm512_set1_epi16(16);
    for (int m = 0; m < 4; ++m) {
      // Chunk k: low nibbles are elements 4k..4k+3, high nibbles 16 + 4k..
      const __m512i low = _mm512_and_si512(both[m], nibble);
      const __m512i high = _mm512_and_si512(_mm512_srli_epi16(both[m], 4), nibble);
      for (int half = 0; half < 2; ++half) {
        const int a = 8 * half + m, b = a + 4;  // the blocks in lanes 2 half and 2 half + 1
        if (a >= blocks) break;
        const __m512i low_words = _mm512_cvtepu8_epi16(half ? _mm512_extracti64x4_epi64(low, 1) : _mm512_castsi512_si256(low));
        const __m512i high_words = _mm512_cvtepu8_epi16(half ? _mm512_extracti64x4_epi64(high, 1) : _mm512_castsi512_si256(high));
        const __m512i index_a = _mm512_shuffle_i64x2(low_words, high_words, 0x44);
        const __m512i index_b = _mm512_or_si512(_mm512_shuffle_i64x2(low_words, high_words, 0xee), second_table);
        const __m512bh table = _mm512_cvtne2ps_pbh(
            _mm512_fmsub_ps(iota, _mm512_set1_ps(scale[b]), _mm512_set1_ps(min[b])),
            _mm512_fmsub_ps(iota, _mm512_set1_ps(scale[a]), _mm512_set1_ps(min[a])));
        const __m512i words = reinterpret_cast<const __m512i&>(table);
        _mm512_storeu_si512(out + a * out_stride, _mm512_permutexvar_epi16(index_a, words));
        if (b < blocks) _mm512_storeu_si512(out + b * out_stride, _mm512_permutexvar_epi16(index_b, words));
      }
    }
    return;
  }
  // 8-bit values, stored as u = 128 + value. low[m] / high[m], 128-bit lane L: block 4L + m's
  // elements 0..15 / 16..31; chunk c holds elements 16 (c & 1) + 4 (c >> 1)..+3.
  __m512i low[4], high[4];
  __m512i even[4], odd[4];
  for (int k = 0; k < 4; ++k) {
    even[k] = load_lanes(lanes, full, q + 4 * blocks * (2 * k));
    odd[k] = load_lanes(lanes, full, q + 4 * blocks * (2 * k + 1));
  }
  transpose_lanes(even, low);
  transpose_lanes(odd, high);
  // (2^23 + 256 u) (d / 256) - 32896 d = (u - 128) d in one FMA (32896 = 257 * 2^7).
  alignas(64) float step[16], offset[16];
  biased_scales<1>(scale, 128.0f, step, offset);
#pragma GCC unroll 16
  for (int j = 0; j < kGroupBlocks; ++j) {
    if (j >= blocks) break;
    const int m = j % 4, lane = j / 4;
    const __m512 d = _mm512_set1_ps(step[j]), bias = _mm512_set1_ps(offset[j]);
    const __m512 first = _mm512_fmsub_ps(biased_floats<1>(low[m], lane), d, bias);
    const __m512 second = _mm512_fmsub_ps(biased_floats<1>(high[m], lane), d, bias);
    const __m512bh values = _mm512_cvtne2ps_pbh(second, first);
    _mm512_storeu_si512(out + j * out_stride, reinterpret_cast<const __m512i&>(values));
  }
}

// One row's Q6_K super-block (a group of 16 lanes of 16 weights) to bf16: the 8 blocks of 32
// weights go to out + j * out_stride.
void decode_q6_k_group(const uint8_t* group, uint16_t* out, size_t out_stride) {
  constexpr size_t kLow = 18, kHigh = 18 + 128;
  uint16_t dh;
  std::memcpy(&dh, group + 16, 2);
  alignas(64) float scale[16];  // d * the lane's 8-bit scale
  _mm512_store_ps(scale, _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(dh)),
                                       _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group))))));
  // q[c], lane j: its weights 4c..4c+3, the low nibble and the two high bits put together.
  const __m512i nibble = _mm512_set1_epi8(0x0f), top = _mm512_set1_epi8(0x30);
  const __m512i high = _mm512_loadu_si512(group + kHigh);
  __m512i q[4], lanes[4];
  for (int k = 0; k < 2; ++k) {
    const __m512i low = _mm512_loadu_si512(group + kLow + 64 * k);
    const __m512i high_even = k == 0 ? _mm512_slli_epi16(high, 4) : high;
    const __m512i high_odd = k == 0 ? _mm512_slli_epi16(high, 2) : _mm512_srli_epi16(high, 2);
    q[2 * k] = _mm512_or_si512(_mm512_and_si512(low, nibble), _mm512_and_si512(high_even, top));
    q[2 * k + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low, 4), nibble),
                                   _mm512_and_si512(high_odd, top));
  }
  transpose_lanes(q, lanes);  // lanes[m], 128-bit lane L: lane 4L + m's 16 weights in order
  // 16 floats scale (q - 32) = (2^23 + 2^16 q) (scale / 2^16) - 160 scale, in one FMA.
  alignas(64) float step[16], offset[16];
  biased_scales<2>(scale, 32.0f, step, offset);
  auto lane_values = [&](int j) {
    return _mm512_fmsub_ps(biased_floats<2>(lanes[j % 4], j / 4), _mm512_set1_ps(step[j]), _mm512_set1_ps(offset[j]));
  };
#pragma GCC unroll 8
  for (int b = 0; b < 8; ++b) {
    const __m512bh values = _mm512_cvtne2ps_pbh(lane_values(2 * b + 1), lane_values(2 * b));
    _mm512_storeu_si512(out + b * out_stride, reinterpret_cast<const __m512i&>(values));
  }
}

// Byte offset of block b (of 32 weights) within a row of type t.
template <Kind kKind>
size_t block_offset(DType t, int64_t b) {
  switch (kKind) {
    case Kind::F16: return static_cast<size_t>(b) * 64;
    case Kind::Q8_0: return static_cast<size_t>(b) * 34;
    case Kind::Q6_K: return static_cast<size_t>(b) / 8 * 210;
    case Kind::Plain: return row_bytes(t, b * kBlock);
    default: return static_cast<size_t>(b) * 18;
  }
}

// Blocks [b0, b0 + n_blocks) of rows [0, n_rows) of a panel to bf16 tiles (b0 and n_blocks
// whole groups, but for the row's last): chunk[((r / 16) * n_blocks + b) * 512] holds block
// b0 + b of rows 16 (r / 16)..+15, 64 bytes a row, so that a tile load reads 1 KB in a row.
// Rows n_rows..31 are zero.
template <Kind kKind>
void decode_chunk(DType t, const uint8_t* w, size_t row_bytes, int64_t n_rows, int64_t cols, int64_t b0,
                  int64_t n_blocks, uint16_t* chunk) {
  const size_t tile_values = kTile * kBlock;
  const int64_t row_blocks = cols / kBlock;
  for (int64_t r = 0; r < kPanelRows; ++r) {
    uint16_t* row_out = chunk + (r / kTile) * n_blocks * tile_values + (r % kTile) * kBlock;
    if (r >= n_rows) {
      for (int64_t b = 0; b < n_blocks; ++b) std::memset(row_out + b * tile_values, 0, kBlock * sizeof(uint16_t));
      continue;
    }
    if constexpr (kKind == Kind::F16) {
      const uint16_t* halves = reinterpret_cast<const uint16_t*>(w + r * row_bytes) + b0 * kBlock;
      for (int64_t b = 0; b < n_blocks; ++b) {
        const __m512 first = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(halves + b * kBlock)));
        const __m512 second = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(halves + b * kBlock + 16)));
        const __m512bh values = _mm512_cvtne2ps_pbh(second, first);
        _mm512_store_si512(row_out + b * tile_values, reinterpret_cast<const __m512i&>(values));
      }
    } else if constexpr (kKind == Kind::Plain) {
      alignas(64) static thread_local float values[kChunkBlocks * kBlock];
      dequantize_fast(active_kernels(), t, w + r * row_bytes + block_offset<kKind>(t, b0), values, n_blocks * kBlock);
      for (int64_t b = 0; b < n_blocks; ++b) {
        const __m512bh pairs = _mm512_cvtne2ps_pbh(_mm512_load_ps(values + b * kBlock + 16), _mm512_load_ps(values + b * kBlock));
        _mm512_store_si512(row_out + b * tile_values, reinterpret_cast<const __m512i&>(pairs));
      }
    } else if constexpr (kKind == Kind::Q6_K) {  // a group is one super-block: 8 blocks of 32, 210 bytes
      for (int64_t b = 0; b < n_blocks; b += 8)
        decode_q6_k_group(w + r * row_bytes + block_offset<kKind>(t, b0 + b), row_out + b * tile_values, tile_values);
    } else {
      for (int64_t b = 0; b < n_blocks; b += kGroupBlocks) {
        const int blocks = static_cast<int>(std::min<int64_t>(kGroupBlocks, row_blocks - b0 - b));
        decode_group<kKind>(w + r * row_bytes + block_offset<kKind>(t, b0 + b), blocks,
                            row_out + b * tile_values, tile_values);
      }
    }
  }
}

// Sums of a 16 x 16 tile (rows x positions) to out[t * out_stride + r], transposed in
// registers so that each position's rows go out in one store. Stored one by one, the sums
// of a 16 x 16 tile hit 16 lines 16 times each, and those lines lie a multiple of 4 KB apart
// (out_stride is the matrix's row count), so they share L1 sets and the stores keep missing.
inline void write_tile(const float* sums, int64_t rows, int64_t positions, float* out, int64_t out_stride) {
  if (rows <= 0 || positions <= 0) return;
  __m512 r[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_load_ps(sums + i * kTile);
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  __m512 u[16];
  for (int i = 0; i < 16; i += 4) {
    u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
    u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  // u[4i + m], 128-bit lane L: position 4L + m's sums of rows 4i..4i+3; four lane shuffles
  // put each position's 16 rows together.
  __m512 v[16];
  for (int m = 0; m < 4; ++m) {
    const __m512 a = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88), b = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xdd);
    const __m512 c = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88), d = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xdd);
    v[m] = _mm512_shuffle_f32x4(a, c, 0x88);
    v[8 + m] = _mm512_shuffle_f32x4(a, c, 0xdd);
    v[4 + m] = _mm512_shuffle_f32x4(b, d, 0x88);
    v[12 + m] = _mm512_shuffle_f32x4(b, d, 0xdd);
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1);
  for (int64_t p = 0; p < positions; ++p) _mm512_mask_storeu_ps(out + p * out_stride, mask, v[p]);
}

template <Kind kKind>
void gemm_rows(DType t, const uint8_t* w, size_t row_bytes, int64_t n_rows, const uint16_t* act_tiles,
               int64_t n_tokens, int64_t cols, float* out, int64_t out_stride) {
  const int64_t n_blocks = cols / kBlock;
  const int64_t n_tiles = (n_tokens + kTile - 1) / kTile;
  const int64_t n_pairs = (n_tiles + 1) / 2;
  const size_t tile_values = kTile * kBlock;
  const size_t position_tile = static_cast<size_t>(n_blocks) * tile_values;  // bf16 per tile of positions
  // Activations that fit in L2: every panel goes over all of them. More: a group of panels
  // goes over each chunk of them while it is in L2.
  const bool grouped = static_cast<size_t>(n_tiles) * position_tile * sizeof(uint16_t) > kL2Activations;
  const int64_t group_panels = grouped ? kGroupPanels : 1;
  const int64_t chunk_blocks = grouped ? kGroupChunkBlocks : kChunkBlocks;
  const size_t panel_chunk = 2 * static_cast<size_t>(chunk_blocks) * tile_values;  // a panel's decoded chunk
  thread_local std::vector<uint16_t> chunk_buffer;
  chunk_buffer.resize(group_panels * panel_chunk + 32);
  uint16_t* const chunks = aligned64(chunk_buffer.data());
  // Partial sums, per panel and pair of position tiles: rows 0-15 x tile 0, x tile 1, rows
  // 16-31 x 0, x 1.
  const size_t pair_values = 4 * kTile * kTile;
  thread_local std::vector<float> sums;
  sums.resize(static_cast<size_t>(group_panels * n_pairs) * pair_values + 16);
  float* const all_sums = aligned64(sums.data());
  configure_tiles();
  for (int64_t g0 = 0; g0 < n_rows; g0 += group_panels * kPanelRows) {
    const int64_t group_rows = std::min<int64_t>(group_panels * kPanelRows, n_rows - g0);
    const int64_t panels = (group_rows + kPanelRows - 1) / kPanelRows;
    auto panel_rows = [&](int64_t p) { return std::min<int64_t>(kPanelRows, group_rows - p * kPanelRows); };
    // A chunk of decoded blocks per panel, in L2 while every position passes over it.
    for (int64_t b0 = 0; b0 < n_blocks; b0 += chunk_blocks) {
      const int64_t blocks = std::min<int64_t>(chunk_blocks, n_blocks - b0);
      for (int64_t p = 0; p < panels; ++p)
        decode_chunk<kKind>(t, w + (g0 + p * kPanelRows) * row_bytes, row_bytes, panel_rows(p), cols, b0, blocks,
                            chunks + p * panel_chunk);
      // The next chunk's weights, fetched into L2 a little at a time while the tiles multiply
      // this one: its decode then does not wait on memory.
      const bool last = b0 + chunk_blocks >= n_blocks;
      const int64_t next_r0 = last ? g0 + group_panels * kPanelRows : g0, next_b0 = last ? 0 : b0 + chunk_blocks;
      const int64_t next_rows = std::max<int64_t>(0, std::min<int64_t>(group_panels * kPanelRows, n_rows - next_r0));
      const size_t next_offset = block_offset<kKind>(t, next_b0);
      const size_t next_bytes = block_offset<kKind>(t, std::min(n_blocks, next_b0 + chunk_blocks)) - next_offset;
      const size_t lines_per_row = (next_bytes + 63) / 64;
      const size_t total_lines = lines_per_row * static_cast<size_t>(next_rows);
      const size_t steps = static_cast<size_t>(n_pairs * panels * blocks);
      const size_t lines_per_step = (total_lines + steps - 1) / steps;
      size_t fetched = 0;
      auto prefetch_step = [&] {
        for (size_t i = 0; i < lines_per_step && fetched < total_lines; ++i, ++fetched) {
          const size_t row = fetched / lines_per_row, line = fetched % lines_per_row;
          _mm_prefetch(reinterpret_cast<const char*>(w + (next_r0 + row) * row_bytes + next_offset + 64 * line), _MM_HINT_T1);
        }
      };
      for (int64_t pair = 0; pair < n_pairs; ++pair) {
        const uint16_t* x0 = act_tiles + 2 * pair * position_tile + b0 * tile_values;
        const uint16_t* x1 = x0 + position_tile;
        const bool odd = 2 * pair + 1 == n_tiles;  // an odd last tile: two multiplies a block
        for (int64_t p = 0; p < panels; ++p) {
          const uint16_t* upper = chunks + p * panel_chunk;
          const uint16_t* lower = upper + blocks * tile_values;
          float* c = all_sums + (p * n_pairs + pair) * pair_values;
          if (b0 == 0) {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
          } else {
            _tile_loadd(0, c, 64);
            _tile_loadd(1, c + kTile * kTile, 64);
            _tile_loadd(2, c + 2 * kTile * kTile, 64);
            _tile_loadd(3, c + 3 * kTile * kTile, 64);
          }
          // Each multiply as soon as its two tiles are in: the tile registers are not renamed,
          // so this order lets loads for one multiply overlap the previous ones.
          for (int64_t b = 0; b < blocks; ++b) {
            prefetch_step();
            _tile_loadd(4, upper + b * tile_values, 64);
            _tile_loadd(6, x0 + b * tile_values, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_loadd(5, lower + b * tile_values, 64);
            _tile_dpbf16ps(2, 5, 6);
            if (odd) continue;
            _tile_loadd(7, x1 + b * tile_values, 64);
            _tile_dpbf16ps(3, 5, 7);
            _tile_dpbf16ps(1, 4, 7);
          }
          _tile_stored(0, c, 64);
          _tile_stored(2, c + 2 * kTile * kTile, 64);
          if (odd) continue;
          _tile_stored(1, c + kTile * kTile, 64);
          _tile_stored(3, c + 3 * kTile * kTile, 64);
        }
      }
    }
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t rows = panel_rows(p);
      const int64_t upper_rows = std::min<int64_t>(kTile, rows), lower_rows = rows - upper_rows;
      for (int64_t pair = 0; pair < n_pairs; ++pair) {
        const float* c = all_sums + (p * n_pairs + pair) * pair_values;
        const int64_t t0 = 2 * pair * kTile;
        const int64_t p0 = std::min<int64_t>(kTile, n_tokens - t0);
        const int64_t p1 = std::max<int64_t>(0, std::min<int64_t>(kTile, n_tokens - t0 - kTile));
        float* o = out + g0 + p * kPanelRows + t0 * out_stride;
        write_tile(c, upper_rows, p0, o, out_stride);
        write_tile(c + kTile * kTile, upper_rows, p1, o + kTile * out_stride, out_stride);
        write_tile(c + 2 * kTile * kTile, lower_rows, p0, o + kTile, out_stride);
        write_tile(c + 3 * kTile * kTile, lower_rows, p1, o + kTile * out_stride + kTile, out_stride);
      }
    }
  }
  _tile_release();
}

}  // namespace

bool amx_supports(DType t, RowLayout layout, int64_t cols) {
  if (layout == RowLayout::Grouped16)  // rows of whole blocks of 32 (Q6_K: 256)
    return t == DType::Q4_0 || t == DType::Q8_0 || t == DType::Q4_K || t == DType::Q6_K;
  // F32 stays exact on the f32 paths; other types decode 32 values at a time.
  const DTypeTraits* traits = dtype_traits(static_cast<uint32_t>(t));
  return t != DType::F32 && traits && traits->runs && cols % kBlock == 0;
}

size_t amx_activation_values(int64_t n_tokens, int64_t cols) {
  const int64_t n_tiles = (n_tokens + kTile - 1) / kTile;
  return static_cast<size_t>(n_tiles * kTile * cols) + 32;  // and room to start on 64 bytes
}

const uint16_t* amx_prepare_activations(const float* x, int64_t x_stride, int64_t n_tokens, int64_t cols,
                                        uint16_t* buffer, int64_t block_begin, int64_t block_end) {
  uint16_t* const tiles = aligned64(buffer);
  // Per tile of 16 positions and block of 32 values: 16 rows (value pairs) x 16 positions x
  // 2 bf16, the layout the tile unit multiplies: a 16 x 16 transpose of 32-bit pairs.
  const int64_t n_blocks = cols / kBlock;
  const int64_t n_tiles = (n_tokens + kTile - 1) / kTile;
  for (int64_t tile = 0; tile < n_tiles; ++tile) {
    const int64_t positions = std::min<int64_t>(kTile, n_tokens - tile * kTile);
    const float* first = x + tile * kTile * x_stride;
    uint16_t* out = tiles + tile * n_blocks * kTile * kBlock;
    for (int64_t b = block_begin; b < block_end; ++b) {
      __m512i row[16];  // row[p]: position p's 16 pairs; missing positions are zero
      for (int p = 0; p < kTile; ++p) {
        if (p >= positions) {
          row[p] = _mm512_setzero_si512();
          continue;
        }
        const float* v = first + p * x_stride + b * kBlock;
        const __m512bh pairs = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(v + 16), _mm512_loadu_ps(v));
        row[p] = reinterpret_cast<const __m512i&>(pairs);
      }
      // Transpose. After interleaving 32-bit then 64-bit elements, u[4i + m], 128-bit lane L
      // holds pair 4L + m of positions 4i..4i+3; two 128-bit lane shuffles gather each pair.
      __m512i t[16], u[16];
      for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(row[i], row[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(row[i], row[i + 1]);
      }
      for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
      }
      uint32_t* block = reinterpret_cast<uint32_t*>(out + b * kTile * kBlock);
      for (int m = 0; m < 4; ++m) {
        const __m512i even_low = _mm512_shuffle_i32x4(u[m], u[4 + m], 0x88);      // lanes 0, 2
        const __m512i odd_low = _mm512_shuffle_i32x4(u[m], u[4 + m], 0xdd);       // lanes 1, 3
        const __m512i even_high = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0x88);
        const __m512i odd_high = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0xdd);
        _mm512_storeu_si512(block + (0 + m) * kTile, _mm512_shuffle_i32x4(even_low, even_high, 0x88));
        _mm512_storeu_si512(block + (8 + m) * kTile, _mm512_shuffle_i32x4(even_low, even_high, 0xdd));
        _mm512_storeu_si512(block + (4 + m) * kTile, _mm512_shuffle_i32x4(odd_low, odd_high, 0x88));
        _mm512_storeu_si512(block + (12 + m) * kTile, _mm512_shuffle_i32x4(odd_low, odd_high, 0xdd));
      }
    }
  }
  return tiles;
}

void amx_gemm(DType t, RowLayout layout, const uint8_t* w, size_t row_bytes, int64_t n_rows,
              const uint16_t* act_tiles, int64_t n_tokens, int64_t cols, float* out, int64_t out_stride) {
  auto run = [&](auto kind) {
    gemm_rows<decltype(kind)::value>(t, w, row_bytes, n_rows, act_tiles, n_tokens, cols, out, out_stride);
  };
  if (layout == RowLayout::Grouped16) {
    switch (t) {
      case DType::Q4_0: return run(std::integral_constant<Kind, Kind::Q4_0>());
      case DType::Q8_0: return run(std::integral_constant<Kind, Kind::Q8_0>());
      case DType::Q4_K: return run(std::integral_constant<Kind, Kind::Q4_K>());
      case DType::Q6_K: return run(std::integral_constant<Kind, Kind::Q6_K>());
      default: return;
    }
  }
  if (t == DType::F16) return run(std::integral_constant<Kind, Kind::F16>());
  run(std::integral_constant<Kind, Kind::Plain>());
}

uint64_t amx_bf16_peak_loop(int64_t iterations) {
  configure_tiles();
  alignas(64) uint16_t a[kTile * kBlock], b[kTile * kBlock];
  for (int i = 0; i < kTile * kBlock; ++i) a[i] = 0x3f80, b[i] = 0x3c00;  // 1.0, 2^-7
  _tile_loadd(4, a, 64);
  _tile_loadd(5, a, 64);
  _tile_loadd(6, b, 64);
  _tile_loadd(7, b, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t it = 0; it < iterations; ++it) {  // four independent sums: one multiply in flight each
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  alignas(64) float c[kTile * kTile];
  _tile_stored(0, c, 64);
  _tile_release();
  return static_cast<uint64_t>(c[0]);
}

}  // namespace cria::cpu
