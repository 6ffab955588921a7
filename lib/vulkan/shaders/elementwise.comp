#version 450
// OP_ADD: a += b; OP_SWIGLU: a = silu(a) * b. Over `count` floats.
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer Into { float a[]; };
layout(std430, binding = 1) readonly buffer From { float b[]; };
layout(push_constant) uniform Push { uint count; } pc;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
  if (i >= pc.count) return;
#if defined(OP_ADD)
  a[i] += b[i];
#else
  const float g = a[i];
  a[i] = g / (1.0 + exp(-g)) * b[i];
#endif
}
