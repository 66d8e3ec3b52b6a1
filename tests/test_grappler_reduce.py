"""Sum / Mean of a product in one reduction: the _TfmpFusedReduction kernel
(kernels/reduction.cc, shaders/reduce.comp's PRO variants) against the
unfused pair on the GPU (bit for bit) and float64 NumPy, and the Grappler
pattern that makes it (grappler/patterns/reduce_prologue.cc)."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, random_array
from test_grappler_inference import _fusion_defaults, call, fused_and_unfused, fused_nodes, patterns  # noqa: F401


def attrs(dtype, reduction, prologue, keep_dims, tidx=tf.int32):
    return dict(T=tf.as_dtype(dtype).as_datatype_enum, Tidx=tidx.as_datatype_enum, keep_dims=keep_dims,
                reduction=reduction, prologue=prologue)


def unfused(x, y, axes, reduction, prologue, keep_dims, device=GPU):
    with tf.device(device):
        p = getattr(tf.raw_ops, prologue)(x=tf.constant(x), y=tf.constant(y))
        return getattr(tf.raw_ops, reduction)(input=p, axis=tf.constant(axes, tf.int32),
                                              keep_dims=keep_dims).numpy()


# x's shape, y's shape (x's, x's with the last dim 1, or a vector along the
# last dim), axes, keep_dims: every reduction layout (rows with ragged heads
# and tails, columns, generic, one invocation per output, several passes)
CASES = [
    ((33, 130), (33, 130), [1], False),            # rows, 4-vectors with a head and tail
    ((32, 64, 128), (32, 64, 128), [0, 1], True),  # columns (LayerNorm's gamma gradient)
    ((32, 64, 128), (32, 64, 1), [-1], True),      # rows, a value per row (LayerNorm's variance)
    ((7, 13, 33), (7, 13, 1), [2], False),         # rows, scalar loads
    ((6, 40), (40,), [1], False),                  # rows, a vector along the last dim
    ((4, 8, 3), (1, 1, 3), [0, 1], True),          # a vector, generic layout
    ((1000, 10), (10,), [0], False),               # columns of a narrow matrix (generic)
    ((3, 70001), (3, 1), [1], False),              # long rows: two passes
    ((2049, 64), (64,), [0], False),               # columns in two passes
    ((2, 3, 4, 5), (2, 3, 4, 5), [0, 2], False),   # alternating axes: generic
    ((300000,), (300000,), [0], False),            # a full sum, two passes
    ((5, 7), (5, 7), [], False),                   # nothing reduced
    ((17, 1), (17, 1), [0], True),
    ((0, 4), (0, 1), [0], False),                  # empty: sums 0, means NaN
    ((3, 0), (3, 1), [1], True),                   # empty rows
    ((3, 0), (0,), [0], False),
]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("prologue", ["Mul", "SquaredDifference"])
@pytest.mark.parametrize("reduction", ["Sum", "Mean"])
@pytest.mark.parametrize("xs,ys,axes,keep_dims", CASES, ids=str)
def test_fused_reduction_kernel(xs, ys, axes, keep_dims, reduction, prologue, dtype, rng):
    x = random_array(xs, dtype, rng, -2, 2)
    y = random_array(ys, dtype, rng, -2, 2)
    got = call("_TfmpFusedReduction", [x, y, np.array(axes, "int32")], attrs(dtype, reduction, prologue, keep_dims))
    # The unfused pair on the GPU, bit for bit (NaN where it has NaN).
    pair = unfused(x, y, axes, reduction, prologue, keep_dims)
    assert got.dtype == np.dtype(dtype) and got.shape == pair.shape
    np.testing.assert_array_equal(got, pair)
    # And float64 NumPy, within the product's rounding to the dtype and the sum's.
    x64, y64 = x.astype("float64"), y.astype("float64")
    p = x64 * y64 if prologue == "Mul" else (x64 - y64) ** 2
    with np.errstate(invalid="ignore"):
        want = (np.mean if reduction == "Mean" else np.sum)(p, axis=tuple(axes), keepdims=keep_dims)
        scale = (np.mean if reduction == "Mean" else np.sum)(np.abs(p), axis=tuple(axes), keepdims=keep_dims)
    eps = 2e-3 if dtype == "float16" else 2e-6
    if dtype == "float16":
        want = np.where(np.abs(want) > 65504, np.sign(want) * np.inf, want)  # overflows as TF's does
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    ok = np.isfinite(want)
    assert np.all(np.abs(got[ok].astype("float64") - want[ok]) <= eps * (scale[ok] + np.abs(want[ok])) + 1e-30)


def test_fused_reduction_kernel_int64_axes_and_cpu_agree(rng):
    x = random_array((9, 31), "float32", rng, -1, 1)
    y = random_array((31,), "float32", rng, -1, 1)
    got = call("_TfmpFusedReduction", [x, y, np.array([-1], "int64")],
               attrs("float32", "Mean", "Mul", False, tf.int64))
    np.testing.assert_allclose(got, unfused(x, y, [1], "Mean", "Mul", False, device=CPU), rtol=1e-6, atol=1e-7)


def test_fused_reduction_kernel_rejects_what_it_cannot_broadcast(rng):
    x = random_array((4, 3, 5), "float32", rng, -1, 1)
    a = attrs("float32", "Sum", "Mul", False)
    for ys in [(4, 1, 5), (1, 3, 5), (5, 1), (3,), (4, 3, 5, 1)]:
        with pytest.raises(tf.errors.InvalidArgumentError, match="_TfmpFusedReduction: y of shape"):
            call("_TfmpFusedReduction", [x, random_array(ys, "float32", rng, -1, 1), np.array([1], "int32")], a)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Invalid reduction dimension"):
        call("_TfmpFusedReduction", [x, x, np.array([3], "int32")], a)


def layer_norm_grads(x, gamma, dy):
    """LayerNorm over the last axis as Keras writes it (moments, then the
    normalized value scaled), and its gradients: the graph the pattern is for."""
    with tf.GradientTape() as tape:
        tape.watch([x, gamma])
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        var = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
        y = (x - mean) * tf.math.rsqrt(var + 1e-3) * gamma
    return [y] + tape.gradient(y, [x, gamma], output_gradients=dy)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_layer_norm_forward_and_backward_fuse_their_sums_of_products(dtype, rng):
    x = tf.constant(random_array((4, 6, 40), dtype, rng, -2, 2))
    gamma = tf.constant(random_array((40,), dtype, rng, 0.5, 1.5))
    dy = tf.constant(random_array((4, 6, 40), dtype, rng, -1, 1))
    out, n, report, ref, n_off = fused_and_unfused(layer_norm_grads, [x, gamma, dy])
    fused = [f for f in fused_nodes(report) if f["pattern"] == "reduce_prologue"]
    assert len(fused) >= 3 and all(f["op"] == "_TfmpFusedReduction" for f in fused), patterns(report)
    with tf.device(CPU):
        want = [t.numpy() for t in layer_norm_grads(x, gamma, dy)]
    tol = 3e-2 if dtype == "float16" else 2e-5
    for o, r, w in zip(out, ref, want):
        np.testing.assert_allclose(o.astype("float64"), w.astype("float64"), rtol=tol, atol=tol)
        np.testing.assert_allclose(r.astype("float64"), w.astype("float64"), rtol=tol, atol=tol)
    assert n < n_off


def test_a_sum_of_products_is_one_dispatch_and_the_same_bits(rng):
    x = tf.constant(random_array((64, 96), "float32", rng, -1, 1))
    y = tf.constant(random_array((64, 1), "float32", rng, -1, 1))

    def fn(x, y):
        return tf.reduce_sum(tf.math.squared_difference(x, y), axis=1)

    out, n, report, ref, n_off = fused_and_unfused(fn, [x, y])
    assert patterns(report) == ["reduce_prologue"] and n == n_off - 1
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("case", ["read_elsewhere", "middle_broadcast", "prod", "unknown_shape", "int32"])
def test_sums_of_products_that_stay(case, rng):
    """The product also read elsewhere, a broadcast the kernel does not take,
    a reduction other than Sum/Mean, shapes not known statically, an integer
    dtype: left alone, and still TF's results."""
    dtype = "int32" if case == "int32" else "float32"
    x = tf.constant(random_array((4, 3, 5), dtype, rng, -3, 3))
    y = tf.constant(random_array((4, 1, 5) if case == "middle_broadcast" else (5,), dtype, rng, -3, 3))

    def fn(x, y):
        p = x * y
        s = tf.reduce_prod(p, axis=2) if case == "prod" else tf.reduce_sum(p, axis=2)
        return (s, p + 1) if case == "read_elsewhere" else s

    if case == "unknown_shape":
        spec = [tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([None], tf.float32)]
        f = tf.function(fn, input_signature=spec)
        import tensorflow_metal_plugin as tfmp

        tfmp.reset_fusion_report()
        with tf.device(GPU):
            out = f(x, y).numpy()
        assert "reduce_prologue" not in patterns(tfmp.fusion_report())
    else:
        out, _, report, _, _ = fused_and_unfused(fn, [x, y])
        assert "reduce_prologue" not in patterns(report)
    with tf.device(CPU):
        want = fn(x, y)
    for o, w in zip(out if isinstance(out, list) else [out], want if isinstance(want, tuple) else [want]):
        np.testing.assert_allclose(o, w.numpy(), rtol=1e-5, atol=1e-5)
