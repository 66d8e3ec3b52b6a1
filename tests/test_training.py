"""Keras training on the device: unmodified scripts with the defaults, the
same losses as on the CPU, and no op of the training step on the CPU."""
import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = r"""
import numpy as np, tensorflow as tf, keras
from sklearn.datasets import load_digits
d = load_digits()
x = (d.data / 16.0).astype("float32")[:512]
y = d.target.astype("int32")[:512]
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
h = model.fit(x, y, epochs=3, verbose=0)
print("DEVICE", model.weights[0].value.device)
print("LOSSES", *h.history["loss"])
"""


def run(code, **env):
    e = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TF_CPP_MIN_LOG_LEVEL="2", **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=900)


def test_unmodified_keras_script_trains_on_the_device():
    r = run(SCRIPT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "GPU:0" in r.stdout.split("DEVICE")[1].splitlines()[0]
    losses = [float(v) for v in r.stdout.split("LOSSES")[1].split()]
    assert losses[-1] < losses[0]


def test_without_the_keras_hook_xla_fails():
    """What the hook fixes: Keras's jit_compile='auto' picks XLA on any GPU."""
    r = run(SCRIPT, TFMP_KERAS_XLA="1")
    assert r.returncode != 0 and "Could not find compiler for platform TFMP" in r.stderr


TRAIN = r"""
import sys, numpy as np, tensorflow as tf, keras
KIND, DEVICE, LOG = sys.argv[1], sys.argv[2], sys.argv[3] == "log"
if LOG:
    tf.debugging.set_log_device_placement(True)
rng = np.random.default_rng(0)
keras.utils.set_random_seed(1)  # before the layers exist: their initializers take seeds then
if KIND == "mlp":
    x = rng.random((96, 20)).astype("float32"); y = rng.integers(0, 5, 96).astype("int32")
    layers = [keras.Input((20,)), keras.layers.Dense(16, activation="relu"),
              keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(5, activation="softmax")]
elif KIND in ("lstm", "gru"):  # Keras's generic recurrent loop (the hook turns cuDNN off)
    x = rng.random((48, 7, 3)).astype("float32"); y = rng.integers(0, 5, 48).astype("int32")
    rnn = keras.layers.LSTM if KIND == "lstm" else keras.layers.GRU
    layers = [keras.Input((7, 3)), rnn(8, return_sequences=True), rnn(6),
              keras.layers.Dense(5, activation="softmax")]
elif KIND == "cnn_dense":  # depthwise, dropout, global pooling, one-hot labels
    x = rng.random((48, 10, 10, 3)).astype("float32")
    y = np.eye(5, dtype="float32")[rng.integers(0, 5, 48)]
    layers = [keras.Input((10, 10, 3)), keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
              keras.layers.DepthwiseConv2D(3, padding="same"), keras.layers.BatchNormalization(),
              keras.layers.ReLU(), keras.layers.Dropout(0.25, seed=7),
              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5, activation="softmax")]
else:
    x = rng.random((48, 10, 10, 3)).astype("float32"); y = rng.integers(0, 5, 48).astype("int32")
    layers = [keras.Input((10, 10, 3)), keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
              keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(2),
              keras.layers.Conv2D(8, 3, strides=2, padding="valid"), keras.layers.ReLU(),
              keras.layers.AveragePooling2D(2, padding="same"), keras.layers.Flatten(),
              keras.layers.Dense(5, activation="softmax")]
with tf.device(DEVICE):
    model = keras.Sequential(layers)
    loss = "categorical_crossentropy" if KIND == "cnn_dense" else "sparse_categorical_crossentropy"
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    h = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    evaluated = model.evaluate(x, y, verbose=0)  # inference: BatchNormalization's moving statistics
print("LOSSES", *h.history["loss"], evaluated[0])
"""


@pytest.mark.parametrize("kind", ["mlp", "cnn", "cnn_dense", "lstm", "gru"])
def test_training_matches_the_cpu(kind):
    out = {}
    for device in ("/GPU:0", "/CPU:0"):
        r = subprocess.run([sys.executable, "-c", TRAIN, kind, device, "nolog"], capture_output=True,
                           text=True, env=dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1",
                                               TF_CPP_MIN_LOG_LEVEL="2"), timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        out[device] = np.array([float(v) for v in r.stdout.split("LOSSES")[1].split()])
    np.testing.assert_allclose(out["/GPU:0"], out["/CPU:0"], rtol=1e-4)


# Ops TF keeps in host memory on every GPU (int32 shape constants and their
# identities, function plumbing): not computation on the CPU.
HOST_PLUMBING = {"Const", "Identity", "_Arg", "_Retval", "NoOp", "_DeviceArg", "_DeviceRetval",
                 # shape metadata of host-resident step inputs (the one-hot labels
                 # Keras's iterator feeds): reads no tensor data
                 "Shape"}
# The gradient of Keras's recurrent loop combines its TensorList accumulators
# (variant tensors) with ZerosLike and AddN, whose variant kernels TF registers
# only for its own CUDA device type: they run on the CPU, on list handles.
RNN_LIST_OPS = {"ZerosLike", "AddN"}


@pytest.mark.parametrize("kind", ["mlp", "cnn", "cnn_dense", "lstm", "gru"])
def test_training_step_runs_on_the_device(kind):
    r = subprocess.run([sys.executable, "-c", TRAIN, kind, "/GPU:0", "log"], capture_output=True,
                       text=True, env=dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1",
                                           TF_CPP_MIN_LOG_LEVEL="0"), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    step = [l.split("] ", 1)[1] for l in r.stderr.splitlines()
            if "placer.cc" in l and "StatefulPartitionedCall/" in l]
    assert len(step) > 50, r.stderr[-2000:]
    on_cpu = {l.split("(")[1].split(")")[0] for l in step if "device:CPU" in l} - HOST_PLUMBING
    if kind in ("lstm", "gru"):
        on_cpu -= RNN_LIST_OPS
    assert not on_cpu, "ops of the training step on the CPU: %s" % sorted(on_cpu)
