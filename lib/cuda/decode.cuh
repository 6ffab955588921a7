#pragma once
// Weight decoders for the kernels: a row of each type is a run of units of kValues values
// (a block of the 32-value formats, a 32-value sub-block of the K-quants, or a few dense
// values), and decode(row, u, v) writes unit u's values to v. Products follow the order of
// the reference decoders (lib/quant) so that results match them closely. The decoders also
// compile for the host, where tests/cuda/test_decoders.cu checks them against lib/quant.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

// Unrolled in device code; the host compiler (tests) knows no such pragma.
#ifdef __CUDA_ARCH__
#define CRIA_UNROLL _Pragma("unroll")
#else
#define CRIA_UNROLL
#endif

namespace cria::cuda {

__host__ __device__ __forceinline__ float bits_to_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}
__host__ __device__ __forceinline__ uint32_t load_u16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
__host__ __device__ __forceinline__ float half_at(const uint8_t* p) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(load_u16(p))));
}
// `count` bytes from p (2-byte aligned) into b.
template <int count>
__host__ __device__ __forceinline__ void load_bytes(const uint8_t* p, uint8_t* b) {
CRIA_UNROLL
  for (int i = 0; i < count / 2; ++i) {
    const uint32_t v = load_u16(p + 2 * i);
    b[2 * i] = static_cast<uint8_t>(v);
    b[2 * i + 1] = static_cast<uint8_t>(v >> 8);
  }
}

// Dense types: a 16-byte load per unit where rows are 16-byte aligned, else one value.
struct F32x4 {
  static constexpr int kValues = 4;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const float4 q = reinterpret_cast<const float4*>(row)[u];
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  }
};
struct F32x1 {
  static constexpr int kValues = 1;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) { v[0] = reinterpret_cast<const float*>(row)[u]; }
};
struct F16x8 {
  static constexpr int kValues = 8;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint4 q = reinterpret_cast<const uint4*>(row)[u];
    const uint32_t w[4] = {q.x, q.y, q.z, q.w};
CRIA_UNROLL
    for (int i = 0; i < 4; ++i) {
      v[2 * i] = __half2float(__ushort_as_half(static_cast<unsigned short>(w[i] & 0xffffu)));
      v[2 * i + 1] = __half2float(__ushort_as_half(static_cast<unsigned short>(w[i] >> 16)));
    }
  }
};
struct F16x1 {
  static constexpr int kValues = 1;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) { v[0] = half_at(row + 2 * u); }
};
// bf16 is the high half of an f32.
struct BF16x8 {
  static constexpr int kValues = 8;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint4 q = reinterpret_cast<const uint4*>(row)[u];
    const uint32_t w[4] = {q.x, q.y, q.z, q.w};
CRIA_UNROLL
    for (int i = 0; i < 4; ++i) {
      v[2 * i] = bits_to_float(w[i] << 16);
      v[2 * i + 1] = bits_to_float(w[i] & 0xffff0000u);
    }
  }
};
struct BF16x1 {
  static constexpr int kValues = 1;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) { v[0] = bits_to_float(load_u16(row + 2 * u) << 16); }
};

// 32-value blocks: d (fp16) then 16 bytes of nibbles (low: values 0-15, high: 16-31).
struct Q4_0 {
  static constexpr int kValues = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint8_t* b = row + 18 * u;
    const float d = half_at(b);
    uint8_t q[16];
    load_bytes<16>(b + 2, q);
CRIA_UNROLL
    for (int j = 0; j < 16; ++j) {
      v[j] = static_cast<float>((q[j] & 0x0f) - 8) * d;
      v[j + 16] = static_cast<float>((q[j] >> 4) - 8) * d;
    }
  }
};
struct Q4_1 {
  static constexpr int kValues = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint8_t* b = row + 20 * u;
    const float d = half_at(b), m = half_at(b + 2);
    uint8_t q[16];
    load_bytes<16>(b + 4, q);
CRIA_UNROLL
    for (int j = 0; j < 16; ++j) {
      v[j] = static_cast<float>(q[j] & 0x0f) * d + m;
      v[j + 16] = static_cast<float>(q[j] >> 4) * d + m;
    }
  }
};
// Q5_0 / Q5_1: a 32-bit word of fifth bits (bit j: value j) before the nibbles.
struct Q5_0 {
  static constexpr int kValues = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint8_t* b = row + 22 * u;
    const float d = half_at(b);
    const uint32_t qh = load_u16(b + 2) | (load_u16(b + 4) << 16);
    uint8_t q[16];
    load_bytes<16>(b + 6, q);
CRIA_UNROLL
    for (int j = 0; j < 16; ++j) {
      const int lo = (q[j] & 0x0f) | (((qh >> j) & 1) << 4);
      const int hi = (q[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      v[j] = static_cast<float>(lo - 16) * d;
      v[j + 16] = static_cast<float>(hi - 16) * d;
    }
  }
};
struct Q5_1 {
  static constexpr int kValues = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint8_t* b = row + 24 * u;
    const float d = half_at(b), m = half_at(b + 2);
    const uint32_t qh = load_u16(b + 4) | (load_u16(b + 6) << 16);
    uint8_t q[16];
    load_bytes<16>(b + 8, q);
CRIA_UNROLL
    for (int j = 0; j < 16; ++j) {
      const int lo = (q[j] & 0x0f) | (((qh >> j) & 1) << 4);
      const int hi = (q[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      v[j] = static_cast<float>(lo) * d + m;
      v[j + 16] = static_cast<float>(hi) * d + m;
    }
  }
};
struct Q8_0 {
  static constexpr int kValues = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint8_t* b = row + 34 * u;
    const float d = half_at(b);
    uint8_t q[32];
    load_bytes<32>(b + 2, q);
CRIA_UNROLL
    for (int j = 0; j < 32; ++j) v[j] = static_cast<float>(static_cast<int8_t>(q[j])) * d;
  }
};

// K-quants: super-blocks of 256 values; unit u is sub-block u % 8 of super-block u / 8.
struct Q2_K {  // scales[16], qs[64], d, dmin
  static constexpr int kValues = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint8_t* b = row + 84 * (u / 8);
    const int s = static_cast<int>(u % 8), half = s / 4, shift = 2 * (s % 4);
    const float d = half_at(b + 80), dmin = half_at(b + 82);
    uint8_t q[32];
    load_bytes<32>(b + 16 + 32 * half, q);
CRIA_UNROLL
    for (int part = 0; part < 2; ++part) {
      const uint8_t sc = b[8 * half + 2 * (s % 4) + part];
      const float dl = d * static_cast<float>(sc & 0x0f), ml = dmin * static_cast<float>(sc >> 4);
CRIA_UNROLL
      for (int l = 0; l < 16; ++l) v[16 * part + l] = dl * static_cast<float>((q[16 * part + l] >> shift) & 3) - ml;
    }
  }
};
struct Q3_K {  // hmask[32], qs[64], scales[12] (sixteen 6-bit, offset 32), d
  static constexpr int kValues = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint8_t* b = row + 110 * (u / 8);
    const int s = static_cast<int>(u % 8), half = s / 4, r = s % 4;
    const float d = half_at(b + 108);
    uint8_t q[32], hm[32];
    load_bytes<32>(b + 32 + 32 * half, q);
    load_bytes<32>(b, hm);
    const uint8_t* sc = b + 96;
CRIA_UNROLL
    for (int part = 0; part < 2; ++part) {
      const int j = 8 * half + 2 * r + part;
      const int low = j < 8 ? (sc[j] & 0x0f) : (sc[j - 8] >> 4);
      const int high = (sc[8 + (j % 4)] >> (2 * (j / 4))) & 3;
      const float dl = d * static_cast<float>((low | (high << 4)) - 32);
CRIA_UNROLL
      for (int l = 0; l < 16; ++l) {
        const int i = 16 * part + l;
        const int value = ((q[i] >> (2 * r)) & 3) - (((hm[i] >> (4 * half + r)) & 1) ? 0 : 4);
        v[i] = dl * static_cast<float>(value);
      }
    }
  }
};
// Scale and min j of a Q4_K / Q5_K super-block (six bits each in 12 bytes).
__host__ __device__ __forceinline__ void scale_min(int j, const uint8_t* q, int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}
struct Q4_K {  // d, dmin, scales[12], qs[128]: sub-blocks 2k and 2k+1 share 32 bytes (low, high nibbles)
  static constexpr int kValues = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint8_t* b = row + 144 * (u / 8);
    const int s = static_cast<int>(u % 8);
    const float d = half_at(b), dmin = half_at(b + 2);
    int sc, m;
    scale_min(s, b + 4, &sc, &m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    const uint4* p = reinterpret_cast<const uint4*>(b + 16 + 32 * (s / 2));  // 16-byte aligned: blocks are 144 bytes
    const uint4 w0 = p[0], w1 = p[1];
    const uint32_t w[8] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w};
    const int shift = 4 * (s % 2);
CRIA_UNROLL
    for (int l = 0; l < 32; ++l) v[l] = d1 * static_cast<float>((w[l / 4] >> (8 * (l % 4) + shift)) & 0x0f) - m1;
  }
};
struct Q5_K {  // d, dmin, scales[12], qh[32], qs[128]
  static constexpr int kValues = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint8_t* b = row + 176 * (u / 8);
    const int s = static_cast<int>(u % 8);
    const float d = half_at(b), dmin = half_at(b + 2);
    int sc, m;
    scale_min(s, b + 4, &sc, &m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    const uint4* p = reinterpret_cast<const uint4*>(b + 48 + 32 * (s / 2));  // 16-byte aligned: blocks are 176 bytes
    const uint4* h = reinterpret_cast<const uint4*>(b + 16);
    const uint4 w0 = p[0], w1 = p[1], h0 = h[0], h1 = h[1];
    const uint32_t w[8] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w};
    const uint32_t hw[8] = {h0.x, h0.y, h0.z, h0.w, h1.x, h1.y, h1.z, h1.w};
    const int shift = 4 * (s % 2);
CRIA_UNROLL
    for (int l = 0; l < 32; ++l) {
      const uint32_t low = (w[l / 4] >> (8 * (l % 4) + shift)) & 0x0f;
      const uint32_t high = (hw[l / 4] >> (8 * (l % 4) + s)) & 1;
      v[l] = d1 * static_cast<float>(low + 16 * high) - m1;
    }
  }
};
struct Q6_K {  // ql[128], qh[64], scales[16] (int8), d
  static constexpr int kValues = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t u, float* v) {
    const uint8_t* b = row + 210 * (u / 8);
    const int s = static_cast<int>(u % 8), half = s / 4, quarter = s % 4;
    const float d = half_at(b + 208);
    uint8_t ql[32], qh[32];
    load_bytes<32>(b + 64 * half + 32 * (quarter % 2), ql);
    load_bytes<32>(b + 128 + 32 * half, qh);
    const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
CRIA_UNROLL
    for (int part = 0; part < 2; ++part) {
      const float dl = d * static_cast<float>(scales[8 * half + 2 * quarter + part]);
CRIA_UNROLL
      for (int l = 0; l < 16; ++l) {
        const int i = 16 * part + l;
        const int q = ((ql[i] >> (4 * (quarter / 2))) & 0x0f) | (((qh[i] >> (2 * quarter)) & 3) << 4);
        v[i] = dl * static_cast<float>(q - 32);
      }
    }
  }
};

}  // namespace cria::cuda
