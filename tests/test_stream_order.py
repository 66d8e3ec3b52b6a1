"""Ordering of device work across TensorFlow's streams.

TF gives a PluggableDevice a compute stream and host-to-device,
device-to-host and device-to-device copy streams, and one BFC allocator for
all of them: memory freed by work still pending on the compute stream may be
handed out again at once. When a tf.function builds its kernels, each Const
is uploaded on the host-to-device stream (PluggableDevice::MakeTensorFromProto
-> CopyCPUTensorToDevice with sync_dst_compute=false) with no dependency on
the compute stream. If that upload reached the device before the pending
compute work that still reads the reused memory, the compute work read the
constant instead of its input. These cases failed that way before the plugin
ordered all of a device's streams as one (stream_executor.cc)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tensorflow_metal_plugin as tfmp
from conftest import GPU, ROOT

# The minimal cases run in a fresh process: there the allocator hands the
# freed chunk to the constant deterministically.
FRESH_PROCESS_CASES = {
    "float32 input freed while its add is pending": r"""
import gc
with tf.device("/GPU:0"):
    x = tf.constant([70.0, 0, 0]) + tf.constant([7.0, 0, 0])
    gc.collect()
    y = tf.function(lambda: tf.constant([6.0, 6, 6]))()
    print("RESULT", x.numpy().tolist(), y.numpy().tolist())
""",
    "variable initialised from a pending cast": r"""
with tf.device("/GPU:0"):
    v = tf.Variable(tf.cast([77, 0, 0], tf.int64))
    f = tf.function(lambda: v.read_value() + tf.constant(6, tf.int64))
    y = f()
    print("RESULT", v.numpy().tolist(), y.numpy().tolist())
""",
}
EXPECTED = {
    "float32 input freed while its add is pending": "[77.0, 0.0, 0.0] [6.0, 6.0, 6.0]",
    "variable initialised from a pending cast": "[77, 0, 0] [83, 6, 6]",
}


@pytest.mark.parametrize("case", sorted(FRESH_PROCESS_CASES))
def test_constant_upload_waits_for_pending_readers_of_reused_memory(case):
    code = "import tensorflow as tf\n" + FRESH_PROCESS_CASES[case]
    env = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TF_CPP_MIN_LOG_LEVEL="2")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=os.path.join(ROOT, "tests"), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split("RESULT", 1)[1].strip() == EXPECTED[case]


def test_same_cases_in_this_process():
    with tf.device(GPU):
        x = tf.constant([70.0, 0, 0]) + tf.constant([7.0, 0, 0])
        y = tf.function(lambda: tf.constant([6.0, 6, 6]))()
        v = tf.Variable(tf.cast([77, 0, 0], tf.int64))
        z = tf.function(lambda: v.read_value() + tf.constant(6, tf.int64))()
        np.testing.assert_array_equal(x.numpy(), [77, 0, 0])
        np.testing.assert_array_equal(y.numpy(), [6, 6, 6])
        np.testing.assert_array_equal(v.numpy(), [77, 0, 0])
        np.testing.assert_array_equal(z.numpy(), [83, 6, 6])


def _fresh_constant_function(values):
    # A new tf.function per call: its Const kernel is built (and its value
    # uploaded) now, while earlier eager work may still be pending.
    return tf.function(lambda: tf.constant(values))


def test_stress_freed_temporaries_uploads_and_reads(rng):
    """A long chain of eager ops whose temporaries are freed while the chain is
    pending, interleaved with fresh constants, variables and reads; every value
    is checked against numpy (small integers in float32: exact)."""
    sizes = [1, 3, 7, 64, 257, 1000]
    with tf.device(GPU):
        accs = [tf.identity(tf.zeros([n])) for n in sizes]
        refs = [np.zeros(n, np.float32) for n in sizes]
        produced, variables = [], []
        for step in range(60):
            k = step % len(sizes)
            n = sizes[k]
            a = rng.integers(-8, 9, size=n).astype(np.float32)
            b = rng.integers(-8, 9, size=n).astype(np.float32)
            # a and b go up as eager constants; a*2, (a*2-b) are temporaries
            # freed right away while the adds that read them are pending.
            accs[k] = accs[k] + (tf.constant(a) * 2.0 - tf.constant(b))
            refs[k] = refs[k] + (a * 2 - b)
            if step % 3 == 0:
                c = rng.integers(-100, 101, size=n).astype(np.float32)
                produced.append((_fresh_constant_function(c)(), c))
            if step % 5 == 0:
                init = rng.integers(-50, 51, size=n).astype(np.int64)
                v = tf.Variable(tf.cast(tf.constant(init.astype(np.int32)) * 1, tf.int64))
                s = tf.function(lambda v=v, d=int(step): v.read_value() + tf.constant(d, tf.int64))()
                variables.append((v, init, s, init + step))
            if step % 7 == 6:
                j = (step * 5) % len(sizes)
                np.testing.assert_array_equal(accs[j].numpy(), refs[j], err_msg="step %d" % step)
        for acc, ref in zip(accs, refs):
            np.testing.assert_array_equal(acc.numpy(), ref)
        for t, c in produced:
            np.testing.assert_array_equal(t.numpy(), c)
        for v, init, s, expect in variables:
            np.testing.assert_array_equal(v.numpy(), init)
            np.testing.assert_array_equal(s.numpy(), expect)


def test_copies_and_compute_stay_asynchronous():
    """Ordering the streams costs no host waits: uploads and compute in a loop
    neither wait for the device nor split batches per op."""
    with tf.device(GPU):
        x = tf.identity(tf.zeros([256]))
        x = x + tf.constant(np.ones(256, np.float32))  # warm up
        tfmp.reset_stats()
        for i in range(200):
            x = x + tf.constant(np.full(256, i % 3, np.float32)) * 1.0
        s = tfmp.stats()
        expect = 1.0 + sum(i % 3 for i in range(200))
        np.testing.assert_array_equal(x.numpy(), np.full(256, expect, np.float32))
    assert s["host_waits"] == 0, s
    assert s["dispatches"] >= 400, s


# Many independent broadcasting chains (each needs a shape-and-stride block in
# a temporary) beside many small casts (outputs of the same size class) in one
# graph, which TF's executor records on several threads at once.
PARALLEL_TEMPORARIES = r"""
import numpy as np, tensorflow as tf
rng = np.random.default_rng(0)
branches, n, c = 12, 6, 5
xs = [rng.standard_normal((n, 3, 4, c)).astype(np.float32) for _ in range(branches)]
scales = [rng.standard_normal(c).astype(np.float32) for _ in range(branches)]
shifts = [rng.standard_normal(c).astype(np.float32) for _ in range(branches)]
labels = [rng.integers(0, 5, 32).astype(np.int32) for _ in range(branches)]

@tf.function
def step(xs, scales, shifts, labels):
    chains = [tf.nn.relu(x * s + b) * 0.5 for x, s, b in zip(xs, scales, shifts)]
    casts = [tf.cast(tf.cast(l, tf.float32) * 2.0, tf.int64) for l in labels]
    return chains, casts

with tf.device("/GPU:0"):
    args = [[tf.constant(v) for v in vs] for vs in (xs, scales, shifts, labels)]
    for _ in range(40):
        chains, casts = step(*args)
        for got, x, s, b in zip(chains, xs, scales, shifts):
            np.testing.assert_allclose(got.numpy(), np.maximum(x * s + b, 0) * 0.5,
                                       rtol=1e-6, atol=1e-6)
        for got, l in zip(casts, labels):
            np.testing.assert_array_equal(got.numpy(), l.astype(np.int64) * 2)
print("RESULT ok")
"""


def test_parallel_ops_never_reuse_a_temporary_before_its_dispatch():
    """An op's temporaries stay allocated until its Compute returns, after the
    dispatches that read them are recorded. TF's executor records independent
    ops on several threads and its allocator hands freed memory to the next
    op at once: a fused chain's shape-and-stride block, freed when it went
    out of scope before its dispatch, was overwritten by another thread's
    cast output first; the shader read the labels as strides and crashed
    (on lavapipe a Keras CNN's evaluate() about one run in two). Before the
    fix this case crashed or computed wrong values in every run of five.
    In a fresh process: a crash must fail this test, not end the suite."""
    env = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TF_CPP_MIN_LOG_LEVEL="2")
    r = subprocess.run([sys.executable, "-c", PARALLEL_TEMPORARIES], capture_output=True,
                       text=True, env=env, cwd=os.path.join(ROOT, "tests"), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "RESULT ok" in r.stdout
