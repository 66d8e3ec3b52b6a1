#version 450
// Dense optimizer updates (ResourceApply*), in place: each element of the
// variable and its slots is read, updated by the op's formula and written
// back. The build defines per variant (variants.py, APPLY):
//   LOAD     declarations of the slots after var (s1..s3), e.g. "precise C m = SLOT(s1);"
//   SCALARS  declarations of the scalar inputs (k0..k5), e.g. "C lr = SCALAR(k0);"
//   UPDATE   the formula: statements updating var and the slots
//   STORE    the slot stores, e.g. "PUT(s1, m);"
// Scalars (lr, beta1_power, ...) are device tensors read here, never on the
// host. The formulas follow TF's CPU functors (training_ops.cc) operation by
// operation: R() rounds each float16 intermediate as Eigen's half arithmetic
// does, and `precise` keeps drivers from contracting a * b + c into an fma,
// which the CPU never does.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  TBuf var;
  TBuf s1;
  TBuf s2;
  TBuf s3;
  TBuf grad;
  TBuf k0;
  TBuf k1;
  TBuf k2;
  TBuf k3;
  TBuf k4;
  TBuf k5;
  uint n;
  uint flags;  // bit 0: use_nesterov, bit 1: update_slots
} pc;

#define R(x) ROUND_T(x)
#define NESTEROV ((pc.flags & 1u) != 0u)
#define UPDATE_SLOTS ((pc.flags & 2u) != 0u)
#define SLOT(s) C(pc.s.v[i])
#define SCALAR(k) C(pc.k.v[0])
#define PUT(s, x) pc.s.v[i] = T(x)
// std::max / std::min argument order (Eigen's cwiseMax/cwiseMin): a NaN in
// the first argument is kept, one in the second is not.
#define CWISE_MAX(a, b) ((a) < (b) ? (b) : (a))
#define DIV(a, b) tf_div(a, b)
#define SQRT(x) tf_sqrt(x)
#define RSQRT(x) tf_rsqrt(x)

void main() {
  SCALARS
  FOR_EACH(i, pc.n) {
    precise C var = C(pc.var.v[i]);
    const C g = C(pc.grad.v[i]);
    LOAD
    UPDATE
    pc.var.v[i] = T(var);
    STORE
  }
}
