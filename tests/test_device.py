"""The device as TensorFlow and the user see it: listing, memory, errors,
copies, asynchronous batching, and declining where it cannot run."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tensorflow_metal_plugin as tfmp
from conftest import GPU, ROOT

RUNTIME_TEST = os.path.join(ROOT, "bazel-bin", "tests", "runtime_test")


def test_device_listed_and_described():
    assert len(tf.config.list_physical_devices("GPU")) == len(tfmp.devices()) >= 1
    assert tfmp.status() == ""
    d = tfmp.devices()[0]
    assert d["backend"] == "vulkan" and d["name"] and d["driver"]
    assert d["memory_bytes"] > 0 and isinstance(d["software"], bool)
    assert tfmp.built_for_tensorflow() == tf.__version__


def test_memory_info_is_real_and_memory_is_returned():
    import gc

    gc.collect()  # earlier tests' tensors must not be freed in the middle of this one
    before = tf.config.experimental.get_memory_info("GPU:0")["current"]
    with tf.device(GPU):
        t = tf.ones([1 << 20])  # 4 MiB
        during = tf.config.experimental.get_memory_info("GPU:0")["current"]
    assert during - before >= 4 << 20
    del t
    after = tf.config.experimental.get_memory_info("GPU:0")["current"]
    assert after <= before + 4096  # small scalars other tests keep alive may come and go
    assert tf.config.experimental.get_memory_info("GPU:0")["peak"] >= during


def test_out_of_memory_raises_and_process_stays_usable():
    too_big = tfmp.devices()[0]["memory_bytes"] // 4 + (1 << 20)
    with pytest.raises(tf.errors.ResourceExhaustedError):
        with tf.device(GPU):
            tf.raw_ops.Fill(dims=[too_big], value=1.0).numpy()
    with tf.device(GPU):
        assert float(tf.reduce_sum(tf.ones([1000]))) == 1000.0


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64", "bool", "uint8"])
@pytest.mark.parametrize("n", [0, 1, 3, 7, 1025, 100003])
def test_copies_round_trip(dtype, n, rng):
    x = rng.integers(0, 2, n).astype(dtype) if dtype == "bool" else (rng.random(n) * 100).astype(dtype)
    with tf.device(GPU):
        g = tf.identity(tf.constant(x))
        g2 = tf.identity(g)  # device to device
    assert g2.device.endswith("GPU:0")
    np.testing.assert_array_equal(g2.numpy(), x)


def test_runtime_copies_at_odd_offsets():
    r = subprocess.run([RUNTIME_TEST, "copies"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout


@pytest.mark.parametrize("check", ["timer", "callback"])
def test_runtime_timers_and_callbacks(check):
    r = subprocess.run([RUNTIME_TEST, check], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout


def test_runtime_cooperative_matrix_gemms():
    # Where the device has cooperative matrices (VK_NV_cooperative_matrix), the
    # matmul_coopmat kernels match the portable matmul_f16 on every element of
    # every layout and edge shape; where it has not (lavapipe), they are
    # unavailable and a dispatch fails the stream naming the feature.
    has = tfmp.devices()[0]["cooperative_matrix_f16"]
    r = subprocess.run([RUNTIME_TEST, "coopmat"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    assert ("coopmat OK" if has else "refused cleanly") in r.stdout, r.stdout
    # TFMP_COOPMAT=0 turns the path off (A/B comparisons).
    env = dict(os.environ, TFMP_COOPMAT="0")
    r = subprocess.run([RUNTIME_TEST, "coopmat"], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0 and "cooperative_matrix_f16=0" in r.stdout, r.stderr + r.stdout
    assert not has or "off by TFMP_COOPMAT=0" in r.stdout, r.stdout


def test_conv_planner_choices():
    # kernels/conv_plan.h: K splits by wave fill on a 132-SM device, Winograd from 7x7.
    r = subprocess.run([RUNTIME_TEST, "convplan"], capture_output=True, text=True)
    assert r.returncode == 0 and "conv plans OK" in r.stdout, r.stdout + r.stderr


def test_fp16_gemm_tile_picks():
    # kernels/matmul_config.h PickCoop2Tile: wide, mid (128 invocations) or default 128x128 tile.
    r = subprocess.run([RUNTIME_TEST, "tilepick"], capture_output=True, text=True)
    assert r.returncode == 0 and "tile picks OK" in r.stdout, r.stdout + r.stderr


def test_runtime_chain_of_10000_dependent_dispatches():
    r = subprocess.run([RUNTIME_TEST, "chain", "10000"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout


def test_chain_of_10000_ops_through_tensorflow_is_batched_and_correct():
    with tf.device(GPU):
        x = tf.identity(tf.constant(np.arange(100, dtype=np.float32)))
        one = tf.identity(tf.constant(1.0))
        x = x + one  # warm up: pipelines created
        tfmp.reset_stats()
        for _ in range(10000):
            x = x + one
        s = tfmp.stats()
        result = x.numpy()
    np.testing.assert_array_equal(result, np.arange(100, dtype=np.float32) + 10001)
    assert s["dispatches"] >= 10000
    assert s["host_waits"] == 0, s
    # Batched: at least 32 commands per command buffer (the early submission
    # threshold, TFMP_EARLY_SUBMIT), never one per dispatch.
    assert s["command_buffers"] * 25 < s["dispatches"], s


SUBMITS = r"""
import json, time, numpy as np, tensorflow as tf, tensorflow_metal_plugin as tfmp
with tf.device("/GPU:0"):
    x = tf.identity(tf.constant(np.arange(100, dtype=np.float32)))
    one = tf.identity(tf.constant(1.0))
    (x + one).numpy()  # warm up: pipelines created, nothing in flight
    tfmp.reset_stats()
    for _ in range(8):  # the early submission threshold (TFMP_EARLY_SUBMIT=8 below)
        x = x + one
    time.sleep(0.5)  # no read: the batch went by itself
    s = tfmp.stats()
    ok = float(x.numpy()[0]) == 8.0
print("RESULT", json.dumps(dict(s, ok=ok)))
"""


@pytest.mark.parametrize("idle_submit", ["1", "0"])
def test_early_submission_from_the_runtime_thread_while_the_gpu_is_idle(idle_submit):
    # TFMP_IDLE_SUBMIT=1, an experiment (tensorflow_metal_plugin/runtime/vulkan/vk_stream.cc)
    env = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TF_CPP_MIN_LOG_LEVEL="2",
               TFMP_IDLE_SUBMIT=idle_submit, TFMP_EARLY_SUBMIT="8")
    r = subprocess.run([sys.executable, "-c", SUBMITS], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout.split("RESULT", 1)[1])
    assert s["ok"] and s["dispatches"] >= 8 and s["host_waits"] == 0, s
    assert s["command_buffers"] >= 1, s  # submitted before any read
    # Nothing was in flight: the runtime thread submitted it (TFMP_IDLE_SUBMIT=0: the op's thread).
    assert (s["runtime_thread_submits"] >= 1) == (idle_submit == "1"), s


def _run_python(code, env_extra, python=sys.executable):
    env = dict(os.environ)
    env.pop("TFMP_ALLOW_SOFTWARE_DEVICE", None)
    env.update(env_extra)
    return subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, timeout=600)


PROBE = ("import tensorflow as tf; print('GPUS', len(tf.config.list_physical_devices('GPU'))); "
         "print('SUM', float(tf.reduce_sum(tf.ones([10]))))")


def test_without_a_usable_gpu_the_plugin_declines_cleanly():
    r = _run_python(PROBE, {"TFMP_VISIBLE_DEVICES": "7"})
    assert r.returncode == 0, r.stderr
    assert "GPUS 0" in r.stdout and "SUM 10.0" in r.stdout
    lines = [l for l in r.stderr.splitlines() if "tensorflow-metal-plugin" in l]
    assert len(lines) == 1 and "no GPU device offered" in lines[0], r.stderr


def test_software_device_needs_opt_in():
    code = PROBE + "; import tensorflow_metal_plugin as t; print('WHY', t.status())"
    r = _run_python(code, {})
    assert r.returncode == 0, r.stderr
    if "GPUS 0" in r.stdout:  # no hardware GPU here: lavapipe is not used unasked
        assert "TFMP_ALLOW_SOFTWARE_DEVICE" in r.stdout


def test_in_another_tensorflow_release_the_plugin_declines_cleanly(tmp_path):
    other = os.environ.get("TFMP_OTHER_TF_PYTHON")
    wheel = os.environ.get("TFMP_WHEEL")
    assert other and wheel, "run through `make test` (it provides a second TF release)"
    target = tmp_path / "site-packages"
    subprocess.run([other, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), wheel],
                   check=True)
    code = ("import sys; sys.path.insert(0, %r); " % str(target)) + PROBE + (
        "; import tensorflow_metal_plugin as t; print('WHY', t.status()); print('TF', tf.__version__)")
    r = _run_python(code, {"TFMP_ALLOW_SOFTWARE_DEVICE": "1"}, python=other)
    assert r.returncode == 0, r.stderr
    assert "GPUS 0" in r.stdout and "SUM 10.0" in r.stdout, r.stdout + r.stderr
    assert "built for TensorFlow %s but running in TensorFlow" % tf.__version__ in r.stdout
    lines = [l for l in r.stderr.splitlines() if "tensorflow-metal-plugin" in l]
    assert len(lines) == 1, r.stderr


def test_mlp_forward_pass_runs_entirely_on_the_device():
    """A Keras MLP's forward pass, in a fresh process with the placement log on
    and soft placement off (an op without a device kernel would raise instead
    of running on the CPU): every op after the marker runs on the GPU."""
    code = r"""
import sys
import numpy as np, tensorflow as tf
import keras
tf.debugging.set_log_device_placement(True)
with tf.device('/GPU:0'):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation='relu'),
                              keras.layers.Dense(64, activation='tanh'),
                              keras.layers.Dense(10, activation='sigmoid')])
    x = tf.identity(tf.constant(np.random.rand(33, 64).astype('float32')))
ref = model(tf.constant(x.numpy())).numpy()  # the placement log may show anything up to here
tf.config.set_soft_device_placement(False)
sys.stderr.write('FORWARD PASS STARTS\n'); sys.stderr.flush()
with tf.device('/GPU:0'):
    y = model(x)
    z = tf.function(lambda t: model(t))(x)
sys.stderr.write('FORWARD PASS ENDS\n'); sys.stderr.flush()
print('MAXERR', float(max(np.abs(y.numpy() - ref).max(), np.abs(z.numpy() - ref).max())))
"""
    r = _run_python(code, {"TFMP_ALLOW_SOFTWARE_DEVICE": "1", "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert r.returncode == 0, r.stderr[-3000:]
    log = r.stderr.split("FORWARD PASS STARTS")[1].split("FORWARD PASS ENDS")[0]
    placed = [l for l in log.splitlines() if "Executing op" in l or "placer.cc" in l]
    for op in ("MatMul", "BiasAdd", "Relu", "Tanh", "Sigmoid", "ReadVariableOp"):
        assert any(op in l for l in placed), "no %s in the placement log:\n%s" % (op, log[-3000:])
    on_cpu = [l for l in placed if "device:CPU" in l]
    assert not on_cpu, "\n".join(on_cpu)
    assert float(r.stdout.split("MAXERR")[1]) < 1e-5


def test_freed_memory_goes_back_to_the_device_for_a_larger_tensor():
    """TF's allocator pools device memory; when a request does not fit, it
    returns its free regions to the device (our Free) and retries. Two tensors
    of 55% and 70% of the device cannot coexist: the second fits only if the
    first one's memory really went back."""
    total = tfmp.devices()[0]["memory_bytes"]
    with tf.device(GPU):
        a = tf.raw_ops.Fill(dims=[int(total * 0.55) // 4], value=1.0)
        assert float(tf.reduce_mean(a)) == 1.0
        del a
        b = tf.raw_ops.Fill(dims=[int(total * 0.70) // 4], value=2.0)
        assert float(tf.reduce_mean(b)) == 2.0
        del b
