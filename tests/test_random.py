"""Stateless random ops: bit-exact against TF's CPU kernels (same seed, same numbers)."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, on

SHAPES = [[1], [3], [7], [33], [1025], [0], [5, 7, 3], [2, 0, 4], [4, 257]]
SEEDS = [(0, 0), (12, 34), (-5, 7), (2**40 + 3, -(2**50))]
FLOATS = ["float32", "float16", "bfloat16"]
OPS_V2 = ["StatelessRandomUniformV2", "StatelessRandomNormalV2", "StatelessTruncatedNormalV2"]
OPS_V1 = {"StatelessRandomUniformV2": "StatelessRandomUniform",
          "StatelessRandomNormalV2": "StatelessRandomNormal",
          "StatelessTruncatedNormalV2": "StatelessTruncatedNormal"}


def same(a, b):
    a, b = a.numpy(), b.numpy()
    assert a.shape == b.shape and a.dtype == b.dtype
    if a.dtype.itemsize == 2 and a.dtype.kind not in "iu":  # float16/bfloat16: compare bits
        a, b = a.view(np.uint16), b.view(np.uint16)
    np.testing.assert_array_equal(a, b)


def key_counter(seed, dtype=tf.int64):
    s = tf.constant(seed, dtype)
    return on(CPU, lambda t: tf.raw_ops.StatelessRandomGetKeyCounter(seed=t), s)


def fits_int32(values):
    return all(-(2**31) <= v < 2**31 for v in values)


# every seed as int64, and those that fit as int32
KEY_CASES = [(seed, dt) for seed in SEEDS + [(-1, -1), (2**31 - 1, -(2**31))]
             for dt in (tf.int32, tf.int64) if dt == tf.int64 or fits_int32(seed)]


@pytest.mark.parametrize("seed,seed_dtype", KEY_CASES, ids=str)
def test_get_key_counter(seed, seed_dtype):
    s = tf.constant(seed, seed_dtype)
    for fn in (lambda t: tf.raw_ops.StatelessRandomGetKeyCounter(seed=t),
               lambda t: tf.raw_ops.StatelessRandomGetKeyCounterAlg(seed=t)):
        out, ref = on(GPU, fn, s), on(CPU, fn, s)
        for o, r in zip(out, ref):
            np.testing.assert_array_equal(o.numpy(), r.numpy())
    alg = on(GPU, lambda: tf.raw_ops.StatelessRandomGetAlg())
    assert int(alg) == int(on(CPU, lambda: tf.raw_ops.StatelessRandomGetAlg())) == 1


@pytest.mark.parametrize("op", OPS_V2)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("seed", SEEDS, ids=str)
def test_float_v2(op, dtype, shape, seed):
    key, counter = key_counter(seed)
    for alg in (1, 3):
        fn = lambda k, c: getattr(tf.raw_ops, op)(  # noqa: E731
            shape=tf.constant(shape, tf.int32), key=k, counter=c, alg=alg, dtype=tf.as_dtype(dtype))
        same(on(GPU, fn, key, counter), on(CPU, fn, key, counter))


@pytest.mark.parametrize("op", OPS_V2)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("seed", SEEDS[1:], ids=str)
def test_float_v1(op, dtype, seed):
    for shape_dtype, seed_dtype in ((tf.int32, tf.int64), (tf.int64, tf.int32)):
        if seed_dtype == tf.int32 and any(abs(s) >= 2**31 for s in seed):
            continue
        fn = lambda s: getattr(tf.raw_ops, OPS_V1[op])(  # noqa: E731
            shape=tf.constant([3, 37], shape_dtype), seed=s, dtype=tf.as_dtype(dtype))
        s = tf.constant(seed, seed_dtype)
        same(on(GPU, fn, s), on(CPU, fn, s))


# every bound pair as int64, and those that fit as int32
INT_BOUNDS = [(dt, b) for b in [(0, 10), (-7, 1000), (-(2**31), 2**31 - 1), (5, 6), (-3, 2**40)]
              for dt in ("int32", "int64") if dt == "int64" or fits_int32(b)]


@pytest.mark.parametrize("dtype,bounds", INT_BOUNDS, ids=str)
@pytest.mark.parametrize("shape", [[1], [7], [1025], [0], [3, 5, 2]], ids=str)
@pytest.mark.parametrize("seed", SEEDS[:3], ids=str)
def test_uniform_int(dtype, bounds, shape, seed):
    lo, hi = (tf.constant(b, dtype) for b in bounds)
    key, counter = key_counter(seed)
    fn = lambda k, c: tf.raw_ops.StatelessRandomUniformIntV2(  # noqa: E731
        shape=shape, key=k, counter=c, alg=1, minval=lo, maxval=hi)
    same(on(GPU, fn, key, counter), on(CPU, fn, key, counter))
    fn1 = lambda s: tf.raw_ops.StatelessRandomUniformInt(shape=shape, seed=s, minval=lo, maxval=hi)  # noqa: E731
    s = tf.constant(seed, tf.int64)
    same(on(GPU, fn1, s), on(CPU, fn1, s))


def test_normal_many_samples():
    """Box-Muller through glibc's logf/sincosf algorithms: a large sample, several seeds."""
    for seed in [(1, 2), (99, -4), (2**33, 5)]:
        key, counter = key_counter(seed)
        for op in ("StatelessRandomNormalV2", "StatelessTruncatedNormalV2"):
            fn = lambda k, c: getattr(tf.raw_ops, op)(shape=[1 << 18], key=k, counter=c, alg=1)  # noqa: E731
            same(on(GPU, fn, key, counter), on(CPU, fn, key, counter))


def test_public_api_and_keras_dropout():
    for fn in (lambda: tf.random.stateless_uniform([5, 9], seed=[3, 4]),
               lambda: tf.random.stateless_normal([33], seed=[3, 4], dtype=tf.float16),
               lambda: tf.random.stateless_truncated_normal([7, 3], seed=[1, 2]),
               lambda: tf.random.stateless_uniform([17], seed=[3, 4], minval=-5, maxval=9, dtype=tf.int64)):
        same(on(GPU, fn), on(CPU, fn))
    import keras
    x = np.ones((8, 37), np.float32)
    outs = []
    for device in (GPU, CPU):  # soft placement is off: every op of Dropout runs on the GPU
        with tf.device(device):
            layer = keras.layers.Dropout(0.4, seed=1234)
            outs.append(layer(tf.constant(x), training=True))
    assert outs[0].device.endswith("GPU:0")
    same(outs[0], outs[1])
    assert 0 < np.count_nonzero(outs[0].numpy()) < x.size


ERRORS = [  # (kwargs override, error class on both devices)
    (dict(shape=tf.constant([[2, 2]])), tf.errors.InvalidArgumentError),
    (dict(shape=tf.constant([3, -1])), tf.errors.InvalidArgumentError),
    (dict(key=tf.constant([1, 2], tf.uint64)), tf.errors.InvalidArgumentError),
    # TF 2.21's CPU kernel accepts a 1-word Philox counter and reads past it;
    # the GPU rejects it as TF's CheckKeyCounterShape intends (checked below).
    (dict(alg=tf.constant([1])), tf.errors.InvalidArgumentError),
    (dict(alg=99), tf.errors.InvalidArgumentError),
]


@pytest.mark.parametrize("override,error", ERRORS, ids=lambda v: str(v)[:40])
def test_v2_errors(override, error):
    kwargs = dict(shape=tf.constant([4]), key=tf.constant([1], tf.uint64),
                  counter=tf.constant([0, 0], tf.uint64), alg=1)
    kwargs.update(override)
    for device in (CPU, GPU):
        with pytest.raises(error):
            with tf.device(device):
                tf.raw_ops.StatelessRandomUniformV2(**kwargs)


def test_short_counter_rejected_on_gpu():
    with pytest.raises(tf.errors.InvalidArgumentError, match="counter must be a vector"):
        with tf.device(GPU):
            tf.raw_ops.StatelessRandomUniformV2(shape=[4], key=tf.constant([1], tf.uint64),
                                                counter=tf.constant([1], tf.uint64), alg=1)


def test_errors_v1_and_int_and_threefry():
    for device in (CPU, GPU):
        with tf.device(device):
            with pytest.raises(tf.errors.InvalidArgumentError):
                tf.raw_ops.StatelessRandomUniform(shape=[3], seed=tf.constant([1, 2, 3]))
            with pytest.raises(tf.errors.InvalidArgumentError):
                tf.raw_ops.StatelessRandomGetKeyCounter(seed=tf.constant([1]))
            with pytest.raises(tf.errors.InvalidArgumentError):  # minval >= maxval
                tf.raw_ops.StatelessRandomUniformIntV2(
                    shape=[3], key=tf.constant([1], tf.uint64), counter=tf.constant([0, 0], tf.uint64),
                    alg=1, minval=5, maxval=5)
            with pytest.raises(tf.errors.InvalidArgumentError):  # non-scalar bound
                tf.raw_ops.StatelessRandomUniformInt(shape=[3], seed=[1, 2], minval=[0], maxval=5)
    with pytest.raises(tf.errors.UnimplementedError, match="ThreeFry"):
        with tf.device(GPU):
            tf.raw_ops.StatelessRandomNormalV2(shape=[3], key=tf.constant([1], tf.uint64),
                                               counter=tf.constant([0, 0], tf.uint64), alg=2)
