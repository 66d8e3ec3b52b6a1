"""BatchMatMul (V1/V2/V3), GatherV2, ResourceGather, OneHot, Range and Einsum
against TF's CPU kernels on fresh random inputs."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_metal_plugin as tfmp

from conftest import CPU, GPU, on, random_array
from test_elementwise import check

FLOATS = ["float32", "float16"]


def close(out, ref, dtype, k=1):
    out, ref = out.numpy(), ref.numpy()
    assert out.shape == ref.shape and out.dtype == ref.dtype
    # float16: TF's CPU rounds partial sums to float16, the device accumulates in float32
    scale = max(1.0, np.sqrt(k))
    rtol, atol = (2e-2, 1e-2 * scale) if dtype == "float16" else (1e-5 * scale, 1e-5 * scale)
    np.testing.assert_allclose(out.astype(np.float64), ref.astype(np.float64), rtol=rtol, atol=atol)


# --- BatchMatMul ------------------------------------------------------------------

# (x shape, y shape) before adjoints; V1 needs equal batch dims.
BMM_SHAPES = [
    ((1, 1, 1), (1, 1, 1)),
    ((3, 7, 5), (3, 5, 9)),
    ((2, 65, 33), (2, 33, 65)),
    ((4, 1, 1025), (4, 1025, 7)),
    ((2, 3, 7, 5), (2, 3, 5, 4)),
    ((0, 3, 4), (0, 4, 5)),
    ((2, 0, 4), (2, 4, 5)),
    ((2, 3, 0), (2, 0, 5)),  # K == 0: zeros
    ((5, 2, 3), (5, 3, 0)),
    ((3, 129, 20), (3, 20, 128)),  # around the GEMM tiles, vec4 loads
    ((2, 64, 1024), (2, 1024, 36)),  # split-K over a batch (lavapipe's default)
]
# V2 broadcasting: (x shape, y shape)
BCAST_SHAPES = [
    ((7, 5), (3, 5, 9)),
    ((3, 7, 5), (5, 9)),
    ((2, 1, 7, 5), (1, 4, 5, 3)),     # not one z stride: host loop
    ((1, 3, 1, 7, 5), (2, 1, 4, 5, 6)),
    ((2, 3, 7, 5), (3, 5, 4)),         # collapses to one z
    ((1, 1, 4, 3), (6, 3, 2)),
    ((0, 1, 4, 3), (5, 3, 2)),
    ((33, 65), (2, 2, 65, 1)),
    ((128, 64), (3, 64, 132)),         # broadcast A (batch stride 0), vec4 loads
    # broadcast B: the batch folds into M (one GEMM of 4 * 33 rows; an
    # EinsumDense projection of 32 x 64 tokens), not with adj_x
    ((4, 33, 20), (20, 36)), ((32, 64, 128), (128, 128)),
]


def bmm(op, dtype, adj):
    extra = {"Tout": tf.as_dtype(dtype)} if op == "BatchMatMulV3" else {}
    return lambda a, b: getattr(tf.raw_ops, op)(x=a, y=b, adj_x=adj[0], adj_y=adj[1], **extra)


def ref_op(op):  # TF's CPU has no float16 BatchMatMulV3: V2 computes the same
    return "BatchMatMulV2" if op == "BatchMatMulV3" else op


def adjoint_shape(s, adj):
    return s[:-2] + (s[-1], s[-2]) if adj else s


@pytest.mark.parametrize("op", ["BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("adj", [(False, False), (True, False), (False, True), (True, True)], ids=str)
@pytest.mark.parametrize("shapes", BMM_SHAPES, ids=str)
def test_batch_matmul(op, dtype, adj, shapes, rng):
    xs, ys = adjoint_shape(shapes[0], adj[0]), adjoint_shape(shapes[1], adj[1])
    x = tf.constant(random_array(xs, dtype, rng))
    y = tf.constant(random_array(ys, dtype, rng))
    close(on(GPU, bmm(op, dtype, adj), x, y), on(CPU, bmm(ref_op(op), dtype, adj), x, y), dtype,
          shapes[0][-1])


@pytest.mark.parametrize("op", ["BatchMatMulV2", "BatchMatMulV3"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("adj", [(False, False), (True, True), (False, True)], ids=str)
@pytest.mark.parametrize("shapes", BCAST_SHAPES, ids=str)
def test_batch_matmul_broadcast(op, dtype, adj, shapes, rng):
    xs, ys = adjoint_shape(shapes[0], adj[0]), adjoint_shape(shapes[1], adj[1])
    x = tf.constant(random_array(xs, dtype, rng))
    y = tf.constant(random_array(ys, dtype, rng))
    close(on(GPU, bmm(op, dtype, adj), x, y), on(CPU, bmm(ref_op(op), dtype, adj), x, y), dtype,
          shapes[0][-1])


def test_matmul_keras_style(rng):
    x = tf.constant(random_array((2, 7, 5), "float32", rng))
    w = tf.constant(random_array((5, 3), "float32", rng))
    close(on(GPU, tf.matmul, x, w), on(CPU, tf.matmul, x, w), "float32", 5)


@pytest.mark.parametrize("op,xs,ys", [
    ("BatchMatMulV2", (3,), (3, 4)),                 # rank < 2
    ("BatchMatMulV2", (2, 3), (4,)),
    ("BatchMatMulV2", (2, 3, 4), (2, 5, 6)),         # inner dims
    ("BatchMatMulV2", (2, 3, 4), (3, 4, 6)),         # batch dims not broadcastable
    ("BatchMatMul", (2, 3, 4), (1, 4, 6)),           # V1: batch dims must be equal
    ("BatchMatMul", (3, 4), (2, 4, 6)),              # V1: ranks must be equal
    ("BatchMatMulV3", (2, 3, 4), (2, 5, 6)),
], ids=str)
def test_batch_matmul_rejects(op, xs, ys):
    extra = {"Tout": tf.float32} if op == "BatchMatMulV3" else {}
    fn = lambda a, b: getattr(tf.raw_ops, op)(x=a, y=b, **extra)  # noqa: E731
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, fn, tf.ones(xs), tf.ones(ys))


# --- GatherV2, ResourceGather -----------------------------------------------------

GATHER_TYPES = ["float32", "float16", "float64", "int32", "int64", "bool", "int8", "uint16"]
# (params shape, indices shape, axis, batch_dims)
GATHER_CASES = [
    ((7,), (5,), 0, 0),
    ((1,), (), 0, 0),
    ((1025,), (33,), 0, 0),
    ((33, 5), (7, 3), 0, 0),
    ((33, 5), (7,), 1, 0),
    ((33, 5), (7,), -1, 0),
    ((3, 65, 2), (4, 1), 1, 0),
    ((3, 65, 2), (4,), -2, 0),
    ((0, 5), (0,), 0, 0),
    ((5, 0), (3,), 0, 0),
    ((7, 5), (0, 2), 1, 0),
    ((4, 7, 5), (4, 3), 1, 1),
    ((4, 7, 5), (4, 3), 2, 1),
    ((2, 3, 7, 5), (2, 3, 6), 2, 2),
    ((2, 3, 7, 5), (2, 3, 6), -1, -1),
    ((4, 7, 5), (4, 3, 2), 1, 1),
]


def gather_inputs(params_shape, indices_shape, axis, dtype, index, rng):
    params = tf.constant(random_array(params_shape, dtype, rng))
    dim = params_shape[axis] if params_shape else 1
    indices = tf.constant(rng.integers(0, max(dim, 1), size=indices_shape).astype(index))
    return params, indices


@pytest.mark.parametrize("dtype", GATHER_TYPES)
@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("case", GATHER_CASES, ids=str)
def test_gather_v2(dtype, index, case, rng):
    shape, ishape, axis, batch_dims = case
    params, indices = gather_inputs(shape, ishape, axis, dtype, index, rng)
    fn = lambda p, i: tf.raw_ops.GatherV2(params=p, indices=i, axis=axis, batch_dims=batch_dims)  # noqa: E731
    check(on(GPU, fn, params, indices), on(CPU, fn, params, indices), True, dtype)


def test_gather_out_of_range_gives_zeros():
    # TF's CPU kernel raises InvalidArgument for an index outside [0, n); its
    # GPU kernels (and this device, which can't read indices on the host
    # without waiting for the GPU) write zeros instead.
    params = tf.constant(np.arange(1, 16, dtype=np.float32).reshape(5, 3))
    indices = tf.constant([4, -1, 5, 0, 100], tf.int32)
    out = on(GPU, lambda p, i: tf.gather(p, i), params, indices).numpy()
    expected = np.zeros((5, 3), np.float32)
    expected[0], expected[3] = params.numpy()[4], params.numpy()[0]
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(tf.errors.InvalidArgumentError):
        on(CPU, lambda p, i: tf.gather(p, i), params, indices)


@pytest.mark.parametrize("shape,ishape,axis,batch_dims", [
    ((), (2,), 0, 0),          # params must be at least 1-D
    ((3, 4), (2,), 2, 0),      # axis out of range
    ((3, 4), (2,), -3, 0),
    ((3, 4), (3, 2), 1, 3),    # batch_dims > rank(indices)
    ((3, 4), (3, 2), 0, 1),    # axis < batch_dims
    ((3, 4, 2), (2, 2), 1, 1),  # batch dims differ
], ids=str)
def test_gather_v2_rejects(shape, ishape, axis, batch_dims):
    params = tf.ones(shape)
    indices = tf.zeros(ishape, tf.int32)
    fn = lambda p, i: tf.raw_ops.GatherV2(params=p, indices=i, axis=axis, batch_dims=batch_dims)  # noqa: E731
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, fn, params, indices)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "bool"])
@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("shape,ishape,batch_dims", [
    ((7,), (5,), 0), ((1025, 3), (33,), 0), ((33, 5), (7, 2), 0), ((0, 3), (0,), 0),
    ((4, 7, 5), (4, 3), 1), ((4, 7), (4, 6), 1),
], ids=str)
def test_resource_gather(dtype, index, shape, ishape, batch_dims, rng):
    value = random_array(shape, dtype, rng)
    indices = tf.constant(rng.integers(0, max(shape[batch_dims], 1), size=ishape).astype(index))
    outs = []
    for device in (GPU, CPU):
        with tf.device(device):
            v = tf.Variable(value)
            outs.append(tf.raw_ops.ResourceGather(resource=v.handle, indices=tf.identity(indices),
                                                  dtype=v.dtype, batch_dims=batch_dims))
    assert outs[0].device.endswith("GPU:0")
    check(outs[0], outs[1], True, dtype)


def test_resource_gather_keras_embedding(rng):
    with tf.device(GPU):
        v = tf.Variable(random_array((65, 8), "float32", rng))
        ids = tf.constant(rng.integers(0, 65, size=(3, 7)), tf.int32)
        out = tf.nn.embedding_lookup(v, ids)
    assert out.device.endswith("GPU:0")
    np.testing.assert_array_equal(out.numpy(), v.numpy()[ids.numpy()])


# --- OneHot, Range ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int32", "int64", "bool", "int8"])
@pytest.mark.parametrize("index", ["int32", "int64", "uint8"])
@pytest.mark.parametrize("shape,depth,axis", [
    ((7,), 5, -1), ((), 3, -1), ((1025,), 7, 0), ((3, 33), 65, 1), ((3, 5), 4, 0),
    ((3, 5), 4, 2), ((0, 4), 3, -1), ((4,), 0, -1), ((2, 3, 4), 1, 1),
], ids=str)
def test_one_hot(dtype, index, shape, depth, axis, rng):
    low = 0 if index == "uint8" else -2
    indices = tf.constant(rng.integers(low, depth + 2, size=shape).astype(index))  # some out of range
    on_value = tf.constant(random_array((), dtype, rng))
    off_value = tf.constant(random_array((), dtype, rng))
    fn = lambda i, a, b: tf.raw_ops.OneHot(indices=i, depth=depth, on_value=a, off_value=b, axis=axis)  # noqa: E731
    check(on(GPU, fn, indices, on_value, off_value), on(CPU, fn, indices, on_value, off_value),
          True, dtype)


@pytest.mark.parametrize("axis,depth", [(3, 4), (-2, 4), (0, -1)], ids=str)
def test_one_hot_rejects(axis, depth):
    fn = lambda i: tf.raw_ops.OneHot(indices=i, depth=depth, on_value=1.0, off_value=0.0, axis=axis)  # noqa: E731
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, fn, tf.zeros([2, 3], tf.int32))


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32"])
@pytest.mark.parametrize("start,limit,delta", [
    (0, 7, 1), (3, 1028, 1), (5, -30, -3), (2, 2, 1), (-7, 60, 2), (0, 1, 5), (100, 0, -7),
], ids=str)
def test_range(dtype, start, limit, delta):
    fn = lambda: tf.raw_ops.Range(start=tf.constant(start, dtype), limit=tf.constant(limit, dtype),  # noqa: E731
                                  delta=tf.constant(delta, dtype))
    check(on(GPU, fn), on(CPU, fn), True, dtype)


@pytest.mark.parametrize("start,limit,delta", [(0.1, 7.3, 0.7), (-3.3, 1.1, 0.01), (5.0, -1.5, -0.3)],
                         ids=str)
def test_range_float(start, limit, delta):
    fn = lambda: tf.range(tf.constant(start), tf.constant(limit), tf.constant(delta))  # noqa: E731
    check(on(GPU, fn), on(CPU, fn), True, "float32")


@pytest.mark.parametrize("start,limit,delta", [(0, 5, 0), (5, 0, 1), (0, 5, -1)], ids=str)
def test_range_rejects(start, limit, delta):
    for device in (CPU, GPU):
        with pytest.raises(tf.errors.InvalidArgumentError):
            on(device, lambda: tf.raw_ops.Range(start=tf.constant(start), limit=tf.constant(limit),
                                                delta=tf.constant(delta)))


# --- Einsum -----------------------------------------------------------------------

# (equation, operand shapes): Keras MultiHeadAttention / EinsumDense and more.
EINSUM_CASES = [
    ("abc,cd->abd", [(2, 7, 5), (5, 3)]),
    ("abc,cde->abde", [(2, 7, 5), (5, 4, 3)]),
    ("aecd,abcd->acbe", [(2, 7, 3, 5), (2, 6, 3, 5)]),
    ("acbe,aecd->abcd", [(2, 3, 6, 7), (2, 7, 3, 5)]),
    ("abcd,cde->abe", [(2, 7, 3, 5), (3, 5, 4)]),
    ("ab,bc->ac", [(33, 65), (65, 7)]),
    ("abc,acd->abd", [(3, 7, 5), (3, 5, 4)]),
    ("ab,bc->ca", [(7, 5), (5, 3)]),
    ("ab,cb->ac", [(7, 5), (3, 5)]),
    ("ba,bc->ac", [(5, 7), (5, 3)]),
    ("abc,abd->abcd", [(2, 3, 4), (2, 3, 5)]),      # outer product with batch
    ("ab,cd->abcd", [(2, 3), (4, 5)]),
    ("abc,cd->ad", [(2, 7, 5), (5, 3)]),            # b summed out of one operand first
    ("abc,bd->a", [(2, 7, 5), (7, 3)]),
    ("ab,ab->a", [(7, 1025), (7, 1025)]),
    ("ab,ab->", [(7, 5), (7, 5)]),
    ("abc->cab", [(2, 3, 4)]),
    ("abc->b", [(2, 7, 4)]),
    ("abc->", [(2, 3, 4)]),
    ("abc,cd->abd", [(2, 0, 5), (5, 3)]),
    ("abc,cd->abd", [(2, 7, 0), (0, 3)]),           # empty contraction: zeros
    ("abc,cd->abd", [(1, 1, 1), (1, 1)]),
    # attention with 4-vector friendly sizes, and its gradients (batch (a, c)
    # of [a, e, c, d] read in place: a two-level batch, RecordStridedGemm)
    ("aecd,abcd->acbe", [(3, 16, 4, 8), (3, 12, 4, 8)]),
    ("acbe,aecd->abcd", [(3, 4, 12, 16), (3, 16, 4, 8)]),
    ("acbe,abcd->aecd", [(2, 3, 6, 7), (2, 6, 3, 5)]),
    ("abcd,aecd->acbe", [(2, 6, 3, 5), (2, 7, 3, 5)]),
    ("acbe,aecd->abcd", [(2, 1, 6, 7), (2, 7, 1, 5)]),  # one head
    ("abce,adce->abcd", [(2, 3, 4, 5), (2, 6, 4, 5)]),  # batch (a, c) then one free label each
    ("abcde,aedc->abdc", [(2, 3, 4, 5, 6), (2, 6, 5, 4)]),  # batch a, d; a free label b
    ("abcd,cbed->caeb", [(2, 3, 4, 5), (4, 3, 6, 5)]),  # batch (c, b): in place impossible
    ("bxcy,xbyc->bcxy", [(2, 3, 4, 5), (3, 2, 5, 4)]),  # no contraction: outer products
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("equation,shapes", EINSUM_CASES, ids=str)
def test_einsum(dtype, equation, shapes, rng):
    xs = [tf.constant(random_array(s, dtype, rng)) for s in shapes]
    fn = lambda *t: tf.raw_ops.Einsum(inputs=list(t), equation=equation)  # noqa: E731
    k = max(max(s) if s else 1 for s in shapes)
    ref = on(CPU, fn, *xs)
    if dtype == "float16":
        # TF's CPU einsum sums float16 in float16 (13% off on 1025 products);
        # the device accumulates in float32, like TF's CUDA kernels: the
        # reference is TF's CPU einsum in float32, rounded to float16.
        ref = tf.cast(on(CPU, fn, *[tf.cast(x, tf.float32) for x in xs]), tf.float16)
    close(on(GPU, fn, *xs), ref, dtype, k)


@pytest.mark.parametrize("equation,shapes", [
    ("aecd,abcd->acbe", [(2, 16, 4, 8), (2, 12, 4, 8)]),   # attention scores
    ("acbe,aecd->abcd", [(2, 4, 12, 16), (2, 16, 4, 8)]),  # context
    ("acbe,abcd->aecd", [(2, 4, 12, 16), (2, 12, 4, 8)]),  # their gradients
    ("abcd,aecd->acbe", [(2, 12, 4, 8), (2, 16, 4, 8)]),
], ids=str)
def test_einsum_attention_is_one_gemm(equation, shapes, rng):
    # Keras MultiHeadAttention's einsums read their [batch, seq, heads, dim]
    # operands in place: one GEMM dispatch, no transposes (strided copies).
    xs = [tf.constant(random_array(s, "float32", rng)) for s in shapes]
    fn = lambda *t: tf.raw_ops.Einsum(inputs=list(t), equation=equation)  # noqa: E731
    on(GPU, fn, *xs)  # pipelines created
    with tfmp.profile() as p:
        out = on(GPU, fn, *xs)
    close(out, on(CPU, fn, *xs), "float32", 16)
    kernels = [k["name"] for k in p.report["kernels"]]
    assert len(kernels) == 1 and kernels[0].startswith("matmul_"), kernels


def test_einsum_keras_multi_head_attention(rng):
    layer = tf.keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    q = tf.constant(random_array((2, 5, 8), "float32", rng))
    v = tf.constant(random_array((2, 7, 8), "float32", rng))
    with tf.device(CPU):
        ref = layer(q, v)
    with tf.device(GPU):
        out = layer(q, v)
    assert out.device.endswith("GPU:0")
    close(out, ref, "float32", 8)


@pytest.mark.parametrize("equation,shapes,error", [
    ("...ab,bc->...ac", [(2, 3, 4), (4, 5)], tf.errors.UnimplementedError),
    ("aab,bc->ac", [(3, 3, 4), (4, 5)], tf.errors.UnimplementedError),
    ("ab,bc->ac", [(3, 4), (5, 6)], tf.errors.InvalidArgumentError),
    ("abc,cd->ad", [(3, 4), (4, 5)], tf.errors.InvalidArgumentError),
    ("ij,jk", [(3, 4), (4, 5)], tf.errors.InvalidArgumentError),  # TF's kernel needs '->'
    # an output label no input has: TF's CPU kernel returns a shape (3,) result
    # (a quirk); the device rejects it
    ("ab,bc->ad", [(3, 4), (4, 5)], tf.errors.InvalidArgumentError),
], ids=str)
def test_einsum_rejects(equation, shapes, error):
    fn = lambda *t: tf.raw_ops.Einsum(inputs=list(t), equation=equation)  # noqa: E731
    xs = [tf.ones(s) for s in shapes]
    with pytest.raises(error):
        on(GPU, fn, *xs)
    if error is tf.errors.InvalidArgumentError and equation != "ab,bc->ad":
        with pytest.raises(error):
            on(CPU, fn, *xs)
