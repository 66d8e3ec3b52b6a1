// Shared declarations for every compute shader. Tensors arrive as buffer
// device addresses in push constants (GL_EXT_buffer_reference): no descriptor
// sets. The build defines, per variant (kernels/shaders/variants.py):
//   T   storage type of the input elements (float, float16_t, int, int64_t, uint8_t)
//   C   compute type (float16 is computed in float, as TF's CPU kernels do)
//   TO  storage type of the output elements (defaults to T)
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types : require
#extension GL_EXT_shader_16bit_storage : enable
#extension GL_EXT_shader_8bit_storage : enable
#extension GL_EXT_spirv_intrinsics : require

// Keep NaN, infinities and signed zeros through float32 arithmetic
// (SPV_KHR_float_controls): without it drivers may fold x < 0 ? 0 : x into a
// NaN-dropping max (the H100's does), where TF's kernels keep NaN.
spirv_execution_mode(extensions = ["SPV_KHR_float_controls"], capabilities = [4466], 4461, 32);
#ifdef TFMP_FP16
// float -> float16 conversions round to nearest even, as on the CPU (Vulkan
// leaves the mode to the driver; the H100's truncates).
spirv_execution_mode(extensions = ["SPV_KHR_float_controls"], capabilities = [4467], 4462, 16);
#endif

#ifndef TO
#define TO T
#endif

// Tensors are aligned to their element size (TF's allocations are, and so are
// its slices): the buffer references say so, since drivers may split loads and
// stores they believe underaligned. TFMP_ALIGN_OF(type) is a type's size in bytes.
#define TFMP_ALIGN_uint8_t 1
#define TFMP_ALIGN_int8_t 1
#define TFMP_ALIGN_uint16_t 2
#define TFMP_ALIGN_int16_t 2
#define TFMP_ALIGN_float16_t 2
#define TFMP_ALIGN_float 4
#define TFMP_ALIGN_int 4
#define TFMP_ALIGN_uint 4
#define TFMP_ALIGN_int64_t 8
#define TFMP_ALIGN_uint64_t 8
#define TFMP_ALIGN_vec2 8
#define TFMP_ALIGN_OF_(t) TFMP_ALIGN_##t
#define TFMP_ALIGN_OF(t) TFMP_ALIGN_OF_(t)
layout(buffer_reference, std430, buffer_reference_align = TFMP_ALIGN_OF(T)) buffer TBuf { T v[]; };
layout(buffer_reference, std430, buffer_reference_align = TFMP_ALIGN_OF(TO)) buffer TOBuf { TO v[]; };
// Four elements at once (vector loads and stores) where a shader opts in:
// TFMP_VEC4(type) is the 4-vector of a scalar storage type, aligned to 4 elements.
#define TFMP_VEC4_uint8_t u8vec4
#define TFMP_VEC4_int8_t i8vec4
#define TFMP_VEC4_uint16_t u16vec4
#define TFMP_VEC4_int16_t i16vec4
#define TFMP_VEC4_float16_t f16vec4
#define TFMP_VEC4_float vec4
#define TFMP_VEC4_int ivec4
#define TFMP_VEC4_uint uvec4
#define TFMP_VEC4_int64_t i64vec4
#define TFMP_VEC4_uint64_t u64vec4
#define TFMP_VEC4_(t) TFMP_VEC4_##t
#define TFMP_VEC4(t) TFMP_VEC4_(t)
#define TFMP_ALIGN4_1 4
#define TFMP_ALIGN4_2 8
#define TFMP_ALIGN4_4 16
#define TFMP_ALIGN4_8 32
#define TFMP_ALIGN4__(a) TFMP_ALIGN4_##a
#define TFMP_ALIGN4_(a) TFMP_ALIGN4__(a)
#define TFMP_ALIGN4(t) TFMP_ALIGN4_(TFMP_ALIGN_OF(t))

// Grid-stride loop over n elements: any n with a bounded number of groups.
#define FOR_EACH(i, n) \
  for (uint i = gl_GlobalInvocationID.x; i < (n); i += gl_NumWorkGroups.x * gl_WorkGroupSize.x)

bool is_nan_c(float x) { return isnan(x); }
bool is_nan_c(int x) { return false; }
bool is_nan_c(int64_t x) { return false; }

// IEEE special values (GLSL has no literals for them).
#define NAN_F uintBitsToFloat(0x7fc00000u)
#define INF_F uintBitsToFloat(0x7f800000u)

// Math with TF CPU semantics at the edges, where GLSL leaves results undefined.
float tf_log(float x) { return x < 0.0 ? NAN_F : (x == 0.0 ? -INF_F : log(x)); }
float tf_sqrt(float x) { return x < 0.0 ? NAN_F : sqrt(x); }
// rsqrt(+-0) = +-inf (the sign of zero kept, as on the CPU).
float tf_rsqrt(float x) {
  return x < 0.0 ? NAN_F : (x == 0.0 ? uintBitsToFloat(floatBitsToUint(x) | 0x7f800000u) : 1.0 / sqrt(x));
}
float tf_sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }
// tanh accurate near 0 (Taylor series) and finite for large |x|.
float tf_tanh(float x) {
  if (isnan(x)) return x;
  float ax = abs(x);
  float r;
  if (ax < 0.125) {
    float x2 = ax * ax;
    r = ax * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0))));
  } else if (ax > 15.0) {
    r = 1.0;
  } else {
    r = 1.0 - 2.0 / (exp(2.0 * ax) + 1.0);
  }
  return x < 0.0 ? -r : r;
}
// a / b correctly rounded as on the CPU: Vulkan lets OpFDiv be 2.5 ulp off
// (and drivers use a reciprocal), which flips floor(a / b) near integers. One
// Newton step with an exact fma repairs it.
float tf_div(float a, float b) {
  // |b| > 2^126: 1 / b is subnormal, and drivers that divide by multiplying
  // with a flushed reciprocal (the H200's) return 0 (3e38 / 3e38 = 0). Both
  // scaled by 1/4 (exact; an `a` that loses bits gives a quotient below
  // float's range either way).
  if (abs(b) > 8.507059e37) {
    a *= 0.25;
    b *= 0.25;
  }
  precise float q = a / b;
  if (isinf(q) || isnan(q) || q == 0.0) return q;
  precise float r = fma(-q, b, a);
  precise float result = q + r / b;
  return result;
}
// Rounds a float to the nearest float16 value (ties to even), kept as a float.
// Done with integer operations: compilers may drop a float -> half -> float
// round trip (the H100's does), and TF's CPU kernels round every float16
// intermediate.
float tf_round_half(float x) {
  if (isnan(x) || isinf(x)) return x;
  float ax = abs(x);
  if (ax >= 65520.0) return x > 0.0 ? INF_F : -INF_F;
  if (ax < 6.103515625e-05) return roundEven(x * 16777216.0) / 16777216.0;  // subnormal halves
  uint u = floatBitsToUint(x);
  u += 0x0FFFu + ((u >> 13) & 1u);
  return uintBitsToFloat(u & 0xFFFFE000u);
}
// ROUND_T(x): x rounded to the variant's storage type (float16 variants only).
#ifdef TFMP_FP16
#define ROUND_T(x) tf_round_half(x)
#else
#define ROUND_T(x) (x)
#endif
// a - b and x * x exactly as written: `precise` forbids the contractions
// (fma) some drivers apply (the H100's does), which TF's CPU kernels never do.
#define TF_EXACT_ARITH(T_)                                        \
  T_ tf_sub_exact(T_ a, T_ b) { precise T_ r = a - b; return r; } \
  T_ tf_square_exact(T_ a) { precise T_ r = a * a; return r; }
TF_EXACT_ARITH(float)
TF_EXACT_ARITH(int)
TF_EXACT_ARITH(int64_t)
// TF's float FloorMod: r = fmod(a, b); r + b when r and b differ in sign.
float tf_floor_mod_f(float a, float b) {
  float n = trunc(tf_div(a, b));
  float r = fma(-b, n, a);  // exact when n is right
  if (abs(r) >= abs(b)) r = fma(-b, n + sign(r) * sign(b), a);
  return (r != 0.0 && ((r < 0.0) != (b < 0.0))) ? r + b : r;
}
// Maximum/Minimum propagate NaN like TF's CPU kernels.
float tf_max(float a, float b) { return isnan(a) ? a : (isnan(b) ? b : max(a, b)); }
float tf_min(float a, float b) { return isnan(a) ? a : (isnan(b) ? b : min(a, b)); }
int tf_max(int a, int b) { return max(a, b); }
int tf_min(int a, int b) { return min(a, b); }
int64_t tf_max(int64_t a, int64_t b) { return a > b ? a : b; }
int64_t tf_min(int64_t a, int64_t b) { return a < b ? a : b; }
// Relu keeps NaN (TF: max(x, 0) with NaN first).
float tf_relu(float x) { return x < 0.0 ? 0.0 : x; }
int tf_relu(int x) { return max(x, 0); }
int64_t tf_relu(int64_t x) { return x < 0 ? int64_t(0) : x; }
// float -> int conversions as x86 does them (TF's CPU kernels): NaN and
// out-of-range values give the most negative integer.
int tf_to_i32(float x) {
  return (isnan(x) || x >= 2147483648.0 || x < -2147483648.0) ? int(0x80000000u) : int(x);
}
int64_t tf_to_i64(float x) {
  return (isnan(x) || x >= 9223372036854775808.0 || x < -9223372036854775808.0)
             ? int64_t(0x8000000000000000ul)
             : int64_t(x);
}
// pow with C99's special cases (GLSL leaves x <= 0 undefined). Finite
// results carry the few-ulp error of exp2(b * log2(a)) (~1e-6 relative for
// |b * log2(a)| up to ~100).
float tf_pow(float a, float b) {
  if (b == 0.0 || a == 1.0) return 1.0;
  if (isnan(a) || isnan(b)) return NAN_F;
  if (isinf(b)) {
    if (a == -1.0) return 1.0;
    return (abs(a) < 1.0) == (b > 0.0) ? 0.0 : INF_F;
  }
  const bool integer = floor(b) == b;
  const bool odd = integer && abs(b) < 16777216.0 && mod(b, 2.0) == 1.0;
  if (a == 0.0 || isinf(a)) {
    // |a|^b is 0 or inf; an odd integer power keeps the sign of a.
    float m = (a == 0.0) == (b > 0.0) ? 0.0 : INF_F;
    return (odd && (a < 0.0 || (a == 0.0 && floatBitsToUint(a) != 0u))) ? -m : m;
  }
  if (integer && abs(b) < 16777216.0) {
    // Integer powers by repeated squaring (at most 24 steps): a few roundings, where
    // exp2(b * log2(a)) is ~1e-5 off on some GPUs (the H100's) for large results.
    float base = abs(a), r = 1.0;
    for (uint e = uint(abs(b)); e != 0u; e >>= 1) {
      if ((e & 1u) != 0u) r *= base;
      base *= base;
    }
    if (b < 0.0) r = 1.0 / r;
    return (a < 0.0 && odd) ? -r : r;
  }
  if (a < 0.0) {
    if (!integer) return NAN_F;
    float m = pow(-a, b);
    return odd ? -m : m;
  }
  return pow(a, b);
}
// erf, |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit).
// erfc(z) for z >= 0 with relative error < 1.2e-7 (Numerical Recipes' Chebyshev
// fit), so erfc keeps its precision in the tail where 1 - erf(z) would not.
float tf_erfc_pos(float z) {
  float t = 1.0 / (1.0 + 0.5 * z);
  return t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
         t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
         t * (-0.82215223 + t * 0.17087277)))))))));
}
float tf_erf(float x) {
  float r = tf_erfc_pos(abs(x));
  return x >= 0.0 ? 1.0 - r : r - 1.0;
}
float tf_erfc(float x) {
  if (isnan(x)) return x;
  float r = tf_erfc_pos(abs(x));
  return x >= 0.0 ? r : 2.0 - r;
}
// log1p and expm1 accurate near 0.
float tf_log1p(float x) {
  if (abs(x) < 0.01) {  // series: GPUs' log is only absolutely accurate near 1
    return x * (1.0 + x * (-0.5 + x * (1.0 / 3.0 + x * (-0.25 + x * 0.2))));
  }
  if (isinf(x) && x > 0.0) return x;
  float u = 1.0 + x;
  return u == 1.0 ? x : (x < -1.0 ? NAN_F : (x == -1.0 ? -INF_F : log(u) * x / (u - 1.0)));
}
float tf_expm1(float x) {
  if (abs(x) < 1e-5) return x + 0.5 * x * x;
  if (x > 88.0) return INF_F;
  float u = exp(x);
  if (u == 1.0) return x;
  float um1 = u - 1.0;
  return um1 == -1.0 ? -1.0 : um1 * x / log(u);
}
float tf_softplus(float x) {
  // TF: x > -log(eps) + 2 ? x : (x < log(eps) ? exp(x) : log1p(exp(x)))
  if (x > 17.9423847) return x;
  if (x < -15.9423847) return exp(x);
  return tf_log1p(exp(x));
}
float tf_elu(float x) { return x < 0.0 ? tf_expm1(x) : x; }
// SELU's constants as TF writes them (float32-rounded).
#define SELU_SCALE 1.0507009873554804934193349852946
#define SELU_SCALE_ALPHA (1.7580993408473768599402175208123)
float tf_selu(float x) { return x < 0.0 ? SELU_SCALE_ALPHA * (exp(x) - 1.0) : SELU_SCALE * x; }
// Hyperbolic and inverse functions written to keep relative precision near 0
// and for negative arguments (GLSL's are log/exp identities that lose both).
float tf_sinh(float x) {
  if (abs(x) < 1.0) {
    float e = tf_expm1(x);
    return 0.5 * (e + e / (e + 1.0));
  }
  return 0.5 * (exp(x) - exp(-x));
}
float tf_cosh(float x) { return 0.5 * (exp(x) + exp(-x)); }
float tf_asinh(float x) {
  float a = abs(x);
  float r = a > 1e18 ? log(a) + 0.69314718 : tf_log1p(a + a * a / (1.0 + sqrt(1.0 + a * a)));
  return x < 0.0 ? -r : r;
}
float tf_acosh(float x) {
  if (x < 1.0) return NAN_F;
  if (x > 1e18) return log(x) + 0.69314718;
  float e = x - 1.0;
  return tf_log1p(e + sqrt(2.0 * e + e * e));
}
float tf_atanh(float x) {
  float a = abs(x);
  float r = a > 1.0 ? NAN_F : 0.5 * tf_log1p(tf_div(2.0 * a, 1.0 - a));
  return x < 0.0 ? -r : r;
}
// atan, asin, acos and atan2 to ~2 ulp (Cephes' single-precision polynomials):
// drivers' built-ins are allowed 4096 ulp, and lavapipe's are off by 1e-4.
#define PI_F 3.14159265358979
#define PI_2_F 1.57079632679490
float tf_atan(float x) {
  float a = abs(x), base = 0.0;
  if (a > 2.414213562373095) {
    base = PI_2_F;
    a = -1.0 / a;
  } else if (a > 0.4142135623730950) {
    base = 0.25 * PI_F;
    a = tf_div(a - 1.0, a + 1.0);
  }
  float z = a * a;
  float r = base + ((((8.05374449538e-2 * z - 1.38776856032e-1) * z + 1.99777106478e-1) * z -
                     3.33329491539e-1) * z * a + a);
  return isnan(x) ? x : (x < 0.0 ? -r : r);
}
float tf_asin(float x) {
  float a = abs(x);
  if (!(a <= 1.0)) return NAN_F;
  bool high = a > 0.5;
  float zz = high ? 0.5 * (1.0 - a) : a * a;
  float t = high ? sqrt(zz) : a;
  float r = ((((4.2163199048e-2 * zz + 2.4181311049e-2) * zz + 4.5470025998e-2) * zz +
              7.4953002686e-2) * zz + 1.6666752422e-1) * zz * t + t;
  if (high) r = PI_2_F - 2.0 * r;
  return x < 0.0 ? -r : r;
}
float tf_acos(float x) {
  if (!(abs(x) <= 1.0)) return NAN_F;
  if (x < -0.5) return PI_F - 2.0 * tf_asin(sqrt(0.5 * (1.0 + x)));
  if (x > 0.5) return 2.0 * tf_asin(sqrt(0.5 * (1.0 - x)));
  return PI_2_F - tf_asin(x);
}
// tan to a few ulp (Cephes' tanf: reduction by pi/4 in three exact parts, then
// a polynomial): the H100's tan is 2.6e-6 off near the poles.
float tf_tan(float x) {
  if (isnan(x) || isinf(x)) return NAN_F;
  float ax = abs(x);
  float j = floor(ax * 1.27323954473516);  // 4 / pi
  if (mod(j, 2.0) == 1.0) j += 1.0;
  precise float z = ((ax - j * 0.78515625) - j * 2.4187564849853515625e-4) - j * 3.77489497744594108e-8;
  float zz = z * z;
  float r = zz > 1e-4 ? (((((9.38540185543e-3 * zz + 3.11992232697e-3) * zz + 2.44301354525e-2) * zz +
                           5.34112807005e-2) * zz + 1.33387994085e-1) * zz + 3.33331568548e-1) * zz * z + z
                      : z;
  if (mod(j, 4.0) == 2.0) r = -1.0 / r;
  return x < 0.0 ? -r : r;
}
// |x| of a complex64 (std::abs: hypot, no overflow or underflow in between),
// to about 1.5 ulp with correctly rounded steps: the larger part times
// sqrt(1 + r^2), r = smaller / larger by tf_div (OpFDiv may be 2.5 ulp off),
// the sqrt repaired by one Newton step with an exact fma (the H100's sqrt is
// not correctly rounded); 1 + r^2 lies in [1, 2], so nothing overflows.
float tf_cabs(vec2 x) {
  float ax = abs(x.x), ay = abs(x.y);
  if (isinf(ax) || isinf(ay)) return INF_F;
  if (isnan(ax) || isnan(ay)) return NAN_F;
  float a = max(ax, ay), b = min(ax, ay);
  if (a == 0.0) return 0.0;
  float r = tf_div(b, a);
  precise float s = 1.0 + r * r;
  float q = sqrt(s);
  precise float e = fma(-q, q, s);
  precise float qs = q + e * (0.5 / q);
  precise float result = a * qs;
  return result;
}
// std::atan2, special values included.
float tf_atan2(float y, float x) {
  if (isnan(x) || isnan(y)) return NAN_F;
  bool neg_x = floatBitsToUint(x) >> 31 != 0u, neg_y = floatBitsToUint(y) >> 31 != 0u;
  float r;
  if (y == 0.0) {
    r = neg_x ? PI_F : 0.0;
  } else if (isinf(x) && isinf(y)) {
    r = neg_x ? 0.75 * PI_F : 0.25 * PI_F;
  } else if (isinf(x)) {
    r = neg_x ? PI_F : 0.0;
  } else if (x == 0.0 || isinf(y)) {
    r = PI_2_F;
  } else {
    r = tf_atan(tf_div(abs(y), abs(x)));
    if (neg_x) r = PI_F - r;
  }
  return neg_y ? -r : r;
}
float tf_xlogy(float x, float y) { return x == 0.0 ? x : x * tf_log(y); }  // 0 even for y = NaN, as TF
float tf_xlog1py(float x, float y) { return x == 0.0 ? x : x * tf_log1p(y); }
float tf_xdivy(float x, float y) { return x == 0.0 ? x : tf_div(x, y); }
// C's fmod: the remainder with the dividend's sign (TruncateMod on floats).
float tf_fmod(float a, float b) {
  if (b == 0.0 || isinf(a) || isnan(a) || isnan(b)) return NAN_F;
  if (isinf(b)) return a;
  float n = trunc(tf_div(a, b));
  float r = fma(-b, n, a);
  if (r != 0.0 && (r < 0.0) != (a < 0.0)) r = fma(-b, n - sign(a) * sign(b), a);
  if (abs(r) >= abs(b)) r = fma(-b, n + sign(a) * sign(b), a);
  return r;
}
float tf_sign(float x) { return isnan(x) ? x : sign(x); }
int tf_sign(int x) { return sign(x); }
int64_t tf_sign(int64_t x) { return x > 0 ? int64_t(1) : (x < 0 ? int64_t(-1) : int64_t(0)); }
// Integer floor division / modulo (Python's), from truncating division only
// (GLSL leaves % of negative numbers undefined). A zero divisor gives 0.
#define TF_FLOOR_DIVMOD(T_)                                             \
  T_ tf_floor_div(T_ a, T_ b) {                                         \
    if (b == T_(0)) return T_(0);                                       \
    T_ q = a / b, r = a - q * b;                                        \
    return (r != T_(0) && ((r < T_(0)) != (b < T_(0)))) ? q - T_(1) : q; \
  }                                                                     \
  T_ tf_floor_mod(T_ a, T_ b) {                                         \
    if (b == T_(0)) return T_(0);                                       \
    T_ r = a - (a / b) * b;                                             \
    return (r != T_(0) && ((r < T_(0)) != (b < T_(0)))) ? r + b : r;    \
  }
// C's truncating division and remainder for integers (TruncateDiv/TruncateMod);
// a zero divisor gives 0 (TF's CPU raises), -MIN / -1 wraps.
#define TF_TRUNC_DIVMOD(T_)                                                   \
  T_ tf_trunc_div(T_ a, T_ b) { return b == T_(0) ? T_(0) : (b == T_(-1) ? -a : a / b); } \
  T_ tf_trunc_mod(T_ a, T_ b) { return (b == T_(0) || b == T_(-1)) ? T_(0) : a - (a / b) * b; }
// The largest shift of a type (TF clamps shift amounts to it).
int tf_max_shift(int x) { return 31; }
int64_t tf_max_shift(int64_t x) { return 63; }
TF_TRUNC_DIVMOD(int)
TF_TRUNC_DIVMOD(int64_t)
TF_FLOOR_DIVMOD(int)
TF_FLOOR_DIVMOD(int64_t)
