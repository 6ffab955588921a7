// Encoders for Q4_1, Q5_0, Q5_1 and the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), written from
// the GGUF block descriptions (quant.hpp; the decoders in decode_blocks.cpp are the
// definition of what a block means).
//
// Method. Every format rebuilds a group of values either as s * q + m (affine: Q4_1 and Q5_1
// with a free m; Q2_K, Q4_K and Q5_K with m = -a, a >= 0) or as s * q (symmetric: Q5_0, Q3_K,
// Q6_K), q an integer in a fixed range. For each group (block or sub-block):
//   1. Candidate scales: the group's span (max - min, the min clamped to <= 0 where the format
//      needs it) over (levels + delta), delta from -1 to +1 in steps of 0.1, for a symmetric
//      format the value of largest magnitude put near either end of the range. A span slightly
//      wider or narrower than the naive one often fits the bulk of the values better.
//   2. Each candidate assigns q by rounding; for those q the best s (and m) is the least-squares
//      solution (2x2 normal equations; m clamped to <= 0 where the format stores a non-negative
//      min), and its squared error follows from the same sums. The candidate of least error
//      wins; then q is re-rounded with the winning (s, m) and refitted while the error drops.
// The K-quants then store each sub-block's scale (and min) as a small integer times the
// super-block's fp16 d (dmin): d = largest sub-block scale / the largest integer scale (63 for
// 6 bits, 15 for Q2_K's 4 bits, 31 for Q3_K's signed 6 bits, 127 for Q6_K's int8), rounded to
// fp16 first. Each sub-block tries the integer scale (and min) just below and just above its
// exact quotient, re-rounds its q against the values the decoder will compute, and keeps the
// pair of least squared error. All final q are rounded against decoded (fp16) scales, so what
// is stored is the best for what the decoder rebuilds. Inputs must be finite.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "cria/quant.hpp"

namespace cria {

namespace {

inline int nearest(float v) { return static_cast<int>(std::lrintf(v)); }
inline int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Sums for a least-squares fit of x ~ s * q + m.
struct Sums {
  double n = 0, q = 0, qq = 0, x = 0, qx = 0, xx = 0;
};

// Best (s, m) for the given sums; m forced to 0 when min_nonpos and the free optimum is > 0.
// Returns the squared error of that fit.
double solve_affine(const Sums& t, bool min_nonpos, float* s, float* m) {
  double S = 0, M = 0;
  const double det = t.n * t.qq - t.q * t.q;
  if (det > 0) {
    S = (t.n * t.qx - t.q * t.x) / det;
    M = (t.qq * t.x - t.q * t.qx) / det;
  } else {
    M = t.n > 0 ? t.x / t.n : 0;  // every q equal: only the offset fits
  }
  if (min_nonpos && M > 0) {
    M = 0;
    S = t.qq > 0 ? t.qx / t.qq : 0;
  }
  if (S < 0) {  // cannot happen with monotone q; keep the fit sane anyway
    S = 0;
    M = t.n > 0 ? t.x / t.n : 0;
    if (min_nonpos && M > 0) M = 0;
  }
  *s = static_cast<float>(S);
  *m = static_cast<float>(M);
  const double err = t.xx - 2 * S * t.qx - 2 * M * t.x + S * S * t.qq + 2 * S * M * t.q +
                     t.n * M * M;
  return err > 0 ? err : 0;
}

// Round to nearest (ties to even) for |v| < 2^22, in plain float arithmetic so that the
// loops below vectorise.
inline float round_f(float v) {
  const float magic = 12582912.0f;  // 1.5 * 2^23
  return (v + magic) - magic;
}
inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// The candidate scales of step 1, as multipliers of the naive levels / span.
constexpr int kSteps = 21;  // delta = -1.0, -0.9, ..., +1.0

// Sums of q, q^2 and q x for every candidate at once: the loop over candidates is the inner
// one, so each candidate's sums keep their order and the loop still vectorises.
template <int K>
void candidate_sums(const float* x, const float* xs, int n, const float* iscale_in, float lo_q,
                    float hi_q, float* sq_out, float* sqq_out, float* sqx_out) {
  float iscale[K], sq[K] = {}, sqq[K] = {}, sqx[K] = {};  // local: no aliasing in the loop
  std::memcpy(iscale, iscale_in, sizeof iscale);
  for (int i = 0; i < n; ++i) {
    const float xi = x[i], v = xs[i];
    for (int k = 0; k < K; ++k) {
      float q = round_f(v * iscale[k]);
      q = q < lo_q ? lo_q : q;
      q = q > hi_q ? hi_q : q;
      sq[k] += q;
      sqq[k] += q * q;
      sqx[k] += q * xi;
    }
  }
  std::memcpy(sq_out, sq, sizeof sq);
  std::memcpy(sqq_out, sqq, sizeof sqq);
  std::memcpy(sqx_out, sqx, sizeof sqx);
}

// x[0..n) ~ s * q + m with q in [0, nmax]; m <= 0 when min_nonpos. Writes q and returns the
// squared error.
double fit_affine(const float* x, int n, int nmax, bool min_nonpos, uint8_t* q, float* s_out,
                  float* m_out) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (min_nonpos && lo > 0) lo = 0;
  if (!(hi > lo)) {  // a constant group (<= 0 when min_nonpos): the offset alone is exact
    std::memset(q, 0, static_cast<size_t>(n));
    *s_out = 0;
    *m_out = lo;
    return 0;
  }
  const float fmax = static_cast<float>(nmax);
  float xs[32], qf[32];
  Sums base;
  base.n = n;
  for (int i = 0; i < n; ++i) {
    xs[i] = x[i] - lo;
    base.x += x[i];
    base.xx += double(x[i]) * x[i];
  }
  float iscale[kSteps], sq[kSteps], sqq[kSteps], sqx[kSteps];
  for (int k = 0; k < kSteps; ++k)
    iscale[k] = (fmax + 0.1f * static_cast<float>(k - kSteps / 2)) / (hi - lo);
  candidate_sums<kSteps>(x, xs, n, iscale, 0.0f, fmax, sq, sqq, sqx);
  double best = std::numeric_limits<double>::infinity();
  float best_s = 0, best_m = lo;
  int best_k = 0;
  for (int k = 0; k < kSteps; ++k) {
    Sums t = base;
    t.q = sq[k]; t.qq = sqq[k]; t.qx = sqx[k];
    float s, m;
    const double err = solve_affine(t, min_nonpos, &s, &m);
    if (err < best) {
      best = err;
      best_s = s;
      best_m = m;
      best_k = k;
    }
  }
  for (int i = 0; i < n; ++i) qf[i] = clampf(round_f(xs[i] * iscale[best_k]), 0.0f, fmax);
  // Re-round against the winning fit and refit (in double) while that helps; the last refit
  // also makes the final (s, m) exact least squares for its q.
  for (int iter = 0; iter < 4; ++iter) {
    float next[32];
    bool changed = false;
    if (best_s > 0) {
      const float inv = 1.0f / best_s;
      for (int i = 0; i < n; ++i) {
        next[i] = clampf(round_f((x[i] - best_m) * inv), 0.0f, fmax);
        changed |= next[i] != qf[i];
      }
    }
    const float* use = changed ? next : qf;
    Sums t = base;
    for (int i = 0; i < n; ++i) {
      t.q += use[i];
      t.qq += double(use[i]) * use[i];
      t.qx += double(use[i]) * x[i];
    }
    float s, m;
    const double err = solve_affine(t, min_nonpos, &s, &m);
    if (!changed || err <= best) {  // unchanged q: the precise refit of the winner
      if (changed) std::memcpy(qf, next, sizeof(float) * static_cast<size_t>(n));
      best = err;
      best_s = s;
      best_m = m;
    }
    if (!changed || !(err <= best)) break;
  }
  for (int i = 0; i < n; ++i) q[i] = static_cast<uint8_t>(qf[i]);
  *s_out = best_s;
  *m_out = best_m;
  return best;
}

// x[0..n) ~ s * q with q in [qmin, qmax] (qmin < 0 < qmax); returns s (either sign).
float fit_symmetric(const float* x, int n, int qmin, int qmax) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax == 0) return 0;
  const float fmin = static_cast<float>(qmin), fmax = static_cast<float>(qmax);
  // The largest value put near the low end of the range or near the high end.
  float iscale[2 * kSteps], sq[2 * kSteps], sqq[2 * kSteps], sqx[2 * kSteps];
  for (int k = 0; k < kSteps; ++k) {
    const float delta = 0.1f * static_cast<float>(k - kSteps / 2);
    iscale[k] = (fmin - delta) / max;
    iscale[kSteps + k] = (fmax + delta) / max;
  }
  candidate_sums<2 * kSteps>(x, x, n, iscale, fmin, fmax, sq, sqq, sqx);
  // Maximising (sum x q)^2 / sum q^2 minimises the error of the least-squares s for those q.
  double best_gain = -1;
  float best_s = 0;
  for (int k = 0; k < 2 * kSteps; ++k) {
    if (sqq[k] > 0 && double(sqx[k]) * sqx[k] / sqq[k] > best_gain) {
      best_gain = double(sqx[k]) * sqx[k] / sqq[k];
      best_s = sqx[k] / sqq[k];
    }
  }
  for (int iter = 0; iter < 4 && best_s != 0; ++iter) {
    const float inv = 1.0f / best_s;
    double qx = 0, qq = 0;
    for (int i = 0; i < n; ++i) {
      const float qi = clampf(round_f(x[i] * inv), fmin, fmax);
      qx += double(qi) * x[i];
      qq += double(qi) * qi;
    }
    if (!(qq > 0 && qx * qx / qq > best_gain)) break;
    best_gain = qx * qx / qq;
    best_s = static_cast<float>(qx / qq);
  }
  return best_s;
}

// Squared error of a sub-block rebuilt as S * q - A (S = d * sc, A = dmin * mn as the decoder
// forms them) with q re-rounded; writes q.
float affine_error(const float* x, int n, int nmax, float S, float A, uint8_t* q) {
  float qf[32], es[32], err = 0;
  const float inv = S > 0 ? 1.0f / S : 0.0f, fmax = static_cast<float>(nmax);
  for (int i = 0; i < n; ++i) {
    float v = round_f((x[i] + A) * inv);
    v = v < 0.0f ? 0.0f : v;
    v = v > fmax ? fmax : v;
    qf[i] = v;
    const float e = S * v - A - x[i];
    es[i] = e * e;
  }
  float acc[4] = {};  // four partial sums: n is a multiple of 16
  for (int i = 0; i < n; i += 4)
    for (int j = 0; j < 4; ++j) acc[j] += es[i + j];
  err = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (int i = 0; i < n; ++i) q[i] = static_cast<uint8_t>(qf[i]);
  return err;
}

float symmetric_error(const float* x, int n, int qmin, int qmax, float S, int8_t* q) {
  float qf[32], es[32], err = 0;
  const float inv = S != 0 ? 1.0f / S : 0.0f;
  const float fmin = static_cast<float>(qmin), fmax = static_cast<float>(qmax);
  for (int i = 0; i < n; ++i) {
    float v = round_f(x[i] * inv);
    v = v < fmin ? fmin : v;
    v = v > fmax ? fmax : v;
    qf[i] = v;
    const float e = S * v - x[i];
    es[i] = e * e;
  }
  float acc[4] = {};  // four partial sums: n is a multiple of 16
  for (int i = 0; i < n; i += 4)
    for (int j = 0; j < 4; ++j) acc[j] += es[i + j];
  err = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (int i = 0; i < n; ++i) q[i] = static_cast<int8_t>(qf[i]);
  return err;
}

// A super-block of 256 values in `nsub` sub-blocks of affine values q in [0, nmax], with
// integer scales and mins in [0, smax] relative to fp16 d and dmin.
void kquant_affine(const float* x, int nsub, int nmax, int smax, uint16_t* d_out,
                   uint16_t* dmin_out, uint8_t* sc, uint8_t* mn, uint8_t* q) {
  const int len = kQK_K / nsub;
  float s[16], a[16];
  float max_s = 0, max_a = 0;
  for (int j = 0; j < nsub; ++j) {
    float m;
    fit_affine(x + j * len, len, nmax, true, q + j * len, &s[j], &m);
    a[j] = -m;
    max_s = std::max(max_s, s[j]);
    max_a = std::max(max_a, a[j]);
  }
  *d_out = fp32_to_fp16(max_s / static_cast<float>(smax));
  *dmin_out = fp32_to_fp16(max_a / static_cast<float>(smax));
  const float d = fp16_to_fp32(*d_out), dmin = fp16_to_fp32(*dmin_out);
  uint8_t tmp[32];
  for (int j = 0; j < nsub; ++j) {
    const int sc0 = d > 0 ? clampi(static_cast<int>(std::floor(s[j] / d)), 0, smax) : 0;
    const int mn0 = dmin > 0 ? clampi(static_cast<int>(std::floor(a[j] / dmin)), 0, smax) : 0;
    double best = std::numeric_limits<double>::infinity();
    for (int ds = 0; ds <= 1; ++ds) {
      const int sci = std::min(sc0 + ds, smax);
      if (ds && (sci == sc0 || d == 0)) continue;
      for (int dm = 0; dm <= 1; ++dm) {
        const int mni = std::min(mn0 + dm, smax);
        if (dm && (mni == mn0 || dmin == 0)) continue;
        const float S = d * static_cast<float>(sci), A = dmin * static_cast<float>(mni);
        const float err = affine_error(x + j * len, len, nmax, S, A, tmp);
        if (err < best) {
          best = err;
          sc[j] = static_cast<uint8_t>(sci);
          mn[j] = static_cast<uint8_t>(mni);
          std::memcpy(q + j * len, tmp, static_cast<size_t>(len));
        }
      }
    }
  }
}

// A super-block of 256 values in 16 sub-blocks of 16 symmetric values q in [qmin, qmax] with
// signed integer scales in [scmin, scmax] relative to fp16 d (positive).
void kquant_symmetric(const float* x, int qmin, int qmax, int scmin, int scmax, uint16_t* d_out,
                      int* sc, int8_t* q) {
  float s[16], amax = 0;
  for (int j = 0; j < 16; ++j) {
    s[j] = fit_symmetric(x + 16 * j, 16, qmin, qmax);
    amax = std::max(amax, std::fabs(s[j]));
  }
  *d_out = fp32_to_fp16(amax / static_cast<float>(scmax));
  const float d = fp16_to_fp32(*d_out);
  int8_t tmp[16];
  for (int j = 0; j < 16; ++j) {
    const int sc0 = d > 0 ? clampi(static_cast<int>(std::floor(s[j] / d)), scmin, scmax) : 0;
    double best = std::numeric_limits<double>::infinity();
    for (int ds = 0; ds <= 1; ++ds) {
      const int sci = std::min(sc0 + ds, scmax);
      if (ds && (sci == sc0 || d == 0)) continue;
      const float err = symmetric_error(x + 16 * j, 16, qmin, qmax, d * static_cast<float>(sci), tmp);
      if (err < best) {
        best = err;
        sc[j] = sci;
        std::memcpy(q + 16 * j, tmp, 16);
      }
    }
  }
}

// Packs eight 6-bit scales and mins as the Q4_K/Q5_K decoder unpacks them.
void pack_scale_min_k4(const uint8_t* sc, const uint8_t* mn, uint8_t* out) {
  std::memset(out, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      out[j] |= sc[j] & 63;
      out[j + 4] |= mn[j] & 63;
    } else {
      out[j + 4] = static_cast<uint8_t>((sc[j] & 0x0f) | ((mn[j] & 0x0f) << 4));
      out[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      out[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
}

}  // namespace

void quantize_q4_1(const float* x, BlockQ4_1* b, int64_t n) {
  for (int64_t k = 0; k < n / 32; ++k, x += 32) {
    uint8_t q[32];
    float s, m;
    fit_affine(x, 32, 15, false, q, &s, &m);
    b[k].d = fp32_to_fp16(s);
    b[k].m = fp32_to_fp16(m);
    const float d = fp16_to_fp32(b[k].d), mm = fp16_to_fp32(b[k].m);
    const float inv = d > 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; ++j) q[j] = static_cast<uint8_t>(d > 0 ? clampi(nearest((x[j] - mm) * inv), 0, 15) : 0);
    for (int j = 0; j < 16; ++j) b[k].qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
  }
}

void quantize_q5_1(const float* x, BlockQ5_1* b, int64_t n) {
  for (int64_t k = 0; k < n / 32; ++k, x += 32) {
    uint8_t q[32];
    float s, m;
    fit_affine(x, 32, 31, false, q, &s, &m);
    b[k].d = fp32_to_fp16(s);
    b[k].m = fp32_to_fp16(m);
    const float d = fp16_to_fp32(b[k].d), mm = fp16_to_fp32(b[k].m);
    const float inv = d > 0 ? 1.0f / d : 0.0f;
    uint32_t qh = 0;
    for (int j = 0; j < 32; ++j) {
      q[j] = static_cast<uint8_t>(d > 0 ? clampi(nearest((x[j] - mm) * inv), 0, 31) : 0);
      qh |= static_cast<uint32_t>(q[j] >> 4) << j;
    }
    for (int j = 0; j < 16; ++j)
      b[k].qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
    std::memcpy(b[k].qh, &qh, 4);  // little-endian: bit j is value j's fifth bit
  }
}

void quantize_q5_0(const float* x, BlockQ5_0* b, int64_t n) {
  for (int64_t k = 0; k < n / 32; ++k, x += 32) {
    b[k].d = fp32_to_fp16(fit_symmetric(x, 32, -16, 15));
    const float d = fp16_to_fp32(b[k].d);
    const float inv = d != 0 ? 1.0f / d : 0.0f;
    uint8_t q[32];
    uint32_t qh = 0;
    for (int j = 0; j < 32; ++j) {
      q[j] = static_cast<uint8_t>((d != 0 ? clampi(nearest(x[j] * inv), -16, 15) : 0) + 16);
      qh |= static_cast<uint32_t>(q[j] >> 4) << j;
    }
    for (int j = 0; j < 16; ++j)
      b[k].qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
    std::memcpy(b[k].qh, &qh, 4);
  }
}

void quantize_q2_k(const float* x, BlockQ2_K* b, int64_t n) {
  for (int64_t k = 0; k < n / kQK_K; ++k, x += kQK_K) {
    uint8_t sc[16], mn[16], q[kQK_K];
    kquant_affine(x, 16, 3, 15, &b[k].d, &b[k].dmin, sc, mn, q);
    for (int j = 0; j < 16; ++j) b[k].scales[j] = static_cast<uint8_t>(sc[j] | (mn[j] << 4));
    // Value 128 * half + 32 * plane + i (i < 32) sits in bits 2 * plane of qs[32 * half + i].
    std::memset(b[k].qs, 0, sizeof b[k].qs);
    for (int v = 0; v < kQK_K; ++v) {
      const int half = v / 128, plane = (v % 128) / 32, i = v % 32;
      b[k].qs[32 * half + i] |= static_cast<uint8_t>(q[v] << (2 * plane));
    }
  }
}

void quantize_q3_k(const float* x, BlockQ3_K* b, int64_t n) {
  for (int64_t k = 0; k < n / kQK_K; ++k, x += kQK_K) {
    int sc[16];
    int8_t q[kQK_K];
    kquant_symmetric(x, -4, 3, -32, 31, &b[k].d, sc, q);
    // Sixteen 6-bit scales stored with an offset of 32: low 4 bits in bytes 0-7 (sub-blocks
    // 8-15 in the high nibbles), high 2 bits in bytes 8-11.
    std::memset(b[k].scales, 0, sizeof b[k].scales);
    for (int j = 0; j < 16; ++j) {
      const int u = sc[j] + 32;
      if (j < 8) b[k].scales[j] |= static_cast<uint8_t>(u & 0x0f);
      else b[k].scales[j - 8] |= static_cast<uint8_t>((u & 0x0f) << 4);
      b[k].scales[8 + (j % 4)] |= static_cast<uint8_t>((u >> 4) << (2 * (j / 4)));
    }
    // Value 128 * half + 32 * plane + i: low 2 bits at bits 2 * plane of qs[32 * half + i],
    // the third bit (set when q >= 0) at bit 4 * half + plane of hmask[i].
    std::memset(b[k].qs, 0, sizeof b[k].qs);
    std::memset(b[k].hmask, 0, sizeof b[k].hmask);
    for (int v = 0; v < kQK_K; ++v) {
      const int u = q[v] + 4;
      const int half = v / 128, plane = (v % 128) / 32, i = v % 32;
      b[k].qs[32 * half + i] |= static_cast<uint8_t>((u & 3) << (2 * plane));
      if (u & 4) b[k].hmask[i] |= static_cast<uint8_t>(1 << (4 * half + plane));
    }
  }
}

void quantize_q4_k(const float* x, BlockQ4_K* b, int64_t n) {
  for (int64_t k = 0; k < n / kQK_K; ++k, x += kQK_K) {
    uint8_t sc[8], mn[8], q[kQK_K];
    kquant_affine(x, 8, 15, 63, &b[k].d, &b[k].dmin, sc, mn, q);
    pack_scale_min_k4(sc, mn, b[k].scales);
    // Each 32-byte run holds two sub-blocks: the first in the low nibbles, the second high.
    for (int g = 0; g < 4; ++g)
      for (int l = 0; l < 32; ++l)
        b[k].qs[32 * g + l] = static_cast<uint8_t>(q[64 * g + l] | (q[64 * g + 32 + l] << 4));
  }
}

void quantize_q5_k(const float* x, BlockQ5_K* b, int64_t n) {
  for (int64_t k = 0; k < n / kQK_K; ++k, x += kQK_K) {
    uint8_t sc[8], mn[8], q[kQK_K];
    kquant_affine(x, 8, 31, 63, &b[k].d, &b[k].dmin, sc, mn, q);
    pack_scale_min_k4(sc, mn, b[k].scales);
    // As Q4_K for the low 4 bits; the fifth bit of sub-block j's value l is bit j of qh[l].
    std::memset(b[k].qh, 0, sizeof b[k].qh);
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = q[64 * g + l], hi = q[64 * g + 32 + l];
        b[k].qs[32 * g + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
        b[k].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * g)) | ((hi >> 4) << (2 * g + 1)));
      }
    }
  }
}

void quantize_q6_k(const float* x, BlockQ6_K* b, int64_t n) {
  for (int64_t k = 0; k < n / kQK_K; ++k, x += kQK_K) {
    int sc[16];
    int8_t q[kQK_K];
    kquant_symmetric(x, -32, 31, -128, 127, &b[k].d, sc, q);
    for (int j = 0; j < 16; ++j) b[k].scales[j] = static_cast<int8_t>(sc[j]);
    // Per half of 128 values (v = 0..127 within it), stored as q + 32 in 6 bits: the low 4 bits
    // of v < 64 in the low nibbles of ql[v % 64], of v >= 64 in the high nibbles; the high 2
    // bits of v at bits 2 * (v / 32) of qh[v % 32].
    std::memset(b[k].qh, 0, sizeof b[k].qh);
    std::memset(b[k].ql, 0, sizeof b[k].ql);
    for (int half = 0; half < 2; ++half) {
      for (int v = 0; v < 128; ++v) {
        const int u = q[128 * half + v] + 32;
        b[k].ql[64 * half + v % 64] |= static_cast<uint8_t>((u & 0x0f) << (v < 64 ? 0 : 4));
        b[k].qh[32 * half + v % 32] |= static_cast<uint8_t>((u >> 4) << (2 * (v / 32)));
      }
    }
  }
}

}  // namespace cria
