#version 450
// Writes the key and value rows of entries first .. first + gl_NumWorkGroups.y - 1 (one
// sequence) at their positions in one layer of that sequence's cache.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Key { float key[]; };
layout(std430, binding = 1) readonly buffer Value { float value[]; };
layout(std430, binding = 2) writeonly buffer KeyCache { uint key_cache[]; };
layout(std430, binding = 3) writeonly buffer ValueCache { uint value_cache[]; };
layout(std430, binding = 4) readonly buffer Entries { int entries[]; };
layout(push_constant) uniform Push { uint first, kv_dim; } pc;

void main() {
  const uint pair = gl_GlobalInvocationID.x, t = pc.first + gl_WorkGroupID.y;
  if (2u * pair >= pc.kv_dim) return;
  const uint position = uint(entries[4u * t + 1u]), from = t * pc.kv_dim + 2u * pair;
#if defined(CACHE_F16)
  const uint to = (position * pc.kv_dim) / 2u + pair;
  key_cache[to] = packHalf2x16(vec2(key[from], key[from + 1u]));
  value_cache[to] = packHalf2x16(vec2(value[from], value[from + 1u]));
#else
  const uint to = position * pc.kv_dim + 2u * pair;
  key_cache[to] = floatBitsToUint(key[from]);
  key_cache[to + 1u] = floatBitsToUint(key[from + 1u]);
  value_cache[to] = floatBitsToUint(value[from]);
  value_cache[to + 1u] = floatBitsToUint(value[from + 1u]);
#endif
}
