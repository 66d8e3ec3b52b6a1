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
]
SHAPES = [(), (1,), (7,), (33,), (1025,), (0,), (3, 0), (2, 3, 5), (257, 129)]
# Values at the edges of each function's domain, checked on top of random data.
SPECIALS = [0.0, -0.0, 1e-6, -1e-6, 1e-3, 40.0, -40.0, 100.0, -100.0, np.inf, -np.inf, np.nan, -1.0]


def tolerance(dtype):
    return dict(rtol=2e-6, atol=1e-6) if dtype == "float32" else dict(rtol=2e-3, atol=2e-3)


def check(out, ref, exact, dtype):
    out, ref = out.numpy(), ref.numpy()
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if exact or dtype in ("int32", "int64", "bool"):
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(out.astype(np.float64), ref.astype(np.float64),
                                   equal_nan=True, **tolerance(dtype))


@pytest.mark.parametrize("op,dtypes,domain,exact", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary(op, dtypes, domain, exact, shape, rng):
    fn = raw_op(op)
    for dtype in dtypes:
        x = tf.constant(random_array(shape, dtype, rng, *domain))
        check(on(GPU, fn, x), on(CPU, fn, x), exact, dtype)


@pytest.mark.parametrize("op", [u[0] for u in UNARY if "float32" in u[1]])
@pytest.mark.parametrize("dtype", FLOATS)
def test_unary_special_values(op, dtype):
    fn = raw_op(op)
    x = tf.constant(np.array(SPECIALS, dtype=dtype))
    exact = dict((u[0], u[3]) for u in UNARY)[op]
    check(on(GPU, fn, x), on(CPU, fn, x), exact, dtype)


BINARY = [
    ("Add", NUMBERS, True), ("AddV2", NUMBERS, True), ("Sub", NUMBERS, True),
    ("Mul", NUMBERS, True), ("RealDiv", FLOATS, False),
    ("Maximum", NUMBERS, True), ("Minimum", NUMBERS, True),
]
BROADCAST = [
    ((), ()), ((7,), ()), ((), (7,)), ((33,), (33,)), ((1025,), (1,)),
    ((2, 3, 5), (5,)), ((2, 3, 5), (3, 1)), ((4, 1, 6), (1, 5, 1)), ((1, 7), (7, 1)),
    ((2, 1, 3, 1, 4), (1, 5, 1, 2, 1)), ((0,), ()), ((3, 0), (3, 1)), ((65, 33), (65, 33)),
]


@pytest.mark.parametrize("op,dtypes,exact", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
def test_binary(op, dtypes, exact, shapes, rng):
    fn = raw_op(op)
    for dtype in dtypes:
        low = 0.5 if op == "RealDiv" else -3
        a = tf.constant(random_array(shapes[0], dtype, rng, low, 3))
        b = tf.constant(random_array(shapes[1], dtype, rng, low, 3))
        check(on(GPU, fn, a, b), on(CPU, fn, a, b), exact, dtype)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "RealDiv", "Maximum", "Minimum"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_special_values(op, dtype):
    fn = raw_op(op)
    s = np.array(SPECIALS, dtype=dtype)
    a = tf.constant(np.repeat(s, len(s)))
    b = tf.constant(np.tile(s, len(s)))
    check(on(GPU, fn, a, b), on(CPU, fn, a, b), op != "RealDiv", dtype)


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
