"""Unary and binary elementwise kernels against TF's CPU kernels."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, on, random_array, raw_op

NUMBERS = ["float32", "float16", "int32", "int64"]
FLOATS = ["float32", "float16"]

# op, dtypes, input range, exact (bitwise equal to the CPU) or tolerance
UNARY = [
    ("Neg", NUMBERS, (-3, 3), True),
    ("Abs", NUMBERS, (-3, 3), True),
    ("Square", NUMBERS, (-3, 3), True),
    ("Relu", NUMBERS, (-3, 3), True),
    ("Exp", FLOATS, (-10, 10), False),
    ("Log", FLOATS, (0.01, 100), False),
    ("Sqrt", FLOATS, (0, 100), False),
    ("Rsqrt", FLOATS, (0.01, 100), False),
    ("Sigmoid", FLOATS, (-20, 20), False),
    ("Tanh", FLOATS, (-6, 6), False),
    ("Reciprocal", FLOATS, (0.1, 10), False),
    ("Floor", FLOATS, (-10, 10), True),
    ("Ceil", FLOATS, (-10, 10), True),
    ("Round", FLOATS, (-10, 10), True),
    ("Rint", ["float32"], (-10, 10), True),
    ("Sign", NUMBERS, (-3, 3), True),
    ("Softplus", FLOATS, (-30, 30), False),
    ("Elu", FLOATS, (-5, 5), False),
    ("Erf", FLOATS, (-4, 4), False),
    ("Log1p", FLOATS, (-0.9, 10), False),
    ("Expm1", FLOATS, (-5, 5), False),
    ("Sin", FLOATS, (-6, 6), False),
    ("Cos", FLOATS, (-6, 6), False),
    ("IsNan", FLOATS, (-3, 3), True),
    ("IsInf", FLOATS, (-3, 3), True),
    ("IsFinite", FLOATS, (-3, 3), True),
    ("LogicalNot", ["bool"], (-3, 3), True),
    ("Erfc", FLOATS, (-9, 9), False),
    ("Relu6", NUMBERS, (-3, 9), True),
    ("Selu", FLOATS, (-5, 5), False),
    ("Softsign", FLOATS, (-5, 5), False),
    ("Tan", FLOATS, (-1.5, 1.5), False),
    ("Atan", FLOATS, (-20, 20), False),
    ("Asin", FLOATS, (-1, 1), False),
    ("Acos", FLOATS, (-1, 1), False),
    ("Sinh", FLOATS, (-10, 10), False),
    ("Cosh", FLOATS, (-10, 10), False),
    ("Asinh", FLOATS, (-100, 100), False),
    ("Acosh", FLOATS, (1, 100), False),
    ("Atanh", FLOATS, (-0.999, 0.999), False),
    ("Invert", ["int32", "int64"], (-3, 3), True),
]
# Sizes around the kernels' vector width (4) and workgroup size (256) too.
SHAPES = [(), (1,), (2,), (3,), (4,), (5,), (7,), (33,), (1025,), (0,), (3, 0), (2, 3, 5),
          (257, 129), (1027,)]
# Values at the edges of each function's domain, checked on top of random data.
SPECIALS = [0.0, -0.0, 1e-6, -1e-6, 1e-3, 0.5, -0.5, 1.5, -2.5, 40.0, -40.0, 100.0, -100.0,
            np.inf, -np.inf, np.nan, -1.0, 1.0, 2.0]


def tolerance(dtype, rtol32=2e-6):
    return dict(rtol=rtol32, atol=1e-6) if dtype == "float32" else dict(rtol=2e-3, atol=2e-3)


def check(out, ref, exact, dtype, rtol32=2e-6):
    out, ref = out.numpy(), ref.numpy()
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if exact or dtype in ("int32", "int64", "bool"):
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(out.astype(np.float64), ref.astype(np.float64),
                                   equal_nan=True, **tolerance(dtype, rtol32))


@pytest.mark.parametrize("op,dtypes,domain,exact", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary(op, dtypes, domain, exact, shape, rng):
    fn = raw_op(op)
    for dtype in dtypes:
        x = tf.constant(random_array(shape, dtype, rng, *domain))
        check(on(GPU, fn, x), on(CPU, fn, x), exact, dtype)


# GLSL's sin/cos are accurate near 0, not at +-100: special values skip them.
@pytest.mark.parametrize("op,dtype", [(u[0], t) for u in UNARY for t in u[1]
                                      if t in FLOATS and u[0] not in ("Sin", "Cos", "Tan")])
def test_unary_special_values(op, dtype):
    fn = raw_op(op)
    x = tf.constant(np.array(SPECIALS, dtype=dtype))
    exact = dict((u[0], u[3]) for u in UNARY)[op]
    check(on(GPU, fn, x), on(CPU, fn, x), exact, dtype)


BINARY = [
    ("Add", NUMBERS, True), ("AddV2", NUMBERS, True), ("Sub", NUMBERS, True),
    ("Mul", NUMBERS, True), ("RealDiv", FLOATS, False),
    ("Maximum", NUMBERS, True), ("Minimum", NUMBERS, True),
    ("Pow", FLOATS, False), ("DivNoNan", FLOATS, False), ("FloorDiv", FLOATS, False),
    ("FloorMod", FLOATS, False), ("SquaredDifference", NUMBERS, True),
    ("Equal", NUMBERS + ["bool"], True), ("NotEqual", NUMBERS + ["bool"], True),
    ("Less", NUMBERS, True), ("LessEqual", NUMBERS, True), ("Greater", NUMBERS, True),
    ("GreaterEqual", NUMBERS, True), ("LogicalAnd", ["bool"], True), ("LogicalOr", ["bool"], True),
    ("BitwiseAnd", ["int32", "int64"], True), ("BitwiseOr", ["int32", "int64"], True),
    ("BitwiseXor", ["int32", "int64"], True),
    ("Atan2", FLOATS, False), ("Xlogy", FLOATS, False), ("Xlog1py", FLOATS, False),
    ("Xdivy", FLOATS, False), ("TruncateMod", ["float32"], False), ("Mod", ["float32"], False),
]
INT_DIVISION = ["FloorDiv", "FloorMod", "TruncateDiv", "TruncateMod", "Mod"]
# Gradient ops take two same-shape inputs (no broadcasting in TF either).
GRADS = [("ReluGrad", NUMBERS, True), ("SigmoidGrad", FLOATS, False), ("TanhGrad", FLOATS, False),
         ("SqrtGrad", FLOATS, False), ("RsqrtGrad", FLOATS, False), ("ReciprocalGrad", FLOATS, False),
         ("InvGrad", FLOATS, False), ("Relu6Grad", NUMBERS, True), ("EluGrad", FLOATS, False),
         ("SeluGrad", FLOATS, False), ("SoftplusGrad", FLOATS, False), ("SoftsignGrad", FLOATS, False)]
BROADCAST = [
    ((), ()), ((7,), ()), ((), (7,)), ((33,), (33,)), ((1025,), (1,)),
    ((2, 3, 5), (5,)), ((2, 3, 5), (3, 1)), ((4, 1, 6), (1, 5, 1)), ((1, 7), (7, 1)),
    ((2, 1, 3, 1, 4), (1, 5, 1, 2, 1)), ((0,), ()), ((3, 0), (3, 1)), ((65, 33), (65, 33)),
    # the vector path (inner dim a multiple of 4) and its scalar tail / fallback
    ((5,), (5,)), ((1027,), ()), ((6, 8), (8,)), ((6, 8), (6, 1)), ((8,), (3, 1, 8)),
    ((3, 4, 12), (4, 1)), ((2, 3, 8), (3, 8)), ((5, 4), (5, 1)), ((9, 6), (6,)),
]


@pytest.mark.parametrize("op,dtypes,exact", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
def test_binary(op, dtypes, exact, shapes, rng):
    fn = raw_op(op)
    for dtype in dtypes:
        low = 0.5 if op in ("RealDiv", "FloorDiv", "FloorMod", "Pow", "TruncateMod", "Mod") else -3
        a = tf.constant(random_array(shapes[0], dtype, rng, low, 3))
        b = tf.constant(random_array(shapes[1], dtype, rng, low, 3))
        if op == "Pow" and dtype == "float32":  # negative bases with integer exponents too
            a = tf.constant(random_array(shapes[0], dtype, rng, -3, 3))
            b = tf.constant(np.round(random_array(shapes[1], dtype, rng, -3, 3)))
        check(on(GPU, fn, a, b), on(CPU, fn, a, b), exact, dtype, rtol32=1e-5 if op == "Pow" else 2e-6)


@pytest.mark.parametrize("op,dtypes,exact", GRADS, ids=[g[0] for g in GRADS])
@pytest.mark.parametrize("shape", [(), (7,), (1025,), (0,), (3, 5, 2)], ids=str)
def test_gradients(op, dtypes, exact, shape, rng):
    fn = raw_op(op)
    for dtype in dtypes:
        a = tf.constant(random_array(shape, dtype, rng, 0.1, 3))
        b = tf.constant(random_array(shape, dtype, rng, -3, 3))
        if op == "Relu6Grad":  # features on both sides of 6
            b = tf.constant(random_array(shape, dtype, rng, -3, 9))
        check(on(GPU, fn, a, b), on(CPU, fn, a, b), exact, dtype)


@pytest.mark.parametrize("op", [g[0] for g in GRADS])
def test_gradients_reject_different_shapes_like_cpu(op):
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError, match=op):
            on(device, raw_op(op), tf.ones([2, 3]), tf.ones([3]))


@pytest.mark.parametrize("alpha", [0.2, 0.0, 1.5, -0.3])
@pytest.mark.parametrize("dtype", FLOATS)
def test_leaky_relu_and_its_gradient(alpha, dtype, rng):
    x = tf.constant(random_array((7, 33), dtype, rng))
    g = tf.constant(random_array((7, 33), dtype, rng))
    fn = raw_op("LeakyRelu", alpha=alpha)
    check(on(GPU, fn, x), on(CPU, fn, x), False, dtype)
    fn = raw_op("LeakyReluGrad", alpha=alpha)
    check(on(GPU, fn, g, x), on(CPU, fn, g, x), False, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_functions_special_values(dtype):
    s = np.array(SPECIALS, dtype=dtype)
    a, b = tf.constant(np.repeat(s, len(s))), tf.constant(np.tile(s, len(s)))
    for op in ("Atan2", "Xlogy", "Xdivy", "Xlog1py"):
        check(on(GPU, raw_op(op), a, b), on(CPU, raw_op(op), a, b), False, dtype)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "Pow", "DivNoNan",
                                "Equal", "Less", "GreaterEqual", "SquaredDifference"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_special_values(op, dtype):
    fn = raw_op(op)
    s = np.array(SPECIALS, dtype=dtype)
    a = tf.constant(np.repeat(s, len(s)))
    b = tf.constant(np.tile(s, len(s)))
    # pow: exp2(b * log2(a)) in float32 is a few ulp off for results like 1.5^100
    check(on(GPU, fn, a, b), on(CPU, fn, a, b), op not in ("RealDiv", "Pow", "DivNoNan"), dtype,
          rtol32=1e-5 if op == "Pow" else 2e-6)


# float16 elementwise kernels compute in float from the stored bits
# (unpackHalf2x16 / packHalf2x16, kernels/shaders/unary.comp H16): every
# float16 value (zeros of both signs, subnormals, infinities, NaNs), bitwise
# as TF's CPU kernels including the sign of zero; 65535 elements end with
# the scalar tail.
F16_ALL = np.arange(65536, dtype=np.uint16).view(np.float16)


# max / min of -0 and +0 pick the other zero than the CPU, in float32 too.
ZERO_SIGN_DIFFERS = ("Relu6", "Maximum", "Minimum")


def check_f16_bits(out, ref, signs=True):
    out, ref = out.numpy(), ref.numpy()
    np.testing.assert_array_equal(out, ref)
    both = ~(np.isnan(out) | np.isnan(ref))
    if signs:
        np.testing.assert_array_equal(np.signbit(out[both]), np.signbit(ref[both]))


@pytest.mark.parametrize("op", ["Relu", "Neg", "Abs", "Square", "Relu6", "Floor", "Ceil", "Round"])
@pytest.mark.parametrize("n", [65536, 65535])
def test_float16_unary_every_value(op, n):
    x = tf.constant(F16_ALL[:n])
    check_f16_bits(on(GPU, raw_op(op), x), on(CPU, raw_op(op), x), op not in ZERO_SIGN_DIFFERS)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "SquaredDifference", "Maximum", "Minimum"])
@pytest.mark.parametrize("n", [65536, 65535])
def test_float16_binary_every_value(op, n, rng):
    a = tf.constant(F16_ALL[:n])
    b = tf.constant(rng.permutation(F16_ALL)[:n])
    check_f16_bits(on(GPU, raw_op(op), a, b), on(CPU, raw_op(op), a, b), op not in ZERO_SIGN_DIFFERS)


# float16 -> float16 words path (vec = 2, 16-byte words of eight halves) over
# several workgroups: flat with a tail, broadcast along rows and columns.
@pytest.mark.parametrize("op", ["Relu", "Neg", "Add", "Mul", "Maximum"])
@pytest.mark.parametrize("shapes", [((70013,), None), ((70016,), ()), ((64, 1032), (1032,)),
                                    ((300, 40), (300, 1)), ((5, 8200), (5, 8200))], ids=str)
def test_float16_words_paths(op, shapes, rng):
    a = tf.constant(rng.choice(F16_ALL[np.isfinite(F16_ALL)], size=shapes[0]))
    if op in ("Relu", "Neg"):
        check_f16_bits(on(GPU, raw_op(op), a), on(CPU, raw_op(op), a))
        return
    b = tf.constant(rng.choice(F16_ALL[np.isfinite(F16_ALL)], size=shapes[0] if shapes[1] is None else shapes[1]))
    check_f16_bits(on(GPU, raw_op(op), a, b), on(CPU, raw_op(op), a, b), op not in ZERO_SIGN_DIFFERS)


@pytest.mark.parametrize("op", INT_DIVISION)
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_floor_division(op, dtype, rng):
    a = tf.constant(rng.integers(-50, 50, 1025).astype(dtype))
    b = tf.constant(rng.choice([-7, -3, -1, 1, 2, 5, 13], 1025).astype(dtype))  # no zero: the CPU raises
    fn = raw_op(op)
    check(on(GPU, fn, a, b), on(CPU, fn, a, b), True, dtype)


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("dtype", NUMBERS)
def test_add_n(n, dtype, rng):
    xs = [tf.constant(random_array((33, 7), dtype, rng)) for _ in range(n)]
    fn = lambda *t: tf.raw_ops.AddN(inputs=list(t))  # noqa: E731
    out, ref = on(GPU, fn, *xs), on(CPU, fn, *xs)
    check(out, ref, dtype != "float16", dtype)  # float16: summation order


def test_add_n_rejects_mismatched_shapes():
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda a, b: tf.raw_ops.AddN(inputs=[a, b]), tf.ones([2]), tf.ones([3]))


def test_integer_wraparound():
    big = tf.constant(np.array([2**31 - 1, -2**31], np.int32))
    one = tf.constant(np.array([1, -1], np.int32))
    for fn in (tf.raw_ops.AddV2, tf.raw_ops.Mul, tf.raw_ops.Sub):
        check(on(GPU, lambda x, y: fn(x=x, y=y), big, one),
              on(CPU, lambda x, y: fn(x=x, y=y), big, one), True, "int32")


def test_mismatched_shapes_raise_like_cpu():
    a, b = tf.ones([2, 3]), tf.ones([4])
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError, match="Incompatible shapes"):
            on(device, lambda x, y: tf.raw_ops.AddV2(x=x, y=y), a, b)
    # The process keeps working afterwards.
    check(on(GPU, lambda x, y: x + y, a, a), on(CPU, lambda x, y: x + y, a, a), True, "float32")


def test_wrong_dtype_raises_like_cpu():
    a, b = tf.ones([2]), tf.ones([2], tf.int32)
    errors = []
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError) as e:
            on(device, lambda x, y: tf.raw_ops.AddV2(x=x, y=y), a, b)
        errors.append(type(e.value))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("op", ["LeftShift", "RightShift"])
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_shifts_clamp_like_tf(op, dtype, rng):
    bits = 8 * np.dtype(dtype).itemsize
    a = tf.constant(rng.integers(-1000, 1000, 257).astype(dtype))
    b = tf.constant(rng.integers(-3, bits + 3, 257).astype(dtype))  # out of range too
    check(on(GPU, raw_op(op), a, b), on(CPU, raw_op(op), a, b), True, dtype)


@pytest.mark.parametrize("tolerance", [1e-5, 0.5, 2.0])
@pytest.mark.parametrize("dtype", FLOATS)
def test_approximate_equal(tolerance, dtype, rng):
    a = tf.constant(random_array((7, 33), dtype, rng))
    b = tf.constant(random_array((7, 33), dtype, rng))
    fn = raw_op("ApproximateEqual", tolerance=tolerance)
    # TF's CPU has no float16 kernel: the same values in float32 there.
    ref = on(CPU, fn, tf.cast(a, tf.float32), tf.cast(b, tf.float32))
    check(on(GPU, fn, a, b), ref, True, "bool")
