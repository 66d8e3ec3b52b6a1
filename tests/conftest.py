"""Test setup: the suite runs on whatever device the plugin offers; on a machine
without a GPU that is Mesa's lavapipe, opted into here. Soft placement is off
so an op without a device kernel fails instead of silently running on the CPU."""
import os
import zlib

os.environ.setdefault("TFMP_ALLOW_SOFTWARE_DEVICE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.set_soft_device_placement(False)

GPU = "/GPU:0"
CPU = "/CPU:0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session", autouse=True)
def _device_present():
    assert tf.config.list_physical_devices("GPU"), "the plugin offers no GPU device"


def on(device, fn, *args, **kwargs):
    """Runs fn on device with inputs copied there; returns the result (checked to live there)."""
    with tf.device(device):
        placed = [tf.identity(a) if isinstance(a, tf.Tensor) else a for a in args]
        out = fn(*placed, **kwargs)
    outs = out if isinstance(out, (list, tuple)) else [out]
    for o in outs:
        assert o.device.endswith(device.replace("/", "device:")), "%s ran on %s" % (fn, o.device)
    return out


def raw_op(op, **attrs):
    """tf.raw_ops.<op> as a function of its tensor inputs, positionally."""
    from tensorflow.python.util import tf_inspect

    fn = getattr(tf.raw_ops, op)
    fixed = set(attrs)

    def call(*inputs, **more):
        names = [a for a in tf_inspect.getfullargspec(fn).args
                 if a != "name" and a not in fixed and a not in more]
        return fn(**dict(zip(names, inputs)), **attrs, **more)

    return call


def random_array(shape, dtype, rng, low=-3.0, high=3.0):
    """Fresh random data of a TF dtype name ('float32', 'float16', 'int32', 'int64', 'bool')."""
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in ("int32", "int64"):
        return rng.integers(int(low * 30), int(high * 30) + 1, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


@pytest.fixture
def rng(request):
    # A different seed per test case, fixed across runs (crc32 of the test id, not
    # Python's per-process salted hash), so a failure reproduces.
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


# The activations as Keras and tf.nn write them (the Grappler tests' fusion targets).
def gelu_erf(t):
    return tf.nn.gelu(t, approximate=False)


def gelu_tanh(t):
    return tf.nn.gelu(t, approximate=True)


def swish(t):
    return t * tf.sigmoid(t)
