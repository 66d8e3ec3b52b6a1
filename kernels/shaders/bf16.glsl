// bfloat16 kept as its 16 bits (uint16_t storage) and computed in float, with
// Eigen's conversion: round to nearest even, NaN to a quiet NaN of its sign.
float tf_bf16_to_float(uint b) { return uintBitsToFloat(b << 16); }
uint tf_float_to_bf16(float f) {
  const uint x = floatBitsToUint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (x >> 16) | 0x7fc0u;
  return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}
// f rounded to the nearest bfloat16, kept as a float.
float tf_round_bf16(float f) { return tf_bf16_to_float(tf_float_to_bf16(f)); }
