#!/usr/bin/env python3
"""Training-step time on the plugin's GPU, with the Grappler fusions on and
off, against TensorFlow on the CPU, side by side in one run, with Keras
defaults; and the plugin's dispatches and barriers per step (fusion on and
off; "avoided" counts commands recorded without the barrier that ordering
every command after the previous one would add). --profile prints the
per-kernel GPU times of one fused step per model.

  python tools/bench_training.py [--steps 20] [--models mlp,cnn,digits,transformer]

Two loops are timed. `train_on_batch` returns the loss to the host, so every
step waits for the device: host time and device time add up. `model.fit`
(verbose=0, the loop Keras users train with) reads the logs only at the end of
an epoch, so recording overlaps the device's work; its per-step time is an
epoch's wall time over its steps (--fit-repeats epochs, median and range).

Prints, per model: the median and range of the step time (after warm-up
steps) on the GPU with fusion on, with fusion off, and on the CPU, the
dispatches per step both ways, and the ratios. The models are small Keras
models on random data: an MLP at batch 256, a ResNet-style CNN at batch 128 on
32x32x3, the demo's CNN on 8x8x1 digits at batch 32, and a 2-block Transformer
encoder (sequence 64, width 128, 4 heads) at batch 32. Numbers from lavapipe
measure only our own overhead; dispatch counts are the same on any device.
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


def digits():
    x = np.random.rand(32, 8, 8, 1).astype("float32")
    y = np.random.randint(0, 10, 32).astype("int32")
    model = keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
    return model, x, y


def transformer(seq=64, dim=128, heads=4, vocab=1000):
    x = np.random.randint(0, vocab, (32, seq)).astype("int32")
    y = np.random.randint(0, 10, 32).astype("int32")
    tokens = keras.Input((seq,), dtype="int32")
    h = keras.layers.Embedding(vocab, dim)(tokens)
    for _ in range(2):
        a = keras.layers.MultiHeadAttention(heads, dim // heads)(h, h)
        h = keras.layers.LayerNormalization()(h + a)
        f = keras.layers.Dense(4 * dim, activation="gelu")(h)
        h = keras.layers.LayerNormalization()(h + keras.layers.Dense(dim)(f))
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(tokens, keras.layers.Dense(10, activation="softmax")(h)), x, y


MODELS = {"mlp": mlp, "cnn": cnn, "digits": digits, "transformer": transformer}


def time_steps(build, device, steps, tfmp=None, profile=False):
    """Step times (ms) and, on the GPU, the counters of one step (dispatches,
    barriers, barriers_avoided, command_buffers, host_waits)."""
    keras.utils.set_random_seed(0)
    with tf.device(device):
        model, x, y = build()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        xt, yt = tf.constant(x), tf.constant(y)
        for _ in range(3):  # warm-up: tracing (the Grappler pass runs here), pipelines
            model.train_on_batch(xt, yt)
        dispatches = None
        if tfmp is not None:
            before = tfmp.stats()
            model.train_on_batch(xt, yt)
            after = tfmp.stats()
            dispatches = {k: after[k] - before[k] for k in
                          ("dispatches", "barriers", "barriers_avoided", "command_buffers", "host_waits")
                          if k in after}
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            loss = model.train_on_batch(xt, yt)  # returns a host value: the step is done
            times.append(time.perf_counter() - t)
        if profile:  # after the timed steps: GPU clocks are up (a profile of
            # the first steps after tracing ran at idle clocks, 3x slow, on the H200)
            with tfmp.profile(top=15) as p:
                model.train_on_batch(xt, yt)
            print(p, flush=True)
    return np.array(times) * 1e3, float(loss), dispatches


def time_fit(build, device, steps, repeats):
    """Per-step times (ms) of Keras's own loop: `model.fit` over `steps` steps
    of a repeated in-memory dataset, verbose=0, once per repeat (one value per
    repeat: the epoch's wall time over its steps, including the epoch's start
    and its final read of the logs). Unlike `train_on_batch`, `fit` does not
    wait for each step's loss, so the host records step n+1 while the device
    runs step n."""
    keras.utils.set_random_seed(0)
    with tf.device(device):
        model, x, y = build()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        data = tf.data.Dataset.from_tensors((x, y)).repeat()
        model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)  # warm-up: tracing, pipelines
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            history = model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
            times.append((time.perf_counter() - t) / steps)
    return np.array(times) * 1e3, float(history.history["loss"][-1])


def summary(ms):
    return {"ms_median": float(np.median(ms)), "ms_min": float(ms.min()), "ms_max": float(ms.max())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--models", default="mlp,cnn,digits,transformer")
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU runs")
    ap.add_argument("--fit-repeats", type=int, default=5,
                    help="also time Keras `fit` (epochs of --steps steps, this many; 0: skip)")
    ap.add_argument("--json", help="also write the results here (for tools/make_benchmarks_md.py --training)")
    ap.add_argument("--profile", action="store_true",
                    help="print tensorflow_metal_plugin.profile()'s table of one fused step per model")
    args = ap.parse_args()
    import tensorflow_metal_plugin as tfmp

    devices = tfmp.devices()
    if not devices:
        raise SystemExit("the plugin offers no device: %s" % tfmp.status())
    print("GPU: %s (%s)   CPU: TensorFlow %s on %d cores" % (devices[0]["name"], devices[0]["driver"],
                                                          tf.__version__, os.cpu_count()))
    rows = []
    for name in args.models.split(","):
        build = MODELS[name]
        tfmp.set_fusion(True)
        on, lon, c_on = time_steps(build, "/GPU:0", args.steps, tfmp, args.profile)
        d_on = c_on["dispatches"]
        tfmp.set_fusion(False)
        off, loff, c_off = time_steps(build, "/GPU:0", args.steps, tfmp)
        d_off = c_off["dispatches"]
        tfmp.set_fusion(None)
        row = {"model": name, "gpu": devices[0]["name"], "cpu_cores": os.cpu_count(),
               "fusion_on": dict(summary(on), loss=lon, **c_on),
               "fusion_off": dict(summary(off), loss=loff, **c_off)}
        line = "%-11s GPU fused %8.2f ms [%.2f-%.2f] %5d disp | unfused %8.2f ms [%.2f-%.2f] %5d disp (%.1fx fewer)" % (
            name, np.median(on), on.min(), on.max(), d_on, np.median(off), off.min(), off.max(), d_off,
            d_off / max(d_on, 1))
        line += " | barriers/step %d fused, %d unfused (%d, %d avoided)" % (
            c_on.get("barriers", 0), c_off.get("barriers", 0), c_on.get("barriers_avoided", 0),
            c_off.get("barriers_avoided", 0))
        if not args.no_cpu:
            cpu, lcpu, _ = time_steps(build, "/CPU:0", args.steps)
            row["cpu"] = dict(summary(cpu), loss=lcpu)
            row["cpu_over_gpu"] = float(np.median(cpu) / np.median(on))
            line += " | CPU %8.2f ms [%.2f-%.2f] CPU/GPU %.2fx" % (np.median(cpu), cpu.min(), cpu.max(),
                                                                   row["cpu_over_gpu"])
        print(line, flush=True)
        if args.fit_repeats:
            fit, lfit = time_fit(build, "/GPU:0", args.steps, args.fit_repeats)
            row["fit"] = {"gpu": dict(summary(fit), loss=lfit)}
            line = "%-11s fit: GPU fused %8.2f ms [%.2f-%.2f] per step" % (name, np.median(fit), fit.min(), fit.max())
            if not args.no_cpu:
                fcpu, lfcpu = time_fit(build, "/CPU:0", args.steps, args.fit_repeats)
                row["fit"]["cpu"] = dict(summary(fcpu), loss=lfcpu)
                row["fit"]["cpu_over_gpu"] = float(np.median(fcpu) / np.median(fit))
                line += " | CPU %8.2f ms [%.2f-%.2f] CPU/GPU %.2fx" % (np.median(fcpu), fcpu.min(), fcpu.max(),
                                                                       row["fit"]["cpu_over_gpu"])
            print(line, flush=True)
        rows.append(row)
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
