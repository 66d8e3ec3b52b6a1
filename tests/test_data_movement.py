"""Data-movement kernels (kernels/data_movement.cc) against TF's CPU kernels: Transpose, Slice,
StridedSlice, StridedSliceGrad, Tile, BroadcastTo, Pack, ConcatV2, Unpack, Split, SplitV.
Results must be bitwise equal to the CPU's (NaN payloads and -0.0 included)."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, on

ALL = ["float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64", "uint8",
       "uint16", "uint32", "uint64", "bool"]
SOME = ["float32", "float16", "int64", "bool", "uint8", "float64"]


def data(shape, dtype, rng):
    """Fresh random data of any dtype in ALL, with NaN and -0.0 among the floats."""
    if dtype == "bool":
        return tf.constant(rng.random(shape) < 0.5)
    if dtype in ("float32", "float16", "bfloat16", "float64"):
        a = rng.uniform(-100, 100, size=shape).astype(np.float32)
        flat = a.reshape(-1)
        flat[rng.random(flat.size) < 0.05] = np.nan
        flat[rng.random(flat.size) < 0.05] = -0.0
        return tf.cast(tf.constant(a), dtype) if dtype == "bfloat16" else tf.constant(a.astype(dtype))
    info = np.iinfo(dtype)
    return tf.constant(rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True))


def same(out, ref):
    outs = out if isinstance(out, (list, tuple)) else [out]
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        assert o.dtype == r.dtype and o.shape == r.shape, (o.dtype, o.shape, r.dtype, r.shape)
        a, b = o.numpy(), r.numpy()
        bits = "uint%d" % (8 * a.dtype.itemsize)
        np.testing.assert_array_equal(a.reshape(-1).view(bits), b.reshape(-1).view(bits))


def compare(fn, *inputs):
    same(on(GPU, fn, *inputs), on(CPU, fn, *inputs))


def idx(values, index):
    return tf.constant(values, dtype=index)


def cases(table):
    """Each case once, with the index dtype alternating between int32 and int64."""
    return [pytest.param(c, ["int32", "int64"][i % 2], id=str(c)) for i, c in enumerate(table)]


# --- Transpose -------------------------------------------------------------------------------

TRANSPOSE = [((), []), ((1,), [0]), ((7,), [0]), ((33, 5), [1, 0]), ((1025, 3), [1, 0]),
             ((2, 3, 4), [2, 0, 1]), ((2, 3, 4), [0, 1, 2]), ((0, 3), [1, 0]), ((3, 0, 2), [2, 0, 1]),
             ((3, 1, 4, 1, 5), [4, 2, 0, 3, 1]), ((2, 3, 2, 3, 2, 3, 2), [6, 5, 4, 3, 2, 1, 0]),
             ((2,) * 8, [7, 5, 3, 1, 6, 4, 2, 0])]


@pytest.mark.parametrize("case,index", cases(TRANSPOSE))
@pytest.mark.parametrize("dtype", SOME)
def test_transpose(case, index, dtype, rng):
    shape, perm = case
    compare(lambda x: tf.raw_ops.Transpose(x=x, perm=idx(perm, index)), data(shape, dtype, rng))


# --- Slice -------------------------------------------------------------------------------------

SLICE = [((), [], []), ((7,), [2], [3]), ((7,), [0], [-1]), ((7,), [7], [0]), ((7,), [3], [-1]),
         ((1025,), [5], [1000]), ((33, 9), [1, 2], [30, -1]), ((4, 5, 6), [1, 0, 2], [2, 5, 3]),
         ((3, 0, 2), [1, 0, 0], [2, 0, -1]), ((2, 3, 2, 3, 2, 3, 2), [1, 1, 0, 1, 0, 2, 1],
                                               [1, 2, 2, 1, 2, 1, 1])]


@pytest.mark.parametrize("case,index", cases(SLICE))
@pytest.mark.parametrize("dtype", SOME)
def test_slice(case, index, dtype, rng):
    shape, begin, size = case
    fn = lambda x: tf.raw_ops.Slice(input=x, begin=idx(begin, index), size=idx(size, index))  # noqa: E731
    compare(fn, data(shape, dtype, rng))


# --- StridedSlice, StridedSliceGrad --------------------------------------------------------------

# shape, begin, end, strides, masks (begin, end, ellipsis, new_axis, shrink_axis)
STRIDED = [
    ((7,), [1], [6], [2], {}),
    ((7,), [-1], [-8], [-1], {}),                                     # all, reversed
    ((7,), [0], [0], [-1], dict(begin_mask=1, end_mask=1)),           # x[::-1]
    ((7,), [5], [2], [1], {}),                                        # empty
    ((7,), [-100], [100], [3], {}),                                   # clamped
    ((1025,), [3], [1000], [7], {}),
    ((33, 9), [30, 1], [2, 8], [-3, 2], {}),
    ((4, 5, 6), [1, 0, 0], [3, 0, 0], [1, 1, 1], dict(end_mask=6)),
    ((4, 5, 6), [2, 1, 0], [3, 2, 6], [1, 1, 1], dict(shrink_axis_mask=3)),
    ((4, 5), [-1, 0], [0, 5], [1, 1], dict(shrink_axis_mask=1)),      # x[-1, :]
    ((2, 3, 4, 5), [0, 1], [0, 3], [1, 1], dict(ellipsis_mask=1)),    # x[..., 1:3]
    ((3, 4), [0, 0, 0], [0, 0, 0], [1, 1, 1], dict(begin_mask=5, end_mask=5, new_axis_mask=2)),
    ((2, 3, 4, 5), [0, 0, 1, 0], [0, 0, 2, 0], [1, 1, 1, -1],         # x[..., None, 1, ::-1]
     dict(ellipsis_mask=1, new_axis_mask=2, shrink_axis_mask=4, begin_mask=8, end_mask=8)),
    ((2, 3, 4), [1, 0], [2, 0], [1, 1], dict(ellipsis_mask=2, shrink_axis_mask=1)),  # x[1, ...]
    ((0, 3), [0, 0], [0, 3], [1, 1], dict(begin_mask=1, end_mask=1)),
    ((), [], [], [], {}),
    ((), [0], [0], [1], dict(new_axis_mask=1)),                       # scalar[None]
    ((2, 3, 2, 3, 2, 3, 2), [0] * 7, [0] * 7, [-1] * 7, dict(begin_mask=127, end_mask=127)),
    ((3,) * 7, [0] * 7, [0] * 7, [2] * 7, dict(begin_mask=127, end_mask=127)),  # 7 dims left
]


def strided_args(case, index):
    shape, begin, end, strides, masks = case
    return shape, dict(begin=idx(begin, index), end=idx(end, index), strides=idx(strides, index),
                       **masks)


@pytest.mark.parametrize("case,index", cases(STRIDED))
@pytest.mark.parametrize("dtype", SOME)
def test_strided_slice(case, index, dtype, rng):
    shape, args = strided_args(case, index)
    compare(lambda x: tf.raw_ops.StridedSlice(input=x, **args), data(shape, dtype, rng))


def test_strided_slice_int16_index(rng):
    args = dict(begin=idx([1, -1], "int16"), end=idx([5, 0], "int16"), strides=idx([2, -1], "int16"))
    compare(lambda x: tf.raw_ops.StridedSlice(input=x, **args), data((6, 4), "float32", rng))


@pytest.mark.parametrize("case,index", cases(STRIDED))
@pytest.mark.parametrize("dtype", SOME)
def test_strided_slice_grad(case, index, dtype, rng):
    shape, args = strided_args(case, index)
    dy_shape = tf.raw_ops.StridedSlice(input=tf.zeros(shape, "int8"), **args).shape
    fn = lambda dy: tf.raw_ops.StridedSliceGrad(shape=idx(shape, index), dy=dy, **args)  # noqa: E731
    compare(fn, data(dy_shape, dtype, rng))


# --- Tile, BroadcastTo -------------------------------------------------------------------------

TILE = [((), []), ((1,), [7]), ((7,), [3]), ((3, 1), [1, 1025]), ((2, 3), [3, 2]), ((2, 3), [1, 1]),
        ((2, 0), [2, 3]), ((2, 3), [0, 2]), ((1, 2, 1, 3), [2, 1, 3, 2]),
        ((2, 1, 2, 1, 2, 1, 2), [1, 2, 1, 2, 1, 2, 1]), ((2, 3, 2, 3, 2, 3, 2), [2, 1, 2, 1, 2, 1, 2])]


@pytest.mark.parametrize("case,index", cases(TILE))
@pytest.mark.parametrize("dtype", SOME)
def test_tile(case, index, dtype, rng):
    shape, multiples = case
    compare(lambda x: tf.raw_ops.Tile(input=x, multiples=idx(multiples, index)),
            data(shape, dtype, rng))


BROADCAST = [((), []), ((), [7]), ((1,), [1025]), ((3, 1), [3, 33]), ((1, 3), [2, 4, 3]),
             ((2, 1, 3, 1), [2, 5, 3, 4]), ((1,), [0]), ((3,), [0, 3]), ((5,), [5]),
             ((2, 1, 2, 1, 2, 1, 2), [2, 2, 2, 2, 2, 2, 2]), ((1, 3, 1, 3, 1, 3, 1), [2, 3, 2, 3, 2, 3, 2])]


@pytest.mark.parametrize("case,index", cases(BROADCAST))
@pytest.mark.parametrize("dtype", SOME)
def test_broadcast_to(case, index, dtype, rng):
    shape, target = case
    x = data(shape, dtype, rng)
    fn = lambda x: tf.raw_ops.BroadcastTo(input=x, shape=idx(target, index))  # noqa: E731
    if len(target) > 5:  # TF's CPU kernel stops at 5 dims that don't collapse: NumPy's then
        same(on(GPU, fn, x), tf.constant(np.broadcast_to(x.numpy(), target)))
    else:
        compare(fn, x)


# --- Pack, ConcatV2 ------------------------------------------------------------------------------

PACK = [((), 3, 0), ((), 1, -1), ((7,), 1, 0), ((7,), 4, 1), ((7,), 4, -1), ((2, 3), 2, 0),
        ((2, 3), 5, 1), ((2, 3), 3, 2), ((0, 3), 2, 1), ((33,), 3, -2), ((1025,), 2, 0)]


@pytest.mark.parametrize("case", PACK, ids=str)
@pytest.mark.parametrize("dtype", SOME)
def test_pack(case, dtype, rng):
    shape, n, axis = case
    compare(lambda *xs: tf.raw_ops.Pack(values=list(xs), axis=axis),
            *[data(shape, dtype, rng) for _ in range(n)])


CONCAT = [([(7,), (1,), (5,)], 0), ([(3,), (0,), (5,)], 0), ([(2, 3), (2, 1), (2, 0), (2, 5)], 1),
          ([(2, 3), (4, 3)], 0), ([(2, 3), (2, 3)], -1), ([(1025,), (7,)], -1),
          ([(2, 3, 4), (2, 1, 4), (2, 2, 4)], 1), ([(2, 3, 4), (2, 3, 1), (2, 3, 33)], 2),
          ([(0, 3), (0, 3)], 0), ([(1, 1), (1, 1)], 1)]


@pytest.mark.parametrize("case,index", cases(CONCAT))
@pytest.mark.parametrize("dtype", SOME)
def test_concat(case, index, dtype, rng):
    shapes, axis = case
    compare(lambda *xs: tf.raw_ops.ConcatV2(values=list(xs), axis=idx(axis, index)),
            *[data(s, dtype, rng) for s in shapes])


# --- Unpack, Split, SplitV -------------------------------------------------------------------------

UNPACK = [((7,), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 1), ((1, 5), 0), ((0, 3), 1),
          ((3, 0), 0), ((33, 2), -2)]


@pytest.mark.parametrize("case", UNPACK, ids=str)
@pytest.mark.parametrize("dtype", SOME)
def test_unpack(case, dtype, rng):
    shape, axis = case
    compare(lambda x: tf.raw_ops.Unpack(value=x, num=shape[axis], axis=axis), data(shape, dtype, rng))


SPLIT = [((6,), 0, 3), ((7,), 0, 1), ((4, 6), 1, 2), ((4, 6), -2, 4), ((0, 4), 1, 2),
         ((2, 33, 3), 1, 3), ((1025,), 0, 5)]


@pytest.mark.parametrize("case", SPLIT, ids=str)
@pytest.mark.parametrize("dtype", SOME)
def test_split(case, dtype, rng):
    shape, axis, num = case
    fn = lambda x: tf.raw_ops.Split(axis=tf.constant(axis), value=x, num_split=num)  # noqa: E731
    compare(fn, data(shape, dtype, rng))


SPLITV = [((7,), [2, -1, 4], 0), ((7,), [7], 0), ((7,), [0, 7, 0], -1), ((4, 6), [1, 2, 3], 1),
          ((4, 6), [-1, 3], 0), ((3, 0), [0, 0], 1), ((2, 33, 3), [10, 20, 3], 1)]


@pytest.mark.parametrize("case,index", cases(SPLITV))
@pytest.mark.parametrize("dtype", SOME)
def test_split_v(case, index, dtype, rng):
    shape, sizes, axis = case
    fn = lambda x: tf.raw_ops.SplitV(value=x, size_splits=idx(sizes, index),  # noqa: E731
                                     axis=tf.constant(axis), num_split=len(sizes))
    compare(fn, data(shape, dtype, rng))


def test_split_v_int8_sizes(rng):
    fn = lambda x: tf.raw_ops.SplitV(value=x, size_splits=idx([3, -1], "int8"),  # noqa: E731
                                     axis=tf.constant(-1), num_split=2)
    compare(fn, data((5, 9), "float16", rng))


# --- every dtype, every op -------------------------------------------------------------------------

EVERY_OP = {
    "Transpose": ([(3, 4, 5)], lambda x: tf.raw_ops.Transpose(x=x, perm=[2, 0, 1])),
    "Slice": ([(5, 6)], lambda x: tf.raw_ops.Slice(input=x, begin=[1, 2], size=[3, -1])),
    "StridedSlice": ([(5, 6)], lambda x: x[4:0:-2, 1::3]),
    "StridedSliceGrad": ([(2, 2)], lambda dy: tf.raw_ops.StridedSliceGrad(
        shape=[5, 6], begin=[4, 1], end=[0, 6], strides=[-2, 3], dy=dy)),
    "Tile": ([(2, 3)], lambda x: tf.raw_ops.Tile(input=x, multiples=[2, 3])),
    "BroadcastTo": ([(3, 1)], lambda x: tf.raw_ops.BroadcastTo(input=x, shape=[2, 3, 4])),
    "Pack": ([(3, 2)] * 3, lambda *xs: tf.raw_ops.Pack(values=list(xs), axis=1)),
    "ConcatV2": ([(3, 2), (3, 5)], lambda *xs: tf.raw_ops.ConcatV2(values=list(xs), axis=1)),
    "Unpack": ([(3, 4)], lambda x: tf.raw_ops.Unpack(value=x, num=4, axis=1)),
    "Split": ([(3, 4)], lambda x: tf.raw_ops.Split(axis=1, value=x, num_split=2)),
    "SplitV": ([(3, 7)], lambda x: tf.raw_ops.SplitV(value=x, size_splits=[2, 5], axis=1,
                                                     num_split=2)),
}


@pytest.mark.parametrize("op", list(EVERY_OP))
@pytest.mark.parametrize("dtype", ALL)
def test_every_dtype(op, dtype, rng):
    shapes, fn = EVERY_OP[op]
    xs = [data(s, dtype, rng) for s in shapes]
    if (op, dtype) == ("Tile", "uint16"):  # TF's CPU Tile has no uint16: int16 gives the same bits
        ref = tf.bitcast(on(CPU, fn, *[tf.bitcast(x, tf.int16) for x in xs]), tf.uint16)
        same(on(GPU, fn, *xs), ref)
    else:
        compare(fn, *xs)


def test_in_a_graph(rng):
    """The kernels inside a tf.function, shapes flowing between them as int32 tensors."""

    @tf.function
    def fn(x, y):
        t = tf.transpose(x, [1, 0, 2])
        s = t[1:, ::-1, tf.newaxis, 0]
        c = tf.concat([s, tf.tile(s, [1, 1, 2])], axis=-1)
        parts = tf.split(c, [1, 2], axis=2)
        u = tf.unstack(y, axis=1)
        return tf.stack([parts[0][..., 0], parts[1][..., 1]], 0), tf.broadcast_to(u[0], [3, 4])

    x, y = data((4, 5, 3), "float32", rng), data((4, 2), "float32", rng)
    same(on(GPU, fn, x, y), on(CPU, fn, x, y))


def test_too_many_dims_is_unimplemented():
    """8 dims that don't collapse, 70*70 dispatches over the 2 beyond the shader's 6."""
    x = tf.zeros((2, 2, 2, 2, 2, 2, 70, 70))
    with pytest.raises(tf.errors.UnimplementedError, match="dimensions after collapsing"):
        on(GPU, lambda t: tf.raw_ops.Transpose(x=t, perm=list(range(7, -1, -1))), x)


# --- bad input: the same error class as the CPU --------------------------------------------------

M = tf.zeros([2, 3])
BAD = {
    "transpose_perm_range": lambda x: tf.raw_ops.Transpose(x=x, perm=[0, 2]),
    "transpose_perm_repeat": lambda x: tf.raw_ops.Transpose(x=x, perm=[1, 1]),
    "transpose_perm_length": lambda x: tf.raw_ops.Transpose(x=x, perm=[1, 0, 2]),
    "slice_begin": lambda x: tf.raw_ops.Slice(input=x, begin=[3, 0], size=[1, 1]),
    "slice_size": lambda x: tf.raw_ops.Slice(input=x, begin=[1, 1], size=[2, 1]),
    "slice_rank": lambda x: tf.raw_ops.Slice(input=x, begin=[0], size=[1]),
    "strided_zero_stride": lambda x: tf.raw_ops.StridedSlice(input=x, begin=[0], end=[1],
                                                             strides=[0]),
    "strided_shrink_out_of_range": lambda x: tf.raw_ops.StridedSlice(
        input=x, begin=[5], end=[6], strides=[1], shrink_axis_mask=1),
    "strided_lengths": lambda x: tf.raw_ops.StridedSlice(input=x, begin=[0, 0], end=[1],
                                                         strides=[1]),
    "strided_grad_dy": lambda x: tf.raw_ops.StridedSliceGrad(shape=[4, 3], begin=[0], end=[1],
                                                             strides=[1], dy=x),
    "strided_grad_shape": lambda x: tf.raw_ops.StridedSliceGrad(shape=[-2, 3], begin=[0], end=[2],
                                                                strides=[1], dy=x),
    "tile_negative": lambda x: tf.raw_ops.Tile(input=x, multiples=[1, -1]),
    "tile_length": lambda x: tf.raw_ops.Tile(input=x, multiples=[2]),
    "broadcast_incompatible": lambda x: tf.raw_ops.BroadcastTo(input=x, shape=[2, 4]),
    "broadcast_rank": lambda x: tf.raw_ops.BroadcastTo(input=x, shape=[3]),
    "broadcast_shrink": lambda x: tf.raw_ops.BroadcastTo(input=x, shape=[1, 3]),
    "broadcast_negative": lambda x: tf.raw_ops.BroadcastTo(input=x, shape=[2, -3]),
    "pack_shapes": lambda x: tf.raw_ops.Pack(values=[x, tf.transpose(x)], axis=0),
    "pack_axis": lambda x: tf.raw_ops.Pack(values=[x, x], axis=3),
    "concat_shapes": lambda x: tf.raw_ops.ConcatV2(values=[x, tf.transpose(x)], axis=0),
    "concat_ranks": lambda x: tf.raw_ops.ConcatV2(values=[x, x[0]], axis=0),
    "concat_axis": lambda x: tf.raw_ops.ConcatV2(values=[x, x], axis=2),
    "concat_scalars": lambda x: tf.raw_ops.ConcatV2(values=[x[0, 0], x[0, 1]], axis=0),
    "unpack_axis": lambda x: tf.raw_ops.Unpack(value=x, num=2, axis=2),
    "unpack_num": lambda x: tf.raw_ops.Unpack(value=x, num=3, axis=0),
    "split_uneven": lambda x: tf.raw_ops.Split(axis=1, value=x, num_split=2),
    "split_axis": lambda x: tf.raw_ops.Split(axis=2, value=x, num_split=2),
    "splitv_sum": lambda x: tf.raw_ops.SplitV(value=x, size_splits=[1, 1], axis=1, num_split=2),
    "splitv_two_minus_one": lambda x: tf.raw_ops.SplitV(value=x, size_splits=[-1, -1, 1], axis=1,
                                                        num_split=3),
    "splitv_negative": lambda x: tf.raw_ops.SplitV(value=x, size_splits=[4, -2, 1], axis=1,
                                                   num_split=3),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input(case):
    errors = []
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.OpError) as e:
            on(device, BAD[case], M)
        # The same class and message (after the device's function name), so not a placement error.
        errors.append((type(e.value), e.value.message.split("}}")[-1]))
    assert errors[0] == errors[1]
    assert errors[0][0] is tf.errors.InvalidArgumentError
