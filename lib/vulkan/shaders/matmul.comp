#version 450
// y[t][first + r] = dot(weight row r, x[t]) for the rows of one weight chunk and every entry t.
// A workgroup takes one row: its threads decode the row sixteen elements at a time, each
// decoded piece is used for up to TOKENS entries, and subgroup sums then shared memory reduce.
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 64) in;
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

const uint TOKENS = 8u;
shared float partial[64];

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * 32768u;
  if (row >= pc.rows) return;  // uniform across the workgroup
  const uint units = (pc.cols + 15u) / 16u, row_start = row * pc.row_bytes;
  const uint tid = gl_LocalInvocationID.x;
  for (uint t0 = 0u; t0 < pc.n; t0 += TOKENS) {
    const uint count = min(TOKENS, pc.n - t0);
    uint x_row[TOKENS];
    for (uint k = 0u; k < count; ++k)
      x_row[k] = (pc.map_offset == 0u ? t0 + k : uint(entries[pc.map_offset + t0 + k])) * pc.cols;
    float sum[TOKENS];
    for (uint k = 0u; k < TOKENS; ++k) sum[k] = 0.0;
    for (uint u = tid; u < units; u += 64u) {
      float v[16];
      decode16(row_start, u, pc.cols, v);
      const uint valid = min(16u, pc.cols - 16u * u);  // 16 but in a float row's last unit
      for (uint k = 0u; k < count; ++k) {
        const uint xs = x_row[k] + u * 16u;
        float s = 0.0;
        if (valid == 16u)
          for (uint i = 0u; i < 16u; ++i) s += v[i] * x[xs + i];
        else
          for (uint i = 0u; i < valid; ++i) s += v[i] * x[xs + i];
        sum[k] += s;
      }
    }
    for (uint k = 0u; k < count; ++k) {
      const float s = subgroupAdd(sum[k]);
      if (subgroupElect()) partial[gl_SubgroupID] = s;
      barrier();
      if (tid == 0u) {
        float total = 0.0;
        for (uint g = 0u; g < gl_NumSubgroups; ++g) total += partial[g];
        y[(t0 + k) * pc.y_stride + pc.first + row] = total;
      }
      barrier();
    }
  }
}
