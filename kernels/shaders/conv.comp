#version 450
#extension GL_EXT_control_flow_attributes : enable
// Conv2D / Conv3D (channels-last input, [k..., in_c, out_c] filter) and their
// two gradients as implicit GEMMs: C[M, N] = A[M, K] x B[K, N], accumulation
// in float. Positions p are (d, h, w) (window.glsl; the 2-D variants have
// depth 1). MODE picks how A and B are gathered:
//   FWD          y[n,o,co]    M = (n,o)    N = co  K = (kp,ci)
//   BWD_INPUT    dx[n,i,ci]   M = (n,i)    N = ci  K = (kp,co)
//   BWD_FILTER   dw[kp,ci,co] M = (kp,ci)  N = co  K = (n,o)
// where input position i = o * stride - pad + kp * dilation (the input
// gradient is the transposed convolution: a gather over dy).
//
// Tiling (defines BM, BN, BK; kernels/conv_plan.h picks the variant): a
// workgroup of 256 invocations computes a BM x BN tile of C, each invocation a
// (BM/16) x (BN/16) block held in registers; K advances BK at a time through
// two shared-memory buffers (the next tile's global loads are in flight while
// the current one is multiplied). Every invocation loads 4 consecutive
// elements at a time along the operand's contiguous dimension: the channel
// for activations, out_c for filters.
//   VEC4 (2-D, channels last, in_c and out_c multiples of 4, 16-byte aligned
//   operands): those 4 elements are one vector load, and the im2col index
//   math is hoisted: each invocation keeps its row's (n, position) and steps
//   its (tap, channel) position incrementally as K advances.
//   VEC4 with A1 (FWD, BWD_FILTER; in_c not a multiple of 4, e.g. an RGB
//   input): the same, but A (x) is 4 scalar loads whose (tap, channel) are
//   computed per element (per tile for FWD, once for BWD_FILTER).
//   otherwise (3-D, channels first, odd channel counts): 4 scalar gathers
//   through the general index functions below.
//   VEC4 with PHASED (BWD_INPUT, stride > 1, dilation 1): one GEMM per
//   stride phase (ph, pw) = ((i + p) % s), workgroup z: the input rows and
//   columns of that phase receive gradient only from the taps kp = ph + t * s,
//   so M = (n, q) with i = i0 + q * s and K = (t, co), without the
//   (s^2 - 1) / s^2 of zero products that the strided gather multiplies.
//   dy[n, o, co] with o = q + c - t (c = (i0 + p - ph) / s, an integer);
//   a phase without taps (1x1 filters, stride 2) writes zeros.
// Activations (x, y, dx, dy) are channels-last, or channels-first (NCHW /
// NCDHW) when flags bit 8 is set; filters are always [k..., in_c, out_c].
// FWD epilogue (_FusedConv2D): y = act(conv + bias[co] + side[y index]) with
// act = flags & 0xff, the codes of epilogue.glsl (kernels/epilogue.h); bias
// and side are used when their address is not 0. With flags bit 9, side is
// instead the table of a folded BatchNorm (epilogue.glsl): y = act(BN(conv +
// bias[co])). One call, fwd_epilogue(), in the tiled paths and in WINO_OUT.
// Grid: x = N tiles, y = M tiles; z: BWD_FILTER: workgroup z sums K in
// [z * k_chunk, (z + 1) * k_chunk) into slice z of C (split K: float partial
// sums that SPLITK_SUM adds up); FWD, BWD_INPUT: more M tiles (y + z * ny).
// BWD_FILTER with a `bias` address also writes the column sums of B (dy),
// i.e. BiasAddGrad, from the workgroups of the first M tile: slice z at
// bias + z * N (kernels/conv.cc _TfmpConv2DBackpropFilterBiasGrad).
#include "common.glsl"
#include "window.glsl"
#define EPI_BUF TOBuf  // bias, side, BN residual: the output's type
#include "epilogue.glsl"
layout(local_size_x = 256) in;

#ifdef SPLITK_SUM
// out[i] = sum_z partial[z * mn + i] (i < mn); out2[j] = sum_z
// partial[splits * mn + z * n2 + j] (j < n2): the K slices of the filter
// gradient (and of the bias gradient), in float, stored as TO.
layout(buffer_reference, std430, buffer_reference_align = 4) buffer FBuf { float v[]; };
layout(push_constant) uniform Push {
  FBuf partial;
  TOBuf out1;
  TOBuf out2;
  uint mn, n2, splits;
} ps;
#ifdef SUM_ROWS
// A workgroup sums 32 consecutive outputs, its 8 rows of 32 invocations
// every 8th slice (z = row, row + 8, ...), then adds the rows' sums: for few
// outputs over many slices (kernels/conv_plan.h ConvSumRows), where one
// invocation per output ran as a few dozen latency-bound workgroups.
shared float sums[8][32];
void main() {
  const uint row = gl_LocalInvocationIndex / 32, col = gl_LocalInvocationIndex % 32;
  const uint total = ps.mn + ps.n2;
  for (uint blk = gl_WorkGroupID.x; blk * 32 < total; blk += gl_NumWorkGroups.x) {
    const uint i = blk * 32 + col;
    float s = 0.0;
    if (i < ps.mn) {
      for (uint z = row; z < ps.splits; z += 8) s += ps.partial.v[z * ps.mn + i];
    } else if (i < total) {
      const uint j = i - ps.mn, base = ps.splits * ps.mn;
      for (uint z = row; z < ps.splits; z += 8) s += ps.partial.v[base + z * ps.n2 + j];
    }
    sums[row][col] = s;
    barrier();
    if (row == 0 && i < total) {
      float t = 0.0;
      [[unroll]] for (uint r = 0; r < 8; ++r) t += sums[r][col];
      if (i < ps.mn) ps.out1.v[i] = TO(t);
      else ps.out2.v[i - ps.mn] = TO(t);
    }
    barrier();
  }
}
#else  // one invocation per output
void main() {
  FOR_EACH(i, ps.mn + ps.n2) {
    float s = 0.0;
    if (i < ps.mn) {
      for (uint z = 0; z < ps.splits; ++z) s += ps.partial.v[z * ps.mn + i];
      ps.out1.v[i] = TO(s);
    } else {
      const uint j = i - ps.mn, base = ps.splits * ps.mn;
      for (uint z = 0; z < ps.splits; ++z) s += ps.partial.v[base + z * ps.n2 + j];
      ps.out2.v[j] = TO(s);
    }
  }
}
#endif
#elif defined(WINO_IN) || defined(WINO_FILTER) || defined(WINO_OUT) || defined(WINO_DY) || \
    defined(WINO_WGRAD_OUT)
// Winograd F(2x2, 3x3) for 3x3, stride 1, dilation 1, channels last with
// channel counts that are multiples of 4 (kernels/conv_plan.h decides): the
// convolution is V = B^T d B of every 4x4 input patch d (WINO_IN), U = G g G^T
// of every filter (WINO_FILTER), 16 GEMMs M[xi] = V[xi] x U[xi] (conv.comp
// FWD with BATCHED), and y = A^T M A of each 2x2 output tile plus the epilogue
// (WINO_OUT): 2.25x fewer multiplications than the direct convolution. V, U,
// M are float: [16][tiles][c]. The input gradient is the same forward
// convolution over dy with the filter turned 180 degrees and transposed
// (WINO_FILTER with BWD_INPUT) and padding 2 - pad.
// Push (ConvPush's fields): a: input (x, or dy), c: output, b: filter (U for
// WINO_OUT), M: tiles (n, ty, tx) of 2x2 outputs, in_c / out_c: the channels
// of that forward convolution, in_h/in_w, out_h/out_w its sizes, pad_h/pad_w
// its leading padding; WINO_OUT also bias, side, flags, alpha (the epilogue).
// The filter gradient is the same algorithm transposed (opt-in,
// kernels/conv_plan.h): with V = B^T x B as above and D = A dy A^T of every
// 2x2 tile of dy (WINO_DY), the 16 GEMMs M[xi] = V[xi]^T x D[xi] summed over
// the tiles (conv.comp BWD_FILTER with BATCHED, K split: float partial sums
// P[xi][slice]), and dw = G^T (sum of the slices of M) G (WINO_WGRAD_OUT,
// k_chunk = the slices).
layout(buffer_reference, std430, buffer_reference_align = 16) buffer F4Buf { vec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) buffer T4Buf { T4 v[]; };
layout(push_constant) uniform Push {
  TBuf a;
  TBuf b;
  TOBuf c;
  uint M, K;
  uint in_c, out_c;
  uint in_d, in_h, in_w;
  uint out_d, out_h, out_w;
  uint k_d, k_h, k_w;
  uint stride_dil_d, stride_dil_h, stride_dil_w;
  int pad_d, pad_h, pad_w;
  uint k_chunk;
  uint flags;
  float alpha;
  TBuf bias;
  TBuf side;
} pc;
#ifdef WINO_OUT  // T is float (M); bias, side, BN residual have the output's type (EPI_BUF)
float fwd_epilogue(float v, uint n, uint o) {
  const bool bn = (pc.flags & 0x200u) != 0;  // `side` is a BatchNorm table
  return tf_epilogue(v, n, o, uint64_t(pc.bias), bn ? 0ul : uint64_t(pc.side),
                     bn ? uint64_t(pc.side) : 0ul, pc.flags & 0xffu, pc.alpha);
}
#endif
void main() {
#if defined(WINO_IN)
  const uint c4s = pc.in_c / 4, tw = (pc.out_w + 1) / 2, th = (pc.out_h + 1) / 2;
  T4Buf x = T4Buf(uint64_t(pc.a));
  F4Buf v = F4Buf(uint64_t(pc.c));
  FOR_EACH(i, pc.M * c4s) {
    const uint c4 = i % c4s, t = i / c4s;
    const uint tx = t % tw, ty = (t / tw) % th, n = t / tw / th;
    const int h0 = int(2 * ty) - pc.pad_h, w0 = int(2 * tx) - pc.pad_w;
    vec4 d[4][4], e[4][4];
    [[unroll]] for (int r = 0; r < 4; ++r)
      [[unroll]] for (int q = 0; q < 4; ++q) {
        const int ih = h0 + r, iw = w0 + q;
        d[r][q] = (ih >= 0 && iw >= 0 && ih < int(pc.in_h) && iw < int(pc.in_w))
                      ? vec4(x.v[((n * pc.in_h + uint(ih)) * pc.in_w + uint(iw)) * c4s + c4])
                      : vec4(0.0);
      }
    [[unroll]] for (int q = 0; q < 4; ++q) {  // B^T d
      e[0][q] = d[0][q] - d[2][q];
      e[1][q] = d[1][q] + d[2][q];
      e[2][q] = d[2][q] - d[1][q];
      e[3][q] = d[1][q] - d[3][q];
    }
    [[unroll]] for (int r = 0; r < 4; ++r) {  // (B^T d) B
      const uint base = (uint(r * 4) * pc.M + t) * c4s + c4, step = pc.M * c4s;
      v.v[base] = e[r][0] - e[r][2];
      v.v[base + step] = e[r][1] + e[r][2];
      v.v[base + 2 * step] = e[r][2] - e[r][1];
      v.v[base + 3 * step] = e[r][1] - e[r][3];
    }
  }
#elif defined(WINO_FILTER)
  // U[xi][k][n] of the forward convolution's filter g[r][q][k][n]; for the
  // input gradient g[r][q][co][ci] = w[2 - r][2 - q][ci][co].
  const uint n4s = pc.out_c / 4;
  F4Buf u = F4Buf(uint64_t(pc.c));
  FOR_EACH(i, pc.in_c * n4s) {
    const uint n4 = i % n4s, k = i / n4s;
    vec4 g[3][3], t[4][3];
    [[unroll]] for (int r = 0; r < 3; ++r)
      [[unroll]] for (int q = 0; q < 3; ++q) {
#ifdef BWD_INPUT  // w is [3, 3, out_c (= ci), in_c (= co)]
        const uint tap = uint((2 - r) * 3 + (2 - q));
        [[unroll]] for (uint j = 0; j < 4; ++j)
          g[r][q][j] = float(pc.a.v[(tap * pc.out_c + n4 * 4 + j) * pc.in_c + k]);
#else
        g[r][q] = vec4(T4Buf(uint64_t(pc.a)).v[(uint(r * 3 + q) * pc.in_c + k) * n4s + n4]);
#endif
      }
    [[unroll]] for (int q = 0; q < 3; ++q) {  // G g
      t[0][q] = g[0][q];
      t[1][q] = 0.5 * (g[0][q] + g[1][q] + g[2][q]);
      t[2][q] = 0.5 * (g[0][q] - g[1][q] + g[2][q]);
      t[3][q] = g[2][q];
    }
    [[unroll]] for (int r = 0; r < 4; ++r) {  // (G g) G^T
      const uint base = (uint(r * 4) * pc.in_c + k) * n4s + n4, step = pc.in_c * n4s;
      u.v[base] = t[r][0];
      u.v[base + step] = 0.5 * (t[r][0] + t[r][1] + t[r][2]);
      u.v[base + 2 * step] = 0.5 * (t[r][0] - t[r][1] + t[r][2]);
      u.v[base + 3 * step] = t[r][2];
    }
  }
#elif defined(WINO_DY)
  // D[xi][t][co] = A g A^T of the 2x2 tile g of dy (zeros past its edge),
  // A = [1 0; 1 1; 1 -1; 0 -1].
  const uint n4s = pc.out_c / 4, tw = (pc.out_w + 1) / 2, th = (pc.out_h + 1) / 2;
  T4Buf dy = T4Buf(uint64_t(pc.a));
  F4Buf dd = F4Buf(uint64_t(pc.c));
  FOR_EACH(i, pc.M * n4s) {
    const uint n4 = i % n4s, t = i / n4s;
    const uint tx = t % tw, ty = (t / tw) % th, n = t / tw / th;
    vec4 g[2][2], e[4][2];
    [[unroll]] for (uint r = 0; r < 2; ++r)
      [[unroll]] for (uint q = 0; q < 2; ++q) {
        const uint oh = 2 * ty + r, ow = 2 * tx + q;
        g[r][q] = oh < pc.out_h && ow < pc.out_w
                      ? vec4(dy.v[((n * pc.out_h + oh) * pc.out_w + ow) * n4s + n4])
                      : vec4(0.0);
      }
    [[unroll]] for (uint q = 0; q < 2; ++q) {  // A g
      e[0][q] = g[0][q];
      e[1][q] = g[0][q] + g[1][q];
      e[2][q] = g[0][q] - g[1][q];
      e[3][q] = -g[1][q];
    }
    [[unroll]] for (uint r = 0; r < 4; ++r) {  // (A g) A^T
      const uint base = (r * 4 * pc.M + t) * n4s + n4, step = pc.M * n4s;
      dd.v[base] = e[r][0];
      dd.v[base + step] = e[r][0] + e[r][1];
      dd.v[base + 2 * step] = e[r][0] - e[r][1];
      dd.v[base + 3 * step] = -e[r][1];
    }
  }
#elif defined(WINO_WGRAD_OUT)
  // dw[r][q][k][n] = (G^T M G)[r][q] with M[xi] the sum of the k_chunk
  // slices P[xi][slice][k][n], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
  // With a bias address: the bias gradient side[n] = the sum over slices of
  // bias[(5 * slices + slice) * out_c + n] (the column sums of D[5]).
  const uint n4s = pc.out_c / 4, mn4 = pc.in_c * n4s, slices = pc.k_chunk;
  F4Buf part = F4Buf(uint64_t(pc.a));
  if (uint64_t(pc.bias) != 0) {
    F4Buf dsums = F4Buf(uint64_t(pc.bias));
    TOBuf db = TOBuf(uint64_t(pc.side));
    FOR_EACH(n4, n4s) {
      vec4 sum = vec4(0.0);
      for (uint z = 0; z < slices; ++z) sum += dsums.v[(5 * slices + z) * n4s + n4];
      [[unroll]] for (uint j = 0; j < 4; ++j) db.v[n4 * 4 + j] = TO(sum[j]);
    }
  }
  FOR_EACH(i, mn4) {
    vec4 m[4][4], t[3][4];
    [[unroll]] for (uint xi = 0; xi < 16; ++xi) {
      vec4 sum = vec4(0.0);
      for (uint z = 0; z < slices; ++z) sum += part.v[(xi * slices + z) * mn4 + i];
      m[xi / 4][xi % 4] = sum;
    }
    [[unroll]] for (uint q = 0; q < 4; ++q) {  // G^T M
      t[0][q] = m[0][q] + 0.5 * (m[1][q] + m[2][q]);
      t[1][q] = 0.5 * (m[1][q] - m[2][q]);
      t[2][q] = 0.5 * (m[1][q] + m[2][q]) + m[3][q];
    }
    const uint n4 = i % n4s, k = i / n4s;
    [[unroll]] for (uint r = 0; r < 3; ++r) {  // (G^T M) G
      const vec4 w[3] = vec4[3](t[r][0] + 0.5 * (t[r][1] + t[r][2]), 0.5 * (t[r][1] - t[r][2]),
                                0.5 * (t[r][1] + t[r][2]) + t[r][3]);
      [[unroll]] for (uint q = 0; q < 3; ++q) {
        const uint o = ((r * 3 + q) * pc.in_c + k) * pc.out_c + n4 * 4;
        [[unroll]] for (uint j = 0; j < 4; ++j) pc.c.v[o + j] = TO(w[q][j]);
      }
    }
  }
#else  // WINO_OUT: y = A^T M A (+ epilogue) of tile t, channels n4 * 4 ..
  const uint n4s = pc.out_c / 4, tw = (pc.out_w + 1) / 2, th = (pc.out_h + 1) / 2;
  F4Buf mm = F4Buf(uint64_t(pc.a));
  FOR_EACH(i, pc.M * n4s) {
    const uint n4 = i % n4s, t = i / n4s;
    const uint tx = t % tw, ty = (t / tw) % th, n = t / tw / th;
    vec4 s[2][4];
    [[unroll]] for (int q = 0; q < 4; ++q) {  // A^T M
      const uint base = (uint(q) * pc.M + t) * n4s + n4, step = 4 * pc.M * n4s;
      const vec4 m0 = mm.v[base], m1 = mm.v[base + step], m2 = mm.v[base + 2 * step],
                 m3 = mm.v[base + 3 * step];
      s[0][q] = m0 + m1 + m2;
      s[1][q] = m1 - m2 - m3;
    }
    [[unroll]] for (uint r = 0; r < 2; ++r) {  // (A^T M) A
      const uint oh = 2 * ty + r;
      if (oh >= pc.out_h) continue;
      [[unroll]] for (uint q = 0; q < 2; ++q) {
        const uint ow = 2 * tx + q;
        if (ow >= pc.out_w) continue;
        const vec4 y = q == 0 ? s[r][0] + s[r][1] + s[r][2] : s[r][1] - s[r][2] - s[r][3];
        const uint o = ((n * pc.out_h + oh) * pc.out_w + ow) * pc.out_c + n4 * 4;
        [[unroll]] for (uint j = 0; j < 4; ++j) pc.c.v[o + j] = TO(fwd_epilogue(y[j], n4 * 4 + j, o + j));
      }
    }
  }
#endif
}
#else

#ifndef BM
#define BM 64
#endif
#ifndef BN
#define BN 64
#endif
#ifndef BK
#define BK 16
#endif
// Invocations per tile row / column: 16 x 16, or 8 (N) x 32 (M) for BN = 32.
#if BN >= 64
#define TX 16
#else
#define TX 8
#endif
#define TY (256 / TX)
#if BM * BK < 1024 || BN * BK < 256 || BM % (4 * TY) != 0 || BN % (4 * TX) != 0 || BK % 4 != 0
#error "tile: BM a multiple of 4 * TY, BN of 4 * TX, BM * BK >= 1024, BN * BK >= 256"
#endif

layout(push_constant) uniform Push {
  TBuf a;  // FWD: x      BWD_INPUT: dy   BWD_FILTER: x
  TBuf b;  // FWD: w      BWD_INPUT: w    BWD_FILTER: dy
  TOBuf c;  // FWD: y     BWD_INPUT: dx   BWD_FILTER: dw (or float partial sums)
  uint M, K;  // N is out_c, or in_c for BWD_INPUT
  uint in_c, out_c;
  uint in_d, in_h, in_w;
  uint out_d, out_h, out_w;
  uint k_d, k_h, k_w;
  uint stride_dil_d, stride_dil_h, stride_dil_w;  // stride | dilation << 16
  int pad_d, pad_h, pad_w;  // leading padding
  uint k_chunk;
  uint flags;
  float alpha;
  TBuf bias;  // FWD: bias (read); BWD_FILTER: the bias gradient (written, TO)
  TBuf side;
} pc;

#ifdef BWD_INPUT
#define GEMM_N pc.in_c
#else
#define GEMM_N pc.out_c
#endif
// Which operand dimension is contiguous (the 4 elements an invocation loads).
#if defined(BWD_FILTER)
#define A_ALONG_M
#endif
#if defined(BWD_INPUT)
#define B_ALONG_K
#endif

uvec3 in_dims() { return DIMS3(pc.in_d, pc.in_h, pc.in_w); }
uvec3 out_dims() { return DIMS3(pc.out_d, pc.out_h, pc.out_w); }
uvec3 k_dims() { return DIMS3(pc.k_d, pc.k_h, pc.k_w); }
uvec3 strides() { return DIMS3(pc.stride_dil_d & 0xffffu, pc.stride_dil_h & 0xffffu, pc.stride_dil_w & 0xffffu); }
uvec3 dilations() { return DIMS3(pc.stride_dil_d >> 16, pc.stride_dil_h >> 16, pc.stride_dil_w >> 16); }
ivec3 pads() { return ivec3(IF_3D(pc.pad_d, 0), pc.pad_h, pc.pad_w); }
bool chans_first() { return (pc.flags & 0x100u) != 0; }

const uint TM = BM / TY, TN = BN / TX;  // an invocation's block
// vec4s per invocation; B_ELEMS < 256 (BN = 32): only the first B_ELEMS
// invocations load B.
const uint A_LOADS = BM * BK / 1024, B_ELEMS = BN * BK / 4, B_LOADS = (B_ELEMS + 255) / 256;
#if BN * BK < 1024
#define B_SKIP(e) if ((e) >= B_ELEMS) continue
#else
#define B_SKIP(e)
#endif
const uint KQ = BK / 4;
shared vec4 As[2][BK][BM / 4];
shared vec4 Bs[2][BK][BN / 4];

// --- general gathers (any rank, layout, channel count) -----------------------------
float load_a(uint m, uint k) {
#if defined(FWD) || defined(BWD_FILTER)
  // x[n, o * s - p + kp * d, ci]; FWD: m = (n, o), k = (kp, ci); BWD_FILTER: swapped
#ifdef FWD
  const uint on = m, kc = k;
#else
  const uint on = k, kc = m;
#endif
  const uint ci = kc % pc.in_c;
  const uvec3 kp = spatial_pos(kc / pc.in_c, k_dims());
  uvec3 o;
  const uint n = split_pos(on, out_dims(), o);
  const ivec3 ip = ivec3(o * strides() + kp * dilations()) - pads();
  if (!inside(ip, in_dims())) return 0.0;
  return float(pc.a.v[act_index(chans_first(), n, uvec3(ip), ci, in_dims(), pc.in_c)]);
#else  // BWD_INPUT: m = (n, i), k = (kp, co): dy[n, o, co] where i = o * s - p + kp * d
  const uint co = k % pc.out_c;
  const uvec3 kp = spatial_pos(k / pc.out_c, k_dims());
  uvec3 ip;
  const uint n = split_pos(m, in_dims(), ip);
  const ivec3 t = ivec3(ip) + pads() - ivec3(kp * dilations());
  const ivec3 s = ivec3(strides());
  if (any(lessThan(t, ivec3(0))) || any(notEqual(t % s, ivec3(0)))) return 0.0;
  const uvec3 o = uvec3(t / s);
  if (any(greaterThanEqual(o, out_dims()))) return 0.0;
  return float(pc.a.v[act_index(chans_first(), n, o, co, out_dims(), pc.out_c)]);
#endif
}

float load_b(uint k, uint n) {
#if defined(FWD)
  return float(pc.b.v[k * pc.out_c + n]);  // w[kp, ci, co], k = (kp, ci)
#elif defined(BWD_INPUT)
  // k = (kp, co), n = ci: w[kp, ci, co]
  const uint co = k % pc.out_c, kp = k / pc.out_c;
  return float(pc.b.v[(kp * pc.in_c + n) * pc.out_c + co]);
#else
  // dy[(n, o), co]
  uvec3 o;
  const uint b = split_pos(k, out_dims(), o);
  return float(pc.b.v[act_index(chans_first(), b, o, n, out_dims(), pc.out_c)]);
#endif
}

// Where C[m, n] goes: activations in their layout, filters [kp, ci, co].
uint out_index(uint m, uint n) {
  uvec3 p;
#if defined(FWD)
  const uint b = split_pos(m, out_dims(), p);
  return act_index(chans_first(), b, p, n, out_dims(), pc.out_c);
#elif defined(BWD_INPUT)
  const uint b = split_pos(m, in_dims(), p);
  return act_index(chans_first(), b, p, n, in_dims(), pc.in_c);
#else
  return (gl_WorkGroupID.z * pc.M + m) * GEMM_N + n;  // K slice z
#endif
}

#ifdef FWD
// _FusedConv2D's epilogue of C[m, n] (output channel n, stored at y[o]);
// flags bit 9: `side` is a folded BatchNorm's table.
float fwd_epilogue(float v, uint n, uint o) {
  const bool bn = (pc.flags & 0x200u) != 0;
  return tf_epilogue(v, n, o, uint64_t(pc.bias), bn ? 0ul : uint64_t(pc.side),
                     bn ? uint64_t(pc.side) : 0ul, pc.flags & 0xffu, pc.alpha);
}
#endif

#ifdef VEC4
layout(buffer_reference, std430, buffer_reference_align = 8) buffer T4Buf { T4 v[]; };
#endif

// --- the per-invocation load state -----------------------------------------------
// Tile views: A along K: [BM rows][KQ quads]; A along M: [BK][BM/4 quads];
// B along N: [BK][BN/4]; B along K: [BN columns][KQ quads]. Element e = tid +
// r * 256 of a view is what an invocation loads in its r-th load.
uint tid;
uint64_t a_addr, b_addr;  // the operands (BATCHED: of this workgroup's GEMM)
uint k_cur;  // first K index of the tile being loaded
uint gM;     // this workgroup's GEMM's M (PHASED: its phase's)
#ifdef PHASED
// This workgroup's stride phase: its first input row/column i0, rows and
// columns q (i = i0 + q * s), taps along w, the first taps (ph, pw), and
// the offset c of o = q + c - t.
uint ph_ih0, ph_iw0, ph_qh, ph_qw, ph_tw, ph_h0, ph_w0;
int ph_ch, ph_cw;
#define TAPS_W ph_tw
// dx's row (n, i0 + qh * s, iw0 + qw * s) of GEMM row m = (n, qh, qw).
uint phase_row(uint m) {
  const uint qw = m % ph_qw, t = m / ph_qw, qh = t % ph_qh, b = t / ph_qh;
  return (b * pc.in_h + ph_ih0 + qh * (pc.stride_dil_h & 0xffffu)) * pc.in_w + ph_iw0 +
         qw * (pc.stride_dil_w & 0xffffu);
}
#else
#define TAPS_W pc.k_w
#endif
vec4 ra[A_LOADS], rb[B_LOADS];
#ifdef VEC4
#if defined(FWD) || defined(BWD_INPUT)
// The (tap, channel) of K index k_cur + q * 4 (q = tid % KQ): kh, kw, c
// (c = ci for FWD, co for BWD_INPUT) and the tap kp = kh * k_w + kw.
uint s_kh, s_kw, s_kc, s_kp;
// A's rows: FWD: n * in_h * in_w and the window origin o * s - p; BWD_INPUT:
// n * out_h * out_w and i + p.
uint r_base[A_LOADS];
int r_h[A_LOADS], r_w[A_LOADS];
bool r_ok[A_LOADS];
#else  // BWD_FILTER
// A: this invocation's 4 filter rows m..m+3 (one tap, channels ci..ci+3);
// K positions (n, oh, ow) of k_cur + kk for each load.
#ifdef A1  // rows m + j: each its own tap and channel
int f_h[4], f_w[4];
uint f_ci[4];
bool f_ok[4];
#else
int f_h, f_w;  // kh * d - p, kw * d - p
uint f_ci;
bool f_ok;
#endif
uint s_n[A_LOADS], s_oh[A_LOADS], s_ow[A_LOADS];
#endif
#endif

void init_state(uint m0, uint k_begin) {
  k_cur = k_begin;
#ifdef VEC4
#if defined(FWD) || defined(BWD_INPUT)
#ifdef FWD
  const uint CH = pc.in_c;
#else
  const uint CH = pc.out_c;
#endif
  const uint k = k_begin + (tid % KQ) * 4;
  s_kp = k / CH;
  s_kc = k - s_kp * CH;
  s_kh = s_kp / TAPS_W;
  s_kw = s_kp - s_kh * TAPS_W;
  [[unroll]] for (uint r = 0; r < A_LOADS; ++r) {
    const uint m = m0 + (tid + r * 256) / KQ;
    r_ok[r] = m < gM;
#ifdef FWD
    const uint ow = m % pc.out_w, t = m / pc.out_w, oh = t % pc.out_h, n = t / pc.out_h;
    r_base[r] = n * pc.in_h * pc.in_w;
    r_h[r] = int(oh * (pc.stride_dil_h & 0xffffu)) - pc.pad_h;
    r_w[r] = int(ow * (pc.stride_dil_w & 0xffffu)) - pc.pad_w;
#elif defined(PHASED)
    const uint qw = m % ph_qw, t = m / ph_qw, qh = t % ph_qh, n = t / ph_qh;
    r_base[r] = n * pc.out_h * pc.out_w;
    r_h[r] = int(qh) + ph_ch;
    r_w[r] = int(qw) + ph_cw;
#else
    const uint iw = m % pc.in_w, t = m / pc.in_w, ih = t % pc.in_h, n = t / pc.in_h;
    r_base[r] = n * pc.out_h * pc.out_w;
    r_h[r] = int(ih) + pc.pad_h;
    r_w[r] = int(iw) + pc.pad_w;
#endif
  }
#else  // BWD_FILTER
  const uint m = m0 + (tid % (BM / 4)) * 4;
#ifdef A1
  [[unroll]] for (uint j = 0; j < 4; ++j) {
    f_ok[j] = m + j < pc.M;
    const uint tap = (m + j) / pc.in_c, kh = tap / pc.k_w, kw = tap - kh * pc.k_w;
    f_ci[j] = m + j - tap * pc.in_c;
    f_h[j] = int(kh * (pc.stride_dil_h >> 16)) - pc.pad_h;
    f_w[j] = int(kw * (pc.stride_dil_w >> 16)) - pc.pad_w;
  }
#else
  f_ok = m < pc.M;
  const uint tap = m / pc.in_c, kh = tap / pc.k_w, kw = tap - kh * pc.k_w;
  f_ci = m - tap * pc.in_c;
  f_h = int(kh * (pc.stride_dil_h >> 16)) - pc.pad_h;
  f_w = int(kw * (pc.stride_dil_w >> 16)) - pc.pad_w;
#endif
  [[unroll]] for (uint r = 0; r < A_LOADS; ++r) {
    const uint k = k_begin + (tid + r * 256) / (BM / 4);
    s_ow[r] = k % pc.out_w;
    const uint t = k / pc.out_w;
    s_oh[r] = t % pc.out_h;
    s_n[r] = t / pc.out_h;
  }
#endif
#endif
}

// Steps the state from k_cur to k_cur + BK.
void advance() {
  k_cur += BK;
#ifdef VEC4
#if defined(FWD) || defined(BWD_INPUT)
#ifdef FWD
  const uint CH = pc.in_c;
#else
  const uint CH = pc.out_c;
#endif
  s_kc += BK;
  while (s_kc >= CH) {
    s_kc -= CH;
    ++s_kp;
    if (++s_kw == TAPS_W) {
      s_kw = 0;
      ++s_kh;
    }
  }
#else
  [[unroll]] for (uint r = 0; r < A_LOADS; ++r) {
    s_ow[r] += BK;
    while (s_ow[r] >= pc.out_w) {
      s_ow[r] -= pc.out_w;
      if (++s_oh[r] == pc.out_h) {
        s_oh[r] = 0;
        ++s_n[r];
      }
    }
  }
#endif
#endif
}

// Loads the tile at k_cur into ra / rb (zeros outside C's range or the slice).
void load_tile(uint m0, uint n0, uint k_end) {
#ifdef VEC4
  T4Buf a4 = T4Buf(a_addr), b4 = T4Buf(b_addr);
#if defined(FWD) || defined(BWD_INPUT)
  const uint k = k_cur + (tid % KQ) * 4;
  const bool k_ok = k < k_end;
  const uint dh = pc.stride_dil_h >> 16, dw = pc.stride_dil_w >> 16;
#if defined(FWD) && defined(A1)
  // K indices k + j: each its own (tap, channel)
  int a1_h[4], a1_w[4];
  uint a1_c[4];
  bool a1_ok[4];
  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const uint kj = k + j, tap = kj / pc.in_c, kh = tap / pc.k_w;
    a1_ok[j] = kj < k_end;
    a1_c[j] = kj - tap * pc.in_c;
    a1_h[j] = int(kh * dh);
    a1_w[j] = int((tap - kh * pc.k_w) * dw);
  }
  [[unroll]] for (uint r = 0; r < A_LOADS; ++r) {
    ra[r] = vec4(0.0);
    if (!r_ok[r]) continue;
    [[unroll]] for (uint j = 0; j < 4; ++j) {
      const int ih = r_h[r] + a1_h[j], iw = r_w[r] + a1_w[j];
      if (!a1_ok[j] || ih < 0 || iw < 0 || ih >= int(pc.in_h) || iw >= int(pc.in_w)) continue;
      ra[r][j] = float(pc.a.v[(r_base[r] + uint(ih) * pc.in_w + uint(iw)) * pc.in_c + a1_c[j]]);
    }
  }
#else
  [[unroll]] for (uint r = 0; r < A_LOADS; ++r) {
    ra[r] = vec4(0.0);
    if (!k_ok || !r_ok[r]) continue;
#ifdef FWD
    const int ih = r_h[r] + int(s_kh * dh), iw = r_w[r] + int(s_kw * dw);
    if (ih < 0 || iw < 0 || ih >= int(pc.in_h) || iw >= int(pc.in_w)) continue;
    ra[r] = vec4(a4.v[((r_base[r] + uint(ih) * pc.in_w + uint(iw)) * pc.in_c + s_kc) >> 2]);
#elif defined(PHASED)
    const int oh = r_h[r] - int(s_kh), ow = r_w[r] - int(s_kw);
    if (oh < 0 || ow < 0 || oh >= int(pc.out_h) || ow >= int(pc.out_w)) continue;
    ra[r] = vec4(a4.v[((r_base[r] + uint(oh) * pc.out_w + uint(ow)) * pc.out_c + s_kc) >> 2]);
#else
    int oh = r_h[r] - int(s_kh * dh), ow = r_w[r] - int(s_kw * dw);
    const int sh = int(pc.stride_dil_h & 0xffffu), sw = int(pc.stride_dil_w & 0xffffu);
    if (oh < 0 || ow < 0) continue;
    if (sh != 1 || sw != 1) {
      if (oh % sh != 0 || ow % sw != 0) continue;
      oh /= sh;
      ow /= sw;
    }
    if (oh >= int(pc.out_h) || ow >= int(pc.out_w)) continue;
    ra[r] = vec4(a4.v[((r_base[r] + uint(oh) * pc.out_w + uint(ow)) * pc.out_c + s_kc) >> 2]);
#endif
  }
#endif  // A1
#ifdef FWD
  [[unroll]] for (uint r = 0; r < B_LOADS; ++r) {  // w[k, n], along n
    const uint e = tid + r * 256, kk = e / (BN / 4), n = n0 + (e % (BN / 4)) * 4;
    B_SKIP(e);
    const uint kb = k_cur + kk;
    rb[r] = (kb < k_end && n < GEMM_N) ? vec4(b4.v[(kb * pc.out_c + n) >> 2]) : vec4(0.0);
  }
#else
#ifdef PHASED  // the phase's tap (ph + s_kh * s, pw + s_kw * s)
  const uint kp = (ph_h0 + s_kh * (pc.stride_dil_h & 0xffffu)) * pc.k_w + ph_w0 +
                  s_kw * (pc.stride_dil_w & 0xffffu);
#else
  const uint kp = s_kp;
#endif
  [[unroll]] for (uint r = 0; r < B_LOADS; ++r) {  // w[kp, ci = n, co], along co
    B_SKIP(tid + r * 256);
    const uint n = n0 + (tid + r * 256) / KQ;
    rb[r] = (k_ok && n < GEMM_N)
                ? vec4(b4.v[((kp * pc.in_c + n) * pc.out_c + s_kc) >> 2])
                : vec4(0.0);
  }
#endif
#else  // BWD_FILTER
  const uint sh = pc.stride_dil_h & 0xffffu, sw = pc.stride_dil_w & 0xffffu;
  [[unroll]] for (uint r = 0; r < A_LOADS; ++r) {  // x[n, oh * s + f_h, ow * s + f_w, ci], along ci
    const uint k = k_cur + (tid + r * 256) / (BM / 4);
    ra[r] = vec4(0.0);
#ifdef A1
    if (k >= k_end) continue;
    [[unroll]] for (uint j = 0; j < 4; ++j) {
      const int ih = int(s_oh[r] * sh) + f_h[j], iw = int(s_ow[r] * sw) + f_w[j];
      if (!f_ok[j] || ih < 0 || iw < 0 || ih >= int(pc.in_h) || iw >= int(pc.in_w)) continue;
      ra[r][j] = float(pc.a.v[((s_n[r] * pc.in_h + uint(ih)) * pc.in_w + uint(iw)) * pc.in_c + f_ci[j]]);
    }
#else
    if (!f_ok || k >= k_end) continue;
    const int ih = int(s_oh[r] * sh) + f_h, iw = int(s_ow[r] * sw) + f_w;
    if (ih < 0 || iw < 0 || ih >= int(pc.in_h) || iw >= int(pc.in_w)) continue;
    ra[r] = vec4(a4.v[(((s_n[r] * pc.in_h + uint(ih)) * pc.in_w + uint(iw)) * pc.in_c + f_ci) >> 2]);
#endif
  }
  [[unroll]] for (uint r = 0; r < B_LOADS; ++r) {  // dy[k, n], along n
    const uint e = tid + r * 256, kk = e / (BN / 4), n = n0 + (e % (BN / 4)) * 4;
    B_SKIP(e);
    const uint kb = k_cur + kk;
    rb[r] = (kb < k_end && n < GEMM_N) ? vec4(b4.v[(kb * pc.out_c + n) >> 2]) : vec4(0.0);
  }
#endif
#else  // general: 4 scalar gathers per load
  [[unroll]] for (uint r = 0; r < A_LOADS; ++r) {
    const uint e = tid + r * 256;
#ifdef A_ALONG_M
    const uint k = k_cur + e / (BM / 4), m = m0 + (e % (BM / 4)) * 4;
    [[unroll]] for (uint j = 0; j < 4; ++j)
      ra[r][j] = (m + j < pc.M && k < k_end) ? load_a(m + j, k) : 0.0;
#else
    const uint m = m0 + e / KQ, k = k_cur + (e % KQ) * 4;
    [[unroll]] for (uint j = 0; j < 4; ++j)
      ra[r][j] = (m < pc.M && k + j < k_end) ? load_a(m, k + j) : 0.0;
#endif
  }
  [[unroll]] for (uint r = 0; r < B_LOADS; ++r) {
    const uint e = tid + r * 256;
    B_SKIP(e);
#ifdef B_ALONG_K
    const uint n = n0 + e / KQ, k = k_cur + (e % KQ) * 4;
    [[unroll]] for (uint j = 0; j < 4; ++j)
      rb[r][j] = (n < GEMM_N && k + j < k_end) ? load_b(k + j, n) : 0.0;
#else
    const uint k = k_cur + e / (BN / 4), n = n0 + (e % (BN / 4)) * 4;
    [[unroll]] for (uint j = 0; j < 4; ++j)
      rb[r][j] = (n + j < GEMM_N && k < k_end) ? load_b(k, n + j) : 0.0;
#endif
  }
#endif
}

void store_tile(uint buf) {
  [[unroll]] for (uint r = 0; r < A_LOADS; ++r) {
    const uint e = tid + r * 256;
#ifdef A_ALONG_M
    As[buf][e / (BM / 4)][e % (BM / 4)] = ra[r];
#else
    const uint m = e / KQ, kq = (e % KQ) * 4;
    [[unroll]] for (uint j = 0; j < 4; ++j) As[buf][kq + j][m >> 2][m & 3u] = ra[r][j];
#endif
  }
  [[unroll]] for (uint r = 0; r < B_LOADS; ++r) {
    const uint e = tid + r * 256;
    B_SKIP(e);
#ifdef B_ALONG_K
    const uint n = e / KQ, kq = (e % KQ) * 4;
    [[unroll]] for (uint j = 0; j < 4; ++j) Bs[buf][kq + j][n >> 2][n & 3u] = rb[r][j];
#else
    Bs[buf][e / (BN / 4)][e % (BN / 4)] = rb[r];
#endif
  }
}

void main() {
  tid = gl_LocalInvocationIndex;
  a_addr = uint64_t(pc.a);
  b_addr = uint64_t(pc.b);
  const uint tx = tid % TX, ty = tid / TX;
  gM = pc.M;
#if defined(BWD_FILTER) && defined(BATCHED)
  // z = xi * slices + part: Winograd's filter-gradient GEMM xi (float
  // operands V[xi] = [K, in_c], D[xi] = [K, out_c]) over K slice `part`; C
  // slice z is P[xi][part].
  const uint slices = (pc.K + pc.k_chunk - 1) / pc.k_chunk, xi = gl_WorkGroupID.z / slices;
  const uint part = gl_WorkGroupID.z % slices, slice = gl_WorkGroupID.z, m0 = gl_WorkGroupID.y * BM;
  const uint k_begin = part * pc.k_chunk, k_end = min(k_begin + pc.k_chunk, pc.K);
  a_addr += uint64_t(xi) * pc.K * pc.in_c * 4u;
  b_addr += uint64_t(xi) * pc.K * pc.out_c * 4u;
#elif defined(BWD_FILTER)
  const uint slice = gl_WorkGroupID.z, m0 = gl_WorkGroupID.y * BM;
  const uint k_begin = slice * pc.k_chunk, k_end = min(k_begin + pc.k_chunk, pc.K);
#elif defined(BATCHED)  // z: GEMM z of a batch of dense [M, K] x [K, N] (Winograd's 16)
  const uint slice = gl_WorkGroupID.z, m0 = gl_WorkGroupID.y * BM;
  const uint k_begin = 0, k_end = pc.K;
  a_addr += uint64_t(slice) * pc.M * pc.K * 4u;  // float operands
  b_addr += uint64_t(slice) * pc.K * GEMM_N * 4u;
#elif defined(PHASED)  // z: the stride phase (ph, pw); y: its M tiles
  const uint sh = pc.stride_dil_h & 0xffffu, sw = pc.stride_dil_w & 0xffffu;
  const uint ph = gl_WorkGroupID.z / sw, pw = gl_WorkGroupID.z % sw;
  ph_ih0 = uint(((int(ph) - pc.pad_h) % int(sh) + int(sh)) % int(sh));
  ph_iw0 = uint(((int(pw) - pc.pad_w) % int(sw) + int(sw)) % int(sw));
  ph_qh = ph_ih0 < pc.in_h ? (pc.in_h - ph_ih0 + sh - 1) / sh : 0;
  ph_qw = ph_iw0 < pc.in_w ? (pc.in_w - ph_iw0 + sw - 1) / sw : 0;
  const uint taps_h = ph < pc.k_h ? (pc.k_h - ph + sh - 1) / sh : 0;
  ph_tw = pw < pc.k_w ? (pc.k_w - pw + sw - 1) / sw : 0;
  ph_h0 = ph;
  ph_w0 = pw;
  ph_ch = (int(ph_ih0) + pc.pad_h - int(ph)) / int(sh);
  ph_cw = (int(ph_iw0) + pc.pad_w - int(pw)) / int(sw);
  gM = pc.M / (pc.in_h * pc.in_w) * ph_qh * ph_qw;
  const uint slice = 0, m0 = gl_WorkGroupID.y * BM;
  const uint k_begin = 0, k_end = taps_h * ph_tw * pc.out_c;
  if (m0 >= gM) return;  // a phase with fewer rows (uniform: no barrier skipped)
#else  // z extends y (more than 65535 M tiles); K is not split
  const uint slice = 0, m0 = (gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * BM;
  const uint k_begin = 0, k_end = pc.K;
  if (m0 >= pc.M) return;  // the last z row's spare workgroups (uniform: no barrier skipped)
#endif
  const uint n0 = gl_WorkGroupID.x * BN;
  vec4 acc[TM][TN / 4];
  [[unroll]] for (uint i = 0; i < TM; ++i)
    [[unroll]] for (uint j = 0; j < TN / 4; ++j) acc[i][j] = vec4(0.0);
  const uint ntiles = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
#ifdef BWD_FILTER
  // BiasAddGrad: the first M tile's workgroups also sum their B (dy) tiles.
  const bool want_db = uint64_t(pc.bias) != 0 && gl_WorkGroupID.y == 0;
  vec4 dsum[B_LOADS];
  [[unroll]] for (uint r = 0; r < B_LOADS; ++r) dsum[r] = vec4(0.0);
#endif
  if (ntiles > 0) {
    init_state(m0, k_begin);
    load_tile(m0, n0, k_end);
#ifdef BWD_FILTER
    if (want_db)
      [[unroll]] for (uint r = 0; r < B_LOADS; ++r) dsum[r] += rb[r];
#endif
    store_tile(0);
  }
  barrier();
  for (uint t = 0; t < ntiles; ++t) {
    const uint cur = t & 1u;
    const bool more = t + 1 < ntiles;
    if (more) {
      advance();
      load_tile(m0, n0, k_end);  // in flight during the multiply below
#ifdef BWD_FILTER
      if (want_db)
        [[unroll]] for (uint r = 0; r < B_LOADS; ++r) dsum[r] += rb[r];
#endif
    }
    [[unroll]] for (uint kk = 0; kk < BK; ++kk) {
      vec4 av[TM / 4], bv[TN / 4];
      [[unroll]] for (uint g = 0; g < TM / 4; ++g) av[g] = As[cur][kk][g * TY + ty];
      [[unroll]] for (uint g = 0; g < TN / 4; ++g) bv[g] = Bs[cur][kk][g * TX + tx];
      [[unroll]] for (uint g = 0; g < TM / 4; ++g)
        [[unroll]] for (uint i = 0; i < 4; ++i)
          [[unroll]] for (uint h = 0; h < TN / 4; ++h) acc[g * 4 + i][h] += av[g][i] * bv[h];
    }
    if (more) store_tile(cur ^ 1u);
    barrier();
  }
  // C[m, n] for m = m0 + g * 4 * TY + ty * 4 + i, n = n0 + h * 4 * TX + tx * 4 + j.
  [[unroll]] for (uint g = 0; g < TM / 4; ++g)
    [[unroll]] for (uint i = 0; i < 4; ++i) {
      const uint m = m0 + g * (4 * TY) + ty * 4 + i;
      if (m >= gM) continue;
#ifdef PHASED
      const uint row = phase_row(m);
#else
      const uint row = slice * pc.M + m;
#endif
      [[unroll]] for (uint h = 0; h < TN / 4; ++h)
        [[unroll]] for (uint j = 0; j < 4; ++j) {
          const uint n = n0 + h * (4 * TX) + tx * 4 + j;
          if (n >= GEMM_N) continue;
#ifdef VEC4  // channels last: C is row-major [M, N] (per K slice)
          const uint o = row * GEMM_N + n;
#else
          const uint o = out_index(m, n);
#endif
          pc.c.v[o] = TO(acc[g * 4 + i][h][j]);
        }
    }
#if defined(FWD) && !defined(BATCHED)
  // _FusedConv2D's epilogue, applied to the values this invocation just
  // stored (program order makes them visible to it). A second pass, so that
  // the loops over acc stay plain stores: with the epilogue inlined in them,
  // NVIDIA's compiler (driver 580) kept acc in local memory (the driver's
  // statistics: 256 bytes at 128x128) and the whole convolution ran ~10x
  // slower.
  if (uint64_t(pc.bias) != 0 || uint64_t(pc.side) != 0 || (pc.flags & 0xffu) != 0) {
    for (uint e = 0; e < TM * TN; ++e) {
      const uint m = m0 + (e / TN / 4) * (4 * TY) + ty * 4 + (e / TN) % 4;
      const uint n = n0 + ((e % TN) / 4) * (4 * TX) + tx * 4 + e % 4;
      if (m >= pc.M || n >= GEMM_N) continue;
#ifdef VEC4
      const uint o = m * GEMM_N + n;
#else
      const uint o = out_index(m, n);
#endif
      pc.c.v[o] = TO(fwd_epilogue(float(pc.c.v[o]), n, o));
    }
  }
#endif
#ifdef BWD_FILTER
  if (want_db) {  // column sums of this slice's dy: over the BK rows of the B view
    [[unroll]] for (uint r = 0; r < B_LOADS; ++r) {
      const uint e = tid + r * 256;
      B_SKIP(e);
      Bs[0][e / (BN / 4)][e % (BN / 4)] = dsum[r];
    }
    barrier();
    if (tid < BN / 4) {
      vec4 s = vec4(0.0);
      [[unroll]] for (uint kk = 0; kk < BK; ++kk) s += Bs[0][kk][tid];
      TOBuf db = TOBuf(uint64_t(pc.bias));
      [[unroll]] for (uint j = 0; j < 4; ++j) {
        const uint n = n0 + tid * 4 + j;
        if (n < GEMM_N) db.v[slice * GEMM_N + n] = TO(s[j]);
      }
    }
  }
#endif
}
#endif
