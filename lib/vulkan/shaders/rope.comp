#version 450
// Rotates the pairs (2i, 2i+1) of every head of entry t by its position times base^(-2i/head_dim).
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Activation { float a[]; };
layout(std430, binding = 1) readonly buffer Entries { int entries[]; };
layout(push_constant) uniform Push {
  uint pairs;  // n_heads * head_dim / 2
  uint head_dim, width;
  float base;
} pc;

void main() {
  const uint pair = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y;
  if (pair >= pc.pairs) return;
  const uint i = (2u * pair) % pc.head_dim;
  const float freq = 1.0 / pow(pc.base, float(i) / float(pc.head_dim));
  const float angle = float(entries[4u * t + 1u]) * freq;
  const float c = cos(angle), s = sin(angle);
  const uint at = t * pc.width + 2u * pair;
  const float v0 = a[at], v1 = a[at + 1u];
  a[at] = v0 * c - v1 * s;
  a[at + 1u] = v0 * s + v1 * c;
}
