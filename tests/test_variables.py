"""Variables on the device: the overrides of TF's generic kernels that would
compute on device memory from the host (docs/device_default_kernels.md)."""
import numpy as np
import pytest
import tensorflow as tf

import tensorflow_metal_plugin as tfmp
from conftest import CPU, GPU, random_array


# (TF keeps int32 variables on the host for GPU devices: it has no VarHandleOp
# for them there, on any GPU.)
@pytest.mark.parametrize("dtype", ["float32", "float16", "int64"])
@pytest.mark.parametrize("shape", [(), (1,), (7,), (33, 5), (0,), (1025,)], ids=str)
def test_assign_add_sub_match_cpu(dtype, shape, rng):
    init, delta = random_array(shape, dtype, rng), random_array(shape, dtype, rng)
    results = []
    for device in (GPU, CPU):
        with tf.device(device):
            v = tf.Variable(init)
            v.assign_add(delta)
            v.assign_sub(delta * 2)
            v.assign_add(delta)
            v.assign_add(delta)
            results.append(v.read_value())
    assert results[0].device.endswith("GPU:0") and results[1].device.endswith("CPU:0")
    np.testing.assert_array_equal(results[0].numpy(), results[1].numpy())


def test_updates_are_asynchronous():
    with tf.device(GPU):
        v = tf.Variable(tf.zeros([1000]))
        one = tf.identity(tf.ones([1000]))
        v.assign_add(one)
        tfmp.reset_stats()
        for _ in range(500):
            v.assign_add(one)
        s = tfmp.stats()
        np.testing.assert_array_equal(v.numpy(), np.full(1000, 501.0, np.float32))
    assert s["dispatches"] >= 500 and s["host_waits"] == 0, s


def test_update_while_a_read_is_alive_does_not_change_the_read():
    with tf.device(GPU):
        v = tf.Variable(tf.ones([5]))
        before = v.read_value()  # may share the variable's buffer
        v.assign_add(tf.ones([5]))
        np.testing.assert_array_equal(before.numpy(), np.ones(5, np.float32))
        np.testing.assert_array_equal(v.numpy(), np.full(5, 2.0, np.float32))


def test_bad_updates_raise_like_cpu():
    for device in (CPU, GPU):
        with tf.device(device):
            v = tf.Variable(tf.ones([3]))
            with pytest.raises(tf.errors.InvalidArgumentError):
                v.assign_add(tf.ones([4]))
            with pytest.raises(tf.errors.InvalidArgumentError):
                tf.raw_ops.AssignAddVariableOp(resource=v.handle, value=tf.ones([3], tf.int32))
            np.testing.assert_array_equal(v.numpy(), np.ones(3, np.float32))


def test_assign_any_dtype_and_clear_error_for_unsupported_updates():
    with tf.device(GPU):
        v = tf.Variable(np.arange(3.0))  # float64: assignment aliases, no arithmetic
        v.assign(np.full(3, 7.0))
        np.testing.assert_array_equal(v.numpy(), np.full(3, 7.0))
        with pytest.raises(tf.errors.UnimplementedError, match="float64|double"):
            v.assign_add(np.ones(3))


def test_queue_is_closed_on_the_device():
    with tf.device(GPU):
        q = tf.queue.FIFOQueue(3, tf.float32)
        assert not bool(q.is_closed())
        q.close()
        assert bool(q.is_closed())


def test_debug_copy_on_the_device():
    with tf.device(GPU):
        x = tf.identity(tf.constant(np.arange(7, dtype=np.float32)))
        y = tf.raw_ops.Copy(input=x, debug_ops_spec=["DebugIdentity;file:///dev/null;0"])
    assert y.device.endswith("GPU:0")
    np.testing.assert_array_equal(y.numpy(), np.arange(7, dtype=np.float32))
