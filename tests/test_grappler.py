"""The plugin's Grappler pass (grappler/): each fusion pattern fires on a graph
that produces it, the result matches TF's CPU result of the unfused graph, and
the dispatch count drops by what the pattern saves; training gives the same
losses with fusion on and off; the switches, the report, idempotence and the
safety rules; and the fused kernels against TF's CPU kernels."""
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.eager import context, execute

import tensorflow_metal_plugin as tfmp
from conftest import CPU, GPU, random_array, gelu_erf, gelu_tanh, swish

FAMILIES = ("conv", "matmul", "elementwise", "optimizer")  # optimizer: tests/test_grappler_optimizer.py


@pytest.fixture(autouse=True)
def _fusion_defaults(monkeypatch):
    """Every test starts (and ends) with the pass on, no overrides, no env switches."""
    for var in ("TFMP_FUSION", "TFMP_FUSION_DISABLE"):
        monkeypatch.delenv(var, raising=False)
    tfmp.set_fusion(None, **{f: None for f in FAMILIES})
    yield
    tfmp.set_fusion(None, **{f: None for f in FAMILIES})


def fused_nodes(report):
    return [f for r in report["runs"] for f in r["fused"]]


def run_traced(fn, args, device=GPU):
    """Traces a fresh tf.function of fn (so the pass sees it with the current
    switches), runs it twice and returns (result, dispatches of the second
    call, fusion report of the tracing)."""
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


# --- one model per pattern ------------------------------------------------------

ACTIVATIONS = {
    # name: (function, fused_ops name, unfused dispatches of the activation)
    "none": (None, None, 0),
    "relu": (tf.nn.relu, "Relu", 1),
    "relu6": (tf.nn.relu6, "Relu6", 1),
    "leaky_relu": (lambda t: tf.nn.leaky_relu(t, alpha=0.1), "LeakyRelu", 1),
    "elu": (tf.nn.elu, "Elu", 1),
    "sigmoid": (tf.sigmoid, "Sigmoid", 1),
    "tanh": (tf.tanh, "Tanh", 1),
    "gelu_erf": (gelu_erf, "GeluExact", 5),     # Neg, Mul, Erfc, Mul, Mul
    "gelu_tanh": (gelu_tanh, "GeluApproximate", 8),  # Pow, Mul, AddV2, Mul, Tanh, AddV2, Mul, Mul
    "swish": (swish, "Swish", 2),               # Sigmoid, Mul
    "silu": (tf.nn.silu, "Swish", 2),
}


def contraction(kind, rng, bias_as_add=False):
    """(fn, inputs, fused op, contraction dispatches) for one contraction + bias."""
    if kind == "conv":
        x = random_array((2, 7, 6, 3), "float32", rng, -1, 1)
        w = tf.Variable(random_array((3, 3, 3, 5), "float32", rng, -1, 1))
        b = tf.Variable(random_array((5,), "float32", rng, -1, 1))
        op, pre = "_FusedConv2D", lambda t: tf.nn.conv2d(t, w, 1, "SAME")
    elif kind == "depthwise":
        x = random_array((2, 7, 6, 3), "float32", rng, -1, 1)
        w = tf.Variable(random_array((3, 3, 3, 2), "float32", rng, -1, 1))
        b = tf.Variable(random_array((6,), "float32", rng, -1, 1))
        op, pre = "_FusedDepthwiseConv2dNative", lambda t: tf.nn.depthwise_conv2d(t, w, [1, 1, 1, 1], "SAME")
    else:  # matmul, with transposes
        x = random_array((6, 9), "float32", rng, -1, 1)
        w = tf.Variable(random_array((5, 6), "float32", rng, -1, 1))
        b = tf.Variable(random_array((5,), "float32", rng, -1, 1))
        op, pre = "_FusedMatMul", lambda t: tf.matmul(t, w, transpose_a=True, transpose_b=True)
    if bias_as_add:
        const = random_array((b.shape[0],), "float32", rng, -1, 1)
        return (lambda t: pre(t) + tf.constant(const)), [x], op
    return (lambda t: tf.nn.bias_add(pre(t), b)), [x], op


CASES = [(k, a) for k in ("conv", "depthwise", "matmul") for a in ACTIVATIONS]


def gpu_kernel_missing(fn_act):
    """Placement happens before the pass: an activation TF puts on the CPU
    (no kernel for it on this device yet) is not the pass's to fuse."""
    if fn_act is None:
        return False
    try:
        with tf.device(GPU):
            fn_act(tf.ones([2]))
        return False
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError):
        return True


# tf.nn.silu's traced graph wraps the product in an IdentityN (its custom
# gradient) that TF's own passes remove before the plugin's pass runs; the
# TF-run test below covers it.
@pytest.mark.parametrize("kind,act", [c for c in CASES if c[1] != "silu"])
def test_pattern_on_a_graph_def(kind, act, rng):
    """The pattern fires on the graph the model traces to, all nodes placed
    on the GPU (whether or not TF would place them there today)."""
    body, args, op = contraction(kind, rng)
    fn_act, fused_name, _ = ACTIVATIONS[act]
    fn = (lambda t: fn_act(body(t))) if fn_act else body
    g = graph_def_of(fn, tf.TensorSpec(args[0].shape))
    out = tfmp.optimize_graph_def(g, preserve=["Identity"])
    fused = [n for n in out.node if n.op.startswith("_Fused")]
    assert len(fused) == 1 and fused[0].op == op, ops_of(out)
    assert list(fused[0].attr["fused_ops"].list.s) == [b"BiasAdd"] + ([fused_name.encode()] if fused_name else [])
    if act == "leaky_relu":
        assert abs(fused[0].attr["leakyrelu_alpha"].f - 0.1) < 1e-7
    left = set(ops_of(out)) - {"_Arg", "_Retval", "Placeholder", "ReadVariableOp", "Identity", "Const",
                               "NoOp", op}
    assert not left, left


@pytest.mark.parametrize("kind,act", CASES)
def test_pattern_fires_matches_cpu_and_saves_dispatches(kind, act, rng):
    body, args, op = contraction(kind, rng)
    fn_act, fused_name, act_dispatches = ACTIVATIONS[act]
    fn = (lambda t: fn_act(body(t))) if fn_act else body
    if gpu_kernel_missing(fn_act):
        pytest.skip("no %s kernel on this device yet: TF places it on the CPU, the pass leaves it; "
                    "test_pattern_on_a_graph_def covers the pattern" % act)
    fused, n_fused, report = run_traced(fn, args)
    ops = [f for f in fused_nodes(report)]
    tfmp.set_fusion(False)
    unfused, n_unfused, off_report = run_traced(fn, args)
    tfmp.set_fusion(None)
    with tf.device(CPU):
        expected = fn(*args).numpy()

    np.testing.assert_allclose(fused, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(unfused, expected, rtol=1e-5, atol=1e-5)
    assert fused_nodes(off_report) == []
    assert n_fused == 1, (ops, n_fused)
    if kind == "conv" and act == "relu":
        # TF's remapper fuses Conv2D + BiasAdd + Relu itself on this device:
        # the pass leaves its _FusedConv2D alone.
        assert n_unfused == 1 and ops == []
        return
    assert len(ops) == 1 and ops[0]["op"] == op, ops
    assert ops[0]["fused_ops"] == ["BiasAdd"] + ([fused_name] if fused_name else [])
    assert n_unfused - n_fused == 1 + act_dispatches


@pytest.mark.parametrize("kind", ["conv", "matmul"])
def test_add_of_a_constant_vector_is_a_bias(kind, rng):
    body, args, op = contraction(kind, rng, bias_as_add=True)
    fn = lambda t: tf.nn.elu(body(t))  # noqa: E731
    out, n, report = run_traced(fn, args)
    with tf.device(CPU):
        np.testing.assert_allclose(out, fn(*args).numpy(), rtol=1e-5, atol=1e-5)
    ops = fused_nodes(report)
    assert [(f["op"], f["fused_ops"]) for f in ops] == [(op, ["BiasAdd", "Elu"])]
    assert n == 1


def test_keras_dense_and_conv_layers_fuse(rng):
    import keras

    keras.utils.set_random_seed(3)
    with tf.device(GPU):
        model = keras.Sequential([keras.Input((8, 8, 3)),
                                  keras.layers.Conv2D(4, 3, activation="gelu"),
                                  keras.layers.DepthwiseConv2D(3, activation="silu"),
                                  keras.layers.Flatten(),
                                  keras.layers.Dense(6, activation="gelu"),
                                  keras.layers.Dense(3, activation="sigmoid")])
    x = random_array((2, 8, 8, 3), "float32", rng, -1, 1)
    out, n, report = run_traced(lambda t: model(t), [x])
    patterns = sorted(f["pattern"] for f in fused_nodes(report))
    assert patterns == ["conv_bias_gelu_erf", "conv_bias_swish", "matmul_bias_gelu_erf",
                        "matmul_bias_sigmoid"]
    with tf.device(CPU):
        np.testing.assert_allclose(out, model(x).numpy(), rtol=1e-4, atol=1e-5)
    assert n == 4  # one dispatch per layer (Flatten is a reshape: no dispatch)


def test_conv_filter_and_bias_gradients_fuse_in_a_training_step(rng, monkeypatch):
    """Keras Conv2D layers with biases: each Conv2DBackpropFilter and the
    BiasAddGrad of the same dy become one _TfmpConv2DBackpropFilterBiasGrad
    (rewrite conv_bias_grad); the gradients match the CPU and the step saves
    the BiasAddGrads' dispatches."""
    import keras

    keras.utils.set_random_seed(5)
    with tf.device(GPU):
        model = keras.Sequential([keras.Input((9, 9, 3)), keras.layers.Conv2D(8, 3, activation="relu"),
                                  keras.layers.Conv2D(12, 3, padding="same", activation="tanh"),
                                  keras.layers.Flatten(), keras.layers.Dense(3)])
    x = random_array((4, 9, 9, 3), "float32", rng, -1, 1)

    def step(t):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(t)))
        return tape.gradient(loss, model.trainable_variables)

    grads, n_fused, report = run_traced(step, [x])
    fused = [f for f in fused_nodes(report) if f["pattern"] == "conv_bias_grad"]
    assert len(fused) == 2, fused_nodes(report)
    assert all(f["op"] == "_TfmpConv2DBackpropFilterBiasGrad" for f in fused)
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "conv_bias_grad")
    grads_off, n_unfused, report_off = run_traced(step, [x])
    assert not [f for f in fused_nodes(report_off) if f["pattern"] == "conv_bias_grad"]
    with tf.device(CPU):
        grads_cpu = [g.numpy() for g in step(tf.constant(x))]
    for g, g_off, g_cpu in zip(grads, grads_off, grads_cpu):
        np.testing.assert_allclose(g, g_cpu, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(g, g_off, rtol=1e-5, atol=1e-6)
    # What the two BiasAddGrads cost alone (dy of (4, 7, 7, 8) and (4, 7, 7, 12)).
    saved = 0
    with tf.device(GPU):
        for shape in [(4, 7, 7, 8), (4, 7, 7, 12)]:
            dy = tf.identity(random_array(shape, "float32", rng, -1, 1))
            tfmp.reset_stats()
            tf.raw_ops.BiasAddGrad(out_backprop=dy).numpy()
            saved += tfmp.stats()["dispatches"]
    assert saved >= 2
    assert n_unfused - n_fused == saved


def test_conv_bias_grad_switches(monkeypatch, rng):
    """The rewrite obeys the conv family switch and its own name."""
    x = tf.constant(random_array((2, 6, 6, 4), "float32", rng, -1, 1))
    dy = tf.constant(random_array((2, 6, 6, 8), "float32", rng, -1, 1))

    def grads(t, g):
        dw = tf.raw_ops.Conv2DBackpropFilter(input=t, filter_sizes=[3, 3, 4, 8], out_backprop=g,
                                             strides=[1, 1, 1, 1], padding="SAME")
        return dw, tf.raw_ops.BiasAddGrad(out_backprop=g)

    out, _, report = run_traced(grads, [x, dy])
    assert [f["pattern"] for f in fused_nodes(report)] == ["conv_bias_grad"]
    with tf.device(CPU):
        ref = grads(x, dy)
    for o, r in zip(out, ref):
        np.testing.assert_allclose(o, r.numpy(), rtol=1e-4, atol=1e-4)
    for off in ("conv", "conv_bias_grad"):
        monkeypatch.setenv("TFMP_FUSION_DISABLE", off)
        _, _, report = run_traced(grads, [x, dy])
        assert not fused_nodes(report)
    monkeypatch.delenv("TFMP_FUSION_DISABLE")
    tfmp.set_fusion(conv=False)
    _, _, report = run_traced(grads, [x, dy])
    assert not fused_nodes(report)


# --- training: the same losses with fusion on and off -------------------------------

def train_losses(kind, fusion):
    import keras

    tfmp.set_fusion(fusion)
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    if kind == "mlp":
        x = rng.random((32, 12)).astype("float32")
        y = rng.integers(0, 4, 32).astype("int32")
        layers = [keras.Input((12,)), keras.layers.Dense(16, activation="relu"),
                  keras.layers.Dense(16, activation="gelu"), keras.layers.Dense(16, activation="tanh"),
                  keras.layers.Dense(4, activation="softmax")]
    else:
        x = rng.random((16, 8, 8, 3)).astype("float32")
        y = rng.integers(0, 4, 16).astype("int32")
        layers = [keras.Input((8, 8, 3)), keras.layers.Conv2D(6, 3, activation="elu"),
                  keras.layers.DepthwiseConv2D(3, activation="relu6"),
                  keras.layers.Conv2D(4, 3, activation="silu"), keras.layers.Flatten(),
                  keras.layers.Dense(4, activation="softmax")]
    tfmp.reset_fusion_report()
    tf.config.set_soft_device_placement(True)  # model.fit's tf.data ops live on the host
    try:
        with tf.device(GPU):
            model = keras.Sequential(layers)
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            h = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    finally:
        tf.config.set_soft_device_placement(False)
    report = tfmp.fusion_report()
    tfmp.set_fusion(None)
    return np.array(h.history["loss"]), report


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_training_losses_equal_with_fusion_on_and_off(kind):
    on, report = train_losses(kind, True)
    off, off_report = train_losses(kind, False)
    np.testing.assert_allclose(on, off, rtol=1e-5)
    # Something fused in the training step (its gradient graph reads some
    # intermediates, which the pass then leaves alone), nothing when off.
    assert report["totals"], report["totals"]
    assert not off_report["totals"]


# --- switches, report, idempotence, safety ------------------------------------------

def dense_relu(rng):
    body, args, _ = contraction("matmul", rng)
    return (lambda t: tf.nn.relu(body(t))), args


def conv_elu(rng):
    body, args, _ = contraction("conv", rng)
    return (lambda t: tf.nn.elu(body(t))), args


def test_environment_switches(monkeypatch, rng):
    fn, args = dense_relu(rng)
    monkeypatch.setenv("TFMP_FUSION", "0")
    assert tfmp.fusion_config()["enabled"] is False
    _, _, report = run_traced(fn, args)
    assert fused_nodes(report) == [] and all(r["skipped"] for r in report["runs"])
    monkeypatch.setenv("TFMP_FUSION", "1")
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "matmul")
    assert tfmp.fusion_config()["families"] == {"conv": True, "matmul": False, "elementwise": True,
                                                "optimizer": True}
    _, _, report = run_traced(fn, args)
    assert fused_nodes(report) == []
    cfn, cargs = conv_elu(rng)
    _, _, report = run_traced(cfn, cargs)
    assert [f["pattern"] for f in fused_nodes(report)] == ["conv_bias_elu"]
    # Patterns by name: with conv_bias_elu alone off, conv_bias then
    # fused_conv_elu would still reach the same fused node.
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "conv_bias_elu,fused_conv_elu")
    _, _, report = run_traced(cfn, cargs)
    assert [f["pattern"] for f in fused_nodes(report)] == ["conv_bias"]


def test_python_switches_override_the_environment(monkeypatch, rng):
    fn, args = dense_relu(rng)
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "matmul")
    cfg = tfmp.set_fusion(matmul=True)
    assert cfg["families"]["matmul"] is True
    _, _, report = run_traced(fn, args)
    assert [f["pattern"] for f in fused_nodes(report)] == ["matmul_bias_relu"]
    tfmp.set_fusion(matmul=None)  # back to the environment's say
    assert tfmp.fusion_config()["families"]["matmul"] is False
    tfmp.set_fusion(False)
    assert tfmp.fusion_config()["enabled"] is False
    with pytest.raises(ValueError, match="unknown fusion"):
        tfmp.set_fusion(no_such_family=False)


def test_fusion_config_lists_patterns_largest_first():
    patterns = tfmp.fusion_config()["patterns"]
    sizes = [p["nodes"] for p in patterns]
    assert sizes == sorted(sizes, reverse=True)
    names = {p["name"] for p in patterns}
    for n in ("conv_bias_gelu_tanh", "matmul_addconst_swish", "fused_conv_relu6", "matmul_bias"):
        assert n in names


def test_report_counts_nodes_and_second_run_changes_nothing(rng):
    fn, args = dense_relu(rng)
    _, _, report = run_traced(fn, args)
    runs = [r for r in report["runs"] if not r["skipped"]]
    assert len(runs) >= 2  # TF's meta-optimizer runs the pass twice
    first, second = runs[0], runs[1]
    assert first["fired"] == {"matmul_bias_relu": 1}
    assert first["nodes_before"] - first["nodes_after"] == 2  # MatMul + BiasAdd + Relu -> 1
    assert second["fired"] == {} and second["nodes_before"] == second["nodes_after"]
    assert report["totals"] == {"matmul_bias_relu": 1}


def graph_def_of(fn, *specs, device=GPU):
    """The GraphDef of fn traced with every node placed on `device`."""
    def placed(*a):
        with tf.device(device):
            return fn(*a)
    g = tf.function(placed).get_concrete_function(*specs).graph.as_graph_def()
    return g


def ops_of(g):
    return sorted(n.op for n in g.node)


def test_pass_is_idempotent_on_a_graph_def(rng):
    w = tf.constant(random_array((3, 3, 3, 4), "float32", rng))
    b = tf.constant(random_array((4,), "float32", rng))
    m = tf.constant(random_array((4, 5), "float32", rng))

    def fn(x):
        y = gelu_tanh(tf.nn.bias_add(tf.nn.conv2d(x, w, 1, "SAME"), b))
        y = tf.reduce_mean(y, axis=[1, 2])
        return swish(tf.matmul(y, m) + tf.constant(np.arange(5, dtype="float32")))

    g = graph_def_of(fn, tf.TensorSpec([2, 6, 6, 3]))
    once = tfmp.optimize_graph_def(g, preserve=["Identity"])
    twice = tfmp.optimize_graph_def(once, preserve=["Identity"])
    assert once.SerializeToString(deterministic=True) == twice.SerializeToString(deterministic=True)
    assert "_FusedConv2D" in ops_of(once) and "_FusedMatMul" in ops_of(once), ops_of(once)
    assert "Tanh" not in ops_of(once) and "Sigmoid" not in ops_of(once)


def test_only_nodes_on_the_gpu_are_touched(rng):
    m = tf.constant(random_array((4, 5), "float32", rng))
    b = tf.constant(random_array((5,), "float32", rng))
    g = graph_def_of(lambda x: tf.nn.relu(tf.nn.bias_add(tf.matmul(x, m), b)), tf.TensorSpec([2, 4]),
                     device=CPU)
    out = tfmp.optimize_graph_def(g, preserve=["Identity"])
    assert ops_of(out) == ops_of(g)


def test_intermediates_read_elsewhere_are_not_fused_away(rng):
    """A BiasAdd output the caller (or a gradient) also reads stays; the
    pass then fuses what it can without it, and results stay right."""
    body, args, _ = contraction("matmul", rng)
    fn = lambda t: (lambda y: (y, gelu_erf(y)))(body(t))  # noqa: E731
    (pre, post), n, report = run_traced(fn, args)
    ops = fused_nodes(report)
    # The Gelu after it then fuses as an elementwise chain (tests/test_grappler_elementwise.py).
    assert [f["fused_ops"] for f in ops] == [["BiasAdd"], ["Neg", "Mul", "Erfc", "Mul", "Mul"]]
    with tf.device(CPU):
        ref_pre, ref_post = [t.numpy() for t in fn(*args)]
    np.testing.assert_allclose(pre, ref_pre, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(post, ref_post, rtol=1e-5, atol=1e-6)


def test_preserved_nodes_and_control_dependencies(rng):
    m = tf.constant(random_array((4, 5), "float32", rng))
    b = tf.constant(random_array((5,), "float32", rng))

    def fn(x, z):
        mm = tf.matmul(x, m)
        with tf.control_dependencies([z]):
            biased = tf.nn.bias_add(mm, b)
        return tf.nn.relu(biased)

    g = graph_def_of(fn, tf.TensorSpec([2, 4]), tf.TensorSpec([], tf.float32))
    biasadd = [n.name for n in g.node if n.op == "BiasAdd"][0]
    z_name = [n.name for n in g.node if n.op == "Placeholder"][1]
    # A preserved intermediate (a fetch) is never fused away: it may become
    # a fused node itself (same name, same value), the Relu after it stays.
    kept = tfmp.optimize_graph_def(g, preserve=["Identity", biasadd])
    assert [(n.name, n.op) for n in kept.node if n.name == biasadd] == [(biasadd, "_FusedMatMul")]
    assert "Relu" in ops_of(kept)
    # Otherwise the fused node takes the root's name and the absorbed control input.
    out = tfmp.optimize_graph_def(g, preserve=["Identity"])
    fused = [n for n in out.node if n.op == "_FusedMatMul"]
    assert len(fused) == 1 and fused[0].name == [n.name for n in g.node if n.op == "Relu"][0]
    assert "^" + z_name in list(fused[0].input)
    assert fused[0].device == [n.device for n in g.node if n.op == "Relu"][0]


# --- the fused kernels against TF's CPU kernels ----------------------------------------

def call(op, inputs, attrs, device):
    with tf.device(device):
        tens = [tf.constant(t) for t in inputs]
        flat = tuple(x for kv in attrs.items() for x in kv)
        return execute.execute(op, 1, inputs=tens, attrs=flat, ctx=context.context())[0].numpy()


def numpy_activation(v, name, alpha=0.2):
    import math

    erf = np.vectorize(math.erf)
    return {
        None: lambda: v, "Relu": lambda: np.maximum(v, 0), "Relu6": lambda: np.clip(v, 0, 6),
        "Elu": lambda: np.where(v < 0, np.expm1(v), v), "LeakyRelu": lambda: np.where(v < 0, alpha * v, v),
        "Tanh": lambda: np.tanh(v), "Sigmoid": lambda: 1 / (1 + np.exp(-v)),
        "GeluExact": lambda: 0.5 * v * (1 + erf(v / np.sqrt(2))),
        "GeluApproximate": lambda: 0.5 * v * (1 + np.tanh(0.7978845608 * (v + 0.044715 * v ** 3))),
        "Swish": lambda: v / (1 + np.exp(-v)),
    }[name]()


EPILOGUES = [None, "Relu", "Relu6", "Elu", "LeakyRelu", "Tanh", "Sigmoid", "GeluExact",
             "GeluApproximate", "Swish"]


@pytest.mark.parametrize("act", EPILOGUES)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True)])
@pytest.mark.parametrize("config", ["", "128x128:3"])  # K = 17 in 2 splits: the epilogue in the reduce pass
def test_fused_matmul_kernel(act, dtype, ta, tb, config, rng, monkeypatch):
    if config:
        monkeypatch.setenv("TFMP_MATMUL_CONFIG", config)
    m, k, n = 33, 17, 65
    a = random_array((k, m) if ta else (m, k), dtype, rng, -1, 1)
    b = random_array((n, k) if tb else (k, n), dtype, rng, -1, 1)
    bias = random_array((n,), dtype, rng, -2, 2)
    attrs = dict(transpose_a=ta, transpose_b=tb, T=tf.as_dtype(dtype).as_datatype_enum, num_args=1,
                 fused_ops=["BiasAdd"] + ([act] if act else []), epsilon=1e-4, leakyrelu_alpha=0.3)
    got = call("_FusedMatMul", [a, b, bias], attrs, GPU).astype("float64")
    a64, b64 = a.astype("float64"), b.astype("float64")
    v = (a64.T if ta else a64) @ (b64.T if tb else b64) + bias.astype("float64")
    want = numpy_activation(v, act, 0.3)
    tol = 1e-5 if dtype == "float32" else 4e-3
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 4)


def test_fused_matmul_edge_cases(rng):
    attrs = dict(transpose_a=False, transpose_b=False, T=tf.float32.as_datatype_enum, num_args=1,
                 fused_ops=["BiasAdd", "Sigmoid"], epsilon=1e-4, leakyrelu_alpha=0.2)
    bias = random_array((4,), "float32", rng)
    # K == 0: act(bias) in every row (TF's CPU kernel crashes the process here).
    a, b = np.zeros((3, 0), "float32"), np.zeros((0, 4), "float32")
    np.testing.assert_allclose(call("_FusedMatMul", [a, b, bias], attrs, GPU),
                               np.tile(1 / (1 + np.exp(-bias)), (3, 1)), rtol=1e-6)
    # Empty output.
    assert call("_FusedMatMul", [np.zeros((0, 2), "float32"), np.zeros((2, 4), "float32"), bias],
                attrs, GPU).shape == (0, 4)
    # A bias of the wrong size: InvalidArgument naming the op; the process goes on.
    with pytest.raises(tf.errors.InvalidArgumentError, match="_FusedMatMul"):
        call("_FusedMatMul", [np.ones((2, 3), "float32"), np.ones((3, 5), "float32"), bias], attrs, GPU)
    with pytest.raises(tf.errors.UnimplementedError, match="_FusedMatMul"):
        call("_FusedMatMul", [np.ones((2, 3), "float32"), np.ones((3, 4), "float32"), bias],
             dict(attrs, fused_ops=["BiasAdd", "Softplus"]), GPU)


@pytest.mark.parametrize("act", EPILOGUES)
def test_fused_depthwise_kernel(act, rng):
    for dtype in ("float32", "float16"):
        x = random_array((2, 9, 7, 3), dtype, rng, -1, 1)
        w = random_array((3, 3, 3, 2), dtype, rng, -1, 1)
        bias = random_array((6,), dtype, rng, -1, 1)
        attrs = dict(T=tf.as_dtype(dtype).as_datatype_enum, num_args=1, strides=[1, 2, 1, 1],
                     padding="SAME", data_format="NHWC", dilations=[1, 1, 1, 1],
                     fused_ops=["BiasAdd"] + ([act] if act else []), epsilon=1e-4, leakyrelu_alpha=0.1)
        got = call("_FusedDepthwiseConv2dNative", [x, w, bias], attrs, GPU).astype("float64")
        with tf.device(CPU):  # TF's float32 CPU kernel, float16 inputs widened
            v = tf.nn.depthwise_conv2d(x.astype("float32"), w.astype("float32"), [1, 2, 1, 1], "SAME")
        want = numpy_activation(v.numpy().astype("float64") + bias.astype("float64"), act, 0.1)
        tol = 1e-5 if dtype == "float32" else 4e-3
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 4)


@pytest.mark.parametrize("act", ["GeluExact", "GeluApproximate", "Swish", "LeakyRelu", "Sigmoid"])
def test_fused_conv_kernel_new_activations(act, rng):
    x = random_array((2, 8, 7, 4), "float32", rng, -1, 1)
    w = random_array((3, 3, 4, 5), "float32", rng, -1, 1)
    bias = random_array((5,), "float32", rng, -1, 1)
    attrs = dict(T=tf.float32.as_datatype_enum, TArgs=[tf.float32.as_datatype_enum], num_args=1,
                 num_host_args=0, strides=[1, 1, 1, 1], padding="VALID", explicit_paddings=[],
                 data_format="NHWC", filter_format="HWIO", dilations=[1, 1, 1, 1],
                 use_cudnn_on_gpu=True, fused_ops=["BiasAdd", act], epsilon=1e-4, leakyrelu_alpha=0.25)
    got = call("_FusedConv2D", [x, w, bias], attrs, GPU)
    with tf.device(CPU):
        v = tf.nn.conv2d(x, w, 1, "VALID").numpy().astype("float64") + bias
    np.testing.assert_allclose(got, numpy_activation(v, act, 0.25), rtol=1e-5, atol=1e-5)


def test_erfc_kernel(rng):
    x = np.concatenate([random_array((1000,), "float32", rng, -6, 6),
                        np.array([0, -0.0, 10, -10, np.inf, -np.inf, np.nan], "float32")])
    with tf.device(GPU):
        got = tf.math.erfc(x).numpy()
    with tf.device(CPU):
        want = tf.math.erfc(x).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


# --- MatMul + BiasAddGrad (a Dense layer's backward) -> _TfmpMatMulBiasGrad ------------

def call2(op, inputs, attrs, device):
    """Runs a two-output op; both results as numpy."""
    with tf.device(device):
        tens = [tf.constant(t) for t in inputs]
        flat = tuple(x for kv in attrs.items() for x in kv)
        return [o.numpy() for o in execute.execute(op, 2, inputs=tens, attrs=flat, ctx=context.context())]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("kmn", [(1, 1, 1), (37, 12, 33), (64, 128, 128), (129, 65, 127),
                                 (1025, 7, 20), (0, 5, 3), (6, 0, 4), (5, 3, 0)], ids=str)
@pytest.mark.parametrize("config", ["", "128x64", "64x64:3", "128x128:2"])
def test_matmul_bias_grad_kernel(dtype, kmn, config, rng, monkeypatch):
    """product = a^T b and bias_grad = column sums of b, against TF's CPU
    MatMul(transpose_a) and BiasAddGrad."""
    if config:
        monkeypatch.setenv("TFMP_MATMUL_CONFIG", config)
    k, m, n = kmn
    a = random_array((k, m), dtype, rng, -1, 1)
    b = random_array((k, n), dtype, rng, -1, 1)
    prod, grad = call2("_TfmpMatMulBiasGrad", [a, b], dict(T=tf.as_dtype(dtype).as_datatype_enum), GPU)
    with tf.device(CPU):
        want_prod = tf.matmul(a, b, transpose_a=True).numpy()
        want_grad = tf.raw_ops.BiasAddGrad(out_backprop=b).numpy()
    assert prod.shape == (m, n) and grad.shape == (n,) and prod.dtype == grad.dtype == dtype
    tol = 1e-5 if dtype == "float32" else 2e-2
    np.testing.assert_allclose(prod.astype("float64"), want_prod.astype("float64"), rtol=tol,
                               atol=tol * max(1.0, np.sqrt(k)))
    np.testing.assert_allclose(grad.astype("float64"), want_grad.astype("float64"), rtol=tol,
                               atol=tol * max(1.0, np.sqrt(k)))


def test_matmul_bias_grad_kernel_rejects_bad_shapes():
    attrs = dict(T=tf.float32.as_datatype_enum)
    with pytest.raises(tf.errors.InvalidArgumentError, match="size-incompatible"):
        call2("_TfmpMatMulBiasGrad", [np.ones((3, 4), "float32"), np.ones((5, 2), "float32")], attrs, GPU)
    with pytest.raises(tf.errors.InvalidArgumentError):
        call2("_TfmpMatMulBiasGrad", [np.ones((3, 4, 1), "float32"), np.ones((3, 2), "float32")], attrs, GPU)


def dense_model(units, activations, features=12):
    import keras

    keras.utils.set_random_seed(4)
    with tf.device(GPU):
        return keras.Sequential([keras.Input((features,))] +
                                [keras.layers.Dense(u, activation=a) for u, a in zip(units, activations)])


def grad_step(model):
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        return tape.gradient(loss, model.trainable_variables)
    return step


@pytest.mark.parametrize("batch", [37, 128])
def test_matmul_bias_grad_fuses_keras_dense_backward(batch, rng):
    """Each Dense layer's dW MatMul and BiasAddGrad become one
    _TfmpMatMulBiasGrad: the gradients equal TF's CPU ones and the step
    makes one dispatch less per Dense layer."""
    model = dense_model([33, 16, 5], ["relu", "tanh", None])
    x = random_array((batch, 12), "float32", rng, -1, 1)
    y = random_array((batch, 5), "float32", rng, -1, 1)
    step = grad_step(model)
    got, n_fused, report = run_traced(step, [x, y])
    fused = [f for f in fused_nodes(report) if f["pattern"] == "matmul_bias_grad"]
    assert len(fused) == 3, fused_nodes(report)
    assert all(f["op"] == "_TfmpMatMulBiasGrad" and f["fused_ops"] == ["MatMul", "BiasAddGrad"]
               for f in fused)
    with tf.device(CPU):
        want = [g.numpy() for g in step(x, y)]
    assert len(got) == len(want) == 6
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    tfmp.set_fusion(matmul_bias_grad=False)
    try:
        got_off, n_unfused, report_off = run_traced(step, [x, y])
    finally:
        tfmp.set_fusion(matmul_bias_grad=None)  # the fixture resets families only
    assert not [f for f in fused_nodes(report_off) if f["pattern"] == "matmul_bias_grad"]
    for g, w in zip(got_off, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # At least one dispatch per Dense layer (a BiasAddGrad's column sum can take
    # two passes, kernels/reduce_plan.h, so the saving can be larger).
    assert n_unfused - n_fused >= 3


def test_matmul_bias_grad_respects_switches_and_conditions(rng):
    fn_dense = grad_step(dense_model([8], [None]))
    x = random_array((9, 12), "float32", rng, -1, 1)
    y = random_array((9, 8), "float32", rng, -1, 1)
    tfmp.set_fusion(matmul=False)
    _, _, report = run_traced(fn_dense, [x, y])
    assert not [f for f in fused_nodes(report) if f["pattern"] == "matmul_bias_grad"]
    tfmp.set_fusion(matmul=None)
    # Not the Dense shape: the MatMul reads dy as its first operand (dy^T x),
    # or with transpose_b: nothing to fuse.
    dy = random_array((9, 8), "float32", rng, -1, 1)
    xs = random_array((9, 12), "float32", rng, -1, 1)
    ws = random_array((12, 8), "float32", rng, -1, 1)
    for fn, v in ((lambda d, v: (tf.matmul(d, v, transpose_a=True), tf.raw_ops.BiasAddGrad(out_backprop=d)), xs),
                  (lambda d, v: (tf.matmul(v, d, transpose_b=True), tf.raw_ops.BiasAddGrad(out_backprop=d)), ws)):
        got, _, report = run_traced(fn, [dy, v])
        assert not [f for f in fused_nodes(report) if f["pattern"] == "matmul_bias_grad"]
        with tf.device(CPU):
            want = [t.numpy() for t in fn(dy, v)]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # The Dense shape with plain tensors fuses, and a BiasAddGrad that is also
    # fetched keeps its value.
    fn = lambda v, d: (tf.matmul(v, d, transpose_a=True), tf.raw_ops.BiasAddGrad(out_backprop=d) * 2.0)  # noqa: E731
    got, _, report = run_traced(fn, [xs, dy])
    assert [f["pattern"] for f in fused_nodes(report)].count("matmul_bias_grad") == 1
    with tf.device(CPU):
        want = [t.numpy() for t in fn(xs, dy)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
