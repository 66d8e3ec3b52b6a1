#!/usr/bin/env python3
"""`make demo`: trains a small Keras CNN on the plugin's GPU device.

Data: scikit-learn's handwritten digits (8x8 images, shipped inside the
package, no download). Prints the device it trained on and the accuracy
reached, next to the same model trained on the CPU.

On a machine without a GPU the demo opts into Mesa's lavapipe (a CPU
implementation of Vulkan) and says so: the numbers are right, the speed is not
a GPU's.
"""
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")


def gpu_count():
    code = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    return int(out.stdout.strip().splitlines()[-1])


def main():
    if "TFMP_ALLOW_SOFTWARE_DEVICE" not in os.environ and gpu_count() == 0:
        print("No GPU found: this demo uses lavapipe, Mesa's CPU implementation of Vulkan "
              "(TFMP_ALLOW_SOFTWARE_DEVICE=1). Results are exact; speed is a CPU's.\n")
        os.environ["TFMP_ALLOW_SOFTWARE_DEVICE"] = "1"
        os.execv(sys.executable, [sys.executable] + sys.argv)

    import numpy as np
    import tensorflow as tf
    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import tensorflow_metal_plugin as tfmp

    devices = tfmp.devices()
    if not devices:
        sys.exit("The plugin offers no device: %s" % tfmp.status())
    d = devices[0]
    print("Device: %s (%s, %s)%s" % (d["name"], d["backend"], d["driver"],
                                     " [software]" if d["software"] else ""))

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    y = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)

    def train(device):
        keras.utils.set_random_seed(0)
        with tf.device(device):
            model = keras.Sequential([
                keras.Input((8, 8, 1)),
                keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                keras.layers.BatchNormalization(),
                keras.layers.MaxPooling2D(2),
                keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(10, activation="softmax"),
            ])
            # Keras defaults (the plugin keeps Keras from picking XLA, which
            # has no compiler for plugin devices: see README).
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            start = time.time()
            model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
            seconds = time.time() - start
            _, acc = model.evaluate(x_test, y_test, verbose=0)
        return acc, seconds

    tfmp.reset_stats()
    gpu_acc, gpu_s = train("/GPU:0")
    s = tfmp.stats()
    cpu_acc, cpu_s = train("/CPU:0")
    print("Trained a small CNN (Conv2D, BatchNorm, MaxPool, GlobalAveragePooling, Dense) on %d "
          "digits for 15 epochs, Keras defaults." % len(x_train))
    print("  on /GPU:0 (%s): test accuracy %.3f, %.1f s" % (d["name"], gpu_acc, gpu_s))
    print("  on /CPU:0 (TensorFlow's CPU kernels): test accuracy %.3f, %.1f s" % (cpu_acc, cpu_s))
    print("Device work: %d dispatches in %d command buffers, %d host waits, %.1f MB host->device, "
          "%.1f MB device->host" % (s["dispatches"], s["command_buffers"], s["host_waits"],
                                    s["bytes_host_to_device"] / 1e6, s["bytes_device_to_host"] / 1e6))
    print("Ops without a device kernel yet (if any) ran on the CPU through soft placement; "
          "see README.")
    if gpu_acc < 0.85:
        sys.exit("accuracy %.3f is lower than expected" % gpu_acc)


if __name__ == "__main__":
    main()
