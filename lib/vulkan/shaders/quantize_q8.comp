#version 450
// Rounds each entry's input row to 8-bit integers in blocks of 32 (scale = max |x| / 127), for
// the integer dot-product kernels: qx packs four values per word, info holds each block's
// scale and the sum of its integers. One thread per block.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) writeonly buffer Quantized { uint qx[]; };
layout(std430, binding = 2) writeonly buffer Info { uint info[]; };
layout(push_constant) uniform Push {
  uint cols;  // a multiple of 32
  uint n;     // entries
} pc;

void main() {
  const uint blocks = pc.cols / 32u, block = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y;
  if (block >= blocks || t >= pc.n) return;
  const uint start = t * pc.cols + 32u * block;
  float amax = 0.0;
  for (uint i = 0u; i < 32u; ++i) amax = max(amax, abs(x[start + i]));
  const float scale = amax / 127.0, inverse = amax > 0.0 ? 127.0 / amax : 0.0;
  int sum = 0;
  for (uint j = 0u; j < 8u; ++j) {
    uint word = 0u;
    for (uint i = 0u; i < 4u; ++i) {
      const int q = int(roundEven(x[start + 4u * j + i] * inverse));
      sum += q;
      word |= (uint(q) & 0xffu) << (8u * i);
    }
    qx[start / 4u + j] = word;
  }
  const uint b = t * blocks + block;
  info[2u * b] = floatBitsToUint(scale);
  info[2u * b + 1u] = uint(sum);
}
