#version 450
// Causal attention of one query head (gl_WorkGroupID.x) of entry first + gl_WorkGroupID.y over
// its sequence's keys and values at positions 0 .. its position, in tiles of 64 positions:
// each thread scores one position of a tile, then every thread folds the tile into a running
// softmax (max, sum) and the output elements it owns (online softmax: no scores buffer).
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Query { float query[]; };
layout(std430, binding = 1) writeonly buffer Output { float out_[]; };
layout(std430, binding = 2) readonly buffer KeyCache { uint key_cache[]; };
layout(std430, binding = 3) readonly buffer ValueCache { uint value_cache[]; };
layout(std430, binding = 4) readonly buffer Entries { int entries[]; };
layout(push_constant) uniform Push {
  uint first, head_dim, dim, kv_dim, heads_per_kv;
  float scale;  // 1 / sqrt(head_dim)
} pc;

const uint MAX_HEAD_DIM = 256u, OWNED = MAX_HEAD_DIM / 64u;
shared float q[MAX_HEAD_DIM];
shared float score[64];

float key_at(uint position, uint i) {
  const uint e = position * pc.kv_dim + i;
#if defined(CACHE_F16)
  return unpackHalf2x16(key_cache[e >> 1])[e & 1u];
#else
  return uintBitsToFloat(key_cache[e]);
#endif
}
float value_at(uint position, uint i) {
  const uint e = position * pc.kv_dim + i;
#if defined(CACHE_F16)
  return unpackHalf2x16(value_cache[e >> 1])[e & 1u];
#else
  return uintBitsToFloat(value_cache[e]);
#endif
}

void main() {
  const uint head = gl_WorkGroupID.x, t = pc.first + gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
  const uint n_keys = uint(entries[4u * t + 1u]) + 1u;
  const uint kv_offset = (head / pc.heads_per_kv) * pc.head_dim;
  for (uint i = tid; i < pc.head_dim; i += 64u) q[i] = query[t * pc.dim + head * pc.head_dim + i];
  barrier();
  float running_max = -1.0 / 0.0, running_sum = 0.0;
  float acc[OWNED];
  for (uint k = 0u; k < OWNED; ++k) acc[k] = 0.0;
  for (uint p0 = 0u; p0 < n_keys; p0 += 64u) {
    const uint tile = min(64u, n_keys - p0);
    if (tid < tile) {
      float s = 0.0;
      for (uint i = 0u; i < pc.head_dim; ++i) s += q[i] * key_at(p0 + tid, kv_offset + i);
      score[tid] = s * pc.scale;
    }
    barrier();
    float tile_max = score[0];
    for (uint j = 1u; j < tile; ++j) tile_max = max(tile_max, score[j]);
    const float new_max = max(running_max, tile_max);
    const float rescale = exp(running_max - new_max);
    running_sum *= rescale;
    for (uint k = 0u; k < OWNED; ++k) acc[k] *= rescale;
    for (uint j = 0u; j < tile; ++j) {
      const float weight = exp(score[j] - new_max);
      running_sum += weight;
      for (uint k = 0u; k < OWNED; ++k) {
        const uint i = tid + 64u * k;
        if (i < pc.head_dim) acc[k] += weight * value_at(p0 + j, kv_offset + i);
      }
    }
    running_max = new_max;
    barrier();
  }
  for (uint k = 0u; k < OWNED; ++k) {
    const uint i = tid + 64u * k;
    if (i < pc.head_dim) out_[t * pc.dim + head * pc.head_dim + i] = acc[k] / running_sum;
  }
}
