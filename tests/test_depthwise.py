"""DepthwiseConv2dNative and its gradients against TF's CPU kernels (NHWC, in
float32; NCHW through transposes and dilations through zero-dilated filters,
since TF's CPU depthwise kernels support neither everywhere)."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, on, random_array, raw_op
from test_conv import close, dilate, padding_args

# (N, H, W, C), (KH, KW, multiplier), strides, padding, dilations
CASES = [
    ((1, 5, 5, 1), (3, 3, 1), (1, 1), "VALID", (1, 1)),
    ((2, 7, 9, 3), (3, 3, 2), (1, 1), "SAME", (1, 1)),
    ((2, 8, 8, 4), (3, 3, 3), (2, 2), "SAME", (1, 1)),
    ((1, 9, 7, 2), (5, 3, 1), (2, 2), "VALID", (1, 1)),
    ((3, 6, 6, 5), (1, 1, 2), (1, 1), "VALID", (1, 1)),
    ((1, 11, 11, 3), (3, 3, 2), (1, 1), "SAME", (2, 2)),
    ((1, 13, 7, 8), (3, 3, 1), (2, 2), "SAME", (2, 2)),
    ((2, 10, 9, 2), (3, 3, 3), (2, 2), [[0, 0], [1, 2], [0, 1], [0, 0]], (1, 1)),
    ((2, 9, 10, 3), (5, 3, 2), (1, 1), [[0, 0], [2, 1], [1, 0], [0, 0]], (2, 1)),
    ((1, 7, 5, 33), (3, 3, 3), (1, 1), "SAME", (1, 1)),
    ((0, 5, 5, 2), (3, 3, 2), (1, 1), "SAME", (1, 1)),
    ((2, 1, 1, 3), (1, 1, 3), (1, 1), "VALID", (1, 1)),
    ((1, 2, 2, 3), (3, 3, 2), (1, 1), "VALID", (1, 1)),  # empty output
]


def output_shape(xs, ws, strides, padding, dil):
    """TF's windowed output sizes (NHWC)."""
    out = []
    for i in range(2):
        n, k, s = xs[1 + i], (ws[i] - 1) * dil[i] + 1, strides[i]
        if padding == "SAME":
            out.append(-(-n // s))
        else:
            pad = sum(padding[1 + i]) if isinstance(padding, list) else 0
            out.append((n + pad - k + s) // s)
    return (xs[0], *out, ws[2] * ws[3])


def cpu_reference(x, w, dy, strides, padding, dil):
    """y, dx, dw on the CPU (NHWC, float32, the filter dilated by hand)."""
    x, w, dy = (None if a is None else a.astype(np.float32) for a in (x, w, dy))
    y_shape = output_shape(x.shape, w.shape, strides, padding, dil)
    if x.size == 0 or np.prod(y_shape) == 0:
        # Nothing to sum (TF's oneDNN CPU kernels get these shapes wrong).
        return np.zeros(y_shape, np.float32) if dy is None else (
            np.zeros(y_shape, np.float32), np.zeros_like(x), np.zeros_like(w))
    wd = dilate(w, dil)
    attrs = dict(strides=[1, *strides, 1], **padding_args(padding))
    y = on(CPU, lambda t, f: tf.raw_ops.DepthwiseConv2dNative(input=t, filter=f, **attrs),
           tf.constant(x), tf.constant(wd)).numpy()
    if dy is None:
        return y
    dx = on(CPU, lambda f, g: tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
        input_sizes=list(x.shape), filter=f, out_backprop=g, **attrs),
        tf.constant(wd), tf.constant(dy)).numpy()
    dwd = on(CPU, lambda t, g: tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
        input=t, filter_sizes=list(wd.shape), out_backprop=g, **attrs),
        tf.constant(x), tf.constant(dy)).numpy()
    return y, dx, dwd[::dil[0], ::dil[1]]


def gpu_run(x, w, dy, strides, padding, dil, layout):
    """y, dx, dw on the GPU in `layout`; activations returned in NHWC."""
    nchw = layout == "NCHW"
    to = (lambda a: np.transpose(a, (0, 3, 1, 2))) if nchw else (lambda a: a)
    back = (lambda a: np.transpose(a, (0, 2, 3, 1))) if nchw else (lambda a: a)
    pad = padding_args(padding)
    if nchw and isinstance(padding, list):
        p = padding
        pad = dict(padding="EXPLICIT", explicit_paddings=sum([p[0], p[3], p[1], p[2]], []))
    attrs = dict(strides=[1, 1, *strides] if nchw else [1, *strides, 1],
                 dilations=[1, 1, *dil] if nchw else [1, *dil, 1], data_format=layout, **pad)
    y = on(GPU, lambda t, f: tf.raw_ops.DepthwiseConv2dNative(input=t, filter=f, **attrs),
           tf.constant(to(x)), tf.constant(w)).numpy()
    dx = on(GPU, lambda f, g: tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
        input_sizes=list(to(x).shape), filter=f, out_backprop=g, **attrs),
        tf.constant(w), tf.constant(to(dy))).numpy()
    dw = on(GPU, lambda t, g: tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
        input=t, filter_sizes=list(w.shape), out_backprop=g, **attrs),
        tf.constant(to(x)), tf.constant(to(dy))).numpy()
    return back(y), back(dx), dw


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_depthwise_and_gradients(case, dtype, layout, rng):
    xs, (kh, kw, mult), strides, padding, dil = case
    x = random_array(xs, dtype, rng, -1, 1)
    w = random_array((kh, kw, xs[3], mult), dtype, rng, -1, 1)
    ref_y = cpu_reference(x, w, None, strides, padding, dil)
    dy = random_array(ref_y.shape, dtype, rng, -1, 1)
    ref_y, ref_dx, ref_dw = cpu_reference(x, w, dy, strides, padding, dil)
    y, dx, dw = gpu_run(x, w, dy, strides, padding, dil, layout)
    assert y.dtype == dtype and dx.dtype == dtype and dw.dtype == dtype
    assert y.shape == ref_y.shape and dx.shape == x.shape and dw.shape == w.shape
    close(y, ref_y, dtype, kh * kw)
    close(dx, ref_dx, dtype, kh * kw * mult)
    close(dw, ref_dw, dtype, max(1, dy.size // max(1, xs[3] * mult)))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_filter_gradient_with_a_long_reduction(dtype, layout, rng):
    """N*OH*OW = 19600 > 16384: the filter gradient is summed in slices."""
    x = random_array((4, 70, 70, 3), dtype, rng, -1, 1)
    w = random_array((3, 3, 3, 2), dtype, rng, -1, 1)
    dy = random_array((4, 35, 35, 6), dtype, rng, -1, 1)
    for strides, dyy in (((1, 1), random_array((4, 70, 70, 6), dtype, rng, -1, 1)), ((2, 2), dy)):
        ref = cpu_reference(x, w, dyy, strides, "SAME", (1, 1))
        got = gpu_run(x, w, dyy, strides, "SAME", (1, 1), layout)
        for g, r, k in zip(got, ref, (9, 18, dyy.size // 6)):
            close(g, r, dtype, k)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_filter_larger_than_one_chunk(dtype, rng):
    """129 x 128 taps per output > 16384: forward and input gradient split too."""
    x = random_array((1, 130, 129, 1), dtype, rng, -1, 1)
    w = random_array((129, 128, 1, 1), dtype, rng, -1, 1)
    dy = random_array((1, 2, 2, 1), dtype, rng, -1, 1)
    ref = cpu_reference(x, w, dy, (1, 1), "VALID", (1, 1))
    got = gpu_run(x, w, dy, (1, 1), "VALID", (1, 1), "NHWC")
    for g, r, k in zip(got, ref, (129 * 128, 4, 4)):
        close(g, r, dtype, k)


def test_unequal_strides(rng):
    """TF's CPU depthwise kernels may insist on equal strides; the GPU's do not:
    the reference is Conv2D with a block-diagonal filter."""
    x = random_array((2, 9, 11, 3), "float32", rng, -1, 1)
    w = random_array((3, 3, 3, 2), "float32", rng, -1, 1)
    full = np.zeros((3, 3, 3, 6), np.float32)
    for c in range(3):
        full[:, :, c, 2 * c:2 * c + 2] = w[:, :, c, :]
    attrs = dict(strides=[1, 2, 1, 1], padding="SAME")
    ref_y = on(CPU, lambda t, f: tf.raw_ops.Conv2D(input=t, filter=f, **attrs),
               tf.constant(x), tf.constant(full)).numpy()
    dy = random_array(ref_y.shape, "float32", rng, -1, 1)
    ref_dx = on(CPU, lambda f, g: tf.raw_ops.Conv2DBackpropInput(
        input_sizes=list(x.shape), filter=f, out_backprop=g, **attrs),
        tf.constant(full), tf.constant(dy)).numpy()
    ref_full = on(CPU, lambda t, g: tf.raw_ops.Conv2DBackpropFilter(
        input=t, filter_sizes=list(full.shape), out_backprop=g, **attrs),
        tf.constant(x), tf.constant(dy)).numpy()
    ref_dw = np.stack([ref_full[:, :, c, 2 * c:2 * c + 2] for c in range(3)], axis=2)
    y, dx, dw = gpu_run(x, w, dy, (2, 1), "SAME", (1, 1), "NHWC")
    close(y, ref_y, "float32", 9)
    close(dx, ref_dx, "float32", 18)
    close(dw, ref_dw, "float32", dy.size // 6)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_empty_channels_and_multiplier(layout):
    nchw = layout == "NCHW"
    shape = (lambda n, h, w, c: (n, c, h, w)) if nchw else (lambda n, h, w, c: (n, h, w, c))
    attrs = dict(strides=[1, 1, 1, 1], padding="SAME", data_format=layout)
    fwd = raw_op("DepthwiseConv2dNative", **attrs)
    y = on(GPU, fwd, tf.ones(shape(2, 5, 5, 0)), tf.ones([3, 3, 0, 2]))
    assert y.shape == shape(2, 5, 5, 0)
    y = on(GPU, fwd, tf.ones(shape(2, 5, 5, 3)), tf.ones([3, 3, 3, 0]))
    assert y.shape == shape(2, 5, 5, 0)
    # multiplier 0: no outputs, so the gradients are zeros
    dx = on(GPU, raw_op("DepthwiseConv2dNativeBackpropInput", **attrs),
            list(shape(2, 5, 5, 3)), tf.ones([3, 3, 3, 0]), tf.ones(shape(2, 5, 5, 0)))
    np.testing.assert_array_equal(dx.numpy(), np.zeros(shape(2, 5, 5, 3)))
    dw = on(GPU, raw_op("DepthwiseConv2dNativeBackpropFilter", **attrs),
            tf.ones(shape(0, 5, 5, 3)), [3, 3, 3, 2], tf.ones(shape(0, 5, 5, 6)))
    np.testing.assert_array_equal(dw.numpy(), np.zeros([3, 3, 3, 2]))


def test_depthwise_rejects_bad_input():
    attrs = dict(strides=[1, 1, 1, 1], padding="VALID")
    fwd = raw_op("DepthwiseConv2dNative", **attrs)
    bwd_input = raw_op("DepthwiseConv2dNativeBackpropInput", **attrs)
    bwd_filter = raw_op("DepthwiseConv2dNativeBackpropFilter", **attrs)
    # The same error class as TF's CPU kernels.
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):  # depth mismatch
            on(device, fwd, tf.ones([1, 5, 5, 3]), tf.ones([3, 3, 2, 2]))
        with pytest.raises(tf.errors.InvalidArgumentError):  # 3-D filter
            on(device, fwd, tf.ones([1, 5, 5, 3]), tf.ones([3, 3, 3]))
        with pytest.raises(tf.errors.InvalidArgumentError):  # negative output size
            on(device, fwd, tf.ones([1, 1, 1, 3]), tf.ones([5, 5, 3, 2]))
        with pytest.raises(tf.errors.InvalidArgumentError):  # filter in_c != input channels
            on(device, bwd_filter, tf.ones([1, 5, 5, 2]), [3, 3, 3, 2], tf.ones([1, 3, 3, 4]))
    # Checks that TF's reference (Eigen) CPU kernels make with InvalidArgument;
    # the oneDNN CPU kernels abort or crash on some of them, so GPU only.
    with pytest.raises(tf.errors.InvalidArgumentError):  # batch/depth strides
        on(GPU, raw_op("DepthwiseConv2dNative", strides=[1, 1, 1, 2], padding="VALID"),
           tf.ones([1, 5, 5, 3]), tf.ones([3, 3, 3, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError):  # negative explicit padding
        on(GPU, raw_op("DepthwiseConv2dNative", strides=[1, 1, 1, 1], padding="EXPLICIT",
                       explicit_paddings=[0, 0, -1, 1, 0, 0, 0, 0]),
           tf.ones([1, 5, 5, 3]), tf.ones([3, 3, 3, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError):  # 3-D input
        on(GPU, fwd, tf.ones([5, 5, 3]), tf.ones([3, 3, 3, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError):  # out_backprop rows
        on(GPU, bwd_input, [1, 7, 7, 2], tf.ones([3, 3, 2, 2]), tf.ones([1, 4, 5, 4]))
    with pytest.raises(tf.errors.InvalidArgumentError):  # out_backprop depth
        on(GPU, bwd_input, [1, 7, 7, 2], tf.ones([3, 3, 2, 2]), tf.ones([1, 5, 5, 3]))
    with pytest.raises(tf.errors.InvalidArgumentError):  # out_backprop batch
        on(GPU, bwd_filter, tf.ones([2, 7, 7, 2]), [3, 3, 2, 2], tf.ones([1, 5, 5, 4]))
    with pytest.raises(tf.errors.InvalidArgumentError):  # out_backprop 3-D
        on(GPU, bwd_filter, tf.ones([1, 7, 7, 2]), [3, 3, 2, 2], tf.ones([5, 5, 4]))
    with pytest.raises(tf.errors.InvalidArgumentError):  # input_sizes of 3 elements
        on(GPU, bwd_input, [1, 7, 7], tf.ones([3, 3, 2, 2]), tf.ones([1, 5, 5, 4]))
