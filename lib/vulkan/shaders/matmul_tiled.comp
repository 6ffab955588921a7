#version 450
// y[t][first + r] = dot(weight row r, x[t]) for prompts: a workgroup computes a tile of 64
// weight rows by 32 entries. Per step of 32 columns it decodes the weight tile once into
// shared memory (one unit of 16 elements per thread) and loads the entries' inputs beside
// it, then each thread accumulates 4 rows by 4 entries from shared memory, so that a weight
// element is decoded once per 32 entries instead of once per entry.
layout(local_size_x = 128) in;
layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) readonly buffer Weights { uint w[]; };
layout(std430, binding = 2) writeonly buffer Output { float y[]; };
layout(std430, binding = 3) readonly buffer Entries { int entries[]; };
layout(push_constant) uniform Push {
  uint rows;        // rows in this chunk
  uint cols;        // elements per row (= width of x)
  uint row_bytes;
  uint first;       // the chunk's first row: column of y
  uint n;           // entries
  uint y_stride;    // floats per row of y
  uint map_offset;  // 0: entry t reads x row t; else x row entries[map_offset + t]
} pc;

#include "decode.glsl"

const uint TILE_ROWS = 64u, TILE_ENTRIES = 32u, STEP = 32u;
// Padded by one so that threads reading a column of the tile hit different banks.
shared float weight_tile[TILE_ROWS][STEP + 1u];
shared float input_tile[TILE_ENTRIES][STEP + 1u];

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row0 = gl_WorkGroupID.x * TILE_ROWS, entry0 = gl_WorkGroupID.y * TILE_ENTRIES;
  // This thread's outputs: rows r_base + 16 i, entries e_base + 8 j (i, j < 4).
  const uint r_base = tid % 16u, e_base = tid / 16u;
  float acc[4][4];
  for (uint i = 0u; i < 4u; ++i)
    for (uint j = 0u; j < 4u; ++j) acc[i][j] = 0.0;

  // The unit this thread decodes per step, and the inputs it loads (8 per step).
  const uint decode_row = tid / 2u, decode_half = tid % 2u;
  for (uint k0 = 0u; k0 < pc.cols; k0 += STEP) {
    const uint unit = k0 / 16u + decode_half;
    float v[16];
    if (row0 + decode_row < pc.rows && 16u * unit < pc.cols) {
      decode16((row0 + decode_row) * pc.row_bytes, unit, pc.cols, v);
    } else {
      for (uint i = 0u; i < 16u; ++i) v[i] = 0.0;
    }
    for (uint i = 0u; i < 16u; ++i) weight_tile[decode_row][16u * decode_half + i] = v[i];
    for (uint l = tid; l < TILE_ENTRIES * STEP; l += 128u) {
      const uint e = l / STEP, c = l % STEP, t = entry0 + e;
      float value = 0.0;
      if (t < pc.n && k0 + c < pc.cols) {
        const uint x_row = pc.map_offset == 0u ? t : uint(entries[pc.map_offset + t]);
        value = x[x_row * pc.cols + k0 + c];
      }
      input_tile[e][c] = value;
    }
    barrier();
    for (uint c = 0u; c < STEP; ++c) {
      float wv[4], xv[4];
      for (uint i = 0u; i < 4u; ++i) wv[i] = weight_tile[r_base + 16u * i][c];
      for (uint j = 0u; j < 4u; ++j) xv[j] = input_tile[e_base + 8u * j][c];
      for (uint i = 0u; i < 4u; ++i)
        for (uint j = 0u; j < 4u; ++j) acc[i][j] += wv[i] * xv[j];
    }
    barrier();
  }
  for (uint i = 0u; i < 4u; ++i) {
    const uint r = row0 + r_base + 16u * i;
    if (r >= pc.rows) continue;
    for (uint j = 0u; j < 4u; ++j) {
      const uint t = entry0 + e_base + 8u * j;
      if (t < pc.n) y[t * pc.y_stride + pc.first + r] = acc[i][j];
    }
  }
}
