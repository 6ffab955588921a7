// Weight rows as the file stores them, read from a buffer of 32-bit words, and decoded sixteen
// consecutive elements at a time: every weight type's block holds a multiple of 16 elements,
// and in every block type those 16 share one scale. The including shader declares the buffer
// `weights` (uint w[]) and defines one TYPE_* macro.

uint byte_at(uint offset) { return (w[offset >> 2] >> ((offset & 3u) * 8u)) & 0xffu; }
// The four bytes at any offset, in two loads at most (weight buffers end with 16 spare bytes).
uint word_at(uint offset) {
  const uint i = offset >> 2, s = (offset & 3u) * 8u;
  return s == 0u ? w[i] : (w[i] >> s) | (w[i + 1u] << (32u - s));
}
uint u16_at(uint offset) { return byte_at(offset) | (byte_at(offset + 1u) << 8); }
uint u32_at(uint offset) { return u16_at(offset) | (u16_at(offset + 2u) << 16); }
float f16_at(uint offset) { return unpackHalf2x16(u16_at(offset)).x; }
int i8_at(uint offset) { return int(byte_at(offset) << 24) >> 24; }

#if defined(TYPE_F32)
const uint BLOCK_ELEMS = 16u, BLOCK_BYTES = 64u;
#elif defined(TYPE_F16) || defined(TYPE_BF16)
const uint BLOCK_ELEMS = 16u, BLOCK_BYTES = 32u;
#elif defined(TYPE_Q4_0)
const uint BLOCK_ELEMS = 32u, BLOCK_BYTES = 18u;
#elif defined(TYPE_Q4_1)
const uint BLOCK_ELEMS = 32u, BLOCK_BYTES = 20u;
#elif defined(TYPE_Q5_0)
const uint BLOCK_ELEMS = 32u, BLOCK_BYTES = 22u;
#elif defined(TYPE_Q5_1)
const uint BLOCK_ELEMS = 32u, BLOCK_BYTES = 24u;
#elif defined(TYPE_Q8_0)
const uint BLOCK_ELEMS = 32u, BLOCK_BYTES = 34u;
#elif defined(TYPE_Q2_K)
const uint BLOCK_ELEMS = 256u, BLOCK_BYTES = 84u;
#elif defined(TYPE_Q3_K)
const uint BLOCK_ELEMS = 256u, BLOCK_BYTES = 110u;
#elif defined(TYPE_Q4_K)
const uint BLOCK_ELEMS = 256u, BLOCK_BYTES = 144u;
#elif defined(TYPE_Q5_K)
const uint BLOCK_ELEMS = 256u, BLOCK_BYTES = 176u;
#elif defined(TYPE_Q6_K)
const uint BLOCK_ELEMS = 256u, BLOCK_BYTES = 210u;
#else
#error "define one TYPE_*"
#endif

const uint UNITS_PER_BLOCK = BLOCK_ELEMS / 16u;

// The 6-bit scale and minimum `j` (0..7) of a Q4_K or Q5_K block whose scales start at `s`.
void k4_scale_min(uint s, uint j, out float scale, out float minimum) {
  if (j < 4u) {
    scale = float(byte_at(s + j) & 63u);
    minimum = float(byte_at(s + j + 4u) & 63u);
  } else {
    scale = float((byte_at(s + j + 4u) & 15u) | ((byte_at(s + j - 4u) >> 6) << 4));
    minimum = float((byte_at(s + j + 4u) >> 4) | ((byte_at(s + j) >> 6) << 4));
  }
}

// v = elements 16*unit .. 16*unit+15 of the row that starts at byte `row`, of `cols`
// elements. Only float rows have lengths that 16 does not divide: their missing elements
// are 0 (block formats hold multiples of 32).
void decode16(uint row, uint unit, uint cols, out float v[16]) {
  const uint b = row + (unit / UNITS_PER_BLOCK) * BLOCK_BYTES;  // the block
  const uint p = unit % UNITS_PER_BLOCK;                         // which 16 of it
#if defined(TYPE_F32)
  for (uint i = 0u; i < 16u; ++i) v[i] = 16u * unit + i < cols ? uintBitsToFloat(w[(b >> 2) + i]) : 0.0;
#elif defined(TYPE_F16) || defined(TYPE_BF16)
  if ((b & 3u) == 0u && 16u * unit + 16u <= cols) {  // whole pairs of 32-bit words
    for (uint i = 0u; i < 8u; ++i) {
      const uint pair = w[(b >> 2) + i];
#if defined(TYPE_F16)
      const vec2 two = unpackHalf2x16(pair);
#else
      const vec2 two = vec2(uintBitsToFloat(pair << 16), uintBitsToFloat(pair & 0xffff0000u));
#endif
      v[2u * i] = two.x;
      v[2u * i + 1u] = two.y;
    }
  } else {  // a row that starts mid-word (odd lengths) or ends inside this unit
    for (uint i = 0u; i < 16u; ++i) {
      if (16u * unit + i >= cols) {
        v[i] = 0.0;
        continue;
      }
#if defined(TYPE_F16)
      v[i] = f16_at(b + 2u * i);
#else
      v[i] = uintBitsToFloat(u16_at(b + 2u * i) << 16);
#endif
    }
  }
#elif defined(TYPE_Q4_0)
  // d (f16) qs[16]: element e < 16 in the low nibble of qs[e], e >= 16 in the high; qs read
  // a word (four elements) at a time.
  const float d = unpackHalf2x16(word_at(b)).x, m = -8.0 * d;
  for (uint j = 0u; j < 4u; ++j) {
    const uint q = word_at(b + 2u + 4u * j) >> (4u * p);
    for (uint i = 0u; i < 4u; ++i) v[4u * j + i] = d * float((q >> (8u * i)) & 15u) + m;
  }
#elif defined(TYPE_Q4_1)
  // d (f16) m (f16) qs[16]: element e < 16 in the low nibble of qs[e], e >= 16 in the high.
  const float d = f16_at(b);
  const float m = f16_at(b + 2u);
  const uint qs = b + 4u;
  for (uint i = 0u; i < 16u; ++i) v[i] = d * float((byte_at(qs + i) >> (4u * p)) & 15u) + m;
#elif defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
  // As Q4, with the fifth bit of element e in bit e of qh (32 bits).
  const float d = f16_at(b);
#if defined(TYPE_Q5_1)
  const float m = f16_at(b + 2u);
  const uint qh = u32_at(b + 4u), qs = b + 8u;
#else
  const float m = -16.0 * d;
  const uint qh = u32_at(b + 2u), qs = b + 6u;
#endif
  for (uint i = 0u; i < 16u; ++i) {
    const uint q = ((byte_at(qs + i) >> (4u * p)) & 15u) | (((qh >> (16u * p + i)) & 1u) << 4);
    v[i] = d * float(q) + m;
  }
#elif defined(TYPE_Q8_0)
  // d (f16) qs[32] (int8), read a word (four elements) at a time.
  const float d = unpackHalf2x16(word_at(b)).x;
  for (uint j = 0u; j < 4u; ++j) {
    const int q = int(word_at(b + 2u + 16u * p + 4u * j));
    for (uint i = 0u; i < 4u; ++i) v[4u * j + i] = d * float(bitfieldExtract(q, int(8u * i), 8));
  }
#elif defined(TYPE_Q2_K)
  // scales[16] qs[64] d dmin: 2-bit values; the 16 elements of unit p share scales[p].
  const uint sc = byte_at(b + p);
  const float dl = f16_at(b + 80u) * float(sc & 15u), ml = f16_at(b + 82u) * float(sc >> 4);
  const uint q = b + 16u + (p >> 3) * 32u + (p & 1u) * 16u, shift = 2u * ((p >> 1) & 3u);
  for (uint i = 0u; i < 16u; ++i) v[i] = dl * float((byte_at(q + i) >> shift) & 3u) - ml;
#elif defined(TYPE_Q3_K)
  // hmask[32] qs[64] scales[12] d: 2 low bits in qs, the third (inverted: 4 is subtracted
  // where it is clear) in hmask; 6-bit scales, low nibbles in bytes 0..7, top pairs in 8..11.
  const uint s = b + 96u;
  const uint low = p < 8u ? byte_at(s + p) & 15u : byte_at(s + p - 8u) >> 4;
  const uint high = (byte_at(s + 8u + (p & 3u)) >> (2u * (p >> 2))) & 3u;
  const float dl = f16_at(b + 108u) * float(int(low | (high << 4)) - 32);
  const uint h = p >> 3, j = (p >> 1) & 3u, l0 = (p & 1u) * 16u;
  for (uint i = 0u; i < 16u; ++i) {
    const uint q = (byte_at(b + 32u + h * 32u + l0 + i) >> (2u * j)) & 3u;
    const bool high_bit = (byte_at(b + l0 + i) & (1u << (4u * h + j))) != 0u;
    v[i] = dl * float(int(q) - (high_bit ? 0 : 4));
  }
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
  // d dmin scales[12] [qh[32]] qs[128]: chunks of 64 elements, the first 32 in the low
  // nibbles of 32 bytes and the next 32 in their high nibbles, each 32 with a scale and min.
  const uint chunk = p >> 2, sub = p >> 1, nibble = (p >> 1) & 1u, l0 = (p & 1u) * 16u;
  float scale, minimum;
  k4_scale_min(b + 4u, sub, scale, minimum);
  const float d = f16_at(b) * scale, m = f16_at(b + 2u) * minimum;
  // The 16 quants (and Q5_K's fifth bits) read a word, four elements, at a time.
#if defined(TYPE_Q5_K)
  const uint qs = b + 48u + chunk * 32u + l0;
  for (uint j = 0u; j < 4u; ++j) {
    const uint low = word_at(qs + 4u * j) >> (4u * nibble), high = word_at(b + 16u + l0 + 4u * j) >> sub;
    for (uint i = 0u; i < 4u; ++i)
      v[4u * j + i] = d * float(((low >> (8u * i)) & 15u) | (((high >> (8u * i)) & 1u) << 4)) - m;
  }
#else
  const uint qs = b + 16u + chunk * 32u + l0;
  for (uint j = 0u; j < 4u; ++j) {
    const uint q = word_at(qs + 4u * j) >> (4u * nibble);
    for (uint i = 0u; i < 4u; ++i) v[4u * j + i] = d * float((q >> (8u * i)) & 15u) - m;
  }
#endif
#elif defined(TYPE_Q6_K)
  // ql[128] qh[64] scales[16] (int8) d: halves of 128 elements; in each, quarter k of 32 takes
  // a nibble of ql (low for k < 2) and two bits of qh, and each 16 has its own scale.
  const uint h = p >> 3, k = (p & 7u) >> 1, l0 = (p & 1u) * 16u;
  const float dl = f16_at(b + 208u) * float(i8_at(b + 192u + h * 8u + (p & 1u) + 2u * k));
  const uint ql = b + h * 64u + (k & 1u) * 32u + l0, qh = b + 128u + h * 32u + l0;
  for (uint j = 0u; j < 4u; ++j) {  // a word, four elements, at a time
    const uint low = word_at(ql + 4u * j) >> (4u * (k >> 1)), high = word_at(qh + 4u * j) >> (2u * k);
    for (uint i = 0u; i < 4u; ++i)
      v[4u * j + i] = dl * float(int(((low >> (8u * i)) & 15u) | (((high >> (8u * i)) & 3u) << 4)) - 32);
  }
#endif
}
