"""Index ops against TF's CPU kernels on fresh random inputs: Cumsum, Cumprod,
TopKV2, Where, GatherNd, ScatterNd, TensorScatter{Update,Add,Sub,Min,Max},
UnsortedSegment{Sum,Prod,Max,Min}, SegmentSum, SegmentMean; and an Embedding model trained on the
device (the embedding gradient goes through UnsortedSegmentSum)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, on, random_array

NUMBERS = ["float32", "float16", "int32", "int64"]


def close(out, ref, dtype, k=1):
    out, ref = np.asarray(out), np.asarray(ref)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if dtype in ("int32", "int64", "bool"):
        np.testing.assert_array_equal(out, ref)
        return
    # float16: TF's CPU rounds partial sums to float16, the device accumulates in float32
    scale = max(1.0, np.sqrt(k))
    rtol, atol = (2e-2 * scale, 2e-2 * scale) if dtype == "float16" else (1e-5 * scale, 1e-5 * scale)
    np.testing.assert_allclose(out.astype(np.float64), ref.astype(np.float64), rtol=rtol, atol=atol)


def both(fn, *args):
    """fn on the device and on the CPU (numpy results)."""
    args = [tf.constant(a) if isinstance(a, np.ndarray) else a for a in args]
    g, c = on(GPU, fn, *args), on(CPU, fn, *args)
    if isinstance(g, (list, tuple)):
        return [x.numpy() for x in g], [x.numpy() for x in c]
    return g.numpy(), c.numpy()


def same_error(fn, *args):
    """fn raises the same error class on the device as on the CPU, and the process goes on."""
    errs = []
    for dev in (GPU, CPU):
        with pytest.raises(tf.errors.OpError) as e:
            with tf.device(dev):
                fn(*[tf.constant(a) if isinstance(a, np.ndarray) else a for a in args]).numpy()
        errs.append(type(e.value))
    assert errs[0] == errs[1], errs
    return errs[0]


# --- Cumsum, Cumprod ------------------------------------------------------------------

SCAN_CASES = [((7,), 0), ((1,), 0), ((3, 33), 1), ((3, 33), -1), ((5, 4, 3), 1), ((5, 4, 3), 0),
              ((2, 1025, 3), 1), ((1, 3000), 1), ((70000,), 0), ((0, 4), 1), ((4, 0), 1), ((2, 3, 0), 0)]


@pytest.mark.parametrize("op", ["Cumsum", "Cumprod"])
@pytest.mark.parametrize("dtype", NUMBERS)
@pytest.mark.parametrize("flags", [(False, False), (True, False), (False, True), (True, True)], ids=str)
@pytest.mark.parametrize("case", SCAN_CASES, ids=str)
def test_scan(op, dtype, flags, case, rng):
    shape, axis = case
    if op == "Cumprod":
        # products stay in range: factors near 1 (floats), small integers (they wrap, exactly)
        x = rng.uniform(0.99, 1.01, shape).astype(dtype) if "float" in dtype else \
            rng.integers(-2, 3, shape).astype(dtype)
    else:
        x = random_array(shape, dtype, rng)
    fn = lambda a: getattr(tf.raw_ops, op)(x=a, axis=axis, exclusive=flags[0], reverse=flags[1])
    g, c = both(fn, x)
    n = shape[axis] if shape else 1
    if (dtype == "float16" and n > 64) or (dtype == "float32" and n > 1024):
        # Long scans against float64: TF's CPU keeps every float16 partial sum/product
        # in float16; in float32 both sides' rounding grows with the length, differently.
        ref = getattr(np, "cumsum" if op == "Cumsum" else "cumprod")
        xx = x.astype(np.float64)
        if flags[1]:
            xx = np.flip(xx, axis)
        r = ref(xx, axis=axis)
        if flags[0]:
            r = np.concatenate([np.take(np.ones_like(r) * (op == "Cumprod"), [0], axis=axis),
                                np.delete(r, -1, axis=axis)], axis=axis) if r.shape[axis] else r
        if flags[1]:
            r = np.flip(r, axis)
        if dtype == "float16":
            np.testing.assert_allclose(g.astype(np.float64), r, rtol=2e-3, atol=2e-2 * np.sqrt(n))
        else:  # as far from float64 as TF's sequential CPU loop, within the blocked
            # scan's extra rounding of chunk totals: 4x, or sqrt(n) ulps of the largest
            scale = max(float(np.max(np.abs(r))), 1e-30)
            dev, cpu = (float(np.max(np.abs(a.astype(np.float64) - r))) / scale for a in (g, c))
            assert dev <= max(4 * cpu, np.sqrt(n) * 1.2e-7), (dev, cpu)
        return
    close(g, c, dtype, n if op == "Cumsum" else 1)


def test_scan_int_wraps_exactly(rng):
    x = rng.integers(2**30, 2**31 - 1, (3, 5000)).astype(np.int32)
    g, c = both(lambda a: tf.math.cumsum(a, axis=1), x)
    np.testing.assert_array_equal(g, c)
    x = rng.integers(-5, 6, (2, 3000)).astype(np.int64)
    g, c = both(lambda a: tf.math.cumprod(a, axis=1, reverse=True), x)
    np.testing.assert_array_equal(g, c)


def test_scan_bad_input():
    x = np.ones((3, 4), np.float32)
    assert same_error(lambda a: tf.math.cumsum(a, axis=2), x) == tf.errors.InvalidArgumentError
    assert same_error(lambda a: tf.math.cumsum(a, axis=-3), x) == tf.errors.InvalidArgumentError
    assert same_error(lambda a: tf.raw_ops.Cumsum(x=a, axis=np.array([0, 1], np.int32)), x) \
        == tf.errors.InvalidArgumentError
    assert same_error(lambda a: tf.raw_ops.Cumprod(x=a, axis=0), np.float32(3)) \
        == tf.errors.InvalidArgumentError
    np.testing.assert_array_equal(on(GPU, lambda a: tf.math.cumsum(a, 0), tf.constant(x)).numpy()[-1],
                                  [3, 3, 3, 3])


# --- TopKV2 ---------------------------------------------------------------------------

TOPK_CASES = [((7,), 3), ((7,), 7), ((7,), 0), ((1,), 1), ((5, 33), 5), ((3, 2, 100), 100),
              ((4, 2048), 10), ((3, 2049), 17), ((2, 5000), 2500), ((40, 3), 2), ((0, 5), 2),
              ((3, 0), 0), ((1, 70000), 5)]


@pytest.mark.parametrize("dtype", NUMBERS)
@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("case", TOPK_CASES, ids=str)
def test_topk(dtype, index, case, rng):
    shape, k = case
    x = random_array(shape, dtype, rng)
    if x.size:  # plenty of ties: TF orders equal values by index, so must the device
        x.flat[::3] = x.flat[0]
    fn = lambda a: tf.raw_ops.TopKV2(input=a, k=k, sorted=True, index_type=index)
    (gv, gi), (cv, ci) = both(fn, x)
    np.testing.assert_array_equal(gv, cv)
    np.testing.assert_array_equal(gi, ci)
    assert gi.dtype == np.dtype(index)


def test_topk_special_values():
    x = np.array([[1.0, -0.0, 0.0, np.inf, -np.inf, 3.0, -0.0, np.inf]], np.float32)
    (gv, gi), (cv, ci) = both(lambda a: tf.math.top_k(a, 8), x)
    np.testing.assert_array_equal(gv, cv)
    np.testing.assert_array_equal(gi, ci)
    # NaN (documented): the device orders NaN above +inf, lower index first
    x = np.array([1.0, np.nan, 5.0, np.nan, np.inf], np.float32)
    v, i = on(GPU, lambda a: tf.math.top_k(a, 5), tf.constant(x))
    np.testing.assert_array_equal(i.numpy(), [1, 3, 4, 2, 0])


def test_topk_bad_input():
    x = np.ones((3, 4), np.float32)
    assert same_error(lambda a: tf.math.top_k(a, 5), x) == tf.errors.InvalidArgumentError
    assert same_error(lambda a: tf.raw_ops.TopKV2(input=a, k=-1), x) == tf.errors.InvalidArgumentError
    assert same_error(lambda a: tf.raw_ops.TopKV2(input=a, k=1), np.float32(1)) \
        == tf.errors.InvalidArgumentError
    assert same_error(lambda a: tf.raw_ops.TopKV2(input=a, k=np.array([1, 2], np.int32)), x) \
        == tf.errors.InvalidArgumentError


# --- Where ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", NUMBERS + ["bool"])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 33), (2, 3, 4, 5), (1, 2, 1, 2, 1, 2, 1, 3),
                                   (70001,), (0, 3), (300, 300)], ids=str)
def test_where(dtype, shape, rng):
    x = random_array(shape, dtype, rng)
    if dtype != "bool":
        x = np.where(rng.random(shape) < 0.5, x, 0).astype(dtype)
    g = on(GPU, lambda a: tf.raw_ops.Where(condition=a), tf.constant(x)).numpy()
    # TF's CPU kernel refuses float16 (UnimplementedError): the float32 result is the reference
    c = on(CPU, lambda a: tf.raw_ops.Where(condition=a),
           tf.constant(x.astype(np.float32) if dtype == "float16" else x)).numpy()
    assert g.dtype == np.int64
    np.testing.assert_array_equal(g, c)


def test_where_bad_input():
    assert same_error(lambda a: tf.raw_ops.Where(condition=a), np.float32(1)) \
        == tf.errors.InvalidArgumentError
    assert same_error(lambda a: tf.raw_ops.Where(condition=a), np.ones((1,) * 9, bool)) \
        == tf.errors.InvalidArgumentError


def test_where_all_and_none_and_special():
    for x in (np.zeros((5, 7), np.float32), np.ones((1000,), bool),
              np.array([np.nan, -0.0, 0.0, np.inf], np.float32)):
        g, c = both(lambda a: tf.raw_ops.Where(condition=a), x)
        np.testing.assert_array_equal(g, c)


# --- GatherNd -------------------------------------------------------------------------

GATHER_ND_CASES = [  # (params shape, indices shape)
    ((7,), (3, 1)), ((6, 5), (4, 2)), ((6, 5), (4, 1)), ((6, 5, 3), (2, 3, 2)), ((6, 5, 3), (2, 3)),
    ((4, 3, 2, 5), (7, 4)), ((6, 5), (0, 2)), ((6, 5), (3, 0)), ((2, 3, 4), (2, 2, 1)),
    ((1, 2, 1, 2, 1, 2, 2), (5, 7)),
]


@pytest.mark.parametrize("dtype", NUMBERS + ["bool", "uint8", "float64"])
@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("case", GATHER_ND_CASES, ids=str)
def test_gather_nd(dtype, index, case, rng):
    ps, is_ = case
    params = random_array(ps, dtype, rng) if dtype in NUMBERS + ["bool"] else \
        rng.integers(0, 200, ps).astype(dtype)
    hi = np.array(ps[:is_[-1]] or [1])
    idx = (rng.random(is_) * hi).astype(index) if is_[-1] else np.zeros(is_, index)
    g, c = both(lambda p, i: tf.raw_ops.GatherNd(params=p, indices=i), params, idx)
    np.testing.assert_array_equal(g, c)


def test_gather_nd_out_of_range_gives_zeros():
    """TF's CPU raises; the device, like TF's GPU kernel, gives zeros (no host wait)."""
    params = np.arange(1, 13, dtype=np.float32).reshape(4, 3)
    idx = np.array([[1, 2], [4, 0], [-1, 1], [3, 3], [0, 0]], np.int64)
    g = on(GPU, lambda p, i: tf.gather_nd(p, i), tf.constant(params), tf.constant(idx)).numpy()
    np.testing.assert_array_equal(g, [6, 0, 0, 0, 1])
    with pytest.raises(tf.errors.InvalidArgumentError):
        on(CPU, lambda p, i: tf.gather_nd(p, i), tf.constant(params), tf.constant(idx))


def test_gather_nd_bad_input():
    p = np.ones((3, 4), np.float32)
    assert same_error(lambda a, i: tf.raw_ops.GatherNd(params=a, indices=i), p,
                      np.zeros((2, 3), np.int32)) == tf.errors.InvalidArgumentError
    assert same_error(lambda a, i: tf.raw_ops.GatherNd(params=a, indices=i), p,
                      np.int32(1)) == tf.errors.InvalidArgumentError
    assert same_error(lambda a, i: tf.raw_ops.GatherNd(params=a, indices=i), np.float32(1),
                      np.zeros((1,), np.int32)) == tf.errors.InvalidArgumentError


# --- ScatterNd, TensorScatter* --------------------------------------------------------

SCATTER_CASES = [  # (output shape, indices shape): many duplicates
    ((7,), (20, 1)), ((6, 5), (30, 2)), ((6, 5), (9, 1)), ((6, 5, 3), (4, 5, 2)),
    ((3, 5), (1000, 1)), ((2, 3), (3000, 1)), ((50, 4), (700, 1)), ((6, 5), (0, 2)),
    ((2, 2, 2, 2, 2, 2, 2, 3), (11, 7)), ((5, 3), (0, 2)),
]


def scatter_inputs(rng, dtype, index, out_shape, is_):
    depth = is_[-1]
    idx = (rng.random(is_) * np.array(out_shape[:depth] or [1])).astype(index)
    return idx, random_array(is_[:-1] + out_shape[depth:], dtype, rng)


@pytest.mark.parametrize("dtype", NUMBERS)
@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("case", SCATTER_CASES, ids=str)
def test_scatter_nd(dtype, index, case, rng):
    shape, is_ = case
    idx, upd = scatter_inputs(rng, dtype, index, shape, is_)
    g, c = both(lambda i, u: tf.raw_ops.ScatterNd(indices=i, updates=u, shape=np.array(shape, index)),
                idx, upd)
    close(g, c, dtype, max(1, len(idx)))


@pytest.mark.parametrize("op", ["TensorScatterUpdate", "TensorScatterAdd", "TensorScatterSub",
                                "TensorScatterMin", "TensorScatterMax"])
@pytest.mark.parametrize("dtype", NUMBERS)
@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("case", SCATTER_CASES, ids=str)
def test_tensor_scatter(op, dtype, index, case, rng):
    shape, is_ = case
    idx, upd = scatter_inputs(rng, dtype, index, shape, is_)
    t = random_array(shape, dtype, rng)
    g, c = both(lambda a, i, u: getattr(tf.raw_ops, op)(tensor=a, indices=i, updates=u), t, idx, upd)
    close(g, c, dtype, max(1, len(idx)))


@pytest.mark.parametrize("dtype", ["bool", "uint8", "float64", "bfloat16", "int16"])
def test_tensor_scatter_update_any_dtype(dtype, rng):
    t = tf.cast(tf.constant(rng.integers(0, 2, (6, 5))), dtype)
    u = tf.cast(tf.constant(rng.integers(0, 2, (9, 5))), dtype)
    idx = rng.integers(0, 6, (9, 1)).astype(np.int32)
    g, c = both(lambda a, i, b: tf.tensor_scatter_nd_update(a, i, b), t, idx, u)
    np.testing.assert_array_equal(g, c)


def test_scatter_out_of_range_is_skipped():
    """TF's CPU raises; the device, like TF's GPU kernels, skips the update."""
    idx = np.array([[1], [7], [-1], [1], [3]], np.int32)
    upd = np.array([1, 2, 3, 4, 5], np.float32)
    g = on(GPU, lambda i, u: tf.scatter_nd(i, u, [4]), tf.constant(idx), tf.constant(upd)).numpy()
    np.testing.assert_array_equal(g, [0, 5, 0, 5])
    g = on(GPU, lambda t, i, u: tf.tensor_scatter_nd_update(t, i, u), tf.ones(4), tf.constant(idx),
           tf.constant(upd)).numpy()
    np.testing.assert_array_equal(g, [1, 4, 1, 5])
    with pytest.raises(tf.errors.InvalidArgumentError):
        on(CPU, lambda i, u: tf.scatter_nd(i, u, [4]), tf.constant(idx), tf.constant(upd))
    # UnsortedSegment*: ids >= num_segments are dropped on the device (the CPU raises)
    g = on(GPU, lambda d, i: tf.math.unsorted_segment_max(d, i, 4), tf.constant(upd),
           tf.constant(idx[:, 0])).numpy()
    np.testing.assert_array_equal(g, [np.finfo(np.float32).min, 4, np.finfo(np.float32).min, 5])


def test_scatter_bad_input():
    upd = np.ones((3, 2), np.float32)
    scatter = lambda i, u: tf.raw_ops.ScatterNd(indices=i, updates=u, shape=np.array([5, 2], np.int32))
    assert same_error(scatter, np.zeros((4, 1), np.int32), upd) == tf.errors.InvalidArgumentError
    assert same_error(scatter, np.zeros((3, 1), np.int32), np.ones((3, 3), np.float32)) \
        == tf.errors.InvalidArgumentError
    assert same_error(scatter, np.int32(0), upd) == tf.errors.InvalidArgumentError
    assert same_error(scatter, np.zeros((3, 0), np.int32), upd) == tf.errors.InvalidArgumentError
    assert same_error(scatter, np.zeros((3,), np.int32), upd) == tf.errors.InvalidArgumentError
    assert same_error(lambda i, u: tf.raw_ops.ScatterNd(indices=i, updates=u, shape=np.array(
        [5, 3], np.int32)), np.zeros((0, 0), np.int32), np.ones((0, 5, 3), np.float32)) \
        == tf.errors.InvalidArgumentError
    assert same_error(lambda i, u: tf.raw_ops.ScatterNd(indices=i, updates=u, shape=np.array(
        [3, 5, 2], np.int32)), np.zeros((2,), np.int32), np.ones((2,), np.float32)) \
        == tf.errors.InvalidArgumentError
    assert same_error(lambda t, i, u: tf.raw_ops.TensorScatterAdd(tensor=t, indices=i, updates=u),
                      np.ones((5, 2), np.float32), np.zeros((3, 3), np.int32), upd) \
        == tf.errors.InvalidArgumentError


# --- UnsortedSegment* -----------------------------------------------------------------

SEGMENT_CASES = [  # (data shape, ids rank, num_segments)
    ((10,), 1, 4), ((30, 5), 1, 7), ((4, 6, 3), 2, 5), ((700, 3), 1, 40), ((3000,), 1, 3),
    ((20, 2), 1, 0), ((0, 3), 1, 4), ((5, 0), 1, 3), ((9, 2), 1, 20),
    # the sorts' boundary (rank sort up to 4096 rows, bitonic above) and an
    # embedding gradient (2048 tokens x 128 into 1000 rows: chunks of 8)
    ((4096, 3), 1, 5), ((4097, 3), 1, 5), ((2048, 128), 1, 1000), ((2, 64, 33), 2, 1000),
]


@pytest.mark.parametrize("op", ["UnsortedSegmentSum", "UnsortedSegmentProd", "UnsortedSegmentMax",
                                "UnsortedSegmentMin"])
@pytest.mark.parametrize("dtype", NUMBERS)
@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("case", SEGMENT_CASES, ids=str)
def test_unsorted_segment(op, dtype, index, case, rng):
    shape, r, segments = case
    if op == "UnsortedSegmentProd":
        data = rng.uniform(0.9, 1.1, shape).astype(dtype) if "float" in dtype else \
            rng.integers(-2, 3, shape).astype(dtype)
    else:
        data = random_array(shape, dtype, rng)
    ids = rng.integers(-1 if segments else 0, max(segments, 1), shape[:r]).astype(index)  # -1: dropped
    if not segments:
        ids = np.full(shape[:r], -1, index)
    fn = lambda d, i: getattr(tf.raw_ops, op)(data=d, segment_ids=i, num_segments=segments)
    g, c = both(fn, data, ids)
    close(g, c, dtype, max(1, int(np.prod(shape[:r]))))


def test_unsorted_segment_bad_input():
    d = np.ones((4, 3), np.float32)
    fn = lambda a, i, n=5: tf.math.unsorted_segment_sum(a, i, n)
    assert same_error(fn, d, np.zeros((5,), np.int32)) == tf.errors.InvalidArgumentError
    assert same_error(lambda a, i: fn(a, i, -1), d, np.zeros((4,), np.int32)) \
        == tf.errors.InvalidArgumentError
    assert same_error(lambda a, i: tf.raw_ops.UnsortedSegmentSum(
        data=a, segment_ids=i, num_segments=np.array([2], np.int32)), d, np.zeros((4,), np.int32)) \
        == tf.errors.InvalidArgumentError


# --- SegmentSum, SegmentMean (output rows from the last id: one host wait) -----------

@pytest.mark.parametrize("op", ["SegmentSum", "SegmentMean"])
@pytest.mark.parametrize("dtype", NUMBERS)
@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("shape", [(10,), (30, 5), (700, 3), (3000,), (0, 3), (6, 0), (1, 2, 3)], ids=str)
def test_segment(op, dtype, index, shape, rng):
    data = random_array(shape, dtype, rng)
    ids = np.sort(rng.integers(0, max(1, shape[0] // 3) + 2, shape[0])).astype(index)  # with gaps
    g, c = both(lambda d, i: getattr(tf.raw_ops, op)(data=d, segment_ids=i), data, ids)
    close(g, c, dtype, max(1, shape[0]))


def test_segment_bad_input():
    d = np.ones((4, 3), np.float32)
    fn = lambda a, i: tf.math.segment_sum(a, i)
    assert same_error(fn, d, np.zeros((5,), np.int32)) == tf.errors.InvalidArgumentError
    assert same_error(fn, d, np.zeros((4, 1), np.int32)) == tf.errors.InvalidArgumentError
    assert same_error(fn, d, np.array([-3, -2, -2, -2], np.int32)) == tf.errors.InvalidArgumentError


# --- Keras: an Embedding model -------------------------------------------------------

EMBED = r"""
import sys, numpy as np, tensorflow as tf, keras
DEVICE, LOG = sys.argv[1], sys.argv[2] == "log"
if LOG:
    tf.debugging.set_log_device_placement(True)
rng = np.random.default_rng(0)
keras.utils.set_random_seed(1)
x = rng.integers(0, 50, (48, 12)).astype("int32"); y = rng.integers(0, 5, 48).astype("int32")
with tf.device(DEVICE):
    model = keras.Sequential([keras.Input((12,), dtype="int32"), keras.layers.Embedding(50, 8),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(5, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    h = model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    losses = [float(model.train_on_batch(x[:16], y[:16])) for _ in range(2)]
print("LOSSES", h.history["loss"][0], *losses)
"""
HOST_PLUMBING = {"Const", "Identity", "_Arg", "_Retval", "NoOp", "_DeviceArg", "_DeviceRetval"}


def run_embed(device, log):
    return subprocess.run([sys.executable, "-c", EMBED, device, "log" if log else "nolog"],
                          capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1",
                                   TF_CPP_MIN_LOG_LEVEL="0" if log else "2"))


def test_embedding_training_matches_the_cpu_on_the_device():
    out = {}
    for device in (GPU, CPU):
        r = run_embed(device, log=device == GPU)
        assert r.returncode == 0, r.stderr[-3000:]
        out[device] = np.array([float(v) for v in r.stdout.split("LOSSES")[1].split()])
        if device == GPU:
            step = [l.split("] ", 1)[1] for l in r.stderr.splitlines()
                    if "placer.cc" in l and "StatefulPartitionedCall/" in l]
            assert len(step) > 30, r.stderr[-2000:]
            assert any("UnsortedSegmentSum" in l for l in step), "no embedding gradient seen"
            on_cpu = {l.split("(")[1].split(")")[0] for l in step if "device:CPU" in l} - HOST_PLUMBING
            assert not on_cpu, "ops of the training step on the CPU: %s" % sorted(on_cpu)
    np.testing.assert_allclose(out[GPU], out[CPU], rtol=1e-5)
