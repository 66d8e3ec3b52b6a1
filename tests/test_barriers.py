"""Barriers only where a dependency needs one (runtime/vulkan/vk_stream.h):
the runtime's own checks (tests/runtime_test.cc), and through TensorFlow:
independent ops record no barrier between them, dependent ones do, and the
results stay those of the CPU."""
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

import tensorflow_metal_plugin as tfmp
from conftest import CPU, GPU, ROOT

RUNTIME_TEST = os.path.join(ROOT, "bazel-bin", "tests", "runtime_test")


@pytest.mark.parametrize("check", ["barriers", "hazards 4000", "profile"])
def test_runtime(check):
    r = subprocess.run([RUNTIME_TEST] + check.split(), capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout


def test_full_barriers_switch():
    # TFMP_BARRIERS=full: a barrier before every command again, same results.
    r = subprocess.run([RUNTIME_TEST, "hazards", "2000"], capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TFMP_BARRIERS="full"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 avoided" in r.stdout, r.stdout


@pytest.fixture
def no_fusion():
    tfmp.set_fusion(False)  # keep one dispatch per op
    yield
    tfmp.set_fusion(None)


def barriers_of(fn, *args):
    fn(*args)  # traced, pipelines created
    out = fn(*args)
    [o.numpy() for o in out]
    before = tfmp.stats()
    out = fn(*args)
    after = tfmp.stats()
    vals = [o.numpy() for o in out]
    return {k: after[k] - before[k] for k in ("barriers", "barriers_avoided", "dispatches")}, vals


def test_independent_ops_need_no_barrier_dependent_ones_do(no_fusion):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((64, 33)).astype(np.float32) for _ in range(8)]
    w = (rng.standard_normal((33, 17)) / np.sqrt(33)).astype(np.float32)

    @tf.function
    def independent(w, *xs):
        return [tf.linalg.matmul(x, w) for x in xs]

    @tf.function
    def dependent(w, *xs):
        h = xs[0]
        outs = []
        for x in xs:
            h = tf.linalg.matmul(h, w) if h.shape[-1] == 33 else tf.linalg.matmul(h, tf.transpose(w))
            outs.append(h)
        return outs

    with tf.device(GPU):
        args = [tf.constant(w)] + [tf.constant(x) for x in xs]
        ind, got_ind = barriers_of(independent, *args)
        dep, got_dep = barriers_of(dependent, *args)
    with tf.device(CPU):
        want_ind = [o.numpy() for o in independent(*args)]
        want_dep = [o.numpy() for o in dependent(*args)]
    assert ind["dispatches"] >= 8 and dep["dispatches"] >= 8, (ind, dep)
    # 8 matmuls reading shared weights into fresh outputs: at most one
    # barrier (ordering after the step's earlier work), none between them.
    assert ind["barriers"] <= 1, ind
    assert ind["barriers_avoided"] >= 7, ind
    # A chain: every matmul reads the one before.
    assert dep["barriers"] >= 7, dep
    for g, w_ in zip(got_ind + got_dep, want_ind + want_dep):
        np.testing.assert_allclose(g, w_, rtol=1e-4, atol=1e-5 * np.abs(w_).max())


def test_variable_updates_stay_ordered(no_fusion):
    # Resource-variable kernels reach memory outside their tensors (raw()): they
    # keep full barriers, so reads after an update see it.
    with tf.device(GPU):
        v = tf.Variable(tf.zeros([1000]))

        @tf.function
        def step():
            for i in range(20):
                v.assign_add(tf.ones([1000]) * float(i))
            return v.read_value() * 2.0

        got = step().numpy()
    np.testing.assert_array_equal(got, np.full(1000, 2.0 * sum(range(20)), np.float32))
