"""Cast, Fill/ZerosLike/OnesLike, MatMul, BiasAdd, Sum and Mean against TF's CPU kernels."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, on, random_array
from test_elementwise import check

CAST_TYPES = ["float32", "float16", "int32", "int64", "bool"]


@pytest.mark.parametrize("src", CAST_TYPES)
@pytest.mark.parametrize("dst", CAST_TYPES)
@pytest.mark.parametrize("shape", [(), (7,), (1025,), (0,), (3, 5)], ids=str)
def test_cast(src, dst, shape, rng):
    x = tf.constant(random_array(shape, src, rng, -100, 100))
    fn = lambda t: tf.raw_ops.Cast(x=t, DstT=tf.as_dtype(dst))  # noqa: E731
    check(on(GPU, fn, x), on(CPU, fn, x), True, dst)


@pytest.mark.parametrize("src", ["float32", "float16"])
@pytest.mark.parametrize("dst", ["int32", "int64", "float16", "bool"])
def test_cast_special_values(src, dst):
    values = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 65504.0, -65504.0, np.inf, -np.inf, np.nan]
    if src == "float32":
        values += [3e9, -3e9, 1e5, 1e20, -1e20]
    if dst in ("int32", "int64"):  # NaN/inf/out-of-range give the most negative integer (x86)
        pass
    x = tf.constant(np.array(values, dtype=src))
    fn = lambda t: tf.raw_ops.Cast(x=t, DstT=tf.as_dtype(dst))  # noqa: E731
    check(on(GPU, fn, x), on(CPU, fn, x), True, dst)


@pytest.mark.parametrize("src,dst,shape", [("float32", "int32", (7,)), ("float32", "uint8", (3, 5)),
                                           ("int64", "float32", (1025,)), ("uint8", "float32", (4, 4)),
                                           ("float16", "int16", ()), ("int64", "float64", (0,)),
                                           ("int32", "int64", (6, 2))], ids=str)
def test_bitcast(src, dst, shape, rng):
    x = tf.constant(random_array(shape, src, rng) if src != "uint8" else rng.integers(0, 255, shape).astype("uint8"))
    fn = lambda t: tf.raw_ops.Bitcast(input=t, type=tf.as_dtype(dst))  # noqa: E731
    out, ref = on(GPU, fn, x).numpy(), on(CPU, fn, x).numpy()
    assert out.shape == ref.shape and out.dtype == ref.dtype
    np.testing.assert_array_equal(out.reshape(-1).view(np.uint8), ref.reshape(-1).view(np.uint8))


def test_bitcast_rejects_bad_shape():
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda t: tf.raw_ops.Bitcast(input=t, type=tf.int64), tf.ones([3], tf.int32))


@pytest.mark.parametrize("dtype", CAST_TYPES)
@pytest.mark.parametrize("shape", [[], [1], [7], [33, 3], [0], [2, 0, 3], [1025]], ids=str)
def test_fill_zeros_ones(dtype, shape, rng):
    value = tf.constant(random_array((), dtype, rng))
    fill = lambda v: tf.raw_ops.Fill(dims=tf.constant(shape, tf.int64), value=v)  # noqa: E731
    check(on(GPU, fill, value), on(CPU, fill, value), True, dtype)
    x = tf.constant(random_array(shape, dtype, rng))
    for op in (tf.raw_ops.ZerosLike, tf.raw_ops.OnesLike):
        if op is tf.raw_ops.OnesLike and dtype == "bool":
            continue  # TF's OnesLike has no bool kernel on any device
        fn = lambda t: op(x=t)  # noqa: E731
        check(on(GPU, fn, x), on(CPU, fn, x), True, dtype)


def test_fill_rejects_bad_input():
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda v: tf.raw_ops.Fill(dims=tf.constant([2, -1]), value=v), tf.constant(1.0))
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda v: tf.raw_ops.Fill(dims=tf.constant([2]), value=v), tf.ones([2]))


# (m, k, n): around the GEMM's tiles (64, 128: kernels/matmul_config.h) +-1,
# vec4-aligned and not; (64, 1024, 64) and (33, 1025, 7) take split-K by
# default on lavapipe (few output tiles, long K).
MATMUL_SHAPES = [(1, 1, 1), (7, 33, 5), (64, 64, 64), (65, 63, 129), (1, 1025, 1), (129, 1, 3),
                 (0, 3, 4), (3, 0, 4), (3, 4, 0), (128, 16, 128), (129, 17, 127), (127, 255, 65),
                 (256, 12, 260), (64, 1024, 64), (33, 1025, 7)]


@pytest.mark.parametrize("mkn", MATMUL_SHAPES, ids=str)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_matmul(mkn, ta, tb, dtype, rng):
    m, k, n = mkn
    a = tf.constant(random_array((k, m) if ta else (m, k), dtype, rng, -1, 1))
    b = tf.constant(random_array((n, k) if tb else (k, n), dtype, rng, -1, 1))
    fn = lambda x, y: tf.raw_ops.MatMul(a=x, b=y, transpose_a=ta, transpose_b=tb)  # noqa: E731
    out, ref = on(GPU, fn, a, b).numpy(), on(CPU, fn, a, b).numpy()
    assert out.shape == ref.shape == (m, n)
    tol = 1e-5 if dtype == "float32" else 2e-2
    np.testing.assert_allclose(out.astype(np.float64), ref.astype(np.float64),
                               rtol=tol, atol=tol * max(1.0, np.sqrt(k)))


# TFMP_MATMUL_CONFIG forces a tile config ("<tile>[:<splits>]"), read at
# every call: every config and split-K on partial tiles and both load paths.
GEMM_CONFIGS = ["128x128", "128x64", "64x64", "128x128:3", "128x64:2", "64x64:5", "128x128k16",
                "128x128k16:2", "64x64:16"]


@pytest.mark.parametrize("config", GEMM_CONFIGS)
@pytest.mark.parametrize("mkn", [(129, 40, 65), (63, 132, 128), (7, 9, 3), (130, 1, 260)], ids=str)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True), (True, False)])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_matmul_configs(config, mkn, ta, tb, dtype, rng, monkeypatch):
    monkeypatch.setenv("TFMP_MATMUL_CONFIG", config)
    test_matmul(mkn, ta, tb, dtype, rng)


@pytest.mark.parametrize("config", ["", "128x128:4"])
def test_matmul_unaligned_operands(config, rng, monkeypatch):
    """Operands at an address that is not a multiple of 16 bytes (a reshaped
    1-D slice; K and N multiples of 4): the scalar load path, not vec4."""
    if config:
        monkeypatch.setenv("TFMP_MATMUL_CONFIG", config)
    m, k, n = 36, 132, 68
    x = tf.constant(random_array((m * k + 1,), "float32", rng, -1, 1))
    y = tf.constant(random_array((k * n + 3,), "float32", rng, -1, 1))
    fn = lambda u, v: tf.matmul(tf.reshape(u[1:], (m, k)), tf.reshape(v[3:], (k, n)))  # noqa: E731
    np.testing.assert_allclose(on(GPU, fn, x, y).numpy(), on(CPU, fn, x, y).numpy(), rtol=1e-5, atol=1e-4)


def test_matmul_rejects_bad_shapes():
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda x, y: tf.raw_ops.MatMul(a=x, b=y), tf.ones([2, 3]), tf.ones([4, 5]))
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda x, y: tf.raw_ops.MatMul(a=x, b=y), tf.ones([2, 3, 4]), tf.ones([4, 5]))


@pytest.mark.parametrize("shape,fmt", [((5, 3), "NHWC"), ((2, 7, 9, 33), "NHWC"), ((2, 33, 7, 9), "NCHW"),
                                       ((1025, 1), "NHWC"), ((0, 4), "NHWC"), ((3, 5, 2), "NCHW"),
                                       ((7, 8), "NHWC"), ((5, 3, 4, 12), "NHWC"), ((2, 3, 4, 4), "NCHW"),
                                       ((2, 4, 3, 3), "NCHW")], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_bias_add(shape, fmt, dtype, rng):
    c = shape[1] if fmt == "NCHW" else shape[-1]
    x = tf.constant(random_array(shape, dtype, rng))
    bias = tf.constant(random_array((c,), dtype, rng))
    fn = lambda v, b: tf.raw_ops.BiasAdd(value=v, bias=b, data_format=fmt)  # noqa: E731
    check(on(GPU, fn, x, bias), on(CPU, fn, x, bias), True, dtype)


def test_bias_add_rejects_bad_bias():
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda v, b: tf.raw_ops.BiasAdd(value=v, bias=b), tf.ones([2, 3]), tf.ones([4]))


REDUCTIONS = [((), []), ((7,), [0]), ((33, 5), [0]), ((33, 5), [1]), ((33, 5), [0, 1]), ((33, 5), []),
              ((2, 3, 4, 5), [1, 3]), ((2, 3, 4, 5), [0, 2]), ((2, 3, 4, 5), [-1]), ((1025, 3), [0]),
              ((3, 1025), [1]), ((4099,), [0]), ((0, 4), [0]), ((4, 0), [1]), ((5, 1, 7), [1]),
              ((2, 3, 4, 5, 6, 7), [0, 2, 4]),
              # longer than one workgroup pass (65536): two passes over partial sums
              ((200003,), [0]), ((3, 140001), [1]), ((70001, 3), [0]), ((2, 70001, 2), [0, 1]),
              # rows and columns layouts, with 4-vector loads and without, split or not
              ((64, 4096), [1]), ((3, 4, 1), [1]), ((2, 5), [1]), ((262144,), [0]),
              ((4096, 64), [0]), ((300, 17), [0]), ((100, 16), [0]), ((3, 300, 20), [1]),
              ((2, 33, 17), [1]), ((2, 4), [0]), ((5, 3, 64), [0, 1]), ((20000, 32), [0]),
              # float16 rows of a multiple of 8 (half-vectors, two in flight), split or not
              ((5, 40), [1]), ((3, 8), [1]), ((2, 131080), [1]), ((7, 1032), [-1])]


@pytest.mark.parametrize("op", ["Sum", "Mean"])
@pytest.mark.parametrize("shape,axes", REDUCTIONS, ids=str)
@pytest.mark.parametrize("keep_dims", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64"])
def test_reduction(op, shape, axes, keep_dims, dtype, rng):
    x = tf.constant(random_array(shape, dtype, rng))
    fn = lambda t: getattr(tf.raw_ops, op)(input=t, axis=tf.constant(axes, tf.int32),  # noqa: E731
                                            keep_dims=keep_dims)
    out = on(GPU, fn, x).numpy()
    ref = on(CPU, fn, x).numpy()
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if dtype in ("int32", "int64"):
        np.testing.assert_array_equal(out, ref)
        return
    # Float sums differ from TF's CPU kernel by summation order, and TF's
    # CPU kernel accumulates float16 in float16 (4% off on 4099 numbers) while
    # this plugin accumulates in float32 like TF's CUDA kernels. So the check
    # is against the exact float64 result, within the error bound of a float32
    # tree summation (eps * log2(n) * sum|x|) plus the output's rounding.
    xs = x.numpy().astype(np.float64)
    exact = np.sum(xs, axis=tuple(axes), keepdims=keep_dims)
    bound = np.sum(np.abs(xs), axis=tuple(axes), keepdims=keep_dims)
    n_red = xs.size // max(exact.size, 1) if exact.size else 0
    if op == "Mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            exact, bound = exact / n_red, bound / n_red
    out_eps = 2.0 ** -24 if dtype == "float32" else 2.0 ** -11
    tol = 2.0 ** -24 * (2 + np.log2(max(n_red, 1))) * bound + out_eps * np.abs(exact) + 1e-30
    with np.errstate(invalid="ignore"):
        ok = (np.abs(out.astype(np.float64) - exact) <= tol) | (np.isnan(out) & np.isnan(exact))
    assert ok.all(), (out[~ok], exact[~ok], tol[~ok])
    if dtype == "float32":  # and TF's CPU result obeys the same bound
        with np.errstate(invalid="ignore"):
            assert ((np.abs(ref - exact) <= tol) | (np.isnan(ref) & np.isnan(exact))).all()


@pytest.mark.parametrize("loads,columns", [("1", "64"), ("4", "64"), ("2", "128"), ("4", "256")])
@pytest.mark.parametrize("shape,axes", [((33, 5), [1]), ((3, 140001), [1]), ((64, 4096), [1]),
                                        ((7, 1030), [1]), ((4096, 64), [0]), ((300, 1000), [0]),
                                        ((70001, 3), [0]), ((2, 33, 260), [1]), ((20000, 32), [0])], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16", "int64"])
def test_reduction_load_and_strip_choices(shape, axes, loads, columns, dtype, monkeypatch, rng):
    # The plan's experiment switches (kernels/reduce_plan.h), read at each
    # plan: every count of 4-vector loads in flight and every strip width.
    monkeypatch.setenv("TFMP_REDUCE_LOADS", loads)
    monkeypatch.setenv("TFMP_REDUCE_COLUMNS", columns)
    x = tf.constant(random_array(shape, dtype, rng, -2, 2) if dtype != "int64"
                    else rng.integers(-1000, 1000, size=shape))
    fn = lambda t: tf.raw_ops.Sum(input=t, axis=tf.constant(axes, tf.int32))  # noqa: E731
    out = on(GPU, fn, x).numpy().astype(np.float64)
    xs = x.numpy().astype(np.float64)
    exact, bound = np.sum(xs, axis=tuple(axes)), np.sum(np.abs(xs), axis=tuple(axes))
    n_red = xs.size // exact.size
    out_eps = {"float32": 2.0 ** -24, "float16": 2.0 ** -11, "int64": 0.0}[dtype]
    tol = (2.0 ** -24 * (2 + np.log2(n_red)) * bound + out_eps * np.abs(exact)) if dtype != "int64" else 0
    assert (np.abs(out - exact) <= tol).all()


SMALL_REDUCTIONS = [((), []), ((7,), [0]), ((33, 5), [0]), ((33, 5), [1]), ((2, 3, 4, 5), [1, 3]),
                    ((1025, 3), [0]), ((3, 70001), [1]), ((0, 4), [0]), ((4, 0), [1]), ((5, 1, 7), [1]),
                    ((16, 1024), [1]), ((1024, 64), [0]), ((3, 40, 20), [1]), ((9, 33), [0]),
                    ((5, 40), [1]), ((3, 2056), [1])]


@pytest.mark.parametrize("op", ["Max", "Min", "Prod"])
@pytest.mark.parametrize("shape,axes", SMALL_REDUCTIONS, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64"])
def test_other_reductions(op, shape, axes, dtype, rng):
    low, high = (0.999, 1.001) if op == "Prod" else (-3, 3)  # products stay normal numbers
    x = tf.constant(random_array(shape, dtype, rng, low, high))
    if op == "Prod" and dtype.startswith("int"):
        x = tf.constant(rng.choice(np.array([-1, 1], dtype), size=shape))
    fn = lambda t: getattr(tf.raw_ops, op)(input=t, axis=tf.constant(axes, tf.int32))  # noqa: E731
    out, ref = on(GPU, fn, x).numpy(), on(CPU, fn, x).numpy()
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if op == "Prod" and dtype == "float16":
        # TF's CPU kernel multiplies float16 in float16; this plugin in float32
        # (like TF's CUDA kernels): the reference is the CPU kernel in float32.
        ref = on(CPU, fn, tf.cast(x, tf.float32)).numpy().astype(np.float16)
    if op == "Prod" and dtype.startswith("float"):  # products differ by rounding order only
        np.testing.assert_allclose(out.astype(np.float64), ref.astype(np.float64),
                                   rtol=1e-4 if dtype == "float32" else 1e-2)
    else:
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("op", ["All", "Any"])
@pytest.mark.parametrize("shape,axes", SMALL_REDUCTIONS, ids=str)
@pytest.mark.parametrize("density", [0.02, 0.5, 0.98])
def test_logical_reductions(op, shape, axes, density, rng):
    x = tf.constant(rng.random(shape) < density)
    fn = lambda t: getattr(tf.raw_ops, op)(input=t, axis=tf.constant(axes, tf.int64))  # noqa: E731
    check(on(GPU, fn, x), on(CPU, fn, x), True, "bool")


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("shape,axis", [((7,), 0), ((33, 5), 0), ((33, 5), 1), ((2, 3, 4), 1),
                                        ((3, 1025), -1), ((1025, 2), 0), ((4, 1, 3), 1), ((0, 3), 1)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64"])
@pytest.mark.parametrize("out_type", ["int32", "int64"])
def test_arg_reductions(op, shape, axis, dtype, out_type, rng):
    # few distinct values: ties must resolve to the first index, as on the CPU
    x = tf.constant(np.round(random_array(shape, dtype, rng, -2, 2)).astype(dtype))
    fn = lambda t: getattr(tf.raw_ops, op)(input=t, dimension=axis, output_type=out_type)  # noqa: E731
    check(on(GPU, fn, x), on(CPU, fn, x), True, out_type)


def test_arg_reduction_rejects_bad_input():
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda t: tf.raw_ops.ArgMax(input=t, dimension=3), tf.ones([2, 3]))
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda t: tf.raw_ops.ArgMax(input=t, dimension=0), tf.ones([0, 3]))


def test_reduction_rejects_bad_axis():
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda t: tf.raw_ops.Sum(input=t, axis=tf.constant([2])), tf.ones([2, 3]))
