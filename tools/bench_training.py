#!/usr/bin/env python3
"""Training-step time on the plugin's GPU against TensorFlow on the CPU, side by
side in one run, with Keras defaults.

  python tools/bench_training.py [--steps 20] [--models mlp,cnn]

Prints, per model: the device names, the median and range of the step time
on each (after warm-up steps), and the ratio. The models are small Keras
models on random data (an MLP at batch 256 and a ResNet-style CNN at batch
128 on 32x32x3 inputs); numbers from lavapipe measure only our own overhead.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402


def mlp():
    x = np.random.rand(256, 784).astype("float32")
    y = np.random.randint(0, 10, 256).astype("int32")
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    return model, x, y


def cnn():
    x = np.random.rand(128, 32, 32, 3).astype("float32")
    y = np.random.randint(0, 10, 128).astype("int32")
    inp = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inp)
    for filters in (32, 64):
        r = keras.layers.Conv2D(filters, 3, padding="same", strides=2 if filters == 64 else 1)(h)
        r = keras.layers.BatchNormalization()(r)
        r = keras.layers.ReLU()(r)
        r = keras.layers.Conv2D(filters, 3, padding="same")(r)
        s = h if filters == 32 else keras.layers.Conv2D(filters, 1, strides=2)(h)
        h = keras.layers.ReLU()(keras.layers.Add()([r, s]))
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(10, activation="softmax")(h)
    return keras.Model(inp, out), x, y


def time_steps(build, device, steps):
    keras.utils.set_random_seed(0)
    with tf.device(device):
        model, x, y = build()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        xt, yt = tf.constant(x), tf.constant(y)
        for _ in range(3):  # warm-up: tracing, pipelines
            model.train_on_batch(xt, yt)
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            loss = model.train_on_batch(xt, yt)  # returns a host value: the step is done
            times.append(time.perf_counter() - t)
    return np.array(times) * 1e3, float(loss)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--json", help="also write the results here (for tools/make_benchmarks_md.py --training)")
    args = ap.parse_args()
    import tensorflow_metal_plugin as tfmp

    devices = tfmp.devices()
    if not devices:
        raise SystemExit("the plugin offers no device: %s" % tfmp.status())
    print("GPU: %s (%s)   CPU: TensorFlow %s on %d cores" % (devices[0]["name"], devices[0]["driver"],
                                                          tf.__version__, os.cpu_count()))
    rows = []
    for name in args.models.split(","):
        build = {"mlp": mlp, "cnn": cnn}[name]
        gpu, gl = time_steps(build, "/GPU:0", args.steps)
        cpu, cl = time_steps(build, "/CPU:0", args.steps)
        print("%-4s GPU %8.2f ms [%.2f-%.2f]  CPU %8.2f ms [%.2f-%.2f]  CPU/GPU %.2fx  (loss %.4f vs %.4f)" % (
            name, np.median(gpu), gpu.min(), gpu.max(), np.median(cpu), cpu.min(), cpu.max(),
            np.median(cpu) / np.median(gpu), gl, cl))
        rows.append({"model": name, "gpu": devices[0]["name"], "gpu_ms_median": float(np.median(gpu)),
                     "gpu_ms_min": float(gpu.min()), "gpu_ms_max": float(gpu.max()),
                     "cpu_ms_median": float(np.median(cpu)), "cpu_ms_min": float(cpu.min()),
                     "cpu_ms_max": float(cpu.max()), "cpu_over_gpu": float(np.median(cpu) / np.median(gpu))})
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
