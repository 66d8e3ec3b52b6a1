"""The Grappler pass's elementwise chains (grappler/patterns/elementwise_chain.cc
-> _TfmpFusedElementwise, kernels/fused_elementwise.cc): the chains Keras and
tf.nn emit (Gelu both ways, Swish, LayerNormalization, an Adam-like update)
fuse into one dispatch each, equal to the unfused graph on the device bit for
bit (float32 and float16) and to TF's CPU within rounding; the dispatch count
drops by what the report says; intermediates read elsewhere stay; the
switches; training with fusion on and off gives the same losses; and the
fused kernel called directly (broadcasting, 8 inputs, empty, bad programs)."""
import os
import re

import numpy as np
import pytest
import tensorflow as tf
import keras
from tensorflow.python.eager import context, execute

import tensorflow_metal_plugin as tfmp
from conftest import CPU, GPU, ROOT, random_array, gelu_erf, gelu_tanh, swish

FAMILIES = ("conv", "matmul", "elementwise")


@pytest.fixture(autouse=True)
def _fusion_defaults(monkeypatch):
    for var in ("TFMP_FUSION", "TFMP_FUSION_DISABLE"):
        monkeypatch.delenv(var, raising=False)
    tfmp.set_fusion(None, **{f: None for f in FAMILIES})
    yield
    tfmp.set_fusion(None, **{f: None for f in FAMILIES})


def run_traced(fn, args, device=GPU):
    """(outputs, dispatches of the second call, fusion report of the tracing)
    of a fresh tf.function of fn."""
    tfmp.reset_fusion_report()
    f = tf.function(fn)
    with tf.device(device):
        f(*args)
        report = tfmp.fusion_report()
        tfmp.reset_stats()
        out = f(*args)
        out = [o.numpy() for o in out] if isinstance(out, (list, tuple)) else out.numpy()
        dispatches = tfmp.stats().get("dispatches", 0)
    return out, dispatches, report


def chains(report):
    return [f for r in report["runs"] for f in r["fused"] if f["pattern"] == "elementwise_chain"]


def on_off_cpu(fn, args):
    """Runs fn with the elementwise family on, off, and on the CPU. The optimizer
    family stays off in both runs: its read CSE lets TF's second round dedupe
    repeated subgraphs differently, which would blur the count of what the
    chains save."""
    tfmp.set_fusion(optimizer=False)
    on, d_on, report = run_traced(fn, args)
    tfmp.set_fusion(elementwise=False)
    off, d_off, report_off = run_traced(fn, args)
    tfmp.set_fusion(elementwise=None, optimizer=None)
    assert chains(report_off) == []
    cpu, _, _ = run_traced(fn, args, device=CPU)
    # and how many sums of products became one reduction (reduce_prologue, also "elementwise")
    reduced = sum(f["pattern"] == "reduce_prologue" for r in report["runs"] for f in r["fused"])
    return on, off, cpu, d_on, d_off, chains(report), reduced


def check_saving(fused, d_on, d_off, reduced=0):
    """Each fused op saves its ops' dispatches but one (fused_ops lists an
    AddN of N inputs N - 1 times: the adds the plugin's AddN dispatches);
    each sum of a product fused into one reduction saves one."""
    saved = sum(len(f["fused_ops"]) - 1 for f in fused) + reduced
    assert d_off - d_on == saved, (d_off, d_on, fused)


def adam_like(p, g, m, v):
    m2 = 0.9 * m + 0.1 * g
    v2 = 0.999 * v + 0.001 * tf.square(g)
    m_hat = m2 / (1.0 - 0.9 ** 3)
    v_hat = v2 / (1.0 - 0.999 ** 3)
    return p - 0.01 * m_hat / (tf.sqrt(v_hat) + 1e-7)


CHAINS = {
    # name: (fn, number of inputs, unfused ops of the chain)
    "gelu_tanh": (gelu_tanh, 1, ["Pow", "Mul", "AddV2", "Mul", "Tanh", "AddV2", "Mul", "Mul"]),
    "gelu_erf": (gelu_erf, 1, ["Neg", "Mul", "Erfc", "Mul", "Mul"]),
    "swish": (swish, 1, ["Sigmoid", "Mul"]),
    "silu": (tf.nn.silu, 1, None),
    "adam_like": (adam_like, 4, None),
    "add_n": (lambda a, b, c: tf.math.add_n([tf.exp(a), b * 3.0, tf.abs(c)]), 3,
              ["Abs", "Exp", "Mul", "AddN", "AddN"]),
    "broadcast": (lambda x, b: tf.exp(-tf.square(x - b)) * 3.0 + tf.math.rsqrt(tf.abs(b) + 1.0), 2, None),
}


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chain_fuses_equal_to_unfused_and_cpu(name, dtype, rng):
    fn, n_in, ops = CHAINS[name]
    shapes = [(5, 37)] * n_in if name != "broadcast" else [(3, 5, 37), (37,)]
    args = [tf.constant(random_array(s, dtype, rng)) for s in shapes]
    if name == "adam_like":  # v >= 0
        args[3] = tf.abs(args[3])
    on, off, cpu, d_on, d_off, fused, reduced = on_off_cpu(fn, args)
    assert len(fused) == 1, fused
    if ops is not None:
        assert fused[0]["fused_ops"] == ops
    assert d_on == 1
    if (name, dtype) == ("adam_like", "float16"):
        # TF's meta-optimizer runs twice and the pass fuses in its first round;
        # in float16 TF's second round folds one more constant multiply of the
        # unfused graph (its first round left it), so the chain holds one op
        # more than the unfused graph runs, and roundings may differ slightly.
        assert d_off - d_on == len(fused[0]["fused_ops"]) - 2
        np.testing.assert_allclose(on.astype(np.float32), off.astype(np.float32), rtol=2e-3, atol=2e-3)
    else:
        check_saving(fused, d_on, d_off, reduced)
        np.testing.assert_array_equal(on, off)  # the standalone kernels' expressions, same roundings
    tol = dict(rtol=2e-6, atol=2e-6) if dtype == "float32" else dict(rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(on.astype(np.float32), cpu.astype(np.float32), **tol)


def test_layer_normalization(rng):
    layer = keras.layers.LayerNormalization(epsilon=1e-3)
    x = tf.constant(random_array((4, 7, 32), "float32", rng))
    layer.build(x.shape)
    layer.gamma.assign(random_array((32,), "float32", rng))
    layer.beta.assign(random_array((32,), "float32", rng))
    on, off, cpu, d_on, d_off, fused, reduced = on_off_cpu(lambda t: layer(t), [x])
    # Mean, the variance's Mean(SquaredDifference) as one _TfmpFusedReduction
    # (patterns/reduce_prologue.cc, also family "elementwise"), then the rest
    # (with TF's AddN) in one dispatch
    assert [f["fused_ops"] for f in fused] == [["Neg", "AddV2", "Rsqrt", "Mul", "Mul", "Mul", "AddN", "AddV2"]]
    assert (d_on, d_off) == (3, 11)
    assert reduced == 1
    check_saving(fused, d_on, d_off, reduced)
    np.testing.assert_array_equal(on, off)
    np.testing.assert_allclose(on, cpu, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("approximate", [True, False])
def test_dense_gelu_inference_and_gradient(approximate, rng):
    """In inference the matmul epilogue takes the whole Dense + Gelu (the chain
    pattern ranks after it); in the gradient, where the pre-activation is read
    by the backward pass, the Gelu arithmetic fuses as chains."""
    dense = keras.layers.Dense(24, activation=lambda t: tf.nn.gelu(t, approximate=approximate))
    x = tf.constant(random_array((6, 16), "float32", rng))
    dense.build(x.shape)
    on, off, cpu, d_on, d_off, fused, reduced = on_off_cpu(lambda t: dense(t), [x])
    np.testing.assert_array_equal(on, off)
    np.testing.assert_allclose(on, cpu, rtol=1e-5, atol=1e-5)

    def grads(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = tf.reduce_sum(dense(t) * dense(t))
        return [y] + tape.gradient(y, [t] + dense.trainable_variables)

    on, off, cpu, d_on, d_off, fused, reduced = on_off_cpu(grads, [x])
    assert fused and d_on < d_off
    check_saving(fused, d_on, d_off, reduced)
    for a, b, c in zip(on, off, cpu):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=2e-4, atol=2e-4)


def test_intermediate_read_elsewhere_is_not_fused(rng):
    x = tf.constant(random_array((8, 9), "float32", rng))

    def fn(t):
        a = tf.abs(t) * 2.0        # read by the caller too
        return a, tf.exp(-a) + 1.0

    on, off, cpu, d_on, d_off, fused, reduced = on_off_cpu(fn, [x])
    # Abs * 2 is a chain of its own (its output leaves); the Mul is not absorbed below.
    assert [f["fused_ops"] for f in fused] == [["Abs", "Mul"], ["Neg", "Exp", "AddV2"]]
    check_saving(fused, d_on, d_off, reduced)
    for a, b, c in zip(on, off, cpu):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-6)


def test_switches(monkeypatch, rng):
    x = tf.constant(random_array((4, 5), "float32", rng))
    _, _, report = run_traced(gelu_erf, [x])
    assert len(chains(report)) == 1
    tfmp.set_fusion(False)
    _, _, report = run_traced(gelu_erf, [x])
    assert chains(report) == []
    tfmp.set_fusion(None)
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "elementwise")
    _, _, report = run_traced(gelu_erf, [x])
    assert chains(report) == []
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "elementwise_chain")
    _, _, report = run_traced(gelu_erf, [x])
    assert chains(report) == []
    tfmp.set_fusion(elementwise=True)  # the Python switch overrides the environment
    _, _, report = run_traced(gelu_erf, [x])
    assert len(chains(report)) == 0  # the pattern's own name is still off
    monkeypatch.delenv("TFMP_FUSION_DISABLE")
    _, _, report = run_traced(gelu_erf, [x])
    assert len(chains(report)) == 1
    assert tfmp.fusion_config()["families"]["elementwise"] is True


def test_second_run_changes_nothing(rng):
    x = tf.constant(random_array((4, 5), "float32", rng))
    _, _, report = run_traced(lambda t: gelu_tanh(swish(t) + 1.0), [x])
    runs = [r for r in report["runs"] if not r["skipped"]]
    assert runs[0]["fired"] == {"elementwise_chain": 1}
    assert all(r["fired"] == {} for r in runs[1:])


def test_training_transformer_block_losses_equal(rng):
    def run(fusion):
        tfmp.set_fusion(elementwise=fusion, matmul=fusion)
        keras.utils.set_random_seed(3)
        inp = keras.Input((8, 16))
        h = keras.layers.LayerNormalization()(inp)
        h = keras.layers.Dense(32, activation="gelu")(h)
        h = keras.layers.Dense(16)(h)
        out = keras.layers.LayerNormalization()(inp + h)
        model = keras.Model(inp, out)
        opt = keras.optimizers.Adam(1e-2)
        x = tf.constant(np.random.RandomState(1).randn(4, 8, 16).astype("float32"))
        y = tf.constant(np.random.RandomState(2).randn(4, 8, 16).astype("float32"))

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            g = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(g, model.trainable_variables))
            return loss

        tfmp.reset_fusion_report()
        with tf.device(GPU):
            losses = [float(step()) for _ in range(3)]
        return losses, chains(tfmp.fusion_report())

    on, fused = run(True)
    off, none = run(False)
    assert fused and not none
    np.testing.assert_allclose(on, off, rtol=1e-5)


# --- the kernel called directly ---------------------------------------------------------

def fused_op(inputs, ops, args, consts=(), dtype=tf.float32):
    with tf.device(GPU):
        tens = [tf.constant(t) for t in inputs]
        attrs = ("T", dtype.as_datatype_enum, "N", len(tens), "ops", list(ops), "args", list(args),
                 "consts", [float(c) for c in consts], "fused_ops", [])
        return execute.execute("_TfmpFusedElementwise", 1, inputs=tens, attrs=attrs,
                               ctx=context.context())[0].numpy()


def test_opcodes_match_the_shader_table():
    import sys
    sys.path.insert(0, os.path.join(ROOT, "kernels", "shaders"))
    import variants
    src = open(os.path.join(ROOT, "kernels", "fused_elementwise.cc")).read()
    block = re.search(r"kFusedOps\[\] = \{(.*?)\};", src, re.S).group(1)
    assert re.findall(r'"(\w+)"', block) == variants.FUSED_OPS
    assert variants.FUSED_OPS.index("add") == int(re.search(r"kFirstBinary = (\d+)", src).group(1))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_kernel_broadcasts_like_numpy(dtype, rng):
    x = random_array((4, 1, 3), dtype, rng)
    y = random_array((5, 3), dtype, rng)
    z = random_array((1,), dtype, rng)
    # tanh(x * y + 2) - z, and the same through TF's CPU kernels
    got = fused_op([x, y, z], ["load", "load", "mul", "const", "add", "tanh", "load", "sub"],
                   [0, 0, 0, 1, 1, 0, 2, 0, 1, 3, 0, 0, 0, 2, 3, 0, 0, 0, 1, 2, 0, 0, 0, 1],
                   consts=[2.0], dtype=tf.as_dtype(dtype))
    with tf.device(CPU):
        ref = (tf.tanh(tf.constant(x) * tf.constant(y) + tf.constant(2, dtype)) - tf.constant(z)).numpy()
    assert got.shape == (4, 5, 3) and got.dtype == ref.dtype
    tol = 2e-6 if dtype == "float32" else 2e-3
    np.testing.assert_allclose(got.astype(np.float32), ref.astype(np.float32), rtol=tol, atol=tol)


def test_kernel_eight_inputs_empty_and_bad_programs(rng):
    xs = [random_array((3, 4), "float32", rng) for _ in range(8)]
    ops, args = ["load"], [0, 0, 0]
    for k in range(1, 8):
        ops += ["load", "add"]
        args += [1, k, 0, 0, 0, 1]
    np.testing.assert_allclose(fused_op(xs, ops, args), sum(xs), rtol=1e-6)
    empty = fused_op([np.zeros((0, 3), np.float32), np.ones((3,), np.float32)], ["load", "load", "mul"],
                     [0, 0, 0, 1, 1, 0, 2, 0, 1])
    assert empty.shape == (0, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Incompatible shapes"):
        fused_op([xs[0], np.ones((5,), np.float32)], ["load", "load", "mul"], [0, 0, 0, 1, 1, 0, 2, 0, 1])
    with pytest.raises(tf.errors.InvalidArgumentError, match="unknown op token"):
        fused_op([xs[0]], ["load", "nope"], [0, 0, 0, 1, 0, 0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="unwritten register"):
        fused_op([xs[0]], ["load", "add"], [0, 0, 0, 1, 0, 5])
    with pytest.raises(tf.errors.InvalidArgumentError, match="reads input"):
        fused_op([xs[0]], ["load"], [0, 3, 0])
    np.testing.assert_allclose(fused_op([xs[0]], ["load", "exp"], [0, 0, 0, 0, 0, 0]), np.exp(xs[0]), rtol=1e-6)
