"""Whole networks: one training step of keras.applications ResNet50 and
MobileNetV2 (weights=None, small inputs), a Transformer encoder and a small
UNet, on the device against the CPU with the same weights and data. The loss
and every gradient must agree to float32 tolerance, and no op of the step may
run on the CPU (checked in TF's placement log).

Each network runs in a subprocess of its own (the placement log is process
wide); the script prints one JSON line that the test reads."""
import json
import os
import subprocess
import sys

import pytest

STEP = r"""
import json, sys
import numpy as np, tensorflow as tf, keras

KIND = sys.argv[1]
rng = np.random.default_rng(0)
keras.utils.set_random_seed(3)


class AddPositions(keras.layers.Layer):  # a learned position embedding

    def build(self, shape):
        self.table = self.add_weight(shape=shape[1:], initializer="random_normal")

    def call(self, x):
        return x + self.table


def transformer(vocab=50, seq=12, dim=32, heads=4, classes=5):
    tokens = keras.Input((seq,), dtype="int32")
    x = AddPositions()(keras.layers.Embedding(vocab, dim)(tokens))
    for _ in range(2):
        a = keras.layers.MultiHeadAttention(heads, dim // heads, dropout=0.0)(x, x)
        x = keras.layers.LayerNormalization(epsilon=1e-6)(x + a)
        f = keras.layers.Dense(2 * dim, activation="gelu")(x)
        f = keras.layers.Dense(dim)(f)
        x = keras.layers.LayerNormalization(epsilon=1e-6)(x + f)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, keras.layers.Dense(classes)(x))


def unet(size=32, classes=3):
    inp = keras.Input((size, size, 3))
    skips, x = [], inp
    for f in (8, 16):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = keras.layers.BatchNormalization()(x)
        skips.append(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    for f, skip, up in zip((16, 8), reversed(skips), ("transpose", "upsample")):
        if up == "transpose":
            x = keras.layers.Conv2DTranspose(f, 2, strides=2, padding="same")(x)
        else:
            x = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = keras.layers.Concatenate()([x, skip])
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu")(x)
    return keras.Model(inp, keras.layers.Conv2D(classes, 1)(x))


def build():
    if KIND == "resnet50":
        model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
        x, y = rng.random((2, 32, 32, 3), "float32"), rng.integers(0, 10, 2).astype("int32")
    elif KIND == "mobilenetv2":
        model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10, alpha=0.35)
        x, y = rng.random((4, 32, 32, 3), "float32"), rng.integers(0, 10, 4).astype("int32")
    elif KIND == "transformer":
        model = transformer()
        x, y = rng.integers(0, 50, (8, 12)).astype("int32"), rng.integers(0, 5, 8).astype("int32")
    else:
        model = unet()
        x, y = rng.random((2, 32, 32, 3), "float32"), rng.integers(0, 3, (2, 32, 32)).astype("int32")
    return model, x, y


loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=KIND in ("transformer", "unet"))
results = {}
weights = None
data = None
tf.debugging.set_log_device_placement(True)  # read by the test after the marker below
for device in ("/CPU:0", "/GPU:0"):
    print("=== PHASE", device, file=sys.stderr, flush=True)
    with tf.device(device):
        model, x, y = build()
        if weights is None:
            weights, data = model.get_weights(), (x, y)
        x, y = data
        model.set_weights(weights)

        @tf.function
        def train_step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            # Embedding gradients are IndexedSlices: densify them (UnsortedSegmentSum) as
            # Keras optimizers do.
            return loss, [tf.convert_to_tensor(g) for g in grads]

        loss, grads = train_step(tf.constant(x), tf.constant(y))
        if device == "/GPU:0":
            assert all(g.device.endswith("GPU:0") for g in grads), "a gradient is not on the device"
        results[device] = (float(loss), [g.numpy() for g in grads])

(lc, gc), (lg, gg) = results["/CPU:0"], results["/GPU:0"]
# Per-tensor error relative to the tensor's largest gradient (float32 sums over
# different orders differ by about sqrt(K) ulps of the largest terms), with a
# floor of 1e-3 of the largest gradient of the model: some gradients are zero
# up to rounding (attention's key bias: softmax ignores a constant shift).
scale = max(float(np.max(np.abs(a))) for a in gc)
worst = max(float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(a))), 1e-3 * scale)
            for a, b in zip(gc, gg))
print("RESULT", json.dumps(dict(loss_cpu=lc, loss_gpu=lg, grads=len(gc), worst_rel=worst)))
"""

# Ops TF keeps in host memory on every GPU (shape constants and their
# identities, function plumbing): not computation on the CPU.
HOST_PLUMBING = {"Const", "Identity", "_Arg", "_Retval", "NoOp", "_DeviceArg", "_DeviceRetval"}


@pytest.mark.parametrize("kind", ["resnet50", "mobilenetv2", "transformer", "unet"])
def test_network_training_step_matches_the_cpu(kind):
    env = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TF_CPP_MIN_LOG_LEVEL="0")
    r = subprocess.run([sys.executable, "-c", STEP, kind], capture_output=True, text=True, env=env,
                       timeout=1200)
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads(r.stdout.split("RESULT", 1)[1])
    assert res["grads"] > 10
    assert abs(res["loss_gpu"] - res["loss_cpu"]) <= 1e-5 * max(1.0, abs(res["loss_cpu"])), res
    assert res["worst_rel"] < 1e-4, res
    # The placement of every graph node of the device phase (the training step).
    gpu_phase = r.stderr.split("=== PHASE /GPU:0", 1)[1]
    step = [l.split("] ", 1)[1] for l in gpu_phase.splitlines() if "placer.cc" in l and "] " in l]
    assert len(step) > 50, gpu_phase[-2000:]
    on_cpu = {l.split("(")[1].split(")")[0] for l in step if "device:CPU" in l} - HOST_PLUMBING
    assert not on_cpu, "ops of the training step on the CPU: %s" % sorted(on_cpu)
