"""Inference fusions of the plugin's Grappler pass: BatchNormalization folded
into the contraction before it (grappler/patterns/batch_norm_folding.cc), and
batched / reshaped matmuls with a bias and an activation
(grappler/patterns/batch_matmul_bias_activation.cc). For each, a Keras (or
tf.nn) model that produces the pattern: the fused node appears, the result
matches TF's CPU result of the unfused graph on random inputs, the dispatch
count drops by what the pattern saves, a training graph of the same model is
not folded, and the switches turn it off. Then the fused kernels' new
epilogue (FusedBatchNorm, _TfmpFusedBatchMatMul) against TF's CPU kernels
and NumPy, with odd sizes, empty tensors and bad inputs."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.eager import context, execute

import tensorflow_metal_plugin as tfmp
from conftest import CPU, GPU, random_array

FAMILIES = ("conv", "matmul", "elementwise", "optimizer")


@pytest.fixture(autouse=True)
def _fusion_defaults(monkeypatch):
    for var in ("TFMP_FUSION", "TFMP_FUSION_DISABLE"):
        monkeypatch.delenv(var, raising=False)
    tfmp.set_fusion(None, **{f: None for f in FAMILIES})
    yield
    tfmp.set_fusion(None, **{f: None for f in FAMILIES})


def fused_nodes(report):
    return [f for r in report["runs"] for f in r["fused"]]


def patterns(report):
    return sorted(f["pattern"] for f in fused_nodes(report))


def run_traced(fn, args, device=GPU):
    """Traces a fresh tf.function of fn, runs it twice; returns (result,
    dispatches of the second call, fusion report of the tracing)."""
    tfmp.reset_fusion_report()
    f = tf.function(fn)
    with tf.device(device):
        f(*args)
        report = tfmp.fusion_report()
        tfmp.reset_stats()
        out = f(*args)
        out = [o.numpy() for o in out] if isinstance(out, (list, tuple)) else out.numpy()
        dispatches = tfmp.stats()["dispatches"]
    return out, dispatches, report


def fused_and_unfused(fn, args):
    """(fused result, fused dispatches, report, unfused result, unfused dispatches)."""
    out, n, report = run_traced(fn, args)
    tfmp.set_fusion(False)
    try:
        ref, n_off, off_report = run_traced(fn, args)
    finally:
        tfmp.set_fusion(None)
    assert fused_nodes(off_report) == []
    return out, n, report, ref, n_off


def randomize_batchnorms(model, rng):
    """Non-trivial moving statistics, gamma and beta (fresh layers hold 0/1)."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.moving_mean.shape[0]
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype("float32"))
            if layer.beta is not None:
                layer.beta.assign(rng.uniform(-1, 1, c).astype("float32"))
            layer.moving_mean.assign(rng.uniform(-1, 1, c).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.2, 2, c).astype("float32"))


def keras_model(layers, input_shape, rng):
    import keras

    keras.utils.set_random_seed(int(rng.integers(1 << 30)))
    with tf.device(GPU):
        model = keras.Sequential([keras.Input(input_shape)] + layers)
    randomize_batchnorms(model, rng)
    return model


def cpu_result(model, x, training=False):
    with tf.device(CPU):
        return model(x, training=training).numpy()


# --- BatchNorm folding, Keras 3 (tf.nn.batch_normalization arithmetic) ------------

def conv_bn(channels, use_bias, act, axis=-1):
    import keras

    layers = [keras.layers.Conv2D(channels, 3, padding="same", use_bias=use_bias),
              keras.layers.BatchNormalization(axis=axis)]
    return layers + ([keras.layers.Activation(act)] if act else [])


# (layers, expected patterns, unfused dispatches saved)
# Unfused, a Keras 3 BatchNormalization is 7 dispatches: AddV2(variance, eps),
# Rsqrt, Mul(gamma), Mul(x), Mul(mean), Sub(beta), AddV2.
KERAS_CASES = {
    "conv_bn_relu": (lambda: conv_bn(5, False, "relu"), (2, 9, 7, 3), ["conv_batchnorm_relu"]),
    "conv_bias_bn_relu": (lambda: conv_bn(7, True, "relu"), (2, 8, 6, 4),
                          ["conv_bias_batchnorm_relu"]),
    "conv_bias_bn": (lambda: conv_bn(33, True, None), (1, 5, 5, 2), ["conv_bias_batchnorm"]),
    "conv_bn_gelu": (lambda: conv_bn(1, False, "gelu"), (2, 7, 7, 3), ["conv_batchnorm_gelu_erf"]),
    # ResNet50's BatchNormalization(axis=3): Keras reshapes the vectors to [1, 1, 1, C].
    "conv_bias_bn_axis3_relu": (lambda: conv_bn(6, True, "relu", axis=3), (2, 6, 5, 3),
                                ["conv_bias_batchnorm_relu"]),
}


def depthwise_bn_relu6():
    import keras

    return [keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(), keras.layers.ReLU(6.0)]


def dense_bn(units, act):
    import keras

    return [keras.layers.Dense(units), keras.layers.BatchNormalization()] + (
        [keras.layers.Activation(act)] if act else [])


KERAS_CASES.update({
    "depthwise_bn_relu6": (depthwise_bn_relu6, (2, 9, 9, 7), ["conv_batchnorm_relu6"]),
    "dense_bn_relu": (lambda: dense_bn(7, "relu"), (5, 9), ["matmul_bias_batchnorm_relu"]),
    "dense_bn": (lambda: dense_bn(33, None), (3, 4), ["matmul_bias_batchnorm"]),
})


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_keras_batchnorm_folds_in_inference(case, rng):
    make, shape, expected = KERAS_CASES[case]
    model = keras_model(make(), shape[1:], rng)
    x = random_array(shape, "float32", rng, -1, 1)
    fn = lambda t: model(t, training=False)  # noqa: E731
    out, n, report, unfused, n_off = fused_and_unfused(fn, [x])
    assert patterns(report) == expected
    ops = [f["op"] for f in fused_nodes(report)]
    assert ops == [{"conv": "_FusedConv2D", "depthwise": "_FusedDepthwiseConv2dNative",
                    "dense": "_FusedMatMul"}[case.split("_")[0]]]
    assert "FusedBatchNorm" in fused_nodes(report)[0]["fused_ops"]
    want = cpu_result(model, x)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(unfused, want, rtol=1e-5, atol=1e-5)
    assert n == 1, n  # the whole layer stack: one dispatch
    assert n_off > n


@pytest.mark.parametrize("use_bias,act,expected", [
    (True, "relu", "conv_bias_batchnorm_add_relu"),   # ResNet50's block end
    (False, None, "conv_batchnorm_add"),              # MobileNetV2's projection + residual
])
def test_keras_residual_block_folds(use_bias, act, expected, rng):
    """conv -> BatchNorm -> Add(block input) [-> act]: the residual joins the
    epilogue after the BatchNorm (fused_ops [..., FusedBatchNorm, Add, act])."""
    import keras

    keras.utils.set_random_seed(int(rng.integers(1 << 30)))
    with tf.device(GPU):
        i = keras.Input((6, 5, 7))
        y = keras.layers.Conv2D(7, 3, padding="same", use_bias=use_bias)(i)
        y = keras.layers.BatchNormalization(axis=3 if use_bias else -1)(y)
        y = keras.layers.Add()([i, y])
        if act:
            y = keras.layers.Activation(act)(y)
        model = keras.Model(i, y)
    randomize_batchnorms(model, rng)
    x = random_array((2, 6, 5, 7), "float32", rng, -1, 1)
    fn = lambda t: model(t, training=False)  # noqa: E731
    out, n, report, unfused, n_off = fused_and_unfused(fn, [x])
    assert patterns(report) == [expected]
    assert fused_nodes(report)[0]["fused_ops"] == (["BiasAdd"] if use_bias else []) + [
        "FusedBatchNorm", "Add"] + (["Relu"] if act else [])
    want = cpu_result(model, x)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(unfused, want, rtol=1e-5, atol=1e-5)
    assert n == 1


def test_keras_training_graph_is_not_folded(rng):
    """training=True: batch statistics read the conv's output; with a
    gradient, so do the gradient ops. Neither graph folds the BatchNorm."""
    model = keras_model(conv_bn(5, False, "relu"), (7, 7, 3), rng)
    x = random_array((4, 7, 7, 3), "float32", rng, -1, 1)

    def forward(t):
        return model(t, training=True)

    def step(t):
        with tf.GradientTape() as tape:
            y = model(t, training=True)
            loss = tf.reduce_sum(y * y)
        return [y] + tape.gradient(loss, model.trainable_variables)

    for fn in (forward, step):
        out, _, report = run_traced(fn, [x])
        assert not [p for p in patterns(report) if "batchnorm" in p], patterns(report)
    # An inference graph with a gradient (frozen BatchNorm, fine-tuning): the
    # gradient reads the conv's output, so the fold stays off too.
    with tf.device(GPU):
        w = tf.Variable(random_array((3, 3, 3, 5), "float32", rng, -1, 1))
        gamma, beta, mean = (tf.Variable(random_array((5,), "float32", rng, -1, 1)) for _ in range(3))
        var = tf.Variable(random_array((5,), "float32", rng, 0.5, 1))

    def frozen(t):
        with tf.GradientTape() as tape:
            y = tf.nn.conv2d(t, w, 1, "SAME")
            y = tf.nn.relu(tf.nn.batch_normalization(y, mean, var, beta, gamma, 1e-3))
            loss = tf.reduce_sum(y * y)
        return [y] + tape.gradient(loss, [w, gamma, beta])

    out, _, report = run_traced(frozen, [x])
    assert not [p for p in patterns(report) if "batchnorm" in p], patterns(report)
    with tf.device(CPU):
        want = frozen(tf.constant(x))
    for got, ref in zip(out, want):
        np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=1e-4)


def test_keras_batchnorm_switches(monkeypatch, rng):
    model = keras_model(conv_bn(5, True, "relu"), (6, 6, 3), rng)
    x = random_array((2, 6, 6, 3), "float32", rng, -1, 1)
    fn = lambda t: model(t, training=False)  # noqa: E731
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "conv")
    out, n, report = run_traced(fn, [x])
    assert not [p for p in patterns(report) if "batchnorm" in p]
    np.testing.assert_allclose(out, cpu_result(model, x), rtol=1e-5, atol=1e-5)
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "conv_bias_batchnorm_relu")
    _, _, report = run_traced(fn, [x])
    assert "conv_bias_batchnorm_relu" not in patterns(report)
    monkeypatch.delenv("TFMP_FUSION_DISABLE")
    _, n_on, report = run_traced(fn, [x])
    assert patterns(report) == ["conv_bias_batchnorm_relu"] and n_on == 1


def test_batchnorm_vectors_that_broadcast_are_not_folded(rng):
    """tf.nn.batch_normalization with a scalar scale is not a per-channel
    affine of a known shape: the pass leaves it."""
    w = tf.constant(random_array((3, 3, 3, 4), "float32", rng, -1, 1))
    mean, var, beta = (tf.constant(random_array((4,), "float32", rng, 0.1, 1)) for _ in range(3))

    def fn(x):
        y = tf.nn.conv2d(x, w, 1, "SAME")
        return tf.nn.relu(tf.nn.batch_normalization(y, mean, var, beta, tf.constant(1.5), 1e-3))

    x = random_array((2, 5, 5, 3), "float32", rng, -1, 1)
    out, _, report = run_traced(fn, [x])
    assert not [p for p in patterns(report) if "batchnorm" in p]
    with tf.device(CPU):
        np.testing.assert_allclose(out, fn(x).numpy(), rtol=1e-5, atol=1e-5)


# --- BatchNorm folding, FusedBatchNormV3 (tf_keras / tf.compat.v1 graphs) ---------
# The plugin has no FusedBatchNorm kernel yet, so TF places these nodes on the
# CPU (where the pass leaves them) and TF's remapper makes FusedBatchNormV3 +
# Relu a _FusedBatchNormEx there. The fold is tested on GraphDefs with every
# node on the GPU, run in a Session: the fused graph against the CPU graph.

GPU_DEVICE = "/job:localhost/replica:0/task:0/device:GPU:0"


def fused_bn_graph(rng, channels, depthwise=False, bias=False, act=None, is_training=False,
                   ex_mode=None, read_batch_mean=False):
    """A tf.compat.v1 GraphDef x -> conv [+ bias] -> FusedBatchNormV3 [-> act] -> out,
    every node on the GPU; ex_mode: the remapper's _FusedBatchNormEx instead."""
    from tensorflow.python.framework import op_def_library

    c_in = 3
    g = tf.Graph()
    with g.as_default(), g.device(GPU_DEVICE):
        x = tf.compat.v1.placeholder(tf.float32, [2, 9, 7, c_in], name="x")
        if depthwise:
            channels = c_in * 2
            y = tf.nn.depthwise_conv2d(x, random_array((3, 3, c_in, 2), "float32", rng, -1, 1),
                                       [1, 1, 1, 1], "SAME")
        else:
            y = tf.nn.conv2d(x, random_array((3, 3, c_in, channels), "float32", rng, -1, 1),
                             [1, 2, 1, 1], "SAME")
        if bias:
            y = tf.nn.bias_add(y, random_array((channels,), "float32", rng, -1, 1))
        vecs = [tf.constant(v) for v in bn_vectors(channels, rng)]
        extra = []
        if ex_mode:
            _, _, op, _ = op_def_library._apply_op_helper(
                "_FusedBatchNormEx", name="bn", x=y, scale=vecs[0], offset=vecs[1], mean=vecs[2],
                variance=vecs[3], side_input=[], epsilon=1e-3, activation_mode=ex_mode,
                is_training=False, data_format="NHWC", exponential_avg_factor=1.0)
            y = op.outputs[0]
        else:
            outs = tf.raw_ops.FusedBatchNormV3(
                x=y, scale=vecs[0], offset=vecs[1], mean=[] if is_training else vecs[2],
                variance=[] if is_training else vecs[3], epsilon=1e-3, is_training=is_training)
            y = outs[0]
            if read_batch_mean:
                extra = [tf.identity(outs[1], name="batch_mean")]
        if act:
            y = act(y)
        tf.identity(y, name="out")
    return g.as_graph_def(), extra


def run_graph_def(gd, x, on_cpu=False):
    """Runs `out` of a GraphDef in a Session (soft placement off); returns
    (result, dispatches of the second run)."""
    gd2 = tf.compat.v1.GraphDef()
    gd2.CopyFrom(gd)
    if on_cpu:
        for n in gd2.node:
            n.device = "/job:localhost/replica:0/task:0/device:CPU:0"
    g = tf.Graph()
    with g.as_default():
        tf.graph_util.import_graph_def(gd2, name="")
    config = tf.compat.v1.ConfigProto(allow_soft_placement=False)
    with tf.compat.v1.Session(graph=g, config=config) as sess:
        sess.run("out:0", {"x:0": x})
        tfmp.reset_stats()
        out = sess.run("out:0", {"x:0": x})
        return out, tfmp.stats()["dispatches"]


FUSED_BN_CASES = [
    # (depthwise, bias, act, channels, expected pattern)
    (False, False, tf.nn.relu, 7, "conv_fusedbatchnorm_relu"),
    (False, True, tf.nn.elu, 1, "conv_bias_fusedbatchnorm_elu"),
    (False, False, None, 33, "conv_fusedbatchnorm"),
    (True, False, tf.nn.relu6, 6, "conv_fusedbatchnorm_relu6"),
    (True, True, None, 6, "conv_bias_fusedbatchnorm"),
]


@pytest.mark.parametrize("depthwise,bias,act,channels,expected", FUSED_BN_CASES)
def test_fused_batchnorm_v3_folds(depthwise, bias, act, channels, expected, rng):
    gd, _ = fused_bn_graph(rng, channels, depthwise, bias, act)
    tfmp.reset_fusion_report()
    opt = tfmp.optimize_graph_def(gd, preserve=["out", "x"])
    assert patterns(tfmp.fusion_report()) == [expected]
    fused = [n for n in opt.node if n.op.startswith("_Fused")]
    assert len(fused) == 1 and b"FusedBatchNorm" in fused[0].attr["fused_ops"].list.s
    assert not [n for n in opt.node if n.op.startswith("FusedBatchNorm") or n.op == "BiasAdd"]
    x = random_array((2, 9, 7, 3), "float32", rng, -1, 1)
    got, n = run_graph_def(opt, x)
    want, _ = run_graph_def(gd, x, on_cpu=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert n == 1  # conv, BiasAdd, BatchNorm, activation: one dispatch


@pytest.mark.parametrize("mode", ["Identity", "Relu"])
def test_fused_batchnorm_ex_folds(mode, rng):
    seed = int(rng.integers(1 << 30))
    gd, _ = fused_bn_graph(np.random.default_rng(seed), 8, ex_mode=mode)  # channels: 4k
    # The same graph with FusedBatchNormV3 and the activation: TF's CPU
    # _FusedBatchNormEx runs Relu only.
    gd_ref, _ = fused_bn_graph(np.random.default_rng(seed), 8, act=tf.nn.relu if mode == "Relu" else None)
    opt = tfmp.optimize_graph_def(gd, preserve=["out", "x"])
    fused = [n for n in opt.node if n.op == "_FusedConv2D"]
    assert len(fused) == 1, sorted(n.op for n in opt.node)
    assert list(fused[0].attr["fused_ops"].list.s) == [b"FusedBatchNorm"] + ([b"Relu"] if mode == "Relu" else [])
    x = random_array((2, 9, 7, 3), "float32", rng, -1, 1)
    got, n = run_graph_def(opt, x)
    want, _ = run_graph_def(gd_ref, x, on_cpu=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert n == 1


def test_fused_batchnorm_graph_def_attrs_and_idempotence(rng):
    gd, _ = fused_bn_graph(rng, 5, bias=True, act=tf.nn.relu)
    once = tfmp.optimize_graph_def(gd, preserve=["out", "x"])
    fused = [n for n in once.node if n.op == "_FusedConv2D"]
    assert len(fused) == 1
    assert list(fused[0].attr["fused_ops"].list.s) == [b"BiasAdd", b"FusedBatchNorm", b"Relu"]
    assert len([i for i in fused[0].input if not i.startswith("^")]) == 7
    assert fused[0].attr["num_args"].i == 5 and len(fused[0].attr["TArgs"].list.type) == 5
    assert abs(fused[0].attr["epsilon"].f - 1e-3) < 1e-9
    twice = tfmp.optimize_graph_def(once, preserve=["out", "x"])
    assert once.SerializeToString(deterministic=True) == twice.SerializeToString(deterministic=True)


def test_fused_batchnorm_not_folded_in_training_or_when_statistics_are_read(rng):
    gd, _ = fused_bn_graph(rng, 5, act=tf.nn.relu, is_training=True)
    tfmp.reset_fusion_report()
    tfmp.optimize_graph_def(gd, preserve=["out", "x"])
    assert not [p for p in patterns(tfmp.fusion_report()) if "batchnorm" in p]
    gd, _ = fused_bn_graph(rng, 5, act=tf.nn.relu, read_batch_mean=True)
    tfmp.reset_fusion_report()
    opt = tfmp.optimize_graph_def(gd, preserve=["out", "x", "batch_mean"])
    assert not [p for p in patterns(tfmp.fusion_report()) if "batchnorm" in p]
    assert [n for n in opt.node if n.op == "FusedBatchNormV3"]


# --- BatchMatMul + bias + activation, Dense on rank > 2 -----------------------------

def test_keras_dense_on_3d_inputs(rng):
    """Keras 3's Dense on [B, T, C] is tf.tensordot: Reshape, MatMul, Reshape,
    then BiasAdd and the activation: one _FusedMatMul and a free Reshape."""
    import keras

    model = keras_model([keras.layers.Dense(7, activation="gelu"), keras.layers.Dense(33),
                         keras.layers.Dense(3, activation="sigmoid")], (5, 9), rng)
    x = random_array((3, 5, 9), "float32", rng, -1, 1)
    fn = lambda t: model(t)  # noqa: E731
    out, n, report, unfused, n_off = fused_and_unfused(fn, [x])
    assert patterns(report) == ["matmul_reshape_bias", "matmul_reshape_bias_gelu_erf",
                                "matmul_reshape_bias_sigmoid"]
    want = cpu_result(model, x)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(unfused, want, rtol=1e-5, atol=1e-5)
    assert n == 3
    assert n_off - n == 3 + 5 + 1  # 3 BiasAdds, Gelu's 5 ops, Sigmoid
    # (Dense(1) adds its bias with AddV2, not BiasAdd: Keras' ops.add makes
    # a BiasAdd only of a bias with one dim > 1. The elementwise chains take
    # that one.)


BMM_ACTS = {None: (None, 0), "Relu": (tf.nn.relu, 1), "Tanh": (tf.tanh, 1),
            "LeakyRelu": (lambda t: tf.nn.leaky_relu(t, 0.3), 1)}


@pytest.mark.parametrize("act", list(BMM_ACTS))
@pytest.mark.parametrize("adj_x,adj_y,xs,ys", [
    (False, False, (3, 7, 5), (3, 5, 33)),
    (True, False, (2, 1, 5, 7), (4, 5, 9)),   # broadcast batch dims
    (False, True, (2, 1, 6), (2, 65, 6)),
])
def test_batch_matmul_bias_activation(act, adj_x, adj_y, xs, ys, rng):
    fn_act, saved = BMM_ACTS[act]
    x = random_array(xs, "float32", rng, -1, 1)
    y = tf.constant(random_array(ys, "float32", rng, -1, 1))
    n = ys[-2] if adj_y else ys[-1]
    b = tf.constant(random_array((n,), "float32", rng, -1, 1))

    def fn(t):
        z = tf.nn.bias_add(tf.matmul(t, y, adjoint_a=adj_x, adjoint_b=adj_y), b)
        return fn_act(z) if fn_act else z

    out, n_on, report, unfused, n_off = fused_and_unfused(fn, [x])
    assert patterns(report) == ["batch_matmul_bias" + ("_" + {"Relu": "relu", "Tanh": "tanh",
                                                                "LeakyRelu": "leaky_relu"}[act]
                                                               if act else "")]
    assert fused_nodes(report)[0]["op"] == "_TfmpFusedBatchMatMul"
    with tf.device(CPU):
        want = fn(x).numpy()
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(unfused, want, rtol=1e-5, atol=1e-5)
    assert n_off - n_on == 1 + saved


def test_batch_matmul_add_of_a_constant_and_switch(monkeypatch, rng):
    x = random_array((2, 4, 6), "float32", rng, -1, 1)
    y = tf.constant(random_array((2, 6, 5), "float32", rng, -1, 1))
    c = random_array((5,), "float32", rng, -1, 1)
    fn = lambda t: tf.nn.elu(tf.matmul(t, y) + tf.constant(c))  # noqa: E731
    out, n, report = run_traced(fn, [x])
    assert patterns(report) == ["batch_matmul_addconst_elu"] and n == 1
    with tf.device(CPU):
        np.testing.assert_allclose(out, fn(x).numpy(), rtol=1e-5, atol=1e-5)
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "matmul")
    _, n_off, report = run_traced(fn, [x])
    assert not [p for p in patterns(report) if "matmul" in p] and n_off > n


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("xs,w_shape", [((4, 9, 6), (6, 5)), ((2, 3, 7, 5), (5, 3)), ((1, 1, 3), (3, 1))])
def test_broadcast_matmul_weight_gradient_is_one_matmul(dtype, xs, w_shape, rng):
    """The gradient of [B.., T, C] x [C, N] (Keras 3's EinsumDense, e.g. the
    attention projections) w.r.t. the weight is TF's BatchMatMulV2(x, dy,
    adj_x) summed over the batch: one MatMul of the rows instead
    (grappler/patterns/batch_matmul_grad_sum.cc)."""
    x = tf.constant(random_array(xs, dtype, rng, -1, 1))
    w = tf.constant(random_array(w_shape, dtype, rng, -1, 1))
    dy = tf.constant(random_array(xs[:-1] + w_shape[-1:], dtype, rng, -1, 1))

    def fn(x, w, dy):
        with tf.GradientTape() as tape:
            tape.watch(w)
            y = tf.matmul(x, w)
        return tape.gradient(y, w, output_gradients=dy)

    out, n, report, unfused, n_off = fused_and_unfused(fn, [x, w, dy])
    assert patterns(report) == ["batch_matmul_grad_sum"]
    assert fused_nodes(report)[0]["op"] == "MatMul"
    with tf.device(CPU):
        want = fn(x, w, dy).numpy()
    tol = 2e-2 if dtype == "float16" else 1e-5
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(unfused, want, rtol=tol, atol=tol)
    assert out.shape == w_shape and n < n_off


@pytest.mark.parametrize("case", ["adj_y", "no_adj_x", "keep_dims", "partial_axes", "broadcast", "read_elsewhere"])
def test_batch_matmul_sums_that_are_not_one_matmul_stay(case, rng):
    """Forms the rewrite must leave: dy transposed, x not transposed, keep_dims,
    a sum over only some batch axes, a broadcast batch dim, the product read
    elsewhere; each still matches TF's CPU result."""
    b, t, c, n = 3, 5, 4, 6
    xs = (2, b, t, c) if case == "partial_axes" else (b, t, c)
    x = tf.constant(random_array(xs, "float32", rng, -1, 1))
    dy_shape = {"adj_y": (b, n, t), "no_adj_x": (b, c, n), "broadcast": (1, t, n)}.get(case, xs[:-1] + (n,))
    dy = tf.constant(random_array(dy_shape, "float32", rng, -1, 1))
    if case == "no_adj_x":
        x = tf.constant(random_array((b, t, c), "float32", rng, -1, 1))

    def fn(x, dy):
        p = tf.linalg.matmul(x, dy, adjoint_a=case != "no_adj_x", adjoint_b=case == "adj_y")
        s = tf.reduce_sum(p, axis=[0], keepdims=case == "keep_dims")
        return (s, p * 2.0) if case == "read_elsewhere" else s

    out, _, report, _, _ = fused_and_unfused(fn, [x, dy])
    assert "batch_matmul_grad_sum" not in patterns(report)
    with tf.device(CPU):
        want = fn(x, dy)
    for o, w in zip(out if isinstance(out, list) else [out], want if isinstance(want, tuple) else [want]):
        np.testing.assert_allclose(o, w.numpy(), rtol=1e-5, atol=1e-5)


# --- the kernels ------------------------------------------------------------------------

def call(op, inputs, attrs, device=GPU):
    with tf.device(device):
        tens = [tf.constant(t) for t in inputs]
        flat = tuple(x for kv in attrs.items() for x in kv)
        return execute.execute(op, 1, inputs=tens, attrs=flat, ctx=context.context())[0].numpy()


def bn_vectors(c, rng):
    return [random_array((c,), "float32", rng, 0.5, 1.5), random_array((c,), "float32", rng, -1, 1),
            random_array((c,), "float32", rng, -1, 1), random_array((c,), "float32", rng, 0.1, 2)]


def numpy_bn(v, scale, offset, mean, var, eps):
    inv = scale.astype("float64") / np.sqrt(var.astype("float64") + eps)
    return (v - mean) * inv + offset


def conv_attrs(dtype, num_args, fused_ops, targs, eps=1e-3, padding="SAME"):
    return dict(T=tf.as_dtype(dtype).as_datatype_enum, TArgs=[tf.as_dtype(t).as_datatype_enum for t in targs],
                num_args=num_args, num_host_args=0, strides=[1, 1, 2, 1], padding=padding,
                explicit_paddings=[], data_format="NHWC", filter_format="HWIO", dilations=[1, 1, 1, 1],
                use_cudnn_on_gpu=True, fused_ops=fused_ops, epsilon=eps, leakyrelu_alpha=0.2)


@pytest.mark.parametrize("c_out", [1, 7, 33, 63, 64, 65])
@pytest.mark.parametrize("act", [None, "Relu", "Relu6", "Elu"])
def test_fused_conv_batchnorm_kernel_matches_tf_cpu(c_out, act, rng):
    """TF's CPU _FusedConv2D implements [FusedBatchNorm(, act)]: the reference."""
    x = random_array((2, 9, 11, 3), "float32", rng, -1, 1)
    w = random_array((3, 3, 3, c_out), "float32", rng, -1, 1)
    vecs = bn_vectors(c_out, rng)
    attrs = conv_attrs("float32", 4, ["FusedBatchNorm"] + ([act] if act else []), ["float32"] * 4)
    got = call("_FusedConv2D", [x, w] + vecs, attrs)
    want = call("_FusedConv2D", [x, w] + vecs, attrs, CPU)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_fused_conv_bias_batchnorm_kernel(dtype, rng):
    """The plugin's [BiasAdd, FusedBatchNorm, act]: bias in T, the BatchNorm
    vectors in float32 (TArgs), against NumPy."""
    x = random_array((3, 8, 7, 5), dtype, rng, -1, 1)
    w = random_array((3, 3, 5, 9), dtype, rng, -1, 1)
    bias = random_array((9,), dtype, rng, -1, 1)
    vecs = bn_vectors(9, rng)
    attrs = conv_attrs(dtype, 5, ["BiasAdd", "FusedBatchNorm", "Swish"], [dtype] + ["float32"] * 4,
                       eps=0.01, padding="VALID")
    got = call("_FusedConv2D", [x, w, bias] + vecs, attrs).astype("float64")
    with tf.device(CPU):
        v = tf.nn.conv2d(x.astype("float32"), w.astype("float32"), [1, 1, 2, 1], "VALID").numpy()
    v = numpy_bn(v.astype("float64") + bias.astype("float64"), *vecs, 0.01)
    want = v / (1 + np.exp(-v))
    tol = 1e-5 if dtype == "float32" else 4e-3
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 4)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_fused_conv_batchnorm_residual_kernel(dtype, rng):
    """[BiasAdd, FusedBatchNorm, Add, Relu]: the residual after the BatchNorm."""
    x = random_array((2, 7, 9, 4), dtype, rng, -1, 1)
    w = random_array((3, 3, 4, 65), dtype, rng, -1, 1)
    bias = random_array((65,), dtype, rng, -1, 1)
    vecs = bn_vectors(65, rng)
    res = random_array((2, 7, 5, 65), dtype, rng, -1, 1)
    attrs = conv_attrs(dtype, 6, ["BiasAdd", "FusedBatchNorm", "Add", "Relu"],
                       [dtype] + ["float32"] * 4 + [dtype])
    got = call("_FusedConv2D", [x, w, bias] + vecs + [res], attrs).astype("float64")
    with tf.device(CPU):
        v = tf.nn.conv2d(x.astype("float32"), w.astype("float32"), [1, 1, 2, 1], "SAME").numpy()
    want = np.maximum(numpy_bn(v.astype("float64") + bias, *vecs, 1e-3) + res.astype("float64"), 0)
    tol = 1e-5 if dtype == "float32" else 4e-3
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="added after FusedBatchNorm"):
        call("_FusedConv2D", [x, w, bias] + vecs + [res[:, :, :4]], attrs)


def test_fused_depthwise_and_matmul_batchnorm_kernels(rng):
    x = random_array((2, 9, 7, 3), "float32", rng, -1, 1)
    w = random_array((3, 3, 3, 2), "float32", rng, -1, 1)
    vecs = bn_vectors(6, rng)
    attrs = dict(T=tf.float32.as_datatype_enum, num_args=4, strides=[1, 2, 1, 1], padding="SAME",
                 data_format="NHWC", dilations=[1, 1, 1, 1], fused_ops=["FusedBatchNorm", "Relu6"],
                 epsilon=1e-3, leakyrelu_alpha=0.2)
    got = call("_FusedDepthwiseConv2dNative", [x, w] + vecs, attrs)
    with tf.device(CPU):
        v = tf.nn.depthwise_conv2d(x, w, [1, 2, 1, 1], "SAME").numpy().astype("float64")
    np.testing.assert_allclose(got, np.clip(numpy_bn(v, *vecs, 1e-3), 0, 6), rtol=1e-5, atol=1e-5)
    # _FusedMatMul with a bias and a BatchNorm, transposed operands, K == 0.
    for m, k, n in [(33, 17, 65), (1, 1, 1), (4, 0, 7)]:
        a = random_array((k, m), "float32", rng, -1, 1)
        b = random_array((n, k), "float32", rng, -1, 1)
        bias = random_array((n,), "float32", rng, -1, 1)
        vecs = bn_vectors(n, rng)
        attrs = dict(transpose_a=True, transpose_b=True, T=tf.float32.as_datatype_enum, num_args=5,
                     fused_ops=["BiasAdd", "FusedBatchNorm", "Tanh"], epsilon=1e-3, leakyrelu_alpha=0.2)
        got = call("_FusedMatMul", [a, b, bias] + vecs, attrs)
        v = a.T.astype("float64") @ b.T.astype("float64") + bias
        np.testing.assert_allclose(got, np.tanh(numpy_bn(v, *vecs, 1e-3)), rtol=1e-5, atol=1e-5)


def test_fused_batchnorm_kernel_edge_cases(rng):
    w = random_array((3, 3, 3, 4), "float32", rng, -1, 1)
    vecs = bn_vectors(4, rng)
    attrs = conv_attrs("float32", 4, ["FusedBatchNorm", "Relu"], ["float32"] * 4)
    # Empty batch: an empty result, no dispatch.
    assert call("_FusedConv2D", [np.zeros((0, 5, 5, 3), "float32"), w] + vecs, attrs).shape == (0, 5, 3, 4)
    # A vector of the wrong size: InvalidArgument naming the op; the process goes on.
    with pytest.raises(tf.errors.InvalidArgumentError, match="_FusedConv2D.*mean"):
        call("_FusedConv2D", [np.ones((1, 5, 5, 3), "float32"), w] + vecs[:2] + [vecs[2][:3], vecs[3]],
             attrs)
    # num_args that does not match fused_ops.
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_args"):
        call("_FusedConv2D", [np.ones((1, 5, 5, 3), "float32"), w] + vecs + [vecs[0]],
             dict(attrs, num_args=5, TArgs=[tf.float32.as_datatype_enum] * 5))
    # Half BatchNorm vectors (only _FusedDepthwiseConv2dNative's args of T could carry them).
    xd = random_array((1, 5, 5, 3), "float16", rng, -1, 1)
    wd = random_array((3, 3, 3, 1), "float16", rng, -1, 1)
    with pytest.raises(tf.errors.UnimplementedError, match="float32"):
        call("_FusedDepthwiseConv2dNative", [xd, wd] + [v[:3].astype("float16") for v in vecs],
             dict(T=tf.float16.as_datatype_enum, num_args=4, strides=[1, 1, 1, 1], padding="SAME",
                  data_format="NHWC", dilations=[1, 1, 1, 1], fused_ops=["FusedBatchNorm"],
                  epsilon=1e-3, leakyrelu_alpha=0.2))
    # FusedBatchNorm after an Add is not an epilogue the kernels run.
    with pytest.raises(tf.errors.UnimplementedError, match="_FusedConv2D"):
        call("_FusedConv2D", [np.ones((1, 5, 5, 3), "float32"), w] + vecs,
             conv_attrs("float32", 4, ["FusedBatchNorm", "Relu", "Relu"], ["float32"] * 4))



@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("path,env", [
    ("winograd", {"TFMP_CONV_WINOGRAD": "1"}),  # the output transform's epilogue
    ("vec4", {"TFMP_CONV_WINOGRAD": "0"}),      # channels multiples of 4: the vector tiles
    ("scalar", {"TFMP_CONV_VEC": "0"}),         # the general gathers
])
def test_fused_conv_batchnorm_every_forward_path(path, env, dtype, monkeypatch, rng):
    """[BiasAdd, FusedBatchNorm, Add, Relu] through each forward conv path
    (kernels/conv_plan.h): every one applies conv.comp's fwd_epilogue()."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    x = random_array((2, 10, 9, 8), dtype, rng, -1, 1)
    w = random_array((3, 3, 8, 12), dtype, rng, -1, 1)
    bias = random_array((12,), dtype, rng, -1, 1)
    vecs = bn_vectors(12, rng)
    res = random_array((2, 10, 9, 12), dtype, rng, -1, 1)
    attrs = dict(conv_attrs(dtype, 6, ["BiasAdd", "FusedBatchNorm", "Add", "Relu"],
                            [dtype] + ["float32"] * 4 + [dtype]), strides=[1, 1, 1, 1])
    got = call("_FusedConv2D", [x, w, bias] + vecs + [res], attrs).astype("float64")
    with tf.device(CPU):
        v = tf.nn.conv2d(x.astype("float32"), w.astype("float32"), 1, "SAME").numpy()
    want = np.maximum(numpy_bn(v.astype("float64") + bias, *vecs, 1e-3) + res.astype("float64"), 0)
    tol = 1e-4 if dtype == "float32" else 8e-3
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 4)


@pytest.mark.parametrize("config", ["", "128x128:4", "64x64"])
def test_fused_matmul_batchnorm_declines_split_k(config, monkeypatch, rng):
    """A long K over few output tiles would split K (matmul_reduce.comp has no
    BatchNorm): with a folded BatchNorm the GEMM keeps one pass, also when
    TFMP_MATMUL_CONFIG asks for splits."""
    if config:
        monkeypatch.setenv("TFMP_MATMUL_CONFIG", config)
    m, k, n = 8, 2048, 20
    a = random_array((m, k), "float32", rng, -1, 1)
    b = random_array((k, n), "float32", rng, -1, 1)
    bias = random_array((n,), "float32", rng, -1, 1)
    vecs = bn_vectors(n, rng)
    attrs = dict(transpose_a=False, transpose_b=False, T=tf.float32.as_datatype_enum, num_args=5,
                 fused_ops=["BiasAdd", "FusedBatchNorm", "Relu"], epsilon=1e-3, leakyrelu_alpha=0.2)
    got = call("_FusedMatMul", [a, b, bias] + vecs, attrs)
    v = a.astype("float64") @ b.astype("float64") + bias
    np.testing.assert_allclose(got, np.maximum(numpy_bn(v, *vecs, 1e-3), 0), rtol=1e-4, atol=1e-4)


def bmm_attrs(dtype, adj_x, adj_y, fused_ops, alpha=0.2, num_args=1, targs=None):
    t = tf.as_dtype(dtype).as_datatype_enum
    return dict(T=t, TArgs=targs or [t] * num_args, num_args=num_args, adj_x=adj_x, adj_y=adj_y,
                fused_ops=fused_ops, epsilon=1e-4, leakyrelu_alpha=alpha)


def numpy_act(v, name, alpha=0.2):
    return {None: lambda: v, "Relu": lambda: np.maximum(v, 0), "Sigmoid": lambda: 1 / (1 + np.exp(-v)),
            "LeakyRelu": lambda: np.where(v < 0, alpha * v, v)}[name]()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("act", [None, "Relu", "Sigmoid", "LeakyRelu"])
@pytest.mark.parametrize("xs,ys,adj_x,adj_y", [
    ((3, 33, 17), (3, 17, 65), False, False),
    ((2, 1, 7, 5), (4, 7, 1), True, False),
    ((1, 64, 63), (5, 65, 63), False, True),
    ((2, 0, 4), (2, 4, 3), False, False),  # empty output
    ((2, 3, 0), (2, 0, 3), False, False),  # K == 0: act(bias)
])
def test_fused_batch_matmul_kernel(dtype, act, xs, ys, adj_x, adj_y, rng):
    x = random_array(xs, dtype, rng, -1, 1)
    y = random_array(ys, dtype, rng, -1, 1)
    n = ys[-2] if adj_y else ys[-1]
    bias = random_array((n,), dtype, rng, -2, 2)
    got = call("_TfmpFusedBatchMatMul", [x, y, bias],
               bmm_attrs(dtype, adj_x, adj_y, ["BiasAdd"] + ([act] if act else []), alpha=0.3))
    x64, y64 = x.astype("float64"), y.astype("float64")
    if adj_x:
        x64 = np.swapaxes(x64, -1, -2)
    if adj_y:
        y64 = np.swapaxes(y64, -1, -2)
    want = numpy_act(np.matmul(x64, y64) + bias.astype("float64"), act, 0.3)
    assert got.shape == want.shape and got.dtype == np.dtype(dtype)
    tol = 1e-5 if dtype == "float32" else 4e-3
    np.testing.assert_allclose(got.astype("float64"), want, rtol=tol, atol=tol * 4)


def test_fused_batch_matmul_errors_and_shape(rng):
    x, y = np.ones((2, 3, 4), "float32"), np.ones((2, 4, 5), "float32")
    attrs = bmm_attrs("float32", False, False, ["BiasAdd", "Relu"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="_TfmpFusedBatchMatMul.*bias"):
        call("_TfmpFusedBatchMatMul", [x, y, np.ones((4,), "float32")], attrs)
    with pytest.raises(tf.errors.InvalidArgumentError, match="compatible batch dimensions"):
        call("_TfmpFusedBatchMatMul", [np.ones((3, 3, 4), "float32"), y, np.ones((5,), "float32")], attrs)
    with pytest.raises(tf.errors.InvalidArgumentError, match="size-incompatible"):
        call("_TfmpFusedBatchMatMul", [x, np.ones((2, 3, 5), "float32"), np.ones((5,), "float32")], attrs)
    with pytest.raises(tf.errors.UnimplementedError, match="_TfmpFusedBatchMatMul"):
        call("_TfmpFusedBatchMatMul", [x, y, np.ones((5,), "float32")],
             bmm_attrs("float32", False, False, ["BiasAdd", "Softplus"]))
    # The op's shape function: batch dims broadcast, [M, N] known where the
    # adjoint flags cannot matter.
    from tensorflow.python.framework import op_def_library

    g = tf.Graph()
    with g.as_default():
        a = tf.compat.v1.placeholder(tf.float32, [None, 5, 4, 4])
        b = tf.compat.v1.placeholder(tf.float32, [5, 4, 4])
        c = tf.compat.v1.placeholder(tf.float32, [4])
        _, _, op, _ = op_def_library._apply_op_helper(
            "_TfmpFusedBatchMatMul", name="fused", x=a, y=b, args=[c], num_args=1,
            adj_x=False, adj_y=False, fused_ops=["BiasAdd"], epsilon=1e-4, leakyrelu_alpha=0.2)
        assert op.outputs[0].shape.as_list() == [None, 5, 4, 4]
        b = tf.compat.v1.placeholder(tf.float32, [1, 4, 6])
        _, _, op, _ = op_def_library._apply_op_helper(
            "_TfmpFusedBatchMatMul", name="fused", x=a, y=b, args=[c], num_args=1,
            adj_x=False, adj_y=False, fused_ops=["BiasAdd"], epsilon=1e-4, leakyrelu_alpha=0.2)
        assert op.outputs[0].shape.as_list() == [None, 5, 4, None]
