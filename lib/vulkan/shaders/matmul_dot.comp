#version 450
// matmul.comp for Q4_0 and Q8_0 weights on devices with integer dot products
// (VK_KHR_shader_integer_dot_product): the input rows come rounded to 8 bits in blocks of 32
// (quantize_q8.comp), and each block's products are four-way 8-bit dot products of packed
// words, scaled once per block by the weight's and the input's scales. A row per subgroup.
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_spirv_intrinsics : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Quantized { uint qx[]; };
layout(std430, binding = 1) readonly buffer Weights { uint w[]; };
layout(std430, binding = 2) writeonly buffer Output { float y[]; };
layout(std430, binding = 3) readonly buffer Info { uint info[]; };
layout(push_constant) uniform Push {
  uint rows, cols, row_bytes, first, n, y_stride, map_offset, rows_per_group;
} pc;

// OpSDot on four packed signed bytes (SPV_KHR_integer_dot_product; glslc of this era lacks
// GL_EXT_integer_dot_product's dotPacked4x8EXT).
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6018, 6019], id = 4450)
int dot4x8(uint a, uint b, spirv_literal int packed_format);

#include "decode.glsl"

const uint TOKENS = 8u;

void main() {
  const uint workgroup = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint first_row = workgroup * pc.rows_per_group, end_row = min(first_row + pc.rows_per_group, pc.rows);
  const uint blocks = pc.cols / 32u;
  for (uint row = first_row + gl_SubgroupID; row < end_row; row += gl_NumSubgroups) {
    for (uint t0 = 0u; t0 < pc.n; t0 += TOKENS) {
      const uint count = min(TOKENS, pc.n - t0);
      float sum[TOKENS];
      for (uint k = 0u; k < TOKENS; ++k) sum[k] = 0.0;
      for (uint block = gl_SubgroupInvocationID; block < blocks; block += gl_SubgroupSize) {
        const uint b = row * pc.row_bytes + block * BLOCK_BYTES;
        const float d = unpackHalf2x16(word_at(b)).x;
        uint q[8];
#if defined(TYPE_Q4_0)
        // Low nibbles are elements 0..15, high nibbles 16..31, each 0..15 (8 is subtracted below).
        for (uint j = 0u; j < 4u; ++j) {
          const uint packed = word_at(b + 2u + 4u * j);
          q[j] = packed & 0x0f0f0f0fu;
          q[4u + j] = (packed >> 4) & 0x0f0f0f0fu;
        }
#else
        for (uint j = 0u; j < 8u; ++j) q[j] = word_at(b + 2u + 4u * j);
#endif
        for (uint k = 0u; k < TOKENS; ++k) {
          if (k >= count) break;
          const uint xb = (t0 + k) * blocks + block;
          int dot = 0;
          for (uint j = 0u; j < 8u; ++j) dot += dot4x8(q[j], qx[8u * xb + j], 0);
#if defined(TYPE_Q4_0)
          dot -= 8 * int(info[2u * xb + 1u]);
#endif
          sum[k] += d * uintBitsToFloat(info[2u * xb]) * float(dot);
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
