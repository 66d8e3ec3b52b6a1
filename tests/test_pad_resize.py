"""Padding (kernels/pad.cc: Pad, PadV2, MirrorPad, MirrorPadGrad) and image resizing
(kernels/resize.cc: ResizeBilinear, ResizeNearestNeighbor and their gradients) against TF's
CPU kernels. The device follows TF's CPU formulas and summation order, so results are
compared bit for bit (float16 and bfloat16 included), NaN and -0.0 among the moved data."""
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, on
from test_data_movement import ALL, data, same

IDX = ["int32", "int64"]


def smooth(shape, dtype, rng):
    """Random data without NaN (for arithmetic: NaN payloads are not part of the contract)."""
    if dtype == "bfloat16":
        return tf.cast(tf.constant(rng.uniform(-3, 3, shape).astype(np.float32)), tf.bfloat16)
    if dtype in ("float32", "float16"):
        return tf.constant(rng.uniform(-3, 3, shape).astype(dtype))
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -100), min(info.max, 100)
    return tf.constant(rng.integers(lo, hi, size=shape, dtype=dtype, endpoint=True))


def compare(fn, *inputs):
    same(on(GPU, fn, *inputs), on(CPU, fn, *inputs))


def cases(table):
    """Each case once, the paddings' dtype alternating between int32 and int64."""
    return [pytest.param(c, IDX[i % 2], id=str(c)) for i, c in enumerate(table)]


# --- Pad, PadV2 -------------------------------------------------------------------------------

# (shape, paddings)
PAD = [((), []), ((1,), [[0, 0]]), ((7,), [[2, 3]]), ((5, 33), [[1, 0], [0, 4]]),
       ((3, 4), [[0, 0], [0, 0]]), ((0, 3), [[1, 2], [0, 1]]), ((2, 0, 3), [[0, 0], [0, 0], [1, 1]]),
       ((4, 3), [[0, 0], [5, 0]]), ((2, 5, 7, 3), [[0, 0], [1, 1], [2, 3], [0, 0]]),
       ((1, 1025), [[1, 1], [0, 3]]), ((2, 3, 1, 2, 3), [[1, 0], [0, 2], [3, 1], [0, 0], [1, 1]]),
       ((2, 1, 3, 1, 2, 2), [[1, 1], [0, 1], [1, 0], [2, 0], [0, 0], [1, 2]])]


@pytest.mark.parametrize("case,index", cases(PAD))
@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "bool"])
def test_pad(case, index, dtype, rng):
    shape, pads = case
    x = data(shape, dtype, rng)
    p = tf.constant(np.array(pads, np.int64).reshape(-1, 2), dtype=index)
    compare(lambda t: tf.raw_ops.Pad(input=t, paddings=p), x)
    c = data((), dtype, rng)
    compare(lambda t, v: tf.raw_ops.PadV2(input=t, paddings=p, constant_values=v), x, c)


@pytest.mark.parametrize("op", ["Pad", "PadV2", "MirrorPad"])
@pytest.mark.parametrize("dtype", ALL)
def test_pad_every_dtype(op, dtype, rng):
    x = data((3, 4, 5), dtype, rng)
    p = tf.constant([[1, 2], [2, 0], [0, 3]])
    if op == "Pad":
        fn = lambda t: tf.raw_ops.Pad(input=t, paddings=p)
    elif op == "PadV2":
        v = data((), dtype, rng)
        fn = lambda t: tf.raw_ops.PadV2(input=t, paddings=p, constant_values=v)
    else:
        fn = lambda t: tf.raw_ops.MirrorPad(input=t, paddings=p, mode="REFLECT")
    compare(fn, x)


NP_MODE = {"REFLECT": "reflect", "SYMMETRIC": "symmetric"}


@pytest.mark.parametrize("rank", [6, 7, 8])
@pytest.mark.parametrize("op", ["PadV2", "REFLECT", "SYMMETRIC"])
def test_pad_high_rank(rank, op, rng):
    """Up to rank 8 (TF's CPU stops at 6 for Pad, 5 for MirrorPad): against numpy."""
    shape = [2, 3, 1, 2, 3, 2, 2, 3][:rank]
    x = smooth(shape, "int32", rng)
    pads = [[int(rng.integers(0, s if op == "REFLECT" else s + 1)) for _ in range(2)] for s in shape]
    if op == "PadV2":
        out = on(GPU, lambda t: tf.raw_ops.PadV2(input=t, paddings=pads, constant_values=7), x)
        ref = np.pad(x.numpy(), pads, constant_values=7)
    else:
        out = on(GPU, lambda t: tf.raw_ops.MirrorPad(input=t, paddings=pads, mode=op), x)
        ref = np.pad(x.numpy(), pads, mode=NP_MODE[op])
    np.testing.assert_array_equal(out.numpy(), ref)


# --- MirrorPad, MirrorPadGrad ----------------------------------------------------------------

# (shape, paddings): valid for both modes (REFLECT needs paddings < size)
MIRROR = [((), []), ((1,), [[0, 0]]), ((7,), [[3, 6]]), ((3,), [[2, 2]]), ((5, 33), [[1, 4], [32, 0]]),
          ((3, 4), [[0, 0], [0, 0]]), ((2, 5, 7, 3), [[0, 1], [4, 2], [3, 5], [1, 1]]),
          ((1, 1025, 2), [[0, 0], [9, 1024], [1, 0]]),
          ((2, 3, 4, 2, 3), [[1, 1], [2, 2], [3, 3], [1, 1], [2, 2]])]


@pytest.mark.parametrize("case,index", cases(MIRROR))
@pytest.mark.parametrize("mode", ["REFLECT", "SYMMETRIC"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int8", "bool"])
def test_mirror_pad(case, index, mode, dtype, rng):
    shape, pads = case
    x = data(shape, dtype, rng)
    p = tf.constant(np.array(pads, np.int64).reshape(-1, 2), dtype=index)
    compare(lambda t: tf.raw_ops.MirrorPad(input=t, paddings=p, mode=mode), x)


def test_mirror_pad_symmetric_full_size(rng):
    """SYMMETRIC allows paddings equal to the size; an empty dim with zero paddings."""
    x = data((3, 4), "float32", rng)
    compare(lambda t: tf.raw_ops.MirrorPad(input=t, paddings=[[3, 3], [4, 0]], mode="SYMMETRIC"), x)
    e = data((0, 4), "float32", rng)
    compare(lambda t: tf.raw_ops.MirrorPad(input=t, paddings=[[0, 0], [4, 1]], mode="SYMMETRIC"), e)


GRAD_TYPES = ["float32", "float16", "bfloat16", "int8", "uint8", "int16", "uint16", "int32",
              "uint32", "int64", "uint64"]


@pytest.mark.parametrize("case,index", cases(MIRROR))
@pytest.mark.parametrize("mode", ["REFLECT", "SYMMETRIC"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int32"])
def test_mirror_pad_grad(case, index, mode, dtype, rng):
    shape, pads = case
    padded = [s + sum(p) for s, p in zip(shape, pads)]
    dy = smooth(padded, dtype, rng)
    p = tf.constant(np.array(pads, np.int64).reshape(-1, 2), dtype=index)
    compare(lambda t: tf.raw_ops.MirrorPadGrad(input=t, paddings=p, mode=mode), dy)


@pytest.mark.parametrize("dtype", GRAD_TYPES)
def test_mirror_pad_grad_every_dtype(dtype, rng):
    dy = smooth((7, 9, 4), dtype, rng)
    compare(lambda t: tf.raw_ops.MirrorPadGrad(input=t, paddings=[[2, 2], [1, 3], [0, 1]],
                                               mode="SYMMETRIC"), dy)


@pytest.mark.parametrize("rank", [6, 8])
@pytest.mark.parametrize("mode", ["REFLECT", "SYMMETRIC"])
def test_mirror_pad_grad_high_rank(rank, mode, rng):
    """Against the forward pad's adjoint in numpy (integers: exact in any order)."""
    shape = [3, 2, 3, 2, 2, 3, 2, 2][:rank]
    pads = [[int(rng.integers(0, s if mode == "REFLECT" else s + 1)) for _ in range(2)]
            for s in shape]
    index = np.arange(np.prod(shape)).reshape(shape)
    src = np.pad(index, pads, mode=NP_MODE[mode])  # padded position -> source element
    dy = smooth(src.shape, "int64", rng)
    ref = np.zeros(index.size, np.int64)
    np.add.at(ref, src.reshape(-1), dy.numpy().reshape(-1))
    out = on(GPU, lambda t: tf.raw_ops.MirrorPadGrad(input=t, paddings=pads, mode=mode), dy)
    np.testing.assert_array_equal(out.numpy(), ref.reshape(shape))


# --- ResizeBilinear, ResizeNearestNeighbor and their gradients --------------------------------

# (image shape NHWC, output size): up, down, non-integer ratios, size 1, same size
RESIZE = [((1, 1, 1, 1), (1, 1)), ((1, 1, 1, 3), (4, 5)), ((2, 5, 7, 3), (9, 4)),
          ((2, 5, 7, 3), (3, 13)), ((1, 8, 8, 2), (16, 16)), ((1, 16, 12, 1), (8, 6)),
          ((3, 7, 5, 2), (7, 5)), ((1, 9, 11, 5), (1, 1)), ((1, 6, 4, 1), (1, 9)),
          ((2, 33, 17, 3), (20, 50)), ((0, 4, 4, 2), (3, 3)), ((1, 4, 3, 1), (11, 3))]
FLAGS = [(False, False), (True, False), (False, True)]
FLAG_IDS = ["legacy", "align_corners", "half_pixel"]


def bilinear(size, align, half):
    return lambda x: tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=align,
                                               half_pixel_centers=half)


def nearest(size, align, half):
    return lambda x: tf.raw_ops.ResizeNearestNeighbor(images=x, size=size, align_corners=align,
                                                      half_pixel_centers=half)


@pytest.mark.parametrize("case", RESIZE, ids=str)
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_resize_bilinear(case, flags, rng):
    shape, size = case
    compare(bilinear(size, *flags), smooth(shape, "float32", rng))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "int8", "uint8", "int16", "uint16",
                                   "int32", "int64"])
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_resize_bilinear_dtypes(dtype, flags, rng):
    x = data((2, 5, 7, 3), dtype, rng) if dtype.startswith(("int", "uint")) else \
        smooth((2, 5, 7, 3), dtype, rng)
    compare(bilinear((9, 4), *flags), x)
    compare(bilinear((5, 7), *flags), x)  # same size: a conversion


def test_resize_bilinear_special_values():
    """NaN and infinities propagate as on the CPU, also through a same-size resize."""
    x = np.arange(48, dtype=np.float32).reshape(1, 4, 4, 3)
    x[0, 1, 2, 0], x[0, 2, 1, 1], x[0, 3, 3, 2] = np.nan, np.inf, -np.inf
    for size in [(4, 4), (7, 6), (2, 2)]:
        out, ref = on(GPU, bilinear(size, False, True), tf.constant(x)), \
            on(CPU, bilinear(size, False, True), tf.constant(x))
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


@pytest.mark.parametrize("case", RESIZE, ids=str)
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_resize_nearest(case, flags, rng):
    shape, size = case
    compare(nearest(size, *flags), data(shape, "float32", rng))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64", "int8", "uint8", "int16",
                                   "uint16", "int32", "int64"])
def test_resize_nearest_dtypes(dtype, rng):
    x = data((2, 5, 7, 3), dtype, rng)
    for flags in FLAGS:
        compare(nearest((9, 4), *flags), x)


def bilinear_grad(align, half):
    return lambda dy, x: tf.raw_ops.ResizeBilinearGrad(grads=dy, original_image=x,
                                                       align_corners=align, half_pixel_centers=half)


def nearest_grad(size, align, half):
    return lambda dy: tf.raw_ops.ResizeNearestNeighborGrad(grads=dy, size=size, align_corners=align,
                                                           half_pixel_centers=half)


@pytest.mark.parametrize("case", RESIZE, ids=str)
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_resize_bilinear_grad(case, flags, rng):
    shape, size = case
    x = smooth(shape, "float32", rng)
    dy = smooth((shape[0],) + size + (shape[3],), "float32", rng)
    compare(bilinear_grad(*flags), dy, x)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_resize_bilinear_grad_dtypes(dtype, flags, rng):
    x = smooth((2, 5, 7, 3), dtype, rng)
    for size in [(9, 4), (3, 13)]:
        compare(bilinear_grad(*flags), smooth((2,) + size + (3,), "float32", rng), x)


@pytest.mark.parametrize("case", RESIZE, ids=str)
@pytest.mark.parametrize("flags", FLAGS + [(True, True)], ids=FLAG_IDS + ["both"])
def test_resize_nearest_grad(case, flags, rng):
    """TF's NearestNeighborGrad accepts both flags at once (its forward op does not)."""
    shape, size = case
    dy = smooth((shape[0],) + size + (shape[3],), "float32", rng)
    compare(nearest_grad(shape[1:3], *flags), dy)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "int8", "uint8", "int32"])
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_resize_nearest_grad_dtypes(dtype, flags, rng):
    dy = data((2, 9, 13, 3), dtype, rng) if dtype in ("int8", "uint8", "int32") else \
        smooth((2, 9, 13, 3), dtype, rng)
    compare(nearest_grad((5, 7), *flags), dy)
    compare(nearest_grad((2, 3), *flags), dy)


@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_long_gradient_sums(flags, dtype, rng):
    """Pixels that gather more terms than one dispatch adds (split over dispatches)."""
    x = smooth((1, 2, 1, 2), dtype, rng)
    dy = smooth((1, 300, 120, 2), "float32", rng)
    compare(bilinear_grad(*flags), dy, x)
    dyt = smooth((1, 300, 120, 2), dtype, rng)
    compare(nearest_grad((1, 1), *flags), dyt)
    wide = smooth((1, 2, 20000, 1), "float32", rng)  # one row longer than a dispatch's terms
    compare(nearest_grad((2, 1), *flags), wide)


# --- through Keras layers and tf.GradientTape ---------------------------------------------------

def layer_case(layer, x):
    """Forward output and input gradient of layer(x) * w (a fixed random weight)."""
    w = tf.constant(np.random.default_rng(1).uniform(-1, 1, layer(x).shape).astype(np.float32))

    def fn(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = layer(t)
            loss = tf.reduce_sum(y * tf.identity(w))
        return y, tape.gradient(loss, t)
    return fn


@pytest.mark.parametrize("layer", [
    lambda: tf.keras.layers.UpSampling2D(2, interpolation="nearest"),
    lambda: tf.keras.layers.UpSampling2D((3, 2), interpolation="bilinear"),
    lambda: tf.keras.layers.ZeroPadding2D(((1, 2), (3, 0))),
    lambda: tf.keras.layers.Resizing(9, 5, interpolation="bilinear"),
    lambda: tf.keras.layers.Resizing(9, 5, interpolation="nearest"),
], ids=["upsampling_nearest", "upsampling_bilinear", "zero_padding", "resizing_bilinear",
        "resizing_nearest"])
def test_keras_layers(layer, rng):
    x = smooth((2, 6, 7, 3), "float32", rng)
    fn = layer_case(layer(), x)
    (y, g), (y_ref, g_ref) = on(GPU, fn, x), on(CPU, fn, x)
    np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-5, atol=1e-5)


def test_in_a_graph(rng):
    @tf.function
    def fn(x):
        p = tf.pad(x, [[0, 0], [1, 1], [2, 2], [0, 0]], mode="REFLECT")
        r = tf.image.resize(p, [11, 13], method="bilinear")
        return tf.image.resize(tf.pad(r, [[0, 0], [1, 0], [0, 1], [0, 0]], constant_values=2.5),
                               [5, 4], method="nearest")
    x = smooth((2, 6, 7, 3), "float32", rng)
    compare(fn, x)


# --- bad input: the same error class and message as the CPU ------------------------------------

X = tf.zeros([2, 3])
IMG = tf.zeros([1, 4, 5, 2])
BAD = {
    "pad_paddings_rows": lambda: tf.raw_ops.Pad(input=X, paddings=[[1, 1]] * 3),
    "pad_paddings_cols": lambda: tf.raw_ops.Pad(input=X, paddings=[[1, 1, 1]] * 2),
    "pad_paddings_rank": lambda: tf.raw_ops.Pad(input=X, paddings=[1, 1]),
    "pad_negative": lambda: tf.raw_ops.Pad(input=X, paddings=[[0, 0], [-1, 2]]),
    "padv2_constant_not_scalar": lambda: tf.raw_ops.PadV2(input=X, paddings=[[0, 1], [0, 0]],
                                                          constant_values=[1.0]),
    "mirror_negative": lambda: tf.raw_ops.MirrorPad(input=X, paddings=[[0, -1], [0, 0]],
                                                    mode="REFLECT"),
    "mirror_reflect_too_large": lambda: tf.raw_ops.MirrorPad(input=X, paddings=[[2, 0], [0, 0]],
                                                             mode="REFLECT"),
    "mirror_symmetric_too_large": lambda: tf.raw_ops.MirrorPad(input=X, paddings=[[0, 0], [0, 4]],
                                                               mode="SYMMETRIC"),
    "mirror_reflect_empty_dim": lambda: tf.raw_ops.MirrorPad(input=tf.zeros([0, 3]),
                                                             paddings=[[0, 0], [1, 1]],
                                                             mode="REFLECT"),
    "mirror_paddings_rows": lambda: tf.raw_ops.MirrorPad(input=X, paddings=[[0, 0]],
                                                         mode="SYMMETRIC"),
    "mirror_grad_negative": lambda: tf.raw_ops.MirrorPadGrad(input=X, paddings=[[0, 0], [-1, 0]],
                                                             mode="SYMMETRIC"),
    "mirror_grad_total": lambda: tf.raw_ops.MirrorPadGrad(input=X, paddings=[[2, 1], [0, 0]],
                                                          mode="SYMMETRIC"),
    "mirror_grad_reflect_too_large": lambda: tf.raw_ops.MirrorPadGrad(
        input=tf.zeros([5, 3]), paddings=[[2, 1], [0, 0]], mode="REFLECT"),
    "mirror_grad_symmetric_too_large": lambda: tf.raw_ops.MirrorPadGrad(
        input=tf.zeros([5, 3]), paddings=[[3, 0], [0, 0]], mode="SYMMETRIC"),
    "bilinear_size_zero": lambda: bilinear([0, 3], False, False)(IMG),
    "bilinear_size_negative": lambda: bilinear([3, -2], False, False)(IMG),
    "bilinear_size_length": lambda: bilinear([3, 2, 1], False, False)(IMG),
    "bilinear_rank": lambda: bilinear([3, 3], False, False)(IMG[0]),
    "bilinear_both_flags": lambda: bilinear([3, 3], True, True)(IMG),
    "bilinear_no_channels": lambda: bilinear([3, 3], False, False)(tf.zeros([1, 4, 5, 0])),
    "bilinear_empty_image": lambda: bilinear([3, 3], False, False)(tf.zeros([1, 0, 5, 1])),
    "nearest_size_zero": lambda: nearest([3, 0], False, False)(IMG),
    "nearest_both_flags": lambda: nearest([3, 3], True, True)(IMG),
    "bilinear_grad_rank": lambda: bilinear_grad(False, False)(tf.zeros([2, 3, 1]), IMG),
    "bilinear_grad_image_rank": lambda: bilinear_grad(False, False)(IMG, tf.zeros([4, 5, 2])),
    "bilinear_grad_empty": lambda: bilinear_grad(False, False)(tf.zeros([1, 0, 3, 2]), IMG),
    "bilinear_grad_both_flags": lambda: bilinear_grad(True, True)(IMG, IMG),
    "nearest_grad_size": lambda: nearest_grad([0, 2], False, False)(IMG),
    "nearest_grad_rank": lambda: nearest_grad([2, 2], False, False)(IMG[0]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input(case):
    errors = []
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.OpError) as e:
            with tf.device(device):
                BAD[case]()
        # The message after the device's function name, up to the op / node suffixes (a
        # GPU op with a host-memory input runs in a function that names its node).
        message = e.value.message.split("}}", 1)[-1].split("\n")[0]
        errors.append((type(e.value), re.sub(r"\s*\[Op:\w+\].*", "", message).strip()))
    assert errors[0] == errors[1]
    assert errors[0][0] is tf.errors.InvalidArgumentError


def test_rank_past_8_is_unimplemented():
    x = tf.zeros([1] * 9)
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.UnimplementedError):
            with tf.device(device):
                tf.raw_ops.Pad(input=x, paddings=[[0, 1]] * 9)
