// The fused epilogue of the contraction kernels (conv.comp,
// depthwise_conv.comp, matmul.comp): the activation that _FusedConv2D,
// _FusedDepthwiseConv2dNative and _FusedMatMul apply after the bias, by the
// codes of kernels/epilogue.h. Include after common.glsl.

float tf_activation(float v, uint code, float alpha) {
  switch (code) {
    case 1u: return tf_relu(v);                                     // Relu
    case 2u: return clamp(v, 0.0, 6.0);                             // Relu6
    case 3u: return tf_elu(v);                                      // Elu
    case 4u: return v < 0.0 ? v * alpha : v;                        // LeakyRelu
    case 5u: return tf_tanh(v);                                     // Tanh
    case 6u: return tf_sigmoid(v);                                  // Sigmoid
    case 7u: return 0.5 * v * tf_erfc(-v * 0.70710678118654752);    // GeluExact
    case 8u:                                                        // GeluApproximate
      return 0.5 * v * (1.0 + tf_tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    case 9u: return v * tf_sigmoid(v);                              // Swish
    default: return v;
  }
}

// An inference BatchNormalization folded into the epilogue (fused_ops
// FusedBatchNorm [, Add]): `bn` is the address of a table of 11 words that
// kernels/epilogue.h uploads: the device addresses (lo, hi) of the float32
// scale, offset, mean and variance vectors, epsilon's float bits, then the
// address of a tensor added after it (a residual, of the output's shape and
// T storage; 0: none). Per output channel n, as TF's FusedBatchNorm and
// tf.nn.batch_normalization compute it: inv = rsqrt(variance + epsilon) *
// scale, y = v * inv + (offset - mean * inv) [+ residual[o]].
// EPI_BUF: the buffer type of bias, side and the residual (the shader's T
// storage unless it defines another first: conv.comp's output type TO).
#ifndef EPI_BUF
#define EPI_BUF TBuf
#endif
layout(buffer_reference, std430, buffer_reference_align = 4) buffer EpiWords { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer EpiFloats { float v[]; };

float tf_epilogue_bn_vec(EpiWords t, uint i, uint n) {
  return EpiFloats(uint64_t(t.v[2u * i]) | (uint64_t(t.v[2u * i + 1u]) << 32)).v[n];
}

float tf_batch_norm(float v, uint n, uint o, uint64_t bn) {
  EpiWords t = EpiWords(bn);
  const float inv = tf_rsqrt(tf_epilogue_bn_vec(t, 3u, n) + uintBitsToFloat(t.v[8])) *
                    tf_epilogue_bn_vec(t, 0u, n);
  v = v * inv + (tf_epilogue_bn_vec(t, 1u, n) - tf_epilogue_bn_vec(t, 2u, n) * inv);
  const uint64_t residual = uint64_t(t.v[9]) | (uint64_t(t.v[10]) << 32);
  if (residual != 0ul) v += float(EPI_BUF(residual).v[o]);
  return v;
}

// The whole epilogue of a contraction's output element (channel n, flat
// index o): act(BN(v + bias[n] + side[o])), each step only where its address
// is not 0 (EPI_BUF storage for bias, side and BN's residual).
float tf_epilogue(float v, uint n, uint o, uint64_t bias, uint64_t side, uint64_t bn, uint act,
                  float alpha) {
  if (bias != 0ul) v += float(EPI_BUF(bias).v[n]);
  if (side != 0ul) v += float(EPI_BUF(side).v[o]);
  if (bn != 0ul) v = tf_batch_norm(v, n, o, bn);
  return tf_activation(v, act, alpha);
}
