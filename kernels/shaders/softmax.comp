#version 450
// Softmax / LogSoftmax over the last dimension, in float (also for float16).
// `lanes` invocations (a power of two) share a row, 256 / lanes rows per
// workgroup; vec = 1 (cols and the addresses multiples of 4 elements): lanes
// read 4-vectors. Rows of at most lanes * CACHE loads are read once, kept in
// registers: max, then the sum of exp(x - max), then the outputs (TF's
// formula). Longer rows take two reads: a running (max, sum) per lane
// ("online softmax": the sum rescaled when the max grows), merged across
// lanes, then the outputs; with vec = 2 (4-vectors; the host's choice for
// such rows) UNROLL loads in flight per lane in both reads.
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : enable
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = TFMP_ALIGN4(T)) buffer TBuf4 { TFMP_VEC4(T) v[]; };
layout(push_constant) uniform Push {
  TBuf x;
  TBuf y;
  uint rows;
  uint cols;
  uint lanes;
  uint vec;
} pc;

#define CACHE 8
#define UNROLL 8u
#ifdef SMALL
// Short rows (softmax_small_<dtype>, lanes = 0; cols <= SMALL = 16): 256 rows per
// workgroup staged through shared memory: coalesced (4-vector where vec = 1)
// loads of the rows' cols * 256 consecutive elements, one invocation per row
// (max, sum of exp(x - max), outputs in place), coalesced stores.
shared float tile[256 * SMALL];
#else
shared float red[256];
shared float red2[256];
#endif

#ifndef SMALL
// The max / sum of v over the lanes of this invocation's row.
float seg_max(float v, uint lane, uint lanes) {
  const uint t = gl_LocalInvocationID.x;
  red[t] = v;
  barrier();
  for (uint h = lanes >> 1; h > 0; h >>= 1) {
    if (lane < h) red[t] = max(red[t], red[t + h]);
    barrier();
  }
  float r = red[t - lane];
  barrier();
  return r;
}

float seg_sum(float v, uint lane, uint lanes) {
  const uint t = gl_LocalInvocationID.x;
  red[t] = v;
  barrier();
  for (uint h = lanes >> 1; h > 0; h >>= 1) {
    if (lane < h) red[t] += red[t + h];
    barrier();
  }
  float r = red[t - lane];
  barrier();
  return r;
}

// s * exp(m - to), with an empty sum (s = 0, m = -inf) staying 0.
float rescale(float s, float m, float to) { return s == 0.0 ? 0.0 : s * exp(m - to); }

// Merges the running (max, sum) pairs of the lanes of a row.
void seg_merge(inout float m, inout float s, uint lane, uint lanes) {
  const uint t = gl_LocalInvocationID.x;
  red[t] = m;
  red2[t] = s;
  barrier();
  for (uint h = lanes >> 1; h > 0; h >>= 1) {
    if (lane < h) {
      float m1 = red[t], m2 = red[t + h];
      float mm = max(m1, m2);
      red2[t] = rescale(red2[t], m1, mm) + rescale(red2[t + h], m2, mm);
      red[t] = mm;
    }
    barrier();
  }
  m = red[t - lane];
  s = red2[t - lane];
  barrier();
}

#endif

vec4 load(uint base, uint q) {  // load q of the row starting at element base
  if (pc.vec != 0) return vec4(TBuf4(pc.x).v[(base >> 2) + q]);
  return vec4(float(pc.x.v[base + q]), -INF_F, -INF_F, -INF_F);
}

void store(uint base, uint q, vec4 v) {
  if (pc.vec != 0) {
    TBuf4(pc.y).v[(base >> 2) + q] = TFMP_VEC4(T)(v);
  } else {
    pc.y.v[base + q] = T(v.x);
  }
}

// The row's outputs from x, its max m and sum s.
vec4 outputs(vec4 x, float m, float s) {
#ifdef LOG
  return x - m - log(s);
#else
  return exp(x - m) / s;
#endif
}

#ifdef SMALL
float output1(float x, float m, float s) {
#ifdef LOG
  return x - m - log(s);
#else
  return exp(x - m) / s;
#endif
}

void main() {
  const uint t = gl_LocalInvocationID.x, cols = pc.cols;
  TBuf4 x4 = TBuf4(pc.x), y4 = TBuf4(pc.y);
  for (uint r0 = gl_WorkGroupID.x * 256; r0 < pc.rows; r0 += gl_NumWorkGroups.x * 256) {
    const uint nrows = min(256u, pc.rows - r0);
    const uint base = r0 * cols, count = nrows * cols;  // base: a multiple of 4
    const uint n4 = pc.vec != 0 ? count >> 2 : 0;
    for (uint i = t; i < n4; i += 256) {
      const vec4 v = vec4(x4.v[(base >> 2) + i]);
      tile[4 * i] = v.x;
      tile[4 * i + 1] = v.y;
      tile[4 * i + 2] = v.z;
      tile[4 * i + 3] = v.w;
    }
    for (uint i = 4 * n4 + t; i < count; i += 256) tile[i] = float(pc.x.v[base + i]);
    barrier();
    if (t < nrows) {
      const uint o = t * cols;
      float m = -INF_F;
      for (uint c = 0; c < cols; ++c) m = max(m, tile[o + c]);
      float s = 0.0;
      for (uint c = 0; c < cols; ++c) s += exp(tile[o + c] - m);
      // exp again rather than kept in the tile and scaled by 1 / s: that
      // measured slower on the H200 ([1048576, 10]: 0.0387-0.0389 ms in four
      // processes against 0.0373-0.0375, 2026-12-02 13:39-14:19); so did the
      // row in registers (float v[SMALL], unrolled, each exp once): 0.0392-
      // 0.0393 ms in three processes at full clock (16:50 run).
      for (uint c = 0; c < cols; ++c) tile[o + c] = output1(tile[o + c], m, s);
    }
    barrier();
    for (uint i = t; i < n4; i += 256)
      y4.v[(base >> 2) + i] = TFMP_VEC4(T)(vec4(tile[4 * i], tile[4 * i + 1], tile[4 * i + 2], tile[4 * i + 3]));
    for (uint i = 4 * n4 + t; i < count; i += 256) pc.y.v[base + i] = T(tile[i]);
    barrier();
  }
}
#else
void main() {
  const uint t = gl_LocalInvocationID.x;
  const uint lanes = pc.lanes, lane = t & (lanes - 1), per_group = 256 / lanes;
  const uint nv = pc.vec != 0 ? pc.cols >> 2 : pc.cols;  // loads per row
  const uint width = pc.vec != 0 ? 4 : 1;
  for (uint r0 = gl_WorkGroupID.x * per_group; r0 < pc.rows; r0 += gl_NumWorkGroups.x * per_group) {
    const uint row = r0 + t / lanes;
    const bool live = row < pc.rows;
    const uint base = row * pc.cols;
    if (nv <= lanes * CACHE) {
      vec4 v[CACHE];
      float m = -INF_F;
      [[unroll]] for (uint k = 0; k < CACHE; ++k) {
        const uint q = lane + k * lanes;
        v[k] = live && q < nv ? load(base, q) : vec4(-INF_F);
        m = max(m, max(max(v[k].x, v[k].y), max(v[k].z, v[k].w)));
      }
      m = seg_max(m, lane, lanes);
      float s = 0.0;
      [[unroll]] for (uint k = 0; k < CACHE; ++k) {
        const uint q = lane + k * lanes;
        if (live && q < nv) {
          vec4 e = exp(v[k] - m);
          s += width == 4 ? (e.x + e.y) + (e.z + e.w) : e.x;
        }
      }
      s = seg_sum(s, lane, lanes);
      [[unroll]] for (uint k = 0; k < CACHE; ++k) {
        const uint q = lane + k * lanes;
        if (live && q < nv) store(base, q, outputs(v[k], m, s));
      }
    } else if (pc.vec == 2) {
      // Long rows, 4-vectors, UNROLL loads in flight per lane: a running (max,
      // sum) per block of UNROLL vectors (the sum rescaled when the max grows;
      // NaN or +inf make it NaN, as the per-element path), then the outputs,
      // again UNROLL loads before the stores.
      float m = -INF_F, s = 0.0;
      uint q = lane;
      for (; live && q + (UNROLL - 1) * lanes < nv; q += UNROLL * lanes) {
        vec4 v[UNROLL];
        [[unroll]] for (uint k = 0; k < UNROLL; ++k) v[k] = load(base, q + k * lanes);
        float mb = m;
        [[unroll]] for (uint k = 0; k < UNROLL; ++k) mb = max(mb, max(max(v[k].x, v[k].y), max(v[k].z, v[k].w)));
        if (mb != -INF_F) {
          float sb = 0.0;
          [[unroll]] for (uint k = 0; k < UNROLL; ++k) {
            const vec4 e = exp(v[k] - mb);
            sb += (e.x + e.y) + (e.z + e.w);
          }
          s = rescale(s, m, mb) + sb;
          m = mb;
        }
      }
      for (; live && q < nv; q += lanes) {
        const vec4 v = load(base, q);
        const float mb = max(m, max(max(v.x, v.y), max(v.z, v.w)));
        if (mb != -INF_F) {
          const vec4 e = exp(v - mb);
          s = rescale(s, m, mb) + ((e.x + e.y) + (e.z + e.w));
          m = mb;
        }
      }
      seg_merge(m, s, lane, lanes);
      q = lane;
      for (; live && q + (UNROLL - 1) * lanes < nv; q += UNROLL * lanes) {
        vec4 v[UNROLL];
        [[unroll]] for (uint k = 0; k < UNROLL; ++k) v[k] = load(base, q + k * lanes);
        [[unroll]] for (uint k = 0; k < UNROLL; ++k) store(base, q + k * lanes, outputs(v[k], m, s));
      }
      for (; live && q < nv; q += lanes) store(base, q, outputs(load(base, q), m, s));
    } else {
      float m = -INF_F, s = 0.0;
      for (uint q = lane; live && q < nv; q += lanes) {
        vec4 v = load(base, q);
        for (uint c = 0; c < width; ++c) {
          const float xc = v[c];
          if (xc > m) {
            s = rescale(s, m, xc) + exp(xc - xc);  // exp(0) = 1; NaN for x = +inf, as TF's sum
            m = xc;
          } else if (xc != -INF_F) {
            s += exp(xc - m);
          }
        }
      }
      seg_merge(m, s, lane, lanes);
      for (uint q = lane; live && q < nv; q += lanes) store(base, q, outputs(load(base, q), m, s));
    }
  }
}
#endif
