"""Optimizer updates (ResourceApply*) and scatter updates (ResourceScatter*) of
variables on the device, compared with TF's CPU kernels: a variable (and its
slots) on each device, the same inputs, several steps."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tensorflow_metal_plugin as tfmp
from conftest import CPU, GPU

# op -> (slot names after var, scalars {name: value or "pow1"/"pow2" (beta powers
# at the step)}, ranges of the slots' initial values)
POS, SIGNED, SMALL = (0.1, 1.0), (-1.0, 1.0), (-0.3, 0.3)
APPLY = {
    "ResourceApplyGradientDescent": ({}, {"alpha": 0.1}),
    "ResourceApplyMomentum": ({"accum": SIGNED}, {"lr": 0.05, "momentum": 0.9}),
    "ResourceApplyKerasMomentum": ({"accum": SIGNED}, {"lr": 0.05, "momentum": 0.9}),
    "ResourceApplyAdam": ({"m": SIGNED, "v": POS},
                          {"beta1_power": "pow1", "beta2_power": "pow2", "lr": 0.01, "beta1": 0.9,
                           "beta2": 0.999, "epsilon": 1e-3}),
    "ResourceApplyAdamWithAmsgrad": ({"m": SIGNED, "v": POS, "vhat": POS},
                                     {"beta1_power": "pow1", "beta2_power": "pow2", "lr": 0.01,
                                      "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-3}),
    "ResourceApplyAdaMax": ({"m": SIGNED, "v": POS},
                            {"beta1_power": "pow1", "lr": 0.01, "beta1": 0.9, "beta2": 0.999,
                             "epsilon": 1e-3}),
    "ResourceApplyRMSProp": ({"ms": POS, "mom": SIGNED},
                             {"lr": 0.01, "rho": 0.9, "momentum": 0.5, "epsilon": 1e-3}),
    # ms >= mg^2 keeps ms - mg^2 + epsilon positive through the updates.
    "ResourceApplyCenteredRMSProp": ({"mg": SMALL, "ms": POS, "mom": SIGNED},
                                     {"lr": 0.01, "rho": 0.9, "momentum": 0.5, "epsilon": 1e-3}),
    "ResourceApplyAdagrad": ({"accum": POS}, {"lr": 0.1}),
    "ResourceApplyAdagradV2": ({"accum": POS}, {"lr": 0.1, "epsilon": 1e-3}),
    "ResourceApplyAdadelta": ({"accum": POS, "accum_update": POS},
                              {"lr": 1.0, "rho": 0.95, "epsilon": 1e-3}),
}
FLAG_CASES = [(op, {}) for op in APPLY] + [
    ("ResourceApplyMomentum", {"use_nesterov": True}),
    ("ResourceApplyKerasMomentum", {"use_nesterov": True}),
    ("ResourceApplyAdam", {"use_nesterov": True}),
    ("ResourceApplyAdagrad", {"update_slots": False}),
    ("ResourceApplyAdagradV2", {"update_slots": False}),
    ("ResourceApplyGradientDescent", {"use_locking": True}),
]
TOL = {"float32": dict(rtol=2e-6, atol=1e-6), "float16": dict(rtol=2e-3, atol=2e-3)}
STEPS = 3


def scalar_values(scalars, step, dtype):
    out = {}
    for name, v in scalars.items():
        v = {"pow1": 0.9 ** step, "pow2": 0.999 ** step}.get(v, v)
        out[name] = np.asarray(v, dtype)
    return out


def run_apply(device, op, attrs, dtype, init, grads):
    """Runs `op` STEPS times on variables on `device`; returns their final values."""
    slots, scalars = APPLY[op]
    with tf.device(device):
        variables = {name: tf.Variable(value) for name, value in init.items()}
        for step, g in enumerate(grads, 1):
            args = {name: variables[name].handle for name in init}
            args.update({k: tf.identity(v) for k, v in scalar_values(scalars, step, dtype).items()})
            args["delta" if op == "ResourceApplyGradientDescent" else "grad"] = tf.identity(g)
            getattr(tf.raw_ops, op)(**args, **attrs)
        values = {name: v.read_value() for name, v in variables.items()}
    for v in values.values():
        assert v.device.endswith(device.replace("/", "device:"))
    return {name: v.numpy() for name, v in values.items()}


def apply_inputs(op, dtype, shape, rng):
    slots, _ = APPLY[op]
    init = {"var": rng.uniform(-2, 2, shape).astype(dtype)}
    for name, (lo, hi) in slots.items():
        init[name] = rng.uniform(lo, hi, shape).astype(dtype)
    grads = [rng.uniform(-1, 1, shape).astype(dtype) for _ in range(STEPS)]
    return init, grads


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("op,attrs", FLAG_CASES, ids=lambda x: x if isinstance(x, str) else
                         ",".join("%s=%s" % kv for kv in x.items()) or "default")
def test_apply_matches_cpu(op, attrs, dtype, rng):
    for shape in [(), (1,), (7,), (33, 5), (0,), (3, 0), (1025,)]:
        init, grads = apply_inputs(op, dtype, shape, rng)
        got = run_apply(GPU, op, attrs, dtype, init, grads)
        want = run_apply(CPU, op, attrs, dtype, init, grads)
        for name in init:
            np.testing.assert_allclose(got[name].astype(np.float64), want[name].astype(np.float64),
                                       err_msg="%s of shape %s" % (name, shape), **TOL[dtype])
            assert got[name].dtype == want[name].dtype and got[name].shape == want[name].shape


def test_apply_is_asynchronous():
    rng = np.random.default_rng(0)
    init, grads = apply_inputs("ResourceApplyAdam", "float32", (1000,), rng)
    with tf.device(GPU):
        vs = [tf.Variable(init[n]) for n in ("var", "m", "v")]
        scal = {k: tf.identity(v) for k, v in
                scalar_values(APPLY["ResourceApplyAdam"][1], 1, "float32").items()}
        g = tf.identity(grads[0])
        tf.raw_ops.ResourceApplyAdam(var=vs[0].handle, m=vs[1].handle, v=vs[2].handle, grad=g, **scal)
        tfmp.reset_stats()
        for _ in range(100):
            tf.raw_ops.ResourceApplyAdam(var=vs[0].handle, m=vs[1].handle, v=vs[2].handle, grad=g,
                                         **scal)
        s = tfmp.stats()
    assert s["dispatches"] >= 100 and s["host_waits"] == 0, s


def test_apply_while_a_read_is_alive_does_not_change_the_read():
    with tf.device(GPU):
        v = tf.Variable(tf.ones([5]))
        accum = tf.Variable(tf.zeros([5]))
        before, accum_before = v.read_value(), accum.read_value()  # may share the buffers
        tf.raw_ops.ResourceApplyMomentum(var=v.handle, accum=accum.handle, lr=tf.constant(0.5),
                                         grad=tf.ones([5]), momentum=tf.constant(0.9))
        np.testing.assert_array_equal(before.numpy(), np.ones(5, np.float32))
        np.testing.assert_array_equal(accum_before.numpy(), np.zeros(5, np.float32))
        np.testing.assert_array_equal(v.numpy(), np.full(5, 0.5, np.float32))
        np.testing.assert_array_equal(accum.numpy(), np.ones(5, np.float32))


def test_apply_after_a_scatter_copy_on_read_mode():
    """A scatter switches the variable to copy-on-read mode; dense updates keep working."""
    results = []
    for device in (GPU, CPU):
        with tf.device(device):
            v = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2))
            v.scatter_add(tf.IndexedSlices(tf.ones([2, 2]), tf.constant([0, 2])))
            before = v.read_value()
            tf.raw_ops.ResourceApplyGradientDescent(var=v.handle, alpha=tf.constant(0.5),
                                                    delta=tf.ones([3, 2]))
            results.append((before.numpy(), v.numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


BAD_APPLY = [
    ("grad shape", dict(var=(3,), accum=(3,), lr=(), grad=(4,)), tf.errors.InvalidArgumentError),
    ("slot shape", dict(var=(3,), accum=(2,), lr=(), grad=(3,)), tf.errors.InvalidArgumentError),
    ("lr not scalar", dict(var=(3,), accum=(3,), lr=(1,), grad=(3,)), tf.errors.InvalidArgumentError),
    ("momentum not scalar", dict(var=(3,), accum=(3,), lr=(), grad=(3,), momentum=(2,)),
     tf.errors.InvalidArgumentError),
]


@pytest.mark.parametrize("what,shapes,error", BAD_APPLY, ids=[b[0] for b in BAD_APPLY])
def test_bad_apply_inputs_raise_like_cpu(what, shapes, error):
    for device in (CPU, GPU):
        with tf.device(device):
            var = tf.Variable(np.ones(shapes["var"], np.float32))
            accum = tf.Variable(np.ones(shapes["accum"], np.float32))
            with pytest.raises(error):
                tf.raw_ops.ResourceApplyMomentum(
                    var=var.handle, accum=accum.handle, lr=tf.fill(shapes["lr"], 0.1),
                    grad=tf.ones(shapes["grad"]), momentum=tf.fill(shapes.get("momentum", ()), 0.9))
            np.testing.assert_array_equal(var.numpy(), np.ones(shapes["var"], np.float32))
    # The device keeps working.
    with tf.device(GPU):
        v = tf.Variable(tf.ones([3]))
        tf.raw_ops.ResourceApplyGradientDescent(var=v.handle, alpha=tf.constant(1.0), delta=tf.ones([3]))
        np.testing.assert_array_equal(v.numpy(), np.zeros(3, np.float32))


def test_missing_variable_raises_like_cpu():
    """A handle whose variable was never created (TF: InternalError for ResourceApply*,
    NotFoundError for ResourceScatter*)."""
    for op, error in (("apply", tf.errors.InternalError), ("scatter", tf.errors.NotFoundError)):
        for device in (CPU, GPU):
            with tf.device(device):
                h = tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[3], shared_name="")
                with pytest.raises(error):
                    if op == "apply":
                        tf.raw_ops.ResourceApplyGradientDescent(var=h, alpha=tf.constant(1.0),
                                                                delta=tf.ones([3]))
                    else:
                        tf.raw_ops.ResourceScatterAdd(resource=h, indices=tf.constant([0]),
                                                      updates=tf.ones([1]))


# --- scatter updates -----------------------------------------------------------

SCATTER = ["ResourceScatterUpdate", "ResourceScatterAdd", "ResourceScatterSub", "ResourceScatterMul",
           "ResourceScatterDiv", "ResourceScatterMin", "ResourceScatterMax"]
# (params shape, indices shape, scalar update)
SCATTER_SHAPES = [((5, 3), (8,), False), ((7,), (12,), False), ((4, 2, 3), (2, 3), False),
                  ((6, 33), (9,), True), ((1,), (5,), False), ((), (3,), True), ((9, 1), (0,), False),
                  ((0, 4), (0,), False), ((3, 1), (40000,), False), ((4, 5000), (6,), False),
                  ((5, 3), (), False)]


def scatter_values(op, shape, dtype, rng):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype == "int64":
        return rng.integers(-1000, 1000, shape).astype(dtype)
    if op in ("ResourceScatterMul", "ResourceScatterDiv"):  # stay finite through many updates
        return (rng.uniform(0.9, 1.1, shape) * rng.choice([-1, 1], shape)).astype(dtype)
    return rng.uniform(-3, 3, shape).astype(dtype)


def run_scatter(device, op, params, indices, updates):
    with tf.device(device):
        v = tf.Variable(params)
        getattr(tf.raw_ops, op)(resource=v.handle, indices=tf.identity(indices),
                                updates=tf.identity(updates))
        out = v.read_value()
    assert out.device.endswith(device.replace("/", "device:"))
    return out.numpy()


@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("op", SCATTER)
def test_scatter_matches_cpu(op, dtype, index, rng):
    for pshape, ishape, scalar in SCATTER_SHAPES:
        rows = pshape[0] if pshape else 1
        params = scatter_values(op, pshape, dtype, rng)
        indices = rng.integers(0, max(rows, 1), ishape).astype(index)  # with duplicates
        ushape = () if scalar else ishape + pshape[1:]
        updates = scatter_values(op, ushape, dtype, rng)
        got = run_scatter(GPU, op, params, indices, updates)
        want = run_scatter(CPU, op, params, indices, updates)
        # Same operations in the same order per element: bit-equal, except that the
        # shaders' float32 division (tf_div) can be 1 ulp off per division.
        msg = "params %s indices %s" % (pshape, ishape)
        if op == "ResourceScatterDiv" and dtype == "float32":
            dups = np.bincount(indices.ravel()).max() if indices.size else 0
            np.testing.assert_allclose(got, want, rtol=2.4e-7 * max(dups, 1), err_msg=msg)
        else:
            np.testing.assert_array_equal(got, want, err_msg=msg)


@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_scatter_update_other_dtypes(dtype, index, rng):
    params = scatter_values("", (6, 4), dtype, rng)
    indices = np.array([1, 4, 1, 0, 4], index)
    updates = scatter_values("", (5, 4), dtype, rng)
    got = run_scatter(GPU, "ResourceScatterUpdate", params, indices, updates)
    want = run_scatter(CPU, "ResourceScatterUpdate", params, indices, updates)
    np.testing.assert_array_equal(got, want)


def test_scatter_duplicates_accumulate():
    with tf.device(GPU):
        v = tf.Variable(tf.zeros([3, 2]))
        v.scatter_add(tf.IndexedSlices(tf.ones([1000, 2]), tf.constant([1] * 999 + [2])))
        np.testing.assert_array_equal(v.numpy(), [[0, 0], [999, 999], [1, 1]])
        v.scatter_max(tf.IndexedSlices(tf.constant([[5.0, 1.0], [2000.0, -1.0]]), tf.constant([1, 1])))
        np.testing.assert_array_equal(v.numpy(), [[0, 0], [2000, 999], [1, 1]])
        v.scatter_update(tf.IndexedSlices(tf.constant([[7.0, 7.0], [8.0, 8.0]]), tf.constant([0, 0])))
        np.testing.assert_array_equal(v.numpy(), [[8, 8], [2000, 999], [1, 1]])  # the last one wins


def test_scatter_out_of_range_indices_are_skipped_on_the_device():
    """TF's CPU kernel raises (after applying the updates before the bad index);
    the device skips bad indices, as TF's GPU kernels do, since checking them on
    the host would wait for the device."""
    params = np.zeros((4, 2), np.float32)
    indices = np.array([0, 7, 1, -1, 0], np.int32)
    updates = np.arange(10, dtype=np.float32).reshape(5, 2)
    got = run_scatter(GPU, "ResourceScatterAdd", params, indices, updates)
    want = params.copy()
    for i, r in enumerate(indices):
        if 0 <= r < 4:
            want[r] += updates[i]
    np.testing.assert_array_equal(got, want)
    with pytest.raises(tf.errors.InvalidArgumentError):
        run_scatter(CPU, "ResourceScatterAdd", params, indices, updates)


def test_scatter_is_asynchronous_and_keeps_reads():
    with tf.device(GPU):
        v = tf.Variable(tf.zeros([100, 4]))
        idx, one = tf.identity(tf.constant([3, 3, 7])), tf.identity(tf.ones([3, 4]))
        before = v.read_value()
        v.scatter_add(tf.IndexedSlices(one, idx))
        tfmp.reset_stats()
        for _ in range(50):
            v.scatter_add(tf.IndexedSlices(one, idx))
        s = tfmp.stats()
        assert s["host_waits"] == 0, s
        np.testing.assert_array_equal(before.numpy(), np.zeros((100, 4), np.float32))
        assert v.numpy()[3, 0] == 102 and v.numpy()[7, 0] == 51


BAD_SCATTER = [
    ("updates rank", (5, 3), [0, 1], (2, 3, 1)),
    ("indices not a prefix", (5, 3), [0, 1], (1, 6)),
    # TF's CPU kernel does not check this one (it reads and writes out of bounds);
    # the device raises.
    ("row size", (5, 3), [0, 1], (2, 4)),
]


@pytest.mark.parametrize("what,pshape,indices,ushape", BAD_SCATTER, ids=[b[0] for b in BAD_SCATTER])
def test_bad_scatter_inputs_raise(what, pshape, indices, ushape):
    devices = (GPU,) if what == "row size" else (CPU, GPU)
    for device in devices:
        with tf.device(device):
            v = tf.Variable(np.zeros(pshape, np.float32))
            with pytest.raises(tf.errors.InvalidArgumentError):
                tf.raw_ops.ResourceScatterAdd(resource=v.handle, indices=tf.constant(indices),
                                              updates=tf.ones(ushape))
            np.testing.assert_array_equal(v.numpy(), np.zeros(pshape, np.float32))


# --- Keras optimizers ---------------------------------------------------------

KERAS = r"""
import sys, numpy as np, tensorflow as tf, keras
DEVICE, LOG = sys.argv[1], sys.argv[2] == "log"
if LOG:
    tf.debugging.set_log_device_placement(True)
OPTIMIZERS = {
    "sgd_nesterov": lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: keras.optimizers.Adam(0.01),
    "rmsprop": lambda: keras.optimizers.RMSprop(0.01),
    "adagrad": lambda: keras.optimizers.Adagrad(0.05),
}
rng = np.random.default_rng(0)
x = rng.random((32, 12)).astype("float32"); y = rng.integers(0, 4, 32).astype("int32")
for name, make in OPTIMIZERS.items():
    keras.utils.set_random_seed(1)
    with tf.device(DEVICE):
        model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(4, activation="softmax")])
        model.compile(optimizer=make(), loss="sparse_categorical_crossentropy")
        h = model.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)  # 3 steps
    print("LOSSES", name, *h.history["loss"])
"""
HOST_PLUMBING = {"Const", "Identity", "_Arg", "_Retval", "NoOp", "_DeviceArg", "_DeviceRetval"}


def test_keras_optimizers_match_the_cpu_on_the_device():
    env = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TF_CPP_MIN_LOG_LEVEL="0")
    runs = {}
    for device, log in (("/GPU:0", "log"), ("/CPU:0", "nolog")):
        r = subprocess.run([sys.executable, "-c", KERAS, device, log], capture_output=True, text=True,
                           env=env, timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        runs[device] = {l.split()[1]: np.array([float(v) for v in l.split()[2:]])
                        for l in r.stdout.splitlines() if l.startswith("LOSSES")}
        if log == "log":
            step = [l.split("] ", 1)[1] for l in r.stderr.splitlines()
                    if "placer.cc" in l and "StatefulPartitionedCall/" in l]
            assert len(step) > 20, r.stderr[-2000:]
            on_cpu = {l.split("(")[1].split(")")[0] for l in step if "device:CPU" in l} - HOST_PLUMBING
            assert not on_cpu, "ops of the training step on the CPU: %s" % sorted(on_cpu)
    assert set(runs["/GPU:0"]) == {"sgd_nesterov", "adam", "rmsprop", "adagrad"}
    for name, losses in runs["/GPU:0"].items():
        assert len(losses) == 3
        np.testing.assert_allclose(losses, runs["/CPU:0"][name], rtol=1e-5, err_msg=name)
