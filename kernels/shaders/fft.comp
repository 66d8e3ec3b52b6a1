#version 450
// One stage of a mixed-radix Stockham FFT along one axis of a tensor seen as
// [outer, len, inner], complex64 stored as vec2 (kernels/fft.cc drives it).
//
// Stage with radix R after earlier stages whose radices multiply to ns, on a
// transform of length n: each invocation computes ONE output position q
// (q = jd*ns*R + k*ns + jm) as a length-R sum
//   out[q] = sum_r in[j + r*n/R] * W_{ns*R}^(r*(jm + k*ns)),  j = jd*ns + jm,
// with the exponent kept exact in integers (mod ns*R) and the twiddle computed
// from it (tw below), never by accumulated products. Radix 1 is a plain copy.
//
// The first stage's loads and the last stage's stores carry the op's edges
// (flags): real input, zero padding / cropping (src_len), the Hermitian
// extension of a half spectrum (IRFFT), Bluestein's chirp products, and the
// real part / scale of the output.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 8) buffer CBuf { vec2 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer RBuf { float v[]; };

const uint F_INVERSE = 1u;       // stage twiddles exp(+2 pi i ...)
const uint F_CHIRP_INV = 2u;     // chirp exp(+i pi m^2 / N) (Bluestein of an inverse transform)
const uint F_REAL_IN = 4u;       // source is float32
const uint F_HERM = 8u;          // source holds positions [0, herm_l/2] of a Hermitian sequence
const uint F_CHIRP_IN = 16u;     // load: positions >= chirp_n are 0, others times chirp(m)
const uint F_MUL_TABLE = 32u;    // load: times table[m]
const uint F_CHIRP_KERNEL = 64u; // load: Bluestein's kernel conj(chirp), no source
const uint F_CHIRP_OUT = 128u;   // store: times chirp(q)
const uint F_REAL_OUT = 256u;    // store: the real part, as float32

layout(push_constant) uniform Push {
  uint64_t src;   // CBuf, or RBuf when F_REAL_IN
  uint64_t dst;   // CBuf, or RBuf when F_REAL_OUT
  uint64_t table; // CBuf (F_MUL_TABLE)
  uint count;     // outputs: outer * out_len * inner
  uint n;         // transform length of this stage's FFT
  uint radix;
  uint ns;
  uint inner;
  uint src_ext;   // the source's extent along the axis
  uint src_len;   // positions read from the source; further ones are 0
  uint out_len;   // positions written (the destination's extent along the axis)
  uint flags;
  uint chirp_n;   // Bluestein: the logical length N
  uint herm_l;    // F_HERM: the logical length L
  float scale;
} pc;

// exp(sign * 2 pi i e / m) for 0 <= e < m: the angle reduced to [-pi/4, pi/4]
// exactly in integers (quadrant q = round(4e/m)), then Taylor polynomials
// accurate to float32 rounding there (GPU sin/cos need not be: Vulkan allows
// 2^-11 absolute error).
vec2 tw(uint e, uint m, bool plus) {
  const int64_t e4 = int64_t(e) * 4;
  const int64_t q = (e4 + int64_t(m / 2u)) / int64_t(m);
  const float a = 1.5707963267948966 * (float(e4 - q * int64_t(m)) / float(m));
  const float a2 = a * a;
  const float s = a * (1.0 + a2 * (-1.0 / 6.0 + a2 * (1.0 / 120.0 + a2 * (-1.0 / 5040.0 +
                  a2 * (1.0 / 362880.0)))));
  const float c = 1.0 + a2 * (-0.5 + a2 * (1.0 / 24.0 + a2 * (-1.0 / 720.0 + a2 * (1.0 / 40320.0 +
                  a2 * (-1.0 / 3628800.0)))));
  vec2 r;
  switch (uint(q) & 3u) {
    case 0u: r = vec2(c, s); break;
    case 1u: r = vec2(-s, c); break;
    case 2u: r = vec2(-c, -s); break;
    default: r = vec2(s, -c); break;
  }
  return plus ? r : vec2(r.x, -r.y);
}

vec2 cmul(vec2 a, vec2 b) { return vec2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }

// Bluestein's chirp exp(-+ i pi m^2 / N) = W_{2N}^(m^2 mod 2N).
vec2 chirp(uint m) {
  const uint64_t two_n = uint64_t(pc.chirp_n) * 2ul;
  const uint e = uint((uint64_t(m) * uint64_t(m)) % two_n);
  return tw(e, uint(two_n), (pc.flags & F_CHIRP_INV) != 0u);
}

vec2 load(uint o, uint i, uint m) {
  if ((pc.flags & F_CHIRP_KERNEL) != 0u) {
    // b[m] = conj(chirp(m)) for m < N, b[n - m] = b[m], 0 between
    const uint mm = m < pc.chirp_n ? m : (m > pc.n - pc.chirp_n ? pc.n - m : 0xffffffffu);
    if (mm == 0xffffffffu) return vec2(0.0);
    const vec2 c = chirp(mm);
    return vec2(c.x, -c.y);
  }
  if ((pc.flags & F_CHIRP_IN) != 0u && m >= pc.chirp_n) return vec2(0.0);
  uint p = m;
  bool conj_it = false;
  if ((pc.flags & F_HERM) != 0u && m > pc.herm_l / 2u) {
    p = pc.herm_l - m;
    conj_it = true;
  }
  vec2 v = vec2(0.0);
  if (p < pc.src_len) {
    const uint a = (o * pc.src_ext + p) * pc.inner + i;
    v = (pc.flags & F_REAL_IN) != 0u ? vec2(RBuf(pc.src).v[a], 0.0) : CBuf(pc.src).v[a];
  }
  if (conj_it) v.y = -v.y;
  if ((pc.flags & F_CHIRP_IN) != 0u) v = cmul(v, chirp(m));
  if ((pc.flags & F_MUL_TABLE) != 0u) v = cmul(v, CBuf(pc.table).v[m]);
  return v;
}

void main() {
  const bool plus = (pc.flags & F_INVERSE) != 0u;
  const uint stride = pc.n / pc.radix;  // distance between a butterfly's inputs
  const uint m = pc.ns * pc.radix;      // twiddle modulus
  FOR_EACH(e, pc.count) {
    const uint i = e % pc.inner;
    const uint t = e / pc.inner;
    const uint q = t % pc.out_len, o = t / pc.out_len;
    const uint jm = q % pc.ns, k = (q / pc.ns) % pc.radix, jd = q / m;
    const uint j = jd * pc.ns + jm;
    const uint step = jm + k * pc.ns;  // < m
    vec2 acc = load(o, i, j);
    uint ex = step;
    for (uint r = 1u; r < pc.radix; ++r) {
      acc += cmul(load(o, i, j + r * stride), tw(ex, m, plus));
      ex += step;
      if (ex >= m) ex -= m;
    }
    if ((pc.flags & F_CHIRP_OUT) != 0u) acc = cmul(acc, chirp(q));
    acc *= pc.scale;
    const uint a = (o * pc.out_len + q) * pc.inner + i;
    if ((pc.flags & F_REAL_OUT) != 0u) {
      RBuf(pc.dst).v[a] = acc.x;
    } else {
      CBuf(pc.dst).v[a] = acc;
    }
  }
}
