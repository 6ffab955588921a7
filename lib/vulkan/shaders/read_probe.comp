#version 450
// Reads a buffer once, 16 bytes per load, and writes one sum per workgroup so that the reads
// cannot be left out: the device-memory read bandwidth probe of `cria bench`.
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Data { uvec4 data[]; };
layout(std430, binding = 1) writeonly buffer Sums { uint sums[]; };
layout(push_constant) uniform Push {
  uint count;  // uvec4 elements
} pc;

shared uint partial[256];

void main() {
  const uint stride = gl_NumWorkGroups.x * 256u;
  uvec4 acc = uvec4(0u);
  for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += stride) acc ^= data[i];
  partial[gl_LocalInvocationID.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
  barrier();
  if (gl_LocalInvocationID.x == 0u) {
    uint s = 0u;
    for (uint i = 0u; i < 256u; ++i) s ^= partial[i];
    sums[gl_WorkGroupID.x] = s;
  }
}
