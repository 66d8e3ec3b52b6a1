#version 450
// Stateless random numbers, bit-exact with TensorFlow's CPU kernels
// (random_op_cpu.h FillPhiloxRandom + tsl random_distributions.h).
//
// The stream is Philox4x32-10 from (key, counter); block b is counter + b
// (128-bit add). Each invocation fills one output group:
//   uniform / normal (float types): 4 elements from block g
//   uniform (full) int64: 2 elements from block g; (full) int32: 4 elements
//   truncated normal: 4 elements from blocks g*256, g*256+1, ... (TF reserves
//   256 blocks per group and rejects |x| >= 2 in Box-Muller pair order).
// Box-Muller uses float logf/sincosf/sqrtf on TF's Linux CPU build, i.e.
// glibc's. glibc computes them in double precision, which shaders do not have
// (Apple), so logf and sincosf are glibc's algorithms (same tables and
// polynomials) evaluated in float-float (~2^-44 relative), and sqrt is
// corrected to be correctly rounded. A result can differ from glibc only when
// glibc's double intermediate lies within ~2^-44 of a float rounding
// boundary (about 1e-6 of the samples).
//
// Defines: T (storage), DIST_UNIFORM | DIST_NORMAL | DIST_TRUNCATED |
// DIST_INT (with FULL_INT: all the random bits, no range); STORE(f) converts
// a float sample to T; UNIFORM(x) maps a 32-bit sample to the float uniform
// in [0, 1) of the output type; INT64 for int64.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(buffer_reference, std430, buffer_reference_align = 8) buffer U64Buf { uint64_t v[]; };
layout(push_constant) uniform Push {
  U64Buf key;      // [1]: key[0] | key[1] << 32
  U64Buf counter;  // [2]: counter words (0,1), (2,3)
  TBuf y;
  uint64_t lo;     // DIST_INT: minval
  uint64_t range;  // DIST_INT: maxval - minval (unsigned)
  uint n;          // output elements
} pc;

// ---- Philox4x32-10 ----
uvec4 philox(uvec4 c, uvec2 k) {
  for (int r = 0; r < 10; ++r) {
    uint hi0, lo0, hi1, lo1;
    umulExtended(0xD2511F53u, c.x, hi0, lo0);
    umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
    c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k += uvec2(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}
// Block b of the stream: counter + b as a 128-bit number.
uvec4 block(uint64_t c_lo, uint64_t c_hi, uint64_t b, uvec2 k) {
  uint64_t lo = c_lo + b;
  uint64_t hi = c_hi + (lo < c_lo ? 1ul : 0ul);
  return philox(uvec4(uint(lo), uint(lo >> 32), uint(hi), uint(hi >> 32)), k);
}

// ---- conversions (round to nearest even, as Eigen does) ----
uint tf_f2h(float f) {
  uint x = floatBitsToUint(f), sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u);
  if (ax >= 0x477ff000u) return sign | 0x7c00u;
  if (ax < 0x38800000u) return sign | uint(roundEven(uintBitsToFloat(ax) * 16777216.0));
  uint r = ax - 0x38000000u, h = r >> 13, rem = r & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) ++h;
  return sign | h;
}
uint tf_f2bf(float f) {
  uint x = floatBitsToUint(f);
  return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}
float uint_to_float(uint x) { return uintBitsToFloat((x & 0x7fffffu) | 0x3f800000u) - 1.0; }

#if defined(DIST_NORMAL) || defined(DIST_TRUNCATED)
// ---- float-float arithmetic (value = x + y), no contraction ----
vec2 two_sum(float a, float b) {
  precise float s = a + b;
  precise float bb = s - a;
  precise float e = (a - (s - bb)) + (b - bb);
  return vec2(s, e);
}
vec2 quick_two_sum(float a, float b) {
  precise float s = a + b;
  precise float e = b - (s - a);
  return vec2(s, e);
}
vec2 split(float a) {
  precise float t = 4097.0 * a;
  precise float hi = t - (t - a);
  precise float lo = a - hi;
  return vec2(hi, lo);
}
vec2 two_prod(float a, float b) {
  precise float p = a * b;
  vec2 as = split(a), bs = split(b);
  precise float e = ((as.x * bs.x - p) + as.x * bs.y + as.y * bs.x) + as.y * bs.y;
  return vec2(p, e);
}
vec2 df_add(vec2 a, vec2 b) {
  vec2 s = two_sum(a.x, b.x), t = two_sum(a.y, b.y);
  precise float e = s.y + t.x;
  s = quick_two_sum(s.x, e);
  precise float e2 = s.y + t.y;
  return quick_two_sum(s.x, e2);
}
vec2 df_mul(vec2 a, vec2 b) {
  vec2 p = two_prod(a.x, b.x);
  precise float c = a.x * b.y + a.y * b.x;
  precise float e = p.y + c;
  return quick_two_sum(p.x, e);
}
vec2 df(float a) { return vec2(a, 0.0); }
bool df_gt(vec2 a, vec2 b) { return a.x > b.x || (a.x == b.x && a.y > b.y); }

#include "random_glibc.glsl"

// glibc logf (sysdeps/ieee754/flt-32/e_logf.c) for normal 0 < x < 1.
float glibc_logf(float x) {
  uint ix = floatBitsToUint(x);
  if (ix == 0x3f800000u) return 0.0;
  uint tmp = ix - 0x3f330000u;
  uint i = (tmp >> 19) & 15u;
  int k = int(tmp) >> 23;
  uint iz = ix - (tmp & (0x1ffu << 23));
  vec2 invc = vec2(uintBitsToFloat(LOGF_TAB[4 * i]), uintBitsToFloat(LOGF_TAB[4 * i + 1]));
  vec2 logc = vec2(uintBitsToFloat(LOGF_TAB[4 * i + 2]), uintBitsToFloat(LOGF_TAB[4 * i + 3]));
  vec2 r = df_add(df_mul(df(uintBitsToFloat(iz)), invc), df(-1.0));
  vec2 y0 = df_add(logc, df_mul(df(float(k)), LOGF_LN2));
  vec2 r2 = df_mul(r, r);
  vec2 y = df_add(df_mul(LOGF_A1, r), LOGF_A2);
  y = df_add(df_mul(LOGF_A0, r2), y);
  y = df_add(df_mul(y, r2), df_add(y0, r));
  return y.x + y.y;
}

// glibc sincosf_poly (sysdeps/ieee754/flt-32/sincosf_poly.h); neg selects
// the table whose cosine polynomial is negated.
void sincosf_poly(vec2 x, vec2 x2, bool neg, int n, out float sinp, out float cosp) {
  float sg = neg ? -1.0 : 1.0;
  vec2 x4 = df_mul(x2, x2), x3 = df_mul(x2, x);
  vec2 c2 = df_add(SC_C3 * sg, df_mul(x2, SC_C4 * sg));
  vec2 s1 = df_add(SC_S2, df_mul(x2, SC_S3));
  vec2 c1 = df_add(SC_C0 * sg, df_mul(x2, SC_C1 * sg));
  vec2 x5 = df_mul(x3, x2), x6 = df_mul(x4, x2);
  vec2 s = df_add(x, df_mul(x3, SC_S1));
  vec2 c = df_add(c1, df_mul(x4, SC_C2 * sg));
  vec2 sv = df_add(s, df_mul(x5, s1)), cv = df_add(c, df_mul(x6, c2));
  float fs = sv.x + sv.y, fc = cv.x + cv.y;
  if ((n & 1) != 0) { sinp = fc; cosp = fs; } else { sinp = fs; cosp = fc; }
}

// glibc sincosf (s_sincosf.c) for 0 <= y < 120.
void glibc_sincosf(float y, out float sinp, out float cosp) {
  uint top = (floatBitsToUint(y) >> 20) & 0x7ffu;
  if (top < 0x3f4u) {  // |y| < pi/4
    if (top < 0x398u) { sinp = y; cosp = 1.0; return; }  // |y| < 2^-12
    vec2 x = df(y);
    sincosf_poly(x, df_mul(x, x), false, 0, sinp, cosp);
    return;
  }
  // reduce_fast: n = ((int32)(y * hpi_inv) + 2^23) >> 24; x = y - n * hpi.
  vec2 q = df_mul(df(y), SC_HPI_INV);  // >= 2^23, so q.x is an integer
  int n = (int(q.x) + int(floor(q.y)) + 0x800000) >> 24;
  float fn = float(n);
  vec2 x = df_add(df(y), -two_prod(fn, SC_HPI0));
  x = df_add(x, -two_prod(fn, SC_HPI1));
  x = df_add(x, df(-fn * SC_HPI2));
  float s = ((n + 1) & 2) != 0 ? -1.0 : 1.0;  // sign[n & 3] = {1, -1, -1, 1}
  sincosf_poly(x * s, df_mul(x, x), (n & 2) != 0, n, sinp, cosp);
}

// Correctly rounded sqrt for a > 0 (sqrtf).
float cr_sqrt(float a) {
  float s = sqrt(a);
  for (int it = 0; it < 3; ++it) {
    float up = uintBitsToFloat(floatBitsToUint(s) + 1u), dn = uintBitsToFloat(floatBitsToUint(s) - 1u);
    float u = up - s, d = s - dn;
    vec2 r = df_add(df(a), -two_prod(s, s));  // a - s^2
    // Round up if a > (s + u/2)^2, down if a < (s - d/2)^2.
    if (df_gt(r, two_sum(s * u, u * u * 0.25))) s = up;
    else if (df_gt(two_sum(-s * d, d * d * 0.25), r)) s = dn;
    else break;
  }
  return s;
}

// tsl BoxMullerFloat.
void box_muller(uint x0, uint x1, out float f0, out float f1) {
  float u1 = max(uint_to_float(x0), uintBitsToFloat(0x33d6bf95u));  // 1e-7f
  vec2 v = df_mul(TWO_PI_D, df(uint_to_float(x1)));  // 2.0f * M_PI (double) * u
  float v1 = v.x + v.y;
  float u2 = cr_sqrt(-2.0 * glibc_logf(u1));
  float s, c;
  glibc_sincosf(v1, s, c);
  f0 = s * u2;
  f1 = c * u2;
}
#endif

void main() {
  const uint64_t kw = pc.key.v[0];
  const uvec2 k = uvec2(uint(kw), uint(kw >> 32));
  const uint64_t c_lo = pc.counter.v[0], c_hi = pc.counter.v[1];
#if defined(INT64)
  const uint G = 2u;
#else
  const uint G = 4u;
#endif
  const uint groups = pc.n == 0u ? 0u : (pc.n - 1u) / G + 1u;
  FOR_EACH(g, groups) {
    const uint base = g * G;
#if defined(DIST_TRUNCATED)
    uint64_t b = uint64_t(g) * 256ul;
    uint got = 0u;
    while (got < G) {
      uvec4 r = block(c_lo, c_hi, b++, k);
      float f[4];
      box_muller(r.x, r.y, f[0], f[1]);
      box_muller(r.z, r.w, f[2], f[3]);
      for (int j = 0; j < 4 && got < G; ++j) {
        if (abs(f[j]) < 2.0) {
          if (base + got < pc.n) pc.y.v[base + got] = STORE(f[j]);
          ++got;
        }
      }
    }
#else
    uvec4 r = block(c_lo, c_hi, uint64_t(g), k);
#if defined(DIST_UNIFORM)
    T v[4] = T[4](STORE(UNIFORM(r.x)), STORE(UNIFORM(r.y)), STORE(UNIFORM(r.z)), STORE(UNIFORM(r.w)));
#elif defined(DIST_NORMAL)
    float f[4];
    box_muller(r.x, r.y, f[0], f[1]);
    box_muller(r.z, r.w, f[2], f[3]);
    T v[4] = T[4](STORE(f[0]), STORE(f[1]), STORE(f[2]), STORE(f[3]));
#elif defined(INT64) && defined(FULL_INT)
    T v[2] = T[2](T(packUint2x32(r.xy)), T(packUint2x32(r.zw)));
#elif defined(INT64)
    T v[2] = T[2](T(pc.lo + (packUint2x32(r.xy) % pc.range)), T(pc.lo + (packUint2x32(r.zw) % pc.range)));
#elif defined(FULL_INT)  // int32: the raw 32 bits
    T v[4] = T[4](T(r.x), T(r.y), T(r.z), T(r.w));
#else  // int32
    const uint lo = uint(pc.lo), range = uint(pc.range);
    T v[4] = T[4](T(lo + r.x % range), T(lo + r.y % range), T(lo + r.z % range), T(lo + r.w % range));
#endif
    for (uint j = 0u; j < G; ++j)
      if (base + j < pc.n) pc.y.v[base + j] = v[j];
#endif
  }
}
