#version 450
// y[t] = the embedding row of entry t's token, for the entries whose token lies in this chunk
// of the table (rows first .. first + rows - 1). One thread per sixteen elements.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Weights { uint w[]; };
layout(std430, binding = 1) writeonly buffer Output { float y[]; };
layout(std430, binding = 2) readonly buffer Entries { int entries[]; };
layout(push_constant) uniform Push {
  uint rows, cols, row_bytes, first, n;
} pc;

#include "decode.glsl"

void main() {
  const uint unit = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y;
  const uint token = uint(entries[4u * t]);
  if (16u * unit >= pc.cols || token < pc.first || token >= pc.first + pc.rows) return;
  float v[16];
  decode16((token - pc.first) * pc.row_bytes, unit, pc.cols, v);
  const uint valid = min(16u, pc.cols - 16u * unit);
  for (uint i = 0u; i < valid; ++i) y[t * pc.cols + unit * 16u + i] = v[i];
}
