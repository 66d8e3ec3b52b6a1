"""The Grappler pass's optimizer family (grappler/patterns/optimizer_update.cc,
kernels/fused_update.cc): the Keras 3 optimizers' per-variable update
subgraphs become _TfmpFusedUpdate programs, grouped into one multi-tensor
dispatch. Training with fusion on gives the unfused graph's losses and weights
(bit for bit: the program replays the graph's ops); the optimizer step is at
most 3 dispatches whatever the number of variables; switches, control order
and the safety rules."""
import numpy as np
import pytest
import tensorflow as tf
import keras

import tensorflow_metal_plugin as tfmp
from conftest import GPU

FAMILIES = ("conv", "matmul", "optimizer")
REWRITES = ("optimizer_cse", "optimizer_update", "optimizer_multi")

OPTIMIZERS = {
    "adam": lambda: keras.optimizers.Adam(1e-2),
    "adamw": lambda: keras.optimizers.AdamW(1e-2, weight_decay=0.05),
    "sgd_momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    "sgd_nesterov": lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda: keras.optimizers.RMSprop(1e-2),
    "adagrad": lambda: keras.optimizers.Adagrad(5e-2),
}


@pytest.fixture(autouse=True)
def _fusion_defaults(monkeypatch):
    for var in ("TFMP_FUSION", "TFMP_FUSION_DISABLE"):
        monkeypatch.delenv(var, raising=False)
    reset = dict({f: None for f in FAMILIES}, **{r: None for r in REWRITES})
    tfmp.set_fusion(None, **reset)
    yield
    tfmp.set_fusion(None, **reset)


def fused(report, pattern):
    return [f for r in report["runs"] for f in r["fused"] if f["pattern"] == pattern]


def train(name, fusion, layers=3, steps=3, dtype="float32"):
    """A Dense stack (2 variables a layer) trained `steps` steps; (losses, weights, report)."""
    tfmp.set_fusion(fusion)
    keras.utils.set_random_seed(7)
    rng = np.random.RandomState(0)
    x = rng.randn(16, 5).astype(dtype)
    y = rng.randn(16, 3).astype(dtype)
    with tf.device(GPU):
        model = keras.Sequential([keras.Input((5,), dtype=dtype)] +
                                 [keras.layers.Dense(6, activation="tanh", dtype=dtype)
                                  for _ in range(layers - 1)] +
                                 [keras.layers.Dense(3, dtype=dtype)])
        model.compile(OPTIMIZERS[name](), "mse")
        tfmp.reset_fusion_report()
        losses = [float(model.train_on_batch(x, y)) for _ in range(steps)]
    return losses, [w.numpy() for w in model.weights], tfmp.fusion_report()


def step_dispatches(name, nvars, fusion=None, dtype=np.float32, steps=2):
    """Dispatches of one apply_gradients step (a tf.function) over nvars
    variables of different shapes; (dispatches, values after `steps` steps)."""
    if fusion is not None:
        tfmp.set_fusion(fusion)
    with tf.device(GPU):
        vs = [tf.Variable(np.linspace(-0.5, 0.7, 4 + i).astype(dtype).reshape(-1)) for i in range(nvars)]
        gs = [tf.constant(np.cos(np.arange(4 + i)).astype(dtype)) for i in range(nvars)]
        opt = OPTIMIZERS[name]()
        opt.build(vs)

        @tf.function
        def step():
            opt.apply_gradients(zip(gs, vs))

        step()
        counts = []
        for _ in range(steps):
            tfmp.reset_stats()
            step()
            counts.append(tfmp.stats()["dispatches"])
    return counts[-1], [v.numpy() for v in vs]


# --- every optimizer: same training, fused ops, constant dispatches -----------------

@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_training_matches_unfused(name):
    off_losses, off_weights, _ = train(name, False)
    on_losses, on_weights, report = train(name, True)
    assert len(on_weights) >= 6
    np.testing.assert_allclose(on_losses, off_losses, rtol=1e-6)
    for a, b in zip(on_weights, off_weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    updates = fused(report, "optimizer_update")
    assert updates and all(f["op"] == "_TfmpFusedUpdate" for f in updates)
    assert fused(report, "optimizer_multi")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_dispatches_constant(name):
    off6, values_off = step_dispatches(name, 6, fusion=False)
    on6, values_on = step_dispatches(name, 6, fusion=True)
    on20, _ = step_dispatches(name, 20, fusion=True)
    off20, _ = step_dispatches(name, 20, fusion=False)
    assert on6 <= 3 and on20 == on6, (on6, on20)
    assert off20 > off6 > on6
    for a, b in zip(values_on, values_off):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["adam", "sgd_momentum", "rmsprop"])
def test_float16_variables(name):
    on, values_on = step_dispatches(name, 6, fusion=True, dtype=np.float16)
    off, values_off = step_dispatches(name, 6, fusion=False, dtype=np.float16)
    assert on <= 3 < off
    for a, b in zip(values_on, values_off):
        assert a.dtype == np.float16
        np.testing.assert_array_equal(a, b)


# --- switches -------------------------------------------------------------------

def test_switches(monkeypatch):
    on, _ = step_dispatches("adam", 6)
    tfmp.set_fusion(optimizer=False)
    off, _ = step_dispatches("adam", 6)
    tfmp.set_fusion(optimizer=None)
    assert on <= 3 < off
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "optimizer")
    assert step_dispatches("adam", 6)[0] == off
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "optimizer_multi")
    per_variable, _ = step_dispatches("adam", 6)
    assert per_variable == 6 + (on - 1)  # one fused update per variable
    monkeypatch.delenv("TFMP_FUSION_DISABLE")
    assert tfmp.fusion_config()["families"]["optimizer"] is True
    tfmp.set_fusion(False)  # the whole pass: not even the elementwise chains
    assert step_dispatches("adam", 6)[0] >= off


# --- control order and safety ----------------------------------------------------

def test_reads_after_the_step_see_it():
    """A read ordered after apply_gradients (a control edge to the removed
    assigns) sees the updated values."""
    results = {}
    for fusion in (False, True):
        tfmp.set_fusion(fusion)
        with tf.device(GPU):
            vs = [tf.Variable(np.arange(5, dtype=np.float32) + i) for i in range(4)]
            opt = OPTIMIZERS["adam"]()
            opt.build(vs)

            @tf.function
            def step():
                opt.apply_gradients([(tf.ones_like(v), v) for v in vs])
                return [v.read_value() * 2.0 for v in vs]

            tfmp.reset_fusion_report()
            results[fusion] = [o.numpy() for o in step()] + [o.numpy() for o in step()]
            if fusion:
                assert fused(tfmp.fusion_report(), "optimizer_multi")
    for a, b in zip(results[True], results[False]):
        np.testing.assert_array_equal(a, b)


def test_intermediate_read_elsewhere_not_fused():
    """An update whose intermediate is also returned keeps its graph."""
    with tf.device(GPU):
        v = tf.Variable(np.arange(6, dtype=np.float32))

        @tf.function
        def f(x):
            d = (x - v) * 0.5
            v.assign_add(d)
            return d

        tfmp.reset_fusion_report()
        d = f(tf.ones(6)).numpy()
    assert not fused(tfmp.fusion_report(), "optimizer_update")
    np.testing.assert_array_equal(d, (1.0 - np.arange(6, dtype=np.float32)) * 0.5)
    np.testing.assert_array_equal(v.numpy(), np.arange(6, dtype=np.float32) + d)


def test_overwrite_without_read_not_fused():
    """AssignVariableOp of a value that does not read the variable (an
    initialization) is not an update: left alone."""
    with tf.device(GPU):
        v = tf.Variable(np.zeros(4, np.float32))

        @tf.function
        def f(x):
            v.assign(x * 3.0 + 1.0)

        tfmp.reset_fusion_report()
        f(tf.ones(4))
    assert not fused(tfmp.fusion_report(), "optimizer_update")
    np.testing.assert_array_equal(v.numpy(), np.full(4, 4.0, np.float32))


def test_custom_update_fused_and_exact():
    """Any elementwise update of variables is compiled (not only Keras's):
    a hand-written momentum step with a broadcast scalar and a float16 Cast."""
    out = {}
    for fusion in (False, True):
        tfmp.set_fusion(fusion)
        with tf.device(GPU):
            w = tf.Variable(np.linspace(-1, 1, 7).astype(np.float32))
            m = tf.Variable(np.zeros(7, np.float32))
            lr = tf.Variable(0.1)

            @tf.function
            def f(g):
                m.assign(m * 0.9 + tf.cast(tf.cast(g, tf.float16), tf.float32))
                w.assign_sub(lr * m / tf.maximum(tf.sqrt(m * m + 1e-3), 0.5))

            tfmp.reset_fusion_report()
            for _ in range(3):
                f(tf.constant(np.sin(np.arange(7)).astype(np.float32)))
            out[fusion] = (w.numpy(), m.numpy(), tfmp.fusion_report())
    np.testing.assert_array_equal(out[True][0], out[False][0])
    np.testing.assert_array_equal(out[True][1], out[False][1])
    assert fused(out[True][2], "optimizer_update")


# --- ResourceApply* ops (TF1 / tf_keras optimizers) ------------------------------

def _apply_cases():
    s = lambda v: np.array(v)  # noqa: E731
    return {
        # op: (slots, scalar inputs before the gradient, scalars after it, attrs)
        "ResourceApplyGradientDescent": (0, {"alpha": 0.1}, {}, {}),
        "ResourceApplyMomentum": (1, {"lr": 0.1}, {"momentum": 0.9}, {"use_nesterov": False}),
        "ResourceApplyMomentum_nesterov": (1, {"lr": 0.1}, {"momentum": 0.9}, {"use_nesterov": True}),
        "ResourceApplyKerasMomentum": (1, {"lr": 0.1}, {"momentum": 0.9}, {"use_nesterov": True}),
        "ResourceApplyAdam": (2, {"beta1_power": 0.9 ** 3, "beta2_power": 0.999 ** 3, "lr": 0.01,
                                  "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}, {},
                              {"use_nesterov": False}),
        "ResourceApplyAdam_nesterov": (2, {"beta1_power": 0.81, "beta2_power": 0.998, "lr": 0.01,
                                           "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}, {},
                                       {"use_nesterov": True}),
        "ResourceApplyRMSProp": (2, {"lr": 0.01, "rho": 0.9, "momentum": 0.5, "epsilon": 1e-7}, {}, {}),
        "ResourceApplyAdagrad": (1, {"lr": 0.1}, {}, {}),
        "ResourceApplyAdagradV2": (1, {"lr": 0.1, "epsilon": 1e-7}, {}, {}),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("case", list(_apply_cases()))
def test_resource_apply_ops_one_dispatch(case, dtype):
    slots, before, after, attrs = _apply_cases()[case]
    op = getattr(tf.raw_ops, case.split("_")[0])
    slot_names = {"ResourceApplyMomentum": ["accum"], "ResourceApplyKerasMomentum": ["accum"],
                  "ResourceApplyAdam": ["m", "v"], "ResourceApplyRMSProp": ["ms", "mom"],
                  "ResourceApplyAdagrad": ["accum"], "ResourceApplyAdagradV2": ["accum"]}
    names = slot_names.get(case.split("_")[0], [])
    results, counts = {}, {}
    for fusion in (False, True):
        tfmp.set_fusion(fusion)
        with tf.device(GPU):
            nvars = 5
            vs = [[tf.Variable((np.linspace(-1, 1, 3 + i) * (k + 1) + 0.5 * k).astype(dtype))
                   for k in range(slots + 1)] for i in range(nvars)]
            gs = [tf.constant(np.cos(np.arange(3 + i)).astype(dtype)) for i in range(nvars)]

            @tf.function
            def step():
                for group, grad in zip(vs, gs):
                    kw = {"var": group[0].handle}
                    kw.update({n: v.handle for n, v in zip(names, group[1:])})
                    kw.update({k: tf.constant(v, dtype) for k, v in before.items()})
                    kw.update({k: tf.constant(v, dtype) for k, v in after.items()})
                    kw["delta" if "alpha" in before else "grad"] = grad
                    op(**kw, **attrs)

            tfmp.reset_fusion_report()
            step()
            tfmp.reset_stats()
            step()
            counts[fusion] = tfmp.stats()["dispatches"]
            results[fusion] = [v.numpy() for group in vs for v in group]
            if fusion:
                assert fused(tfmp.fusion_report(), "optimizer_apply")
    assert counts[True] == 1 and counts[False] == 5, counts
    for a, b in zip(results[True], results[False]):
        np.testing.assert_array_equal(a, b)


# --- the op itself -----------------------------------------------------------------

def _fused_update(handles, tensors, program, consts=()):
    from tensorflow.python.eager import context, execute
    attrs = ("num_handles", len(handles), "Tin", [t.dtype.as_datatype_enum for t in tensors],
             "N", 1, "program", list(program), "const_bits", list(consts))
    return execute.execute(b"_TfmpFusedUpdate", 0, inputs=list(handles) + list(tensors),
                           attrs=attrs, ctx=context.context())


# var += g * 2: read slot 0 (var), mul slot 1 (g) by constant 0 (2.0), add, store slot 0.
PROGRAM = [0, 0, 64, 0,  5, 1, 65, 128,  3, 2, 0, 1,  2, 0, 0, 2]
TWO = [0x40000000]


def test_op_eager_and_bad_input():
    with tf.device(GPU):
        v = tf.Variable(np.arange(5, dtype=np.float32))
        _fused_update([v.handle], [tf.ones(5)], PROGRAM, TWO)
        np.testing.assert_array_equal(v.numpy(), np.arange(5, dtype=np.float32) + 2)
        # A one-element tensor broadcasts (a scalar); other sizes are an error.
        _fused_update([v.handle], [tf.constant(0.5)], PROGRAM, TWO)
        np.testing.assert_array_equal(v.numpy(), np.arange(5, dtype=np.float32) + 3)
        with pytest.raises(tf.errors.InvalidArgumentError, match="_TfmpFusedUpdate"):
            _fused_update([v.handle], [tf.ones(4)], PROGRAM, TWO)
        with pytest.raises(tf.errors.InvalidArgumentError, match="_TfmpFusedUpdate"):
            _fused_update([v.handle], [tf.ones(5)], [0, 0, 73, 0, 2, 0, 0, 0], TWO)  # no slot 9
        with pytest.raises(tf.errors.InvalidArgumentError, match="_TfmpFusedUpdate"):
            _fused_update([v.handle], [tf.ones(5)], [0, 0, 64, 0, 2, 0, 1, 0], TWO)  # stores a tensor
        # float16 variables and an empty one.
        h = tf.Variable(np.full(3, 0.1, np.float16))
        _fused_update([h.handle], [tf.ones(3, tf.float16)], PROGRAM, TWO)
        np.testing.assert_array_equal(h.numpy(), np.full(3, 0.1, np.float16) + np.float16(2))
        e = tf.Variable(np.zeros((0, 3), np.float32))
        _fused_update([e.handle], [tf.zeros((0, 3))], PROGRAM, TWO)
        assert e.numpy().shape == (0, 3)
        np.testing.assert_array_equal(v.numpy(), np.arange(5, dtype=np.float32) + 3)


def test_mixed_precision_conv_batchnorm():
    """mixed_float16 (float32 variables, LossScaleOptimizer) with BatchNorm's
    moving averages: the optimizer family on and off give the same training."""
    out = {}
    try:
        for fusion in (False, True):
            tfmp.set_fusion(None, optimizer=fusion)
            keras.mixed_precision.set_global_policy("mixed_float16")
            keras.utils.set_random_seed(3)
            rng = np.random.RandomState(0)
            x = rng.randn(8, 8, 8, 3).astype(np.float32)
            y = rng.randn(8, 4).astype(np.float32)
            with tf.device(GPU):
                model = keras.Sequential([
                    keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(),
                    keras.layers.ReLU(), keras.layers.GlobalAveragePooling2D(),
                    keras.layers.Dense(4, dtype="float32")])
                model.compile(keras.optimizers.Adam(1e-2), "mse")
                tfmp.reset_fusion_report()
                losses = [float(model.train_on_batch(x, y)) for _ in range(3)]
            out[fusion] = (losses, [w.numpy() for w in model.weights], tfmp.fusion_report())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out[True][0] == out[False][0]
    for a, b in zip(out[True][1], out[False][1]):
        np.testing.assert_array_equal(a, b)
    assert fused(out[True][2], "optimizer_multi")
