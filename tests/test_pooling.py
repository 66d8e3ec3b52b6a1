"""MaxPool/AvgPool and their gradients against TF's CPU kernels (NCHW through
transposes: TF's CPU pooling is NHWC only)."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, on, random_array, raw_op
from test_elementwise import check

# input NHWC, window (kh, kw), strides (sh, sw), padding
CASES = [((2, 7, 9, 3), (2, 2), (2, 2), "VALID"), ((2, 7, 9, 3), (2, 2), (2, 2), "SAME"),
         ((1, 5, 5, 1), (3, 3), (1, 1), "SAME"), ((2, 8, 8, 4), (3, 3), (2, 2), "SAME"),
         ((1, 6, 7, 2), (1, 1), (1, 1), "VALID"), ((3, 11, 10, 5), (3, 2), (2, 3), "VALID"),
         ((1, 33, 33, 8), (3, 3), (2, 2), "SAME"), ((0, 4, 4, 2), (2, 2), (2, 2), "VALID")]

T_NCHW = (0, 3, 1, 2)
T_NHWC = (0, 2, 3, 1)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_pools_and_gradients(case, dtype, layout, rng):
    shape, k, s, padding = case
    # few distinct values, so windows hold ties: MaxPoolGrad must pick the first
    x = np.round(random_array(shape, dtype, rng, -3, 3)).astype(dtype)
    cpu = dict(ksize=[1, *k, 1], strides=[1, *s, 1], padding=padding)
    nchw = layout == "NCHW"
    gpu = dict(ksize=[1, 1, *k] if nchw else [1, *k, 1], strides=[1, 1, *s] if nchw else [1, *s, 1],
               padding=padding, data_format=layout)
    to = (lambda a: np.transpose(a, T_NCHW)) if nchw else (lambda a: a)
    back = (lambda a: np.transpose(a, T_NHWC)) if nchw else (lambda a: a)
    xt = tf.constant(x)
    for op in ("MaxPool", "AvgPool"):
        fn = raw_op(op)
        ref = on(CPU, lambda t: fn(t, **cpu), xt)
        out = on(GPU, lambda t: fn(t, **gpu), tf.constant(to(x)))
        check(tf.constant(back(out.numpy())), ref, op == "MaxPool", dtype)
    y = on(CPU, lambda t: tf.raw_ops.MaxPool(input=t, **cpu), xt).numpy()
    dy = random_array(y.shape, dtype, rng, -1, 1)
    ref = on(CPU, lambda a, b, g: tf.raw_ops.MaxPoolGrad(orig_input=a, orig_output=b, grad=g, **cpu),
             xt, tf.constant(y), tf.constant(dy))
    out = on(GPU, lambda a, b, g: tf.raw_ops.MaxPoolGrad(orig_input=a, orig_output=b, grad=g, **gpu),
             tf.constant(to(x)), tf.constant(to(y)), tf.constant(to(dy)))
    check(tf.constant(back(out.numpy())), ref, False, dtype)
    ref = on(CPU, lambda g: tf.raw_ops.AvgPoolGrad(orig_input_shape=list(shape), grad=g, **cpu),
             tf.constant(dy))
    out = on(GPU, lambda g: tf.raw_ops.AvgPoolGrad(orig_input_shape=list(to(x).shape), grad=g, **gpu),
             tf.constant(to(dy)))
    check(tf.constant(back(out.numpy())), ref, False, dtype)


def test_max_pool_v2_takes_sizes_as_inputs(rng):
    x = tf.constant(random_array((2, 6, 6, 3), "float32", rng))
    fn = lambda t: tf.raw_ops.MaxPoolV2(input=t, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")  # noqa: E731
    check(on(GPU, fn, x), on(CPU, fn, x), True, "float32")


def test_pool_rejects_bad_input():
    for device in (CPU, GPU):
        with pytest.raises((tf.errors.InvalidArgumentError, tf.errors.UnimplementedError)):
            on(device, lambda t: tf.raw_ops.MaxPool(input=t, ksize=[2, 2, 2, 1], strides=[1, 1, 1, 1],
                                                    padding="VALID"), tf.ones([2, 4, 4, 1]))
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda t: tf.raw_ops.AvgPool(value=t, ksize=[1, 2, 2, 1], strides=[1, 1, 1, 1],
                                                    padding="VALID"), tf.ones([4, 4, 1]))
