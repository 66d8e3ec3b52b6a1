"""Conv2D and its gradients against TF's CPU kernels (NHWC; NCHW and
dilations through equivalent CPU computations, since TF's CPU kernels support
neither)."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, on, random_array

# (N, H, W, Cin), (KH, KW, Cout), strides, padding, dilations
CASES = [
    ((1, 5, 5, 1), (3, 3, 1), (1, 1), "VALID", (1, 1)),
    ((2, 7, 9, 3), (3, 3, 5), (1, 1), "SAME", (1, 1)),
    ((2, 8, 8, 4), (3, 3, 8), (2, 2), "SAME", (1, 1)),
    ((1, 9, 7, 2), (5, 3, 3), (2, 1), "VALID", (1, 1)),
    ((3, 6, 6, 5), (1, 1, 7), (1, 1), "VALID", (1, 1)),
    ((1, 11, 11, 3), (3, 3, 2), (1, 1), "SAME", (2, 2)),
    ((2, 10, 9, 2), (3, 2, 3), (3, 2), [[0, 0], [1, 2], [0, 1], [0, 0]], (1, 1)),
    ((1, 33, 33, 16), (3, 3, 65), (1, 1), "SAME", (1, 1)),
    ((0, 5, 5, 2), (3, 3, 2), (1, 1), "SAME", (1, 1)),
    ((2, 1, 1, 3), (1, 1, 4), (1, 1), "VALID", (1, 1)),
    # Channel counts that are multiples of 4 (NHWC: the vector variants of
    # conv.comp, with their hoisted index math): odd spatial sizes, tile edges
    # (M = 1155, N = 64 / 65), 1x1, a K tail (K = 500), in_c < BK, strides,
    # dilations, explicit padding.
    ((2, 9, 11, 8), (3, 3, 12), (1, 1), "SAME", (1, 1)),
    ((1, 33, 35, 16), (3, 3, 64), (1, 1), "SAME", (1, 1)),
    ((3, 7, 7, 4), (1, 1, 4), (1, 1), "VALID", (1, 1)),
    ((1, 5, 5, 20), (5, 5, 36), (1, 1), "VALID", (1, 1)),
    ((2, 13, 13, 12), (3, 3, 8), (2, 2), "VALID", (1, 1)),
    ((1, 12, 10, 8), (3, 3, 4), (1, 1), "SAME", (2, 2)),
    ((2, 10, 9, 8), (3, 2, 4), (3, 2), [[0, 0], [1, 2], [0, 1], [0, 0]], (1, 1)),
    # Strides: the input gradient per stride phase (kernels/conv_plan.h
    # ConvPhased): phases without taps (stride 4 > 3 taps), paddings of a
    # stride or more, a size smaller than the stride.
    ((2, 9, 10, 8), (3, 3, 4), (4, 4), "SAME", (1, 1)),
    ((1, 7, 6, 4), (3, 3, 8), (2, 3), [[0, 0], [3, 1], [2, 0], [0, 0]], (1, 1)),
    ((3, 1, 5, 4), (1, 3, 4), (2, 2), "SAME", (1, 1)),
    # in_c not a multiple of 4, out_c one (NHWC: x loaded element by element,
    # the rest vectorized; "_v4a1_"): an RGB input, dilations, strides, padding
    ((2, 9, 7, 3), (3, 3, 8), (1, 1), "SAME", (1, 1)),
    ((1, 12, 11, 5), (3, 3, 12), (1, 1), "SAME", (2, 2)),
    ((2, 10, 9, 3), (3, 2, 4), (3, 2), [[0, 0], [1, 2], [0, 1], [0, 0]], (1, 1)),
]


def dilate(w, d):
    """The filter with (d - 1) zeros between taps: a dilated conv without dilation."""
    kh, kw, ci, co = w.shape
    out = np.zeros(((kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1, ci, co), w.dtype)
    out[::d[0], ::d[1]] = w
    return out


def padding_args(padding):
    if isinstance(padding, list):
        return dict(padding="EXPLICIT", explicit_paddings=sum(padding, []))
    return dict(padding=padding)


def tol(dtype, k):
    return (1e-4, 1e-4 * np.sqrt(k)) if dtype == "float32" else (2e-2, 2e-2 * np.sqrt(k))


def close(a, b, dtype, k):
    rtol, atol = tol(dtype, k)
    np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_conv2d_and_gradients(case, dtype, layout, rng):
    xs, (kh, kw, co), strides, padding, dil = case
    x = random_array(xs, dtype, rng, -1, 1)
    w = random_array((kh, kw, xs[3], co), dtype, rng, -1, 1)
    pad = padding_args(padding)
    # CPU reference in NHWC with the filter dilated by hand.
    wd = dilate(w, dil)
    ref_fn = lambda t, f: tf.raw_ops.Conv2D(input=t, filter=f, strides=[1, *strides, 1], **pad)  # noqa: E731
    ref = on(CPU, ref_fn, tf.constant(x), tf.constant(wd)).numpy()
    dy = random_array(ref.shape, dtype, rng, -1, 1)
    ref_dx = on(CPU, lambda f, g: tf.raw_ops.Conv2DBackpropInput(
        input_sizes=list(xs), filter=f, out_backprop=g, strides=[1, *strides, 1], **pad),
        tf.constant(wd), tf.constant(dy)).numpy()
    ref_dwd = on(CPU, lambda t, g: tf.raw_ops.Conv2DBackpropFilter(
        input=t, filter_sizes=list(wd.shape), out_backprop=g, strides=[1, *strides, 1], **pad),
        tf.constant(x), tf.constant(dy)).numpy()
    ref_dw = ref_dwd[::dil[0], ::dil[1]]

    nchw = layout == "NCHW"
    to = (lambda a: np.transpose(a, (0, 3, 1, 2))) if nchw else (lambda a: a)
    back = (lambda a: np.transpose(a, (0, 2, 3, 1))) if nchw else (lambda a: a)
    st = [1, 1, *strides] if nchw else [1, *strides, 1]
    dl = [1, 1, *dil] if nchw else [1, *dil, 1]
    if nchw and "explicit_paddings" in pad:
        p = padding
        pad = dict(padding="EXPLICIT", explicit_paddings=sum([p[0], p[3], p[1], p[2]], []))
    attrs = dict(strides=st, dilations=dl, data_format=layout, **pad)
    y = on(GPU, lambda t, f: tf.raw_ops.Conv2D(input=t, filter=f, **attrs),
           tf.constant(to(x)), tf.constant(w)).numpy()
    k = kh * kw * xs[3]
    close(back(y), ref, dtype, k)
    dx = on(GPU, lambda f, g: tf.raw_ops.Conv2DBackpropInput(
        input_sizes=list(to(x).shape), filter=f, out_backprop=g, **attrs),
        tf.constant(w), tf.constant(to(dy))).numpy()
    close(back(dx), ref_dx, dtype, kh * kw * co)
    dw = on(GPU, lambda t, g: tf.raw_ops.Conv2DBackpropFilter(
        input=t, filter_sizes=list(w.shape), out_backprop=g, **attrs),
        tf.constant(to(x)), tf.constant(to(dy))).numpy()
    close(dw, ref_dw, dtype, max(1, dy.size // co))


def test_filter_gradient_with_a_long_reduction(rng):
    """N*OH*OW > 16384: the filter gradient is summed in slices (split K)."""
    x = tf.constant(random_array((4, 70, 70, 3), "float32", rng, -1, 1))
    dy = tf.constant(random_array((4, 70, 70, 4), "float32", rng, -1, 1))
    fn = lambda t, g: tf.raw_ops.Conv2DBackpropFilter(  # noqa: E731
        input=t, filter_sizes=[3, 3, 3, 4], out_backprop=g, strides=[1, 1, 1, 1], padding="SAME")
    close(on(GPU, fn, x, dy).numpy(), on(CPU, fn, x, dy).numpy(), "float32", 4 * 70 * 70)
    x16, dy16 = tf.cast(x, tf.float16), tf.cast(dy, tf.float16)
    close(on(GPU, fn, x16, dy16).numpy(), on(CPU, fn, x, dy).numpy(), "float16", 4 * 70 * 70)


# Launch overrides (kernels/conv_plan.h): every tile of the vector variants
# (128x32 and 256x32: 8 x 32 invocations, only some of them load B), the
# general variants' two tiles, and K splits of the filter gradient.
# Winograd F(2x2, 3x3) (3x3, stride 1) forced on and off.
PLANS = [{"TFMP_CONV_TILE": t, "TFMP_CONV_WINOGRAD": "0"}
         for t in ("128x128", "128x64", "64x64", "128x128k16", "64x128", "128x32", "256x32")] + [
    {"TFMP_CONV_VEC": "0"}, {"TFMP_CONV_VEC": "0", "TFMP_CONV_TILE": "64x64"},
    {"TFMP_CONV_VEC": "0", "TFMP_CONV_TILE": "128x32"}, {"TFMP_CONV_A1": "0"},
    {"TFMP_CONV_TILE": "256x32", "TFMP_CONV_SPLITS": "5"},
    # the split-K sum's two variants (kernels/conv_plan.h ConvSumRows)
    {"TFMP_CONV_SPLITS": "11", "TFMP_CONV_SUM": "plain"}, {"TFMP_CONV_SPLITS": "11", "TFMP_CONV_SUM": "rows"},
    {"TFMP_CONV_SPLITS": "1"}, {"TFMP_CONV_SPLITS": "3"},
    {"TFMP_CONV_SPLITS": "7", "TFMP_CONV_TILE": "128x128"},
    {"TFMP_CONV_WINOGRAD": "1"}, {"TFMP_CONV_WINOGRAD": "1", "TFMP_CONV_TILE": "128x128"},
    # the filter gradient's Winograd GEMM with its K split and another tile
    {"TFMP_CONV_WINOGRAD": "1", "TFMP_CONV_SPLITS": "3", "TFMP_CONV_TILE": "64x64"},
    # strided input gradients without the stride phases
    {"TFMP_CONV_PHASED": "0"}]
PLAN_CASES = [((2, 17, 15, 8), (3, 3, 132), (1, 1), "SAME"),
              ((3, 9, 9, 132), (3, 3, 12), (2, 2), "VALID"),
              ((5, 12, 13, 4), (1, 1, 68), (1, 1), "VALID"),
              ((2, 10, 9, 12), (3, 3, 8), (1, 1), "VALID"),
              ((1, 4, 3, 4), (3, 3, 4), (1, 1), [[0, 0], [3, 0], [1, 2], [0, 0]]),
              # a CNN's shapes at odd sizes: N = 32 (M = 429: a partial 128-row
              # tile), an RGB input, stride 2 to 64 channels
              ((3, 13, 11, 32), (3, 3, 32), (1, 1), "SAME"),
              ((2, 9, 11, 3), (3, 3, 32), (2, 2), "SAME"),
              ((2, 11, 9, 32), (1, 1, 64), (2, 2), "SAME"),
              # stride 2 from 32 to 64 channels (the CNN's), 129 phase rows
              ((2, 17, 31, 32), (3, 3, 64), (2, 2), "SAME")]


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: ",".join("%s=%s" % kv for kv in p.items()))
@pytest.mark.parametrize("case", PLAN_CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_conv2d_tiles_and_splits(plan, case, dtype, rng, monkeypatch):
    for k, v in plan.items():
        monkeypatch.setenv(k, v)
    xs, (kh, kw, co), strides, padding = case
    x = tf.constant(random_array(xs, dtype, rng, -1, 1))
    w = tf.constant(random_array((kh, kw, xs[3], co), dtype, rng, -1, 1))
    st = [1, *strides, 1]
    pad = padding_args(padding)
    ref = on(CPU, lambda t, f: tf.raw_ops.Conv2D(input=t, filter=f, strides=st, **pad), x, w)
    dy = tf.constant(random_array(ref.shape, dtype, rng, -1, 1))
    for fn, args, k in [
            (lambda t, f: tf.raw_ops.Conv2D(input=t, filter=f, strides=st, **pad), (x, w),
             kh * kw * xs[3]),
            (lambda f, g: tf.raw_ops.Conv2DBackpropInput(input_sizes=list(xs), filter=f, out_backprop=g,
                                                         strides=st, **pad), (w, dy), kh * kw * co),
            (lambda t, g: tf.raw_ops.Conv2DBackpropFilter(input=t, filter_sizes=[kh, kw, xs[3], co],
                                                          out_backprop=g, strides=st, **pad),
             (x, dy), dy.shape.num_elements() // co)]:
        close(on(GPU, fn, *args).numpy(), on(CPU, fn, *args).numpy(), dtype, k)


def filter_bias_grad(x, sizes, dy, strides, padding, data_format="NHWC", explicit=()):
    """Runs the plugin's _TfmpConv2DBackpropFilterBiasGrad eagerly: (dw, db)."""
    from tensorflow.python.eager import context, execute

    attrs = ("T", x.dtype.as_datatype_enum, "strides", list(strides), "use_cudnn_on_gpu", True,
             "padding", padding, "explicit_paddings", list(explicit), "data_format", data_format,
             "dilations", [1, 1, 1, 1])
    return execute.execute("_TfmpConv2DBackpropFilterBiasGrad", 2,
                           inputs=[x, tf.constant(list(sizes), tf.int32), dy], attrs=attrs,
                           ctx=context.context())


# (N, H, W, Cin), (KH, KW, Cout), strides, padding, extra env
BIAS_GRAD_CASES = [
    ((2, 9, 11, 8), (3, 3, 12), (1, 1), "SAME", {}),
    ((2, 7, 9, 3), (3, 3, 5), (1, 1), "SAME", {}),  # odd channels: the general variants
    ((4, 70, 70, 4), (3, 3, 8), (1, 1), "SAME", {}),  # long K: split, bias sums per slice
    ((4, 70, 70, 4), (3, 3, 8), (1, 1), "SAME", {"TFMP_CONV_SPLITS": "1"}),
    ((4, 70, 70, 4), (3, 3, 8), (1, 1), "SAME", {"TFMP_CONV_SUM": "plain"}),
    ((4, 70, 70, 4), (3, 3, 8), (1, 1), "SAME", {"TFMP_CONV_SUM": "rows", "TFMP_CONV_SPLITS": "13"}),
    ((3, 17, 15, 12), (3, 3, 132), (2, 2), "VALID", {"TFMP_CONV_TILE": "128x128", "TFMP_CONV_SPLITS": "5"}),
    ((2, 12, 13, 3), (3, 3, 70), (1, 1), "SAME", {"TFMP_CONV_SPLITS": "4"}),
    # 32 filters (128x32 tiles), long K (split): the vector and general variants
    ((4, 37, 41, 8), (3, 3, 32), (1, 1), "SAME", {}),
    ((4, 37, 41, 3), (3, 3, 32), (1, 1), "SAME", {}),
    ((4, 37, 41, 8), (3, 3, 28), (2, 2), "SAME", {"TFMP_CONV_TILE": "256x32"}),
    ((0, 5, 5, 4), (3, 3, 8), (1, 1), "SAME", {}),  # no output positions: zeros
    # Winograd forced: the bias gradient from the column sums of D[5], per K slice
    ((2, 9, 11, 8), (3, 3, 12), (1, 1), "SAME", {"TFMP_CONV_WINOGRAD": "1"}),
    ((4, 37, 41, 8), (3, 3, 32), (1, 1), "SAME", {"TFMP_CONV_WINOGRAD": "1", "TFMP_CONV_SPLITS": "5"}),
    ((3, 17, 15, 12), (3, 3, 132), (1, 1), "VALID", {"TFMP_CONV_WINOGRAD": "1", "TFMP_CONV_TILE": "64x64"}),
    ((2, 5, 5, 0), (3, 3, 8), (1, 1), "SAME", {}),  # an empty filter, a full bias gradient
]


@pytest.mark.parametrize("case", BIAS_GRAD_CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_filter_and_bias_gradient_fused(case, dtype, layout, rng, monkeypatch):
    xs, (kh, kw, co), strides, padding, env = case
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    x = random_array(xs, dtype, rng, -1, 1)
    st = [1, *strides, 1]
    size = (lambda n, k, s: -(-n // s)) if padding == "SAME" else (lambda n, k, s: (n - k) // s + 1)
    ys = (xs[0], size(xs[1], kh, strides[0]), size(xs[2], kw, strides[1]), co)
    dy = random_array(ys, dtype, rng, -1, 1)
    sizes = (kh, kw, xs[3], co)
    ref_dw = np.zeros(sizes, dtype) if xs[3] == 0 else on(  # TF's CPU kernel divides by in_c
        CPU, lambda t, g: tf.raw_ops.Conv2DBackpropFilter(
            input=t, filter_sizes=list(sizes), out_backprop=g, strides=st, padding=padding),
        tf.constant(x), tf.constant(dy)).numpy()
    ref_db = on(CPU, lambda g: tf.raw_ops.BiasAddGrad(out_backprop=g), tf.constant(dy)).numpy()
    nchw = layout == "NCHW"
    to = (lambda a: np.transpose(a, (0, 3, 1, 2))) if nchw else (lambda a: a)
    with tf.device(GPU):
        dw, db = filter_bias_grad(tf.identity(to(x)), sizes, tf.identity(to(dy)),
                                  [1, 1, *strides] if nchw else st, padding, layout)
    assert dw.device.endswith("GPU:0") and db.device.endswith("GPU:0")
    assert dw.dtype == dtype and db.dtype == dtype and db.shape == (co,)
    k = max(1, dy.size // max(co, 1))
    close(dw.numpy(), ref_dw, dtype, k)
    close(db.numpy(), ref_db, dtype, k)


@pytest.mark.parametrize("phased", ["1", "0"])
def test_strided_input_gradient_runs_per_stride_phase(phased, rng, monkeypatch):
    # The plans above cover correctness; this pins which kernel runs.
    import tensorflow_metal_plugin as tfmp

    if phased == "0":
        monkeypatch.setenv("TFMP_CONV_PHASED", "0")
    w = tf.constant(random_array((3, 3, 32, 64), "float32", rng, -1, 1))
    dy = tf.constant(random_array((2, 8, 8, 64), "float32", rng, -1, 1))
    fn = lambda f, g: tf.raw_ops.Conv2DBackpropInput(  # noqa: E731
        input_sizes=[2, 16, 16, 32], filter=f, out_backprop=g, strides=[1, 2, 2, 1], padding="SAME")
    on(GPU, fn, w, dy)  # pipelines created
    with tfmp.profile() as p:
        got = on(GPU, fn, w, dy).numpy()
    names = [k["name"] for k in p.report["kernels"]]
    assert any(("_v4p_" in n) == (phased == "1") and n.startswith("conv2d_bwd_input_f32_v4")
               for n in names), names
    close(got, on(CPU, fn, w, dy).numpy(), "float32", 9 * 64)


def test_filter_and_bias_gradient_rejects_bad_input():
    x, dy = tf.ones([1, 5, 5, 4]), tf.ones([1, 5, 5, 8])
    with tf.device(GPU):
        with pytest.raises(tf.errors.InvalidArgumentError, match="out_backprop"):
            filter_bias_grad(tf.identity(x), (3, 3, 4, 8), tf.identity(dy), [1, 1, 1, 1], "VALID")
        with pytest.raises(tf.errors.InvalidArgumentError):  # depth mismatch
            filter_bias_grad(tf.identity(x), (3, 3, 3, 8), tf.identity(dy), [1, 1, 1, 1], "SAME")


def test_conv2d_rejects_bad_input():
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):  # depth mismatch
            on(device, lambda t, f: tf.raw_ops.Conv2D(input=t, filter=f, strides=[1, 1, 1, 1], padding="SAME"),
               tf.ones([1, 5, 5, 3]), tf.ones([3, 3, 2, 4]))
        with pytest.raises(tf.errors.InvalidArgumentError):  # filter much larger than the input
            on(device, lambda t, f: tf.raw_ops.Conv2D(input=t, filter=f, strides=[1, 1, 1, 1], padding="VALID"),
               tf.ones([1, 1, 1, 3]), tf.ones([5, 5, 3, 4]))
    # a filter one larger than the input: an empty output, no error
    y = on(GPU, lambda t, f: tf.raw_ops.Conv2D(input=t, filter=f, strides=[1, 1, 1, 1], padding="VALID"),
           tf.ones([1, 2, 2, 3]), tf.ones([3, 3, 3, 4]))
    assert y.shape == (1, 0, 0, 4)


def fused_conv2d(x, w, args, fused_ops, alpha=0.2, padding="SAME", strides=(1, 1, 1, 1)):
    """Runs TF's internal _FusedConv2D op (not in tf.raw_ops) eagerly."""
    from tensorflow.python.eager import context, execute

    attrs = ("T", x.dtype.as_datatype_enum, "TArgs", [a.dtype.as_datatype_enum for a in args],
             "num_args", len(args), "num_host_args", 0, "strides", list(strides), "padding", padding,
             "explicit_paddings", [], "data_format", "NHWC", "filter_format", "HWIO",
             "dilations", [1, 1, 1, 1], "use_cudnn_on_gpu", True, "fused_ops", fused_ops,
             "epsilon", 0.0001, "leakyrelu_alpha", alpha)
    return execute.execute("_FusedConv2D", 1, inputs=[x, w, *args], attrs=attrs,
                           ctx=context.context())[0]


ACTIVATIONS = {"Relu": tf.nn.relu, "Relu6": tf.nn.relu6, "Elu": tf.nn.elu,
               "LeakyRelu": lambda t: tf.nn.leaky_relu(t, 0.3), "Tanh": tf.tanh, "Sigmoid": tf.sigmoid}


@pytest.mark.parametrize("fused", [["BiasAdd"], ["BiasAdd", "Add"]] +
                         [["BiasAdd", a] for a in ACTIVATIONS] + [["BiasAdd", "Add", "Relu"]], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("chans,plan", [
    ((3, 5), {}),  # the general variant
    ((8, 12), {"TFMP_CONV_WINOGRAD": "1"}),  # Winograd's output transform
    ((8, 12), {"TFMP_CONV_WINOGRAD": "0", "TFMP_CONV_TILE": "128x128"})], ids=str)
def test_fused_conv2d_epilogues(fused, dtype, chans, plan, rng, monkeypatch):
    for k, v in plan.items():
        monkeypatch.setenv(k, v)
    ci, co = chans
    x = tf.constant(random_array((2, 9, 7, ci), dtype, rng, -1, 1))
    w = tf.constant(random_array((3, 3, ci, co), dtype, rng, -1, 1))
    bias = tf.constant(random_array((co,), dtype, rng, -1, 1))
    side = tf.constant(random_array((2, 9, 7, co), dtype, rng, -1, 1))
    args = [bias, side] if "Add" in fused else [bias]
    with tf.device(GPU):
        out = fused_conv2d(*[tf.identity(t) for t in (x, w)], [tf.identity(a) for a in args], fused, alpha=0.3)
    assert out.device.endswith("GPU:0")
    with tf.device(CPU):
        ref = tf.nn.bias_add(tf.nn.conv2d(x, w, 1, "SAME"), bias)
        if "Add" in fused:
            ref = ref + side
        if fused[-1] in ACTIVATIONS:
            ref = ACTIVATIONS[fused[-1]](ref)
    close(out.numpy(), ref.numpy(), dtype, 9 * ci)


def test_fused_conv2d_rejects_unsupported_fusions():
    x, w, b = tf.ones([1, 3, 3, 1]), tf.ones([1, 1, 1, 1]), tf.ones([1])
    with tf.device(GPU):
        with pytest.raises(tf.errors.UnimplementedError, match="fused_ops"):
            fused_conv2d(tf.identity(x), tf.identity(w), [tf.identity(b)], ["BiasAdd", "Softplus"])
