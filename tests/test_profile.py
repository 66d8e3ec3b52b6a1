"""tensorflow_metal_plugin.profile(): per-kernel GPU time of a real step,
per copy direction, host time per op, and the ops TF ran on the CPU."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import tensorflow_metal_plugin as tfmp
from conftest import GPU


def small_model():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((32, 8, 8, 1), dtype=np.float32))
    y = tf.constant(rng.integers(0, 10, 32).astype(np.int32))
    return model, x, y


def test_a_training_step_shows_its_kernels_with_times():
    with tf.device(GPU):
        model, x, y = small_model()
        model.train_on_batch(x, y)  # traced, pipelines created
        with tfmp.profile() as p:
            for _ in range(3):
                model.train_on_batch(x, y)
    r = p.report
    assert not r["active"]
    kernels = r["kernels"]
    assert len(kernels) >= 5, kernels
    for k in kernels:
        assert k["count"] >= 1 and k["gpu_ms"] > 0 and k["mean_us"] > 0, k
    # Largest first; every dispatch of the three steps is counted.
    assert [k["gpu_ms"] for k in kernels] == sorted((k["gpu_ms"] for k in kernels), reverse=True)
    names = " ".join(k["name"] for k in kernels)
    assert "conv" in names, names
    # Per-command times add up to the command buffers' GPU time, which is
    # within the wall time of the block.
    total = sum(k["gpu_ms"] for k in kernels) + sum(c["gpu_ms"] for c in r["copies"])
    assert total == pytest.approx(r["gpu_ms"], rel=0.02, abs=0.05)
    assert 0 < r["gpu_ms"] <= r["wall_ms"] * 1.02
    assert r["commands"] == sum(k["count"] for k in kernels) + sum(c["count"] for c in r["copies"])
    # Host time per op type (the kernels' Compute).
    ops = {o["op"]: o for o in r["ops"]}
    assert any("Conv2D" in op for op in ops), sorted(ops)
    assert all(o["count"] >= 1 and o["host_ms"] > 0 for o in ops.values())
    text = str(p)
    assert "GPU: kernel" in text and kernels[0]["name"] in text and "host: op" in text


def matmul_chain(n, seed):
    """x ([n, n] on the GPU) and f(x) = x @ x @ x, traced and run once."""
    a = np.random.default_rng(seed).random((n, n), dtype=np.float32) / n
    with tf.device(GPU):
        x = tf.constant(a)
        f = tf.function(lambda x: tf.linalg.matmul(tf.linalg.matmul(x, x), x))
        f(x).numpy()
    return x, f


def test_wall_time_is_mostly_gpu_time_on_a_gpu_bound_step():
    # A chain of large matmuls: the block's wall time is the GPU's.
    x, f = matmul_chain(512, 1)
    with tf.device(GPU):
        with tfmp.profile() as p:
            for _ in range(4):
                y = f(x)
            y.numpy()
    r = p.report
    mm = [k for k in r["kernels"] if "matmul" in k["name"]]
    assert mm and sum(k["count"] for k in mm) >= 8, r["kernels"]
    assert 0.3 * r["wall_ms"] < r["gpu_ms"] <= 1.02 * r["wall_ms"], (r["gpu_ms"], r["wall_ms"])
    copies = {c["kind"]: c for c in r["copies"]}
    assert copies["device_to_host"]["count"] >= 1
    assert copies["device_to_host"]["bytes"] >= 512 * 512 * 4


def test_timeline_splits_gpu_idle_time_by_what_the_host_was_doing():
    x, f = matmul_chain(256, 3)
    with tf.device(GPU):
        with tfmp.profile() as p:
            f(x).numpy()
            time.sleep(0.05)  # the host is busy elsewhere: the GPU waits for work
            f(x).numpy()
            time.sleep(0.03)  # after the last GPU work
    r = p.report
    t = r["timeline"]
    parts = ("busy_ms", "host_ms", "unsubmitted_ms", "launch_ms", "after_ms")
    assert all(t[k] >= 0 for k in parts), t
    assert sum(t[k] for k in parts) == pytest.approx(r["wall_ms"], rel=1e-3), (t, r["wall_ms"])
    assert t["host_ms"] >= 48, t
    assert t["after_ms"] >= 28, t
    assert 0 < t["busy_ms"] <= r["gpu_ms"] * 1.01 + 0.01, (t, r["gpu_ms"])
    assert t["gaps"] >= 2 and t["align_us"] >= 0, t
    assert "GPU idle" in str(p) and "waiting for the host" in str(p)


def test_profiling_keeps_results_and_stops_cleanly():
    rng = np.random.default_rng(2)
    a = rng.random((33, 65), dtype=np.float32)
    b = rng.random((65, 7), dtype=np.float32)
    with tf.device(GPU):
        plain = (tf.nn.relu(tf.constant(a) @ tf.constant(b)) + 1.0).numpy()
        tfmp.start_profile()
        profiled = (tf.nn.relu(tf.constant(a) @ tf.constant(b)) + 1.0).numpy()
        report = tfmp.stop_profile()
        frozen = tfmp.profile_report()
        (tf.constant(a) @ tf.constant(b)).numpy()
    np.testing.assert_array_equal(plain, profiled)
    assert report["commands"] >= 3
    assert tfmp.profile_report() == frozen  # nothing recorded once stopped
    tfmp.start_profile()  # a new start clears
    cleared = tfmp.stop_profile()
    assert cleared["commands"] == 0 and cleared["kernels"] == []
    assert cleared["timeline"] is None


def test_cpu_ops_lists_what_tensorflow_ran_on_the_cpu():
    code = r"""
import json, tensorflow as tf, tensorflow_metal_plugin as tfmp
tf.config.set_soft_device_placement(True)
@tf.function
def f(x, s):
    return tf.nn.relu(x) * 2.0, tf.strings.length(s)
with tf.device("/GPU:0"):
    x, s = tf.constant([1.0, -2.0]), tf.constant(["ab", "cde"])
    with tfmp.profile(cpu_ops=True) as p:  # f's first call: TF places it here
        f(x, s)
print("RESULT", json.dumps(p.cpu_ops))
"""
    env = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TF_CPP_MIN_LOG_LEVEL="2")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    cpu_ops = json.loads(r.stdout.split("RESULT", 1)[1])
    assert cpu_ops.get("StringLength") == 1, cpu_ops
    assert "Relu" not in cpu_ops and "Mul" not in cpu_ops, cpu_ops


def test_tfmp_profile_env_prints_the_report_at_exit():
    code = r"""
import tensorflow as tf
with tf.device("/GPU:0"):
    (tf.constant([1.0, 2.0, 3.0]) * 2.0 + 1.0).numpy()
"""
    env = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TF_CPP_MIN_LOG_LEVEL="2",
               TFMP_PROFILE="1")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "tensorflow-metal-plugin profile:" in r.stderr and "GPU: kernel" in r.stderr, r.stderr
    assert "copy host_to_device" in r.stderr, r.stderr
