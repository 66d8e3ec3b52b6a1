"""Conv3D, MaxPool3D, AvgPool3D and their gradients against TF's CPU kernels.

NCDHW (what TF's layout optimizer makes of NDHWC on GPUs) is compared through
transposes, dilations through a filter dilated by hand, and float16 against
the CPU's float32 result on the same (float16) values, rounded: TF's CPU has
no float16 3-D pooling kernels, and its float16 convolution sums in float16.
"""
import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, on, random_array

# (N, D, H, W, Cin), (KD, KH, KW, Cout), strides, padding, dilations
CASES = [
    ((1, 4, 5, 5, 1), (2, 3, 3, 1), (1, 1, 1), "VALID", (1, 1, 1)),
    ((2, 5, 7, 6, 3), (3, 3, 3, 5), (1, 1, 1), "SAME", (1, 1, 1)),
    ((2, 6, 8, 7, 4), (3, 3, 3, 8), (2, 2, 2), "SAME", (1, 1, 1)),
    ((1, 7, 9, 5, 2), (3, 5, 1, 3), (2, 1, 3), "VALID", (1, 1, 1)),
    ((3, 4, 6, 5, 5), (1, 1, 1, 7), (1, 1, 1), "VALID", (1, 1, 1)),
    ((1, 7, 9, 9, 3), (3, 3, 2, 2), (1, 1, 1), "SAME", (2, 2, 1)),
    ((1, 3, 4, 5, 2), (3, 4, 5, 3), (2, 2, 2), "VALID", (1, 1, 1)),
    ((1, 5, 17, 17, 16), (3, 3, 3, 65), (1, 2, 1), "SAME", (1, 1, 1)),
    ((0, 4, 5, 5, 2), (3, 3, 3, 2), (1, 1, 1), "SAME", (1, 1, 1)),
    ((2, 1, 1, 1, 3), (1, 1, 1, 4), (1, 1, 1), "VALID", (1, 1, 1)),
]

TO_NCDHW = (0, 4, 1, 2, 3)
TO_NDHWC = (0, 2, 3, 4, 1)


def dilate(w, d):
    """The filter with (d - 1) zeros between taps: a dilated conv without dilation."""
    kd, kh, kw, ci, co = w.shape
    out = np.zeros(((kd - 1) * d[0] + 1, (kh - 1) * d[1] + 1, (kw - 1) * d[2] + 1, ci, co), w.dtype)
    out[::d[0], ::d[1], ::d[2]] = w
    return out


def close(a, b, dtype, k):
    rtol, atol = (1e-4, 1e-4 * np.sqrt(k)) if dtype == "float32" else (2e-3, 2e-3 * np.sqrt(k))
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


def cpu32(fn, *arrays):
    """fn on the CPU in float32 (the inputs' values, whatever their dtype)."""
    return on(CPU, fn, *[tf.constant(np.asarray(a, np.float32)) for a in arrays]).numpy()


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("layout", ["NDHWC", "NCDHW"])
def test_conv3d_and_gradients(case, dtype, layout, rng):
    xs, (kd, kh, kw, co), strides, padding, dil = case
    x = random_array(xs, dtype, rng, -1, 1)
    w = random_array((kd, kh, kw, xs[4], co), dtype, rng, -1, 1)
    st = [1, *strides, 1]
    wd = dilate(w, dil)
    ref = cpu32(lambda t, f: tf.raw_ops.Conv3D(input=t, filter=f, strides=st, padding=padding), x, wd)
    dy = random_array(ref.shape, dtype, rng, -1, 1)
    ref_dx = cpu32(lambda f, g: tf.raw_ops.Conv3DBackpropInputV2(
        input_sizes=list(xs), filter=f, out_backprop=g, strides=st, padding=padding), wd, dy)
    ref_dw = cpu32(lambda t, g: tf.raw_ops.Conv3DBackpropFilterV2(
        input=t, filter_sizes=list(wd.shape), out_backprop=g, strides=st, padding=padding),
        x, dy)[::dil[0], ::dil[1], ::dil[2]]

    nc = layout == "NCDHW"
    to = (lambda a: np.transpose(a, TO_NCDHW)) if nc else (lambda a: a)
    back = (lambda a: np.transpose(a, TO_NDHWC)) if nc else (lambda a: a)
    attrs = dict(strides=[1, 1, *strides] if nc else st, dilations=[1, 1, *dil] if nc else [1, *dil, 1],
                 padding=padding, data_format=layout)
    y = on(GPU, lambda t, f: tf.raw_ops.Conv3D(input=t, filter=f, **attrs),
           tf.constant(to(x)), tf.constant(w))
    assert y.dtype == dtype
    close(back(y.numpy()), ref, dtype, kd * kh * kw * xs[4])
    dx = on(GPU, lambda f, g: tf.raw_ops.Conv3DBackpropInputV2(
        input_sizes=tf.constant(to(x).shape, tf.int64), filter=f, out_backprop=g, **attrs),
        tf.constant(w), tf.constant(to(dy))).numpy()
    close(back(dx), ref_dx, dtype, kd * kh * kw * co)
    dw = on(GPU, lambda t, g: tf.raw_ops.Conv3DBackpropFilterV2(
        input=t, filter_sizes=list(w.shape), out_backprop=g, **attrs),
        tf.constant(to(x)), tf.constant(to(dy))).numpy()
    close(dw, ref_dw, dtype, max(1, dy.size // co))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_filter_gradient_with_a_long_reduction(dtype, rng):
    """N*OD*OH*OW > 16384: the filter gradient is summed in slices (split K)."""
    x = random_array((2, 16, 24, 25, 2), dtype, rng, -1, 1)
    dy = random_array((2, 16, 24, 25, 3), dtype, rng, -1, 1)
    fn = lambda t, g: tf.raw_ops.Conv3DBackpropFilterV2(  # noqa: E731
        input=t, filter_sizes=[3, 3, 3, 2, 3], out_backprop=g, strides=[1] * 5, padding="SAME")
    close(on(GPU, fn, tf.constant(x), tf.constant(dy)).numpy(), cpu32(fn, x, dy), dtype, dy.size // 3)


def expect_same_error(fn, *inputs, gpu_only=None):
    """fn fails on the GPU with the CPU kernel's error class (or gpu_only's)."""
    if gpu_only is None:
        with pytest.raises(tf.errors.OpError) as cpu_error:
            on(CPU, fn, *inputs)
        expected = type(cpu_error.value)
    else:
        expected = gpu_only
    with pytest.raises(tf.errors.OpError) as gpu_error:
        on(GPU, fn, *inputs)
    assert type(gpu_error.value) is expected, gpu_error.value


def test_conv3d_rejects_bad_input():
    x, w, dy = tf.ones([1, 4, 5, 6, 3]), tf.ones([2, 2, 2, 3, 4]), tf.ones([1, 4, 5, 6, 4])
    conv = lambda padding="SAME", **kw: (  # noqa: E731
        lambda t, f: tf.raw_ops.Conv3D(input=t, filter=f, strides=[1] * 5, padding=padding, **kw))
    expect_same_error(conv(), x, tf.ones([2, 2, 2, 2, 4]))  # channel mismatch
    expect_same_error(conv(), tf.ones([1, 4, 5, 6, 4]), tf.ones([2, 2, 2, 2, 4]))  # groups
    expect_same_error(conv(), x, tf.ones([2, 2, 3, 4]))  # filter rank
    expect_same_error(conv("VALID"), x, tf.ones([6, 2, 2, 3, 4]))  # filter larger than input
    expect_same_error(conv(), x, tf.ones([2, 2, 2, 3, 0]))  # filter without elements
    expect_same_error(conv(dilations=[2, 1, 1, 1, 1]), x, w)  # dilation in the batch dimension
    expect_same_error(lambda t, f: tf.raw_ops.Conv3D(input=t, filter=f, strides=[1, 0, 1, 1, 1],
                                                     padding="SAME"), x, w)
    # TF's oneDNN CPU kernel (the default) checks none of these; its Eigen one
    # (TF_ENABLE_ONEDNN_OPTS=0) raises InvalidArgument as the device does.
    invalid = tf.errors.InvalidArgumentError
    expect_same_error(conv(), tf.ones([4, 5, 6, 3]), w, gpu_only=invalid)  # input rank
    expect_same_error(lambda f, g: tf.raw_ops.Conv3DBackpropInputV2(
        input_sizes=[1, 4, 5, 5, 3], filter=f, out_backprop=g, strides=[1] * 5, padding="SAME"),
        w, dy, gpu_only=invalid)
    expect_same_error(lambda t, g: tf.raw_ops.Conv3DBackpropFilterV2(
        input=t, filter_sizes=[2, 2, 2, 3, 4], out_backprop=g, strides=[1, 2, 1, 1, 1],
        padding="SAME"), x, dy, gpu_only=invalid)
    expect_same_error(lambda f, g: tf.raw_ops.Conv3DBackpropInputV2(
        input_sizes=[1, 4, 5, 6], filter=f, out_backprop=g, strides=[1] * 5, padding="SAME"),
        w, dy, gpu_only=invalid)
    # the device keeps working, and a filter one larger than the input gives an empty output
    y = on(GPU, conv("VALID"), x, tf.ones([5, 2, 2, 3, 4]))
    assert y.shape == (1, 0, 4, 5, 4)


# input NDHWC, window, strides, padding
POOL_CASES = [
    ((2, 4, 7, 9, 3), (2, 2, 2), (2, 2, 2), "VALID"),
    ((2, 5, 7, 9, 3), (2, 2, 2), (2, 2, 2), "SAME"),
    ((1, 5, 5, 5, 1), (3, 3, 3), (1, 1, 1), "SAME"),
    ((2, 6, 8, 7, 4), (3, 2, 3), (2, 3, 1), "SAME"),
    ((1, 3, 6, 7, 2), (1, 1, 1), (1, 1, 1), "VALID"),
    ((3, 7, 11, 10, 5), (3, 3, 2), (2, 2, 3), "VALID"),
    ((1, 9, 17, 17, 8), (3, 3, 3), (2, 2, 2), "SAME"),
    ((0, 4, 4, 4, 2), (2, 2, 2), (2, 2, 2), "VALID"),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("layout", ["NDHWC", "NCDHW"])
def test_pools3d_and_gradients(case, dtype, layout, rng):
    shape, k, s, padding = case
    # few distinct values, so windows hold ties: MaxPool3DGrad gives the
    # gradient to every element equal to the maximum, as TF's CPU kernel does
    x = np.round(random_array(shape, dtype, rng, -3, 3)).astype(dtype)
    cpu = dict(ksize=[1, *k, 1], strides=[1, *s, 1], padding=padding)
    nc = layout == "NCDHW"
    gpu = dict(ksize=[1, 1, *k] if nc else cpu["ksize"], strides=[1, 1, *s] if nc else cpu["strides"],
               padding=padding, data_format=layout)
    to = (lambda a: np.transpose(a, TO_NCDHW)) if nc else (lambda a: a)
    back = (lambda a: np.transpose(a, TO_NDHWC)) if nc else (lambda a: a)
    y_ref = cpu32(lambda t: tf.raw_ops.MaxPool3D(input=t, **cpu), x)
    y = on(GPU, lambda t: tf.raw_ops.MaxPool3D(input=t, **gpu), tf.constant(to(x)))
    assert y.dtype == dtype
    np.testing.assert_array_equal(back(y.numpy()), y_ref.astype(dtype))
    avg_ref = cpu32(lambda t: tf.raw_ops.AvgPool3D(input=t, **cpu), x)
    avg = on(GPU, lambda t: tf.raw_ops.AvgPool3D(input=t, **gpu), tf.constant(to(x))).numpy()
    close(back(avg), avg_ref, dtype, 1)
    dy = random_array(y_ref.shape, dtype, rng, -1, 1)
    ref = cpu32(lambda a, b, g: tf.raw_ops.MaxPool3DGrad(orig_input=a, orig_output=b, grad=g, **cpu),
                x, y_ref, dy)
    out = on(GPU, lambda a, b, g: tf.raw_ops.MaxPool3DGrad(orig_input=a, orig_output=b, grad=g, **gpu),
             tf.constant(to(x)), tf.constant(to(y_ref.astype(dtype))), tf.constant(to(dy))).numpy()
    close(back(out), ref, dtype, np.prod(k))
    ref = cpu32(lambda g: tf.raw_ops.AvgPool3DGrad(orig_input_shape=list(shape), grad=g, **cpu), dy)
    out = on(GPU, lambda g: tf.raw_ops.AvgPool3DGrad(orig_input_shape=list(to(x).shape), grad=g, **gpu),
             tf.constant(to(dy))).numpy()
    close(back(out), ref, dtype, np.prod(k))


def test_max_pool3d_grad_uses_the_given_output(rng):
    """MaxPool3DGrad routes dy to the elements within 1e-5 of orig_output, not of
    the recomputed maximum (TF's CPU kernel): arbitrary orig_output values too."""
    x = np.round(random_array((2, 4, 6, 6, 3), "float32", rng, -2, 2))
    y = np.round(random_array((2, 2, 3, 3, 3), "float32", rng, -2, 2))
    dy = random_array(y.shape, "float32", rng, -1, 1)
    fn = lambda a, b, g: tf.raw_ops.MaxPool3DGrad(  # noqa: E731
        orig_input=a, orig_output=b, grad=g, ksize=[1, 2, 2, 2, 1], strides=[1, 2, 2, 2, 1], padding="VALID")
    ins = [tf.constant(a) for a in (x, y, dy)]
    np.testing.assert_allclose(on(GPU, fn, *ins).numpy(), on(CPU, fn, *ins).numpy(), rtol=1e-6)


def test_pool3d_rejects_bad_input():
    x = tf.ones([1, 4, 5, 6, 3])
    pool = lambda op, ksize=(1, 2, 2, 2, 1), strides=(1, 2, 2, 2, 1), padding="SAME": (  # noqa: E731
        lambda t: getattr(tf.raw_ops, op)(input=t, ksize=list(ksize), strides=list(strides), padding=padding))
    for op in ("MaxPool3D", "AvgPool3D"):
        expect_same_error(pool(op, ksize=(2, 2, 2, 2, 1)), x)  # pooling over the batch
        expect_same_error(pool(op, (1, 6, 2, 2, 1), [1] * 5, "VALID"), x)  # window larger than input
        expect_same_error(pool(op, strides=(1, 0, 2, 2, 1)), x)
        # TF's oneDNN CPU kernels crash the process here; its Eigen ones raise InvalidArgument
        expect_same_error(pool(op), tf.ones([4, 5, 6, 3]), gpu_only=tf.errors.InvalidArgumentError)
    grad = lambda a, b, g: tf.raw_ops.MaxPool3DGrad(  # noqa: E731
        orig_input=a, orig_output=b, grad=g, ksize=[1, 2, 2, 2, 1], strides=[1, 2, 2, 2, 1], padding="SAME")
    expect_same_error(grad, x, tf.ones([1, 2, 3, 3, 3]), tf.ones([1, 2, 3, 2, 3]))  # grad's shape
    expect_same_error(grad, x, tf.ones([1, 2, 3, 2, 3]), tf.ones([1, 2, 3, 3, 3]))  # orig_output's
    # TF's CPU AvgPool3DGrad reads past a grad of the wrong shape; the device refuses it
    expect_same_error(lambda g: tf.raw_ops.AvgPool3DGrad(
        orig_input_shape=[1, 4, 5, 6, 3], grad=g, ksize=[1, 2, 2, 2, 1], strides=[1, 2, 2, 2, 1],
        padding="SAME"), tf.ones([1, 2, 3, 2, 3]), gpu_only=tf.errors.InvalidArgumentError)
    y = on(GPU, pool("MaxPool3D"), x)
    assert y.shape == (1, 2, 3, 3, 3)


def keras_model(seed):
    import keras
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((6, 9, 8, 3)),
        keras.layers.Conv3D(5, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling3D(2, padding="same"),
        keras.layers.Conv3D(4, (2, 3, 1), strides=(1, 2, 1), padding="valid"),
        keras.layers.AveragePooling3D((2, 1, 2), padding="valid"),
        keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
def test_keras_layers_gradients(graph, rng):
    """Loss gradients of a Conv3D / MaxPooling3D / AveragePooling3D model through
    tf.GradientTape, on the device (eager and in a tf.function, where TF's layout
    optimizer may switch the device's ops to NCDHW) against the CPU."""
    x = random_array((2, 6, 9, 8, 3), "float32", rng, -1, 1)
    r = random_array((2, 3), "float32", rng, -1, 1)
    results, weights = {}, None
    for device in (CPU, GPU):
        with tf.device(device):
            model = keras_model(7)
            if weights is None:
                weights = model.get_weights()
            model.set_weights(weights)

            def step(xt, rt):
                with tf.GradientTape() as tape:
                    tape.watch(xt)
                    loss = tf.reduce_sum(model(xt) * rt)
                return [loss] + tape.gradient(loss, [xt] + model.trainable_variables)

            fn = tf.function(step) if graph and device == GPU else step
            out = fn(tf.constant(x), tf.constant(r))
            assert all(t.device.endswith(device.replace("/", "device:")) for t in out)
            results[device] = [t.numpy() for t in out]
    assert len(results[GPU]) == 2 + 6
    for a, b in zip(results[GPU], results[CPU]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
