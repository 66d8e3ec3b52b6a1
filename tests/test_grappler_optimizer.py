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
from conftest import CPU, GPU

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

def _fused_update(handles, tensors, program, consts=(), entries=1):
    from tensorflow.python.eager import context, execute
    attrs = ("num_handles", len(handles), "Tin", [t.dtype.as_datatype_enum for t in tensors],
             "N", entries, "program", list(program), "const_bits", list(consts))
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


def test_op_entries_chunks_and_interpreter():
    """Many entries of odd sizes around the 1024-element chunks, a scalar slot
    that is one element in every entry (also in one-element variables), and
    programs past the specialized shader's limits (more than 32 constants:
    the interpreter, fused_update.comp): all give float32's own result."""
    sizes = [5, 1, 1023, 1024, 1025, 7, 3000]
    rng = np.random.RandomState(4)
    with tf.device(GPU):
        vs = [tf.Variable(rng.randn(n).astype(np.float32)) for n in sizes]
        want = [v.numpy() for v in vs]
        gs = [rng.randn(n).astype(np.float32) for n in sizes]
        ss = [np.float32(rng.randn()) for _ in sizes]
        # var += g * s: read slot 0, mul slot 1 by slot 2, add, store slot 0.
        prog = [0, 0, 64, 0,  5, 1, 65, 66,  3, 2, 0, 1,  2, 0, 0, 2]
        tensors = []
        for g, sc in zip(gs, ss):
            tensors += [tf.constant(g), tf.constant(sc)]
        _fused_update([v.handle for v in vs], tensors, prog, entries=len(sizes))
        for v, w, g, sc in zip(vs, want, gs, ss):
            np.testing.assert_array_equal(v.numpy(), w + g * sc)
        # 40 constants: var = ((var + c0) + c1) + ...
        consts = np.linspace(0.25, 10.0, 40).astype(np.float32)
        prog = [0, 0, 64, 0]
        for k in range(40):
            prog += [3, k + 1, k, 128 + k]
        prog += [2, 0, 0, 40]
        want = [v.numpy() for v in vs]
        _fused_update([v.handle for v in vs], [], prog, consts.view(np.int32).tolist(), entries=len(sizes))
        for v, w in zip(vs, want):
            for c in consts:
                w = w + c
            np.testing.assert_array_equal(v.numpy(), w)


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


# --- mixed precision: LossScaleOptimizer ------------------------------------------

MIXED = ("adam", "sgd_momentum")
# Dispatches of one finite LossScaleOptimizer step with fusion on, any number
# of variables: the finite check of every gradient (_TfmpAllFinite), the
# fused unscale and update of every variable (_TfmpFusedUpdate), and the
# scalar bookkeeping Keras keeps in a cond - the loss scale's growth counter
# and scale, the iteration count and its float Cast - as one
# _TfmpLossScaleStep. A non-finite step: the check and the halving of the
# scale.
MIXED_STEP_DISPATCHES = {"adam": 3, "sgd_momentum": 3}
MIXED_SKIPPED_STEP_DISPATCHES = 2


def lso_step(name, nvars, fusion, grads=None, steps=2, device=GPU):
    """One LossScaleOptimizer.apply_gradients step (a tf.function) over nvars
    float32 variables under mixed_float16; (dispatches of the last step,
    variables, dynamic scale, step counter, fusion report)."""
    tfmp.set_fusion(None, optimizer=fusion)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        with tf.device(device):
            vs = [tf.Variable(np.linspace(-0.5, 0.7, 4 + 37 * i).astype(np.float32)) for i in range(nvars)]
            if grads is None:
                grads = [np.cos(np.arange(4 + 37 * i)).astype(np.float32) * 1024 for i in range(nvars)]
            gs = [tf.constant(g) for g in grads]
            opt = keras.optimizers.LossScaleOptimizer(OPTIMIZERS[name](), initial_scale=1024.0)
            opt.build(vs)

            @tf.function
            def step(gs):  # gradients as arguments, as in training: nothing to constant-fold
                opt.apply_gradients(zip(gs, vs))

            tfmp.reset_fusion_report()
            step(gs)
            count = None
            for _ in range(steps - 1):
                tfmp.reset_stats()
                step(gs)
                count = tfmp.stats()["dispatches"]
            return (count, [v.numpy() for v in vs], float(opt.dynamic_scale.numpy()),
                    int(opt.step_counter.numpy()), tfmp.fusion_report())
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", MIXED)
def test_mixed_precision_step_dispatches_constant(name):
    """The finite check of all gradients is one dispatch: the step's dispatch
    count does not grow with the number of variables, and the values are the
    unfused graph's, bit for bit."""
    on6, v_on, scale_on, _, report = lso_step(name, 6, True)
    on2, _, _, _, _ = lso_step(name, 2, True)
    on20, _, _, _, _ = lso_step(name, 20, True)
    off6, v_off, scale_off, _, _ = lso_step(name, 6, False)
    off20, _, _, _, _ = lso_step(name, 20, False)
    assert fused(report, "optimizer_all_finite") and fused(report, "optimizer_multi")
    assert fused(report, "optimizer_loss_scale")
    assert on2 == on6 == on20 == MIXED_STEP_DISPATCHES[name] <= 3, (on2, on6, on20)
    assert off20 > off6 > on6
    assert scale_on == scale_off == 1024.0
    for a, b in zip(v_on, v_off):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", MIXED)
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_mixed_precision_non_finite_gradient_skips_the_step(name, bad):
    """A non-finite element in any gradient: the step is skipped and the loss
    scale halves, as on the CPU; a finite step after it applies."""
    grads = [np.cos(np.arange(4 + 37 * i)).astype(np.float32) for i in range(6)]
    grads[4][17] = bad
    _, v_gpu, scale_gpu, counter_gpu, report = lso_step(name, 6, True, grads=grads, steps=3)
    _, v_cpu, scale_cpu, counter_cpu, _ = lso_step(name, 6, None, grads=grads, steps=3, device=CPU)
    assert fused(report, "optimizer_all_finite")
    assert scale_gpu == scale_cpu == 1024.0 / 8 and counter_gpu == counter_cpu == 0
    for i, (a, b) in enumerate(zip(v_gpu, v_cpu)):
        np.testing.assert_array_equal(a, np.linspace(-0.5, 0.7, 4 + 37 * i).astype(np.float32))
        np.testing.assert_array_equal(a, b)


def test_mixed_precision_loss_scale_switch(monkeypatch):
    """TFMP_FUSION_DISABLE=optimizer_loss_scale keeps Keras's cond: the
    bookkeeping is three dispatches again (Equal, AddV2 of the counter,
    AddV2 of the iteration count) plus Adam's Cast; same values."""
    on, v_on, scale_on, counter_on, _ = lso_step("adam", 4, True)
    monkeypatch.setenv("TFMP_FUSION_DISABLE", "optimizer_loss_scale")
    off, v_off, scale_off, counter_off, report = lso_step("adam", 4, True)
    assert not fused(report, "optimizer_loss_scale") and fused(report, "optimizer_all_finite")
    assert on == 3 and off == 6, (on, off)
    assert (scale_on, counter_on) == (scale_off, counter_off) == (1024.0, 2)
    for a, b in zip(v_on, v_off):
        np.testing.assert_array_equal(a, b)


def lso_sequence(name, grad_steps, fusion, device=GPU, growth=2):
    """LossScaleOptimizer steps (a tf.function, gradients as arguments) with
    one gradient list per step and a short growth interval (the scale doubles
    every `growth` finite steps in a row); after each step (variables, scale,
    growth counter, iterations, dispatches of the step)."""
    tfmp.set_fusion(None, optimizer=fusion)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        with tf.device(device):
            nvars = len(grad_steps[0])
            vs = [tf.Variable(np.linspace(-0.5, 0.7, 4 + 37 * i).astype(np.float32)) for i in range(nvars)]
            opt = keras.optimizers.LossScaleOptimizer(OPTIMIZERS[name](), initial_scale=1024.0,
                                                      dynamic_growth_steps=growth)
            opt.build(vs)

            @tf.function
            def step(gs):
                opt.apply_gradients(zip(gs, vs))

            tfmp.reset_fusion_report()
            out = []
            for grads in grad_steps:
                gs = [tf.constant(g) for g in grads]
                tfmp.reset_stats()
                step(gs)
                out.append(([v.numpy() for v in vs], float(opt.dynamic_scale.numpy()),
                            int(opt.step_counter.numpy()), int(opt.iterations.numpy()),
                            tfmp.stats()["dispatches"]))
            return out, tfmp.fusion_report()
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", MIXED)
@pytest.mark.parametrize("nvars", [2, 12])
def test_mixed_precision_steps_match_the_cpu(name, nvars):
    """Several steps, finite and not (inf, then NaN), with growth every 2
    finite steps: the loss scale, its growth counter and the iteration count
    equal the CPU's after every step; the variables are the unfused GPU
    graph's bit for bit and the CPU's to float32 rounding (Adam's pow/sqrt);
    a finite step is 3 dispatches, a skipped one 2,
    whatever the number of variables."""
    rng = np.random.RandomState(11)
    plan = [None, None, None, np.inf, None, None, np.nan, None, None, None]
    grad_steps = []
    for bad in plan:
        grads = [(rng.randn(4 + 37 * i) * 256).astype(np.float32) for i in range(nvars)]
        if bad is not None:
            grads[nvars - 1][3] = bad
        grad_steps.append(grads)
    gpu, report = lso_sequence(name, grad_steps, True)
    unfused, _ = lso_sequence(name, grad_steps, False)
    cpu, _ = lso_sequence(name, grad_steps, None, device=CPU)
    assert fused(report, "optimizer_loss_scale") and fused(report, "optimizer_all_finite")
    scales = [s for _, s, _, _, _ in cpu]
    assert scales == [1024.0, 2048.0, 2048.0, 1024.0, 1024.0, 2048.0, 1024.0, 1024.0, 2048.0, 2048.0]
    for k, (g, u, c) in enumerate(zip(gpu, unfused, cpu)):
        assert g[1:4] == c[1:4] == u[1:4], (k, g[1:4], c[1:4], u[1:4])
        for a, b, d in zip(g[0], u[0], c[0]):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_allclose(a, d, rtol=1e-5, atol=1e-6)  # the GPU's pow/sqrt vs the CPU's
        if k > 0:  # the first call also builds the function
            want = MIXED_SKIPPED_STEP_DISPATCHES if plan[k] is not None else MIXED_STEP_DISPATCHES[name]
            assert g[4] == want, (k, g[4])


@pytest.mark.parametrize("name", MIXED)
def test_mixed_precision_training_matches_unfused(name):
    """mixed_float16 training of a Dense stack: the fused optimizer (finite
    check, unscale, update) gives the unfused losses and weights."""
    out = {}
    try:
        for fusion in (False, True):
            tfmp.set_fusion(None, optimizer=fusion)
            keras.mixed_precision.set_global_policy("mixed_float16")
            keras.utils.set_random_seed(5)
            rng = np.random.RandomState(1)
            x = rng.randn(32, 7).astype(np.float32)
            y = rng.randn(32, 3).astype(np.float32)
            with tf.device(GPU):
                model = keras.Sequential([keras.Input((7,))] +
                                         [keras.layers.Dense(9, activation="relu") for _ in range(9)] +
                                         [keras.layers.Dense(3, dtype="float32")])  # 20 variables
                model.compile(OPTIMIZERS[name](), "mse")
                tfmp.reset_fusion_report()
                losses = [float(model.train_on_batch(x, y)) for _ in range(4)]
            out[fusion] = (losses, [w.numpy() for w in model.weights], tfmp.fusion_report())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    np.testing.assert_allclose(out[True][0], out[False][0], rtol=1e-6)
    for a, b in zip(out[True][1], out[False][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert fused(out[True][2], "optimizer_all_finite")
    assert fused(out[True][2], "optimizer_loss_scale")


def _all_finite(xs):
    from tensorflow.python.eager import context, execute
    with tf.device(GPU):
        ts = [tf.constant(x) for x in xs]
        attrs = ("T", [t.dtype.as_datatype_enum for t in ts])
        return execute.execute(b"_TfmpAllFinite", 1, inputs=ts, attrs=attrs, ctx=context.context())[0]


def test_all_finite_op():
    """_TfmpAllFinite directly: float32 and float16, sizes around its chunks
    (1024 elements), empty tensors, each kind of non-finite value anywhere;
    the result stays on the device (a bool scalar)."""
    rng = np.random.RandomState(3)
    sizes = [1, 7, 1023, 1024, 1025, 4097, 0]
    for dtype in (np.float32, np.float16):
        xs = [rng.randn(n).astype(dtype) for n in sizes]
        out = _all_finite(xs)
        assert out.dtype == tf.bool and out.shape == () and "GPU" in out.device
        assert bool(out.numpy())
        for k in range(len(sizes) - 1):
            for bad in (np.inf, -np.inf, np.nan):
                for pos in {0, sizes[k] // 2, sizes[k] - 1}:
                    ys = [x.copy() for x in xs]
                    ys[k][pos] = bad
                    assert not bool(_all_finite(ys).numpy()), (dtype, sizes[k], pos, bad)
    big = np.full(70000, 65504, np.float16)  # float16's largest finite value: finite
    assert bool(_all_finite([big, np.zeros((0, 3), np.float32)]).numpy())
    big[69999] = np.inf
    assert not bool(_all_finite([np.ones(3, np.float32), big]).numpy())
    assert bool(_all_finite([np.zeros((0, 3), np.float32)]).numpy())
    with pytest.raises((tf.errors.InvalidArgumentError, tf.errors.NotFoundError, TypeError)):
        _all_finite([np.zeros(3, np.int32)])
