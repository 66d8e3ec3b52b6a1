#version 450
// A reduction (COMBINE with identity INIT: sum, prod, max, min, all, any; the
// Mean divides the sum) of x over its reduced elements, for each output.
// Three layouts (`mode`), chosen by the host (kernels/reduction.cc):
//
// mode 0 (generic): the host collapses dims to at most 3 kept and 3 reduced
// groups; the input offset of an element is sum(coord_d * stride_d). The
// reduced range of every output is cut into `chunks` chunks of `chunk_len`
// elements; workgroup w reduces chunk (w % chunks) of output (w / chunks)
// with a tree and writes y[w]. mode 3: the same offsets, one invocation per
// output.
//
// mode 1 (rows): x is [n_out, n_red], reduced along its rows. Job j = (row
// j / chunks, chunk j % chunks of chunk_len elements); `lanes` invocations (a
// power of two) share a job, 256 / lanes jobs per workgroup, each lane reading
// every lanes-th element of the chunk, or with vec != 0 (x's address a
// multiple of 4 elements) every lanes-th 4-vector, `vec` (1, 2 or 4) loads in
// flight per step, the chunk's unaligned head and tail (at most 3 elements
// each) as elements; then a tree in shared memory. y[j] is the job's result.
// (float16 rows as 16-byte words of eight halves measured 3x slower on the
// H200 than half-vectors: 0.123-0.159 ms against 0.049-0.050 for [16384,
// 4096], 2026-12-02 reports; removed.)
//
// mode 2 (columns): x is [outer, n_red, inner], reduced along the middle dim;
// y is [outer, inner]. A job is a strip of `lanes` x (4 with vec != 0, else
// 1) columns of one outer index and a slab of `chunk_len` rows (`chunks`
// slabs): `lanes` x (256 / lanes) invocations (vec != 0: four adjacent
// columns each, `vec` rows' loads in flight per step) read whole row
// segments (coalesced), each summing its rows; then a tree over the
// invocations of a column. y[(slab * outer + o) * inner + column].
//
// PRO variants (reduce_sum_<pro>_<in>_to_<out>: the Grappler pass's
// Sum/Mean of a Mul or SquaredDifference that nothing else reads,
// kernels/reduction.cc FusedReductionOp) reduce pro(x, b) instead of x, where
// b's element for x's flat index i is b[i] (b_len 0: b has x's shape),
// b[i / b_len] (b_len > 0: x's rows, b [..., 1]) or b[i % -b_len] (b_len <
// 0: b a vector along x's last dim). Each product is computed and rounded
// to T as the standalone kernel (binary.comp) would write it, `precise` (no
// fma with the sum), so the result is the unfused pair's, bit for bit, in
// the same layouts. Only a first pass has the prologue.
//
// With chunks > 1 the host reduces the partial results again (a second
// dispatch with the accumulator type as input), so no invocation loops long:
// fast on GPUs, and inside lavapipe's limit on loop iterations. Sums are
// blocked (each invocation's run, four interleaved accumulators for vectors,
// then trees), deterministic (no atomics; the order depends only on shapes).
// The accumulator is float for float16 inputs (as TF's GPU kernels do).
#extension GL_EXT_control_flow_attributes : enable
#include "common.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = TFMP_ALIGN4(T)) buffer TBuf4 { TFMP_VEC4(T) v[]; };
layout(push_constant) uniform Push {
  TBuf x;
  TOBuf y;
  uint n_out;
  uint n_red;
  uint kept_rank, red_rank;
  uint kshape[3], kstride[3];
  uint rshape[3], rstride[3];
  uint mean;     // divide the total by `divisor` (Mean; 0/0 is NaN, as on the CPU)
  uint divisor;
  uint chunks, chunk_len;
  uint mode;     // 0 generic, 1 rows, 2 columns, 3 generic with one invocation per output
  uint lanes;    // mode 1: invocations per job; mode 2: invocations across a strip
  uint vec;      // modes 1 and 2: 4-vector loads (1, 2 or 4 in flight)
  uint outer, inner;  // mode 2
  int b_len;     // PRO variants: how b broadcasts (above)
  TBuf b;        // PRO variants: the prologue's second operand
} pc;

shared ACC partial[1024];

uint offset_of(uint idx, uint rank, uint shape[3], uint stride[3]) {
  uint off = 0;
  for (int d = int(rank) - 1; d >= 0; --d) {
    off += (idx % shape[d]) * stride[d];
    idx /= shape[d];
  }
  return off;
}

TO finish(ACC s) {
  if (pc.mean != 0) s = s / ACC(pc.divisor);
  return TO(s);
}

TO result(ACC s) { return pc.chunks > 1 ? TO(s) : finish(s); }

// x's element i and 4-vector q, through the prologue in PRO variants.
#ifdef PRO
C pro(C a, C b) {
  precise C r = PRO;
  return r;
}
T b_at(uint i) {
  return pc.b.v[pc.b_len > 0 ? i / uint(pc.b_len) : pc.b_len < 0 ? i % uint(-pc.b_len) : i];
}
ACC ld(uint i) { return ACC(T(pro(C(pc.x.v[i]), C(b_at(i))))); }
TFMP_VEC4(T) ld4(uint q) {
  const TFMP_VEC4(T) a = TBuf4(pc.x).v[q];
  // b_len 0 with vec != 0: the host checked that b is aligned as x is.
  const TFMP_VEC4(T) b = pc.b_len == 0 ? TBuf4(pc.b).v[q]
                                       : TFMP_VEC4(T)(b_at(4 * q), b_at(4 * q + 1), b_at(4 * q + 2), b_at(4 * q + 3));
  return TFMP_VEC4(T)(T(pro(C(a.x), C(b.x))), T(pro(C(a.y), C(b.y))), T(pro(C(a.z), C(b.z))),
                      T(pro(C(a.w), C(b.w))));
}
#else
ACC ld(uint i) { return ACC(pc.x.v[i]); }
TFMP_VEC4(T) ld4(uint q) { return TBuf4(pc.x).v[q]; }
#endif

// Combines a 4-vector's lanes into four interleaved accumulators.
void add4(inout ACC a, inout ACC b, inout ACC c, inout ACC d, TFMP_VEC4(T) v) {
  a = COMBINE(a, ACC(v.x));
  b = COMBINE(b, ACC(v.y));
  c = COMBINE(c, ACC(v.z));
  d = COMBINE(d, ACC(v.w));
}

void generic() {
  if (pc.mode == 3) {
    FOR_EACH(o, pc.n_out) {
      uint base = offset_of(o, pc.kept_rank, pc.kshape, pc.kstride);
      ACC s = INIT;
      for (uint r = 0; r < pc.n_red; ++r)
        s = COMBINE(s, ld(base + offset_of(r, pc.red_rank, pc.rshape, pc.rstride)));
      pc.y.v[o] = finish(s);
    }
    return;
  }
  const uint t = gl_LocalInvocationID.x;
  const uint jobs = pc.n_out * pc.chunks;
  for (uint w = gl_WorkGroupID.x; w < jobs; w += gl_NumWorkGroups.x) {
    const uint o = w / pc.chunks, c = w % pc.chunks;
    const uint base = offset_of(o, pc.kept_rank, pc.kshape, pc.kstride);
    const uint begin = c * pc.chunk_len, end = min(begin + pc.chunk_len, pc.n_red);
    ACC s = INIT;
    for (uint r = begin + t; r < end; r += 256)
      s = COMBINE(s, ld(base + offset_of(r, pc.red_rank, pc.rshape, pc.rstride)));
    partial[t] = s;
    barrier();
    for (uint h = 128; h > 0; h >>= 1) {
      if (t < h) partial[t] = COMBINE(partial[t], partial[t + h]);
      barrier();
    }
    if (t == 0) pc.y.v[w] = result(partial[0]);
    barrier();
  }
}

void rows() {
  const uint t = gl_LocalInvocationID.x;
  const uint lanes = pc.lanes, lane = t & (lanes - 1), per_group = 256 / lanes;
  const uint jobs = pc.n_out * pc.chunks;
  for (uint j0 = gl_WorkGroupID.x * per_group; j0 < jobs; j0 += gl_NumWorkGroups.x * per_group) {
    const uint j = j0 + t / lanes;
    ACC s = INIT;
    if (j < jobs) {
      const uint row = j / pc.chunks, c = j % pc.chunks;
      const uint begin = c * pc.chunk_len, end = min(begin + pc.chunk_len, pc.n_red);
      const uint base = row * pc.n_red;
      if (pc.vec != 0) {  // the address is a multiple of 4 elements; a row may start anywhere
        const uint b = base + begin, e = base + end;
        const uint head = min(e - b, (4u - (b & 3u)) & 3u);  // elements before the first 4-vector
        for (uint i = b + lane; i < b + head; i += lanes) s = COMBINE(s, ld(i));
        for (uint i = max(e & ~3u, b + head) + lane; i < e; i += lanes) s = COMBINE(s, ld(i));
        ACC s1 = INIT, s2 = INIT, s3 = INIT;
        uint q = ((b + head) >> 2) + lane;
        const uint qend = e >> 2;
        if (pc.vec == 4)
          for (; q + 3 * lanes < qend; q += 4 * lanes) {  // four loads in flight
            TFMP_VEC4(T) v[4];
            [[unroll]] for (uint k = 0; k < 4; ++k) v[k] = ld4(q + k * lanes);
            [[unroll]] for (uint k = 0; k < 4; ++k) add4(s, s1, s2, s3, v[k]);
          }
        if (pc.vec >= 2)
          for (; q + lanes < qend; q += 2 * lanes) {  // two loads in flight
            TFMP_VEC4(T) v = ld4(q), u = ld4(q + lanes);
            add4(s, s1, s2, s3, v);
            add4(s, s1, s2, s3, u);
          }
        for (; q < qend; q += lanes) add4(s, s1, s2, s3, ld4(q));
        s = COMBINE(COMBINE(s, s1), COMBINE(s2, s3));
      } else {  // four independent loads per step (memory-level parallelism)
        ACC s1 = INIT, s2 = INIT, s3 = INIT;
        const uint stop = base + end;
        uint r = base + begin + lane;
        for (; r + 3 * lanes < stop; r += 4 * lanes) {
          s = COMBINE(s, ld(r));
          s1 = COMBINE(s1, ld(r + lanes));
          s2 = COMBINE(s2, ld(r + 2 * lanes));
          s3 = COMBINE(s3, ld(r + 3 * lanes));
        }
        for (; r < stop; r += lanes) s = COMBINE(s, ld(r));
        s = COMBINE(COMBINE(s, s1), COMBINE(s2, s3));
      }
    }
    partial[t] = s;
    barrier();
    for (uint h = lanes >> 1; h > 0; h >>= 1) {
      if (lane < h) partial[t] = COMBINE(partial[t], partial[t + h]);
      barrier();
    }
    if (lane == 0 && j < jobs) pc.y.v[j] = result(partial[t]);
    barrier();
  }
}

void columns() {
  const uint t = gl_LocalInvocationID.x;
  const uint vw = pc.vec != 0 ? 4 : 1, cx = pc.lanes, cy = 256 / cx, width = cx * vw;
  const uint lx = t % cx, ly = t / cx;
  const uint strips = (pc.inner + width - 1) / width;
  const uint jobs = pc.outer * strips * pc.chunks;
  for (uint w = gl_WorkGroupID.x; w < jobs; w += gl_NumWorkGroups.x) {
    const uint strip = w % strips, o = (w / strips) % pc.outer, slab = w / (strips * pc.outer);
    const uint col = strip * width + lx * vw;  // this invocation's first column
    const uint begin = slab * pc.chunk_len, end = min(begin + pc.chunk_len, pc.n_red);
    ACC s0 = INIT, s1 = INIT, s2 = INIT, s3 = INIT;
    if (col < pc.inner) {
      uint off = (o * pc.n_red + begin + ly) * pc.inner + col;
      const uint step = cy * pc.inner;
      if (pc.vec != 0) {  // inner and the address are multiples of 4 elements
        uint r = begin + ly;
        if (pc.vec == 4)
          for (; r + 3 * cy < end; r += 4 * cy, off += 4 * step) {  // four rows' loads in flight
            TFMP_VEC4(T) v[4];
            [[unroll]] for (uint k = 0; k < 4; ++k) v[k] = ld4((off + k * step) >> 2);
            [[unroll]] for (uint k = 0; k < 4; ++k) add4(s0, s1, s2, s3, v[k]);
          }
        if (pc.vec >= 2)
          for (; r + cy < end; r += 2 * cy, off += 2 * step) {  // two loads in flight
            TFMP_VEC4(T) v = ld4(off >> 2), u = ld4((off + step) >> 2);
            add4(s0, s1, s2, s3, v);
            add4(s0, s1, s2, s3, u);
          }
        for (; r < end; r += cy, off += step) add4(s0, s1, s2, s3, ld4(off >> 2));
      } else {  // four independent loads per step (memory-level parallelism)
        ACC t1 = INIT, t2 = INIT, t3 = INIT;
        uint r = begin + ly;
        for (; r + 3 * cy < end; r += 4 * cy, off += 4 * step) {
          s0 = COMBINE(s0, ld(off));
          t1 = COMBINE(t1, ld(off + step));
          t2 = COMBINE(t2, ld(off + 2 * step));
          t3 = COMBINE(t3, ld(off + 3 * step));
        }
        for (; r < end; r += cy, off += step) s0 = COMBINE(s0, ld(off));
        s0 = COMBINE(COMBINE(s0, t1), COMBINE(t2, t3));
      }
    }
    // partial[ly * width + column in the strip]
    const uint p = ly * width + lx * vw;
    partial[p] = s0;
    if (vw == 4) {
      partial[p + 1] = s1;
      partial[p + 2] = s2;
      partial[p + 3] = s3;
    }
    barrier();
    for (uint h = cy >> 1; h > 0; h >>= 1) {
      if (ly < h)
        for (uint k = 0; k < vw; ++k) partial[p + k] = COMBINE(partial[p + k], partial[p + k + h * width]);
      barrier();
    }
    if (ly == 0) {
      const uint dst = (slab * pc.outer + o) * pc.inner;
      for (uint k = 0; k < vw; ++k)
        if (col + k < pc.inner) pc.y.v[dst + col + k] = result(partial[p + k]);
    }
    barrier();
  }
}

void main() {
  if (pc.mode == 1) rows();
  else if (pc.mode == 2) columns();
  else generic();  // modes 0 and 3
}
