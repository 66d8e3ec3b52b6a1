#version 450
// C[b] = A[b] x B[b], a 64x64 output tile per workgroup, each of the 16x16
// invocations computing a 4x4 block; accumulation in float. Operands are read
// through strides, so transposes cost nothing: A[m, k] = a[m * a_m + k * a_k].
// Epilogue (_FusedMatMul): C = act(BN(A x B + bias[n])) with act an
// epilogue.glsl code; bias and bn (a folded BatchNorm's table) are used when
// their address is not 0. K may be 0 (C = act(bias)).
#include "common.glsl"
#include "epilogue.glsl"
layout(local_size_x = 16, local_size_y = 16) in;
layout(push_constant) uniform Push {
  TBuf a;
  TBuf b;
  TBuf c;
  uint M, N, K;
  uint a_m, a_k, b_k, b_n;
  uint a_batch, b_batch, c_batch;  // element strides between batch entries
  TBuf bias;
  uint act;
  float alpha;
  uint64_t bn;  // a folded BatchNorm's table (epilogue.glsl), or 0
} pc;

const uint TILE = 64;
const uint BK = 16;
shared float As[BK][TILE];
shared float Bs[BK][TILE];

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint tid = ty * 16 + tx;
  const uint m0 = gl_WorkGroupID.y * TILE, n0 = gl_WorkGroupID.x * TILE;
  const uint ab = gl_WorkGroupID.z * pc.a_batch, bb = gl_WorkGroupID.z * pc.b_batch;
  float acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0;

  for (uint k0 = 0; k0 < pc.K; k0 += BK) {
    for (uint r = 0; r < 4; ++r) {
      const uint e = tid + r * 256;
      const uint kk = e / TILE, mm = e % TILE;
      const uint m = m0 + mm, k = k0 + kk, n = n0 + mm;
      As[kk][mm] = (m < pc.M && k < pc.K) ? float(pc.a.v[ab + m * pc.a_m + k * pc.a_k]) : 0.0;
      Bs[kk][mm] = (n < pc.N && k < pc.K) ? float(pc.b.v[bb + k * pc.b_k + n * pc.b_n]) : 0.0;
    }
    barrier();
    for (uint kk = 0; kk < BK; ++kk) {
      float av[4], bv[4];
      for (int i = 0; i < 4; ++i) av[i] = As[kk][ty + 16 * i];
      for (int j = 0; j < 4; ++j) bv[j] = Bs[kk][tx + 16 * j];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
    }
    barrier();
  }
  const uint cb = gl_WorkGroupID.z * pc.c_batch;
  for (int i = 0; i < 4; ++i) {
    const uint m = m0 + ty + 16 * i;
    if (m >= pc.M) continue;
    for (int j = 0; j < 4; ++j) {
      const uint n = n0 + tx + 16 * j;
      if (n >= pc.N) continue;
      const uint o = cb + m * pc.N + n;
      pc.c.v[o] = T(tf_epilogue(acc[i][j], n, o, uint64_t(pc.bias), 0ul, pc.bn, pc.act, pc.alpha));
    }
  }
}
