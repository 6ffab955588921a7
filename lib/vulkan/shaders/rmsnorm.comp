#version 450
// y[j] = x[i] / sqrt(mean(x[i]^2) + eps) * weight, with i = j, or i = entries[map_offset + j]
// when map_offset is set (the rows that want logits). One workgroup per row.
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) readonly buffer Weights { float weight[]; };
layout(std430, binding = 2) writeonly buffer Output { float y[]; };
layout(std430, binding = 3) readonly buffer Entries { int entries[]; };
layout(push_constant) uniform Push {
  uint cols, map_offset;
  float eps;
} pc;

shared float partial[64];

void main() {
  const uint j = gl_WorkGroupID.x, tid = gl_LocalInvocationID.x;
  const uint in_row = (pc.map_offset == 0u ? j : uint(entries[pc.map_offset + j])) * pc.cols;
  float ss = 0.0;
  for (uint i = tid; i < pc.cols; i += 64u) ss += x[in_row + i] * x[in_row + i];
  ss = subgroupAdd(ss);
  if (subgroupElect()) partial[gl_SubgroupID] = ss;
  barrier();
  float total = 0.0;
  for (uint g = 0u; g < gl_NumSubgroups; ++g) total += partial[g];
  const float scale = 1.0 / sqrt(total / float(pc.cols) + pc.eps);
  for (uint i = tid; i < pc.cols; i += 64u) y[j * pc.cols + i] = weight[i] * (scale * x[in_row + i]);
}
