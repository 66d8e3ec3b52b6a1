#version 450
// The second pass of a split-K GEMM (matmul.comp with splits > 1): C = act(sum
// over the splits of the float partial sums + bias[n]), stored as T. Partials
// are [batch][splits][pmn] with pmn = M * N, or (M + 1) * N where row M holds
// the split sums of _TfmpMatMulBiasGrad's column sums (written to grad).
// C entry z starts at z * c_batch.
#include "common.glsl"
#include "epilogue.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer FIn { float v[]; };
layout(push_constant) uniform Push {
  FIn p;
  TBuf c;
  TBuf bias;
  TBuf grad;
  uint mn, n;  // M * N, N
  uint batch, splits;
  uint c_batch;
  uint act;
  float alpha;
  uint pmn;  // partial elements per split
} pc;

void main() {
  FOR_EACH(i, pc.batch * pc.pmn) {
    const uint z = i / pc.pmn, e = i % pc.pmn;
    const uint base = z * pc.splits * pc.pmn + e;
    float s = 0.0;
    for (uint k = 0; k < pc.splits; ++k) s += pc.p.v[base + k * pc.pmn];
    if (e >= pc.mn) {  // a column sum
      pc.grad.v[e - pc.mn] = T(s);
      continue;
    }
    if (uint64_t(pc.bias) != 0) s += float(pc.bias.v[e % pc.n]);
    pc.c.v[z * pc.c_batch + e] = T(tf_activation(s, pc.act, pc.alpha));
  }
}
