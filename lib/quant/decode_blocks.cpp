// Decoders for Q4_1, Q5_0, Q5_1 and the K-quants, written from the GGUF block descriptions.
// Products are formed in the same order as the format's reference decoder ((d * scale) * q,
// then minus the min) so results match it bit for bit.
#include <cstring>

#include "cria/quant.hpp"

namespace cria {

void dequantize_q4_1(const BlockQ4_1* b, float* y, int64_t n) {
  for (int64_t k = 0; k < n / 32; ++k, y += 32) {
    const float d = fp16_to_fp32(b[k].d), m = fp16_to_fp32(b[k].m);
    for (int j = 0; j < 16; ++j) {
      y[j] = (b[k].qs[j] & 0x0f) * d + m;
      y[j + 16] = (b[k].qs[j] >> 4) * d + m;
    }
  }
}

namespace {
uint32_t high_bits(const uint8_t qh[4]) {
  uint32_t v;
  std::memcpy(&v, qh, 4);  // little-endian: bit j is value j's fifth bit
  return v;
}
}  // namespace

void dequantize_q5_0(const BlockQ5_0* b, float* y, int64_t n) {
  for (int64_t k = 0; k < n / 32; ++k, y += 32) {
    const float d = fp16_to_fp32(b[k].d);
    const uint32_t qh = high_bits(b[k].qh);
    for (int j = 0; j < 16; ++j) {
      const int lo = (b[k].qs[j] & 0x0f) | (((qh >> j) & 1) << 4);
      const int hi = (b[k].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = (lo - 16) * d;
      y[j + 16] = (hi - 16) * d;
    }
  }
}

void dequantize_q5_1(const BlockQ5_1* b, float* y, int64_t n) {
  for (int64_t k = 0; k < n / 32; ++k, y += 32) {
    const float d = fp16_to_fp32(b[k].d), m = fp16_to_fp32(b[k].m);
    const uint32_t qh = high_bits(b[k].qh);
    for (int j = 0; j < 16; ++j) {
      const int lo = (b[k].qs[j] & 0x0f) | (((qh >> j) & 1) << 4);
      const int hi = (b[k].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = lo * d + m;
      y[j + 16] = hi * d + m;
    }
  }
}

void dequantize_q2_k(const BlockQ2_K* b, float* y, int64_t n) {
  for (int64_t k = 0; k < n / kQK_K; ++k) {
    const float d = fp16_to_fp32(b[k].d), dmin = fp16_to_fp32(b[k].dmin);
    const uint8_t* q = b[k].qs;
    int is = 0;
    // Two halves of 128 values; each 32-byte run of qs holds four 2-bit planes.
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part) {
          const uint8_t sc = b[k].scales[is++];
          const float dl = d * (sc & 0x0f), ml = dmin * (sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l + 16 * part] >> shift) & 3) - ml;
        }
      }
    }
  }
}

void dequantize_q3_k(const BlockQ3_K* b, float* y, int64_t n) {
  for (int64_t k = 0; k < n / kQK_K; ++k) {
    const float d_all = fp16_to_fp32(b[k].d);
    // Sixteen 6-bit scales: low 4 bits in bytes 0-7, high 2 bits in bytes 8-11.
    int8_t scales[16];
    for (int j = 0; j < 16; ++j) {
      const int low = j < 8 ? (b[k].scales[j] & 0x0f) : (b[k].scales[j - 8] >> 4);
      const int high = (b[k].scales[8 + (j % 4)] >> (2 * (j / 4))) & 3;
      scales[j] = static_cast<int8_t>((low | (high << 4)) - 32);
    }
    const uint8_t* q = b[k].qs;
    const uint8_t* hm = b[k].hmask;
    uint8_t mask = 1;
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, mask <<= 1) {
        for (int part = 0; part < 2; ++part) {
          const float dl = d_all * scales[is++];
          for (int l = 0; l < 16; ++l) {
            const int i = l + 16 * part;
            const int v = ((q[i] >> shift) & 3) - ((hm[i] & mask) ? 0 : 4);
            *y++ = dl * v;
          }
        }
      }
    }
  }
}

void k_quant_scale_min(int j, const uint8_t* q, int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void q6_k_values(const BlockQ6_K& block, uint8_t* q) {
  // Two halves of 128 values: 64 bytes of low nibbles, 32 bytes of 2-bit high parts.
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = block.ql + 64 * half;
    const uint8_t* qh = block.qh + 32 * half;
    uint8_t* y = q + 128 * half;
    for (int l = 0; l < 32; ++l) {
      y[l] = static_cast<uint8_t>((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4));
      y[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4));
      y[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      y[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}

void dequantize_q4_k(const BlockQ4_K* b, float* y, int64_t n) {
  for (int64_t k = 0; k < n / kQK_K; ++k) {
    const float d = fp16_to_fp32(b[k].d), dmin = fp16_to_fp32(b[k].dmin);
    const uint8_t* q = b[k].qs;
    for (int is = 0; is < 8; is += 2, q += 32) {
      int sc, m;
      k_quant_scale_min(is, b[k].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      k_quant_scale_min(is + 1, b[k].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void dequantize_q5_k(const BlockQ5_K* b, float* y, int64_t n) {
  for (int64_t k = 0; k < n / kQK_K; ++k) {
    const float d = fp16_to_fp32(b[k].d), dmin = fp16_to_fp32(b[k].dmin);
    const uint8_t* ql = b[k].qs;
    const uint8_t* qh = b[k].qh;
    uint8_t u1 = 1, u2 = 2;
    for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
      int sc, m;
      k_quant_scale_min(is, b[k].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      k_quant_scale_min(is + 1, b[k].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0x0f) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* b, float* y, int64_t n) {
  for (int64_t k = 0; k < n / kQK_K; ++k) {
    const float d = fp16_to_fp32(b[k].d);
    uint8_t q[256];
    q6_k_values(b[k], q);
    for (int i = 0; i < 256; ++i) *y++ = d * b[k].scales[i / 16] * (q[i] - 32);  // 16 per scale
  }
}

}  // namespace cria
