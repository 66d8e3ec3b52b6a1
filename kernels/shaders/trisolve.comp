#version 450
// MatrixTriangularSolve by blocks of rows (kernels/linalg.cc drives it).
//
// In "forward coordinates" u, v every case is a lower-triangular solve
// T x = b with T[u][v] = M[p(u)][p(v)], where M is the matrix or its
// transpose (F_ADJ) and p(u) = n-1-u when M is upper triangular (F_REV).
// Rows [r0, r1) are one block:
//   update (one invocation per batch, row and column), v0 < v1 <= r0 in
//   chunks (one dispatch each) that keep the loop bounded whatever n:
//     x[u] = (v0 == 0 ? b[u] : x[u]) - sum_{v0 <= v < v1} T[u][v] x[v]
//   solve (one invocation per batch and column), in place:
//     x[u] = (x[u] - sum_{r0 <= v < u} T[u][v] x[v]) * (1 / T[u][u])
// (a reciprocal, as Eigen's solver on the CPU: a zero diagonal gives inf/nan).
// Loops stay bounded: the update's by the chunk, the solve's by the block size.
// Batch dims: up to 4 (collapsed by the host) with a stride per operand, 0
// where it broadcasts.
#include "common.glsl"
layout(local_size_x = 256) in;

const uint F_ADJ = 1u;
const uint F_REV = 2u;
const uint F_SOLVE = 4u;

layout(push_constant) uniform Push {
  TBuf a;  // [.., n, n]
  TBuf b;  // [.., n, ncols]
  TBuf x;  // [batch, n, ncols]
  uint count;
  uint n;
  uint ncols;
  uint r0;
  uint r1;
  uint v0;
  uint v1;
  uint flags;
  uint rank;
  uint dims[4];
  uint a_stride[4];  // elements between matrices along each batch dim
  uint b_stride[4];
} pc;

uint perm(uint u) { return (pc.flags & F_REV) != 0u ? pc.n - 1u - u : u; }

C tri(uint a_off, uint u, uint v) {
  const uint r = perm(u), c = perm(v);
  return C((pc.flags & F_ADJ) != 0u ? pc.a.v[a_off + c * pc.n + r] : pc.a.v[a_off + r * pc.n + c]);
}

void main() {
  const bool solve = (pc.flags & F_SOLVE) != 0u;
  const uint rows = solve ? 1u : pc.r1 - pc.r0;
  FOR_EACH(e, pc.count) {
    const uint col = e % pc.ncols;
    const uint t = e / pc.ncols;
    const uint z = t / rows;
    uint a_off = 0u, b_off = 0u, rem = z;
    for (int d = int(pc.rank) - 1; d >= 0; --d) {
      const uint k = rem % pc.dims[d];
      rem /= pc.dims[d];
      a_off += k * pc.a_stride[d];
      b_off += k * pc.b_stride[d];
    }
    const uint x_off = z * pc.n * pc.ncols + col;
    if (!solve) {
      const uint u = pc.r0 + t % rows;
      C s = C(pc.v0 == 0u ? pc.b.v[b_off + perm(u) * pc.ncols + col] : pc.x.v[x_off + perm(u) * pc.ncols]);
      for (uint v = pc.v0; v < pc.v1; ++v) s -= tri(a_off, u, v) * C(pc.x.v[x_off + perm(v) * pc.ncols]);
      pc.x.v[x_off + perm(u) * pc.ncols] = T(s);
    } else {
      for (uint u = pc.r0; u < pc.r1; ++u) {
        C s = C(pc.x.v[x_off + perm(u) * pc.ncols]);
        for (uint v = pc.r0; v < u; ++v) s -= tri(a_off, u, v) * C(pc.x.v[x_off + perm(v) * pc.ncols]);
        pc.x.v[x_off + perm(u) * pc.ncols] = T(s * tf_div(C(1), tri(a_off, u, u)));
      }
    }
  }
}
