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
