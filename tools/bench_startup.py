#!/usr/bin/env python3
"""First-step time of a model in a fresh process, with the pipeline cache on
disk cold (empty folder) and then warm (what the first process wrote).

  python tools/bench_startup.py [--models mlp,cnn] [--runs 1] [--json out.json]

For each model, runs a new Python process per measurement: `cold` with an
empty TFMP_CACHE_DIR, then `warm` with the folder the cold run filled. The
child times the first training step (tracing, Grappler, pipeline creation and
the step itself), the second step, and reports the plugin's counters for the
first step: pipelines created, the time spent creating them, and how many the
driver found in the cache (pipeline_cache_hits, where the driver reports it
through VK_EXT_pipeline_creation_feedback). Models are tools/bench_training.py's.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
import tensorflow as tf
import keras
import tensorflow_metal_plugin as tfmp
sys.path.insert(0, os.path.dirname(%(script)r))
import bench_training
t_import = time.perf_counter() - t0
keras.utils.set_random_seed(0)
with tf.device("/GPU:0"):
    model, x, y = bench_training.MODELS[%(model)r]()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    xt, yt = tf.constant(x), tf.constant(y)
    before = tfmp.stats()
    t = time.perf_counter()
    model.train_on_batch(xt, yt)
    first = time.perf_counter() - t
    after = tfmp.stats()
    t = time.perf_counter()
    model.train_on_batch(xt, yt)
    second = time.perf_counter() - t
cache = tfmp.pipeline_cache()
print("RESULT", json.dumps({"import_s": t_import, "first_step_s": first, "second_step_s": second,
      "pipelines_created": after["pipelines_created"] - before["pipelines_created"],
      "pipeline_create_s": (after["pipeline_create_us"] - before["pipeline_create_us"]) / 1e6,
      "pipeline_cache_hits": after["pipeline_cache_hits"] - before["pipeline_cache_hits"],
      "cache_loaded": bool(cache and cache[0]["loaded"]), "device": tfmp.devices()[0]["name"]}))
"""


def child(model, cache_dir, extra_env=None):
    env = dict(os.environ, TFMP_CACHE_DIR=cache_dir, TF_CPP_MIN_LOG_LEVEL="2")
    env.update(extra_env or {})
    code = CHILD % {"script": os.path.abspath(__file__), "model": model}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if r.returncode != 0 or "RESULT" not in r.stdout:
        raise SystemExit("child failed:\n" + r.stdout[-2000:] + r.stderr[-4000:])
    return json.loads(r.stdout.split("RESULT", 1)[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--runs", type=int, default=1, help="cold/warm pairs per model")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    rows = []
    for model in args.models.split(","):
        for run in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="tfmp-cache-") as d:
                cold = child(model, d)
                warm = child(model, d)
            off = child(model, d, {"TFMP_PIPELINE_CACHE": "0"})
            for label, r in (("cold", cold), ("warm", warm), ("off", off)):
                rows.append(dict(r, model=model, cache=label, run=run))
                print("%-12s %-5s first step %8.3f s (pipelines: %3d created in %7.3f s, %3d cache hits, "
                      "file loaded %-5s) second step %7.3f s, import %5.2f s  [%s]" % (
                          model, label, r["first_step_s"], r["pipelines_created"], r["pipeline_create_s"],
                          r["pipeline_cache_hits"], r["cache_loaded"], r["second_step_s"], r["import_s"],
                          r["device"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
