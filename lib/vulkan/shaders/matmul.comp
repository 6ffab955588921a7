#version 450
// y[t][first + r] = dot(weight row r, x[t]) for the rows of one weight chunk and up to a few
// entries t (generation). A workgroup takes rows_per_group rows and each of its subgroups one
// row at a time: the lanes decode the row sixteen elements at a time, use each decoded piece
// for up to TOKENS entries, and a subgroup sum ends the row, with no shared memory or barrier.
// (The host sizes rows_per_group to the device's subgroup size; the loop keeps every row
// covered whatever subgroup size the driver picks.)
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
  uint rows_per_group;
} pc;

#include "decode.glsl"

const uint TOKENS = 8u;

void main() {
  const uint workgroup = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint first_row = workgroup * pc.rows_per_group, end_row = min(first_row + pc.rows_per_group, pc.rows);
  const uint units = (pc.cols + 15u) / 16u;
  const uint lane = gl_SubgroupInvocationID, lanes = gl_SubgroupSize;
  // Uniform across the subgroup: every lane of a subgroup takes the same rows.
  for (uint row = first_row + gl_SubgroupID; row < end_row; row += gl_NumSubgroups) {
  const uint row_start = row * pc.row_bytes;
  for (uint t0 = 0u; t0 < pc.n; t0 += TOKENS) {
    const uint count = min(TOKENS, pc.n - t0);
    float sum[TOKENS];
    for (uint k = 0u; k < TOKENS; ++k) sum[k] = 0.0;
    for (uint u = lane; u < units; u += lanes) {
      float v[16];
      decode16(row_start, u, pc.cols, v);
      const uint valid = min(16u, pc.cols - 16u * u);  // 16 but in a float row's last unit
      for (uint k = 0u; k < TOKENS; ++k) {
        if (k >= count) break;
        const uint xs = (pc.map_offset == 0u ? t0 + k : uint(entries[pc.map_offset + t0 + k])) * pc.cols + u * 16u;
        float s = 0.0;
        if (valid == 16u)
          for (uint i = 0u; i < 16u; ++i) s += v[i] * x[xs + i];
        else
          for (uint i = 0u; i < valid; ++i) s += v[i] * x[xs + i];
        sum[k] += s;
      }
    }
    for (uint k = 0u; k < TOKENS; ++k) {
      if (k >= count) break;
      const float total = subgroupAdd(sum[k]);
      if (subgroupElect()) y[(t0 + k) * pc.y_stride + pc.first + row] = total;
    }
  }
  }
}
