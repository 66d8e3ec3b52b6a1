#!/bin/bash
# Training steps on the GPU machine against TensorFlow on its 16 CPU cores
# (tools/bench_training.py), from the repo root there with .gl/ and dist/
# (our wheel) carried, after TensorFlow was staged in earlier warm calls
# (docs/benchmarks.md "Training on the GPU machine"):
#   TF_PARTS='/root/stash/p*' bash tools/device_training.sh
# TF_PARTS: the parts of a zstd tarball of TensorFlow 2.21 and its
# dependencies for Python 3.12 (unpacked once into $TF_SITE, /root/site-packages);
# ZSTD: the zstd binary (the machine has none: carry one). Writes to $OUT:
# training.json, training_log.txt and, with PROFILE=1, training_profile.txt
# (per-kernel GPU times and the GPU-idle timeline of one step per model,
# after PROFILE_ARGS' timed steps); PROFILE_VARIANTS="A=1 B=2,C=3 ..." also
# runs it under each of those environment settings (comma: several at once;
# training_profile_<setting>.txt), PROFILE_ROUNDS times in turn (the GPU's
# clock changes by the second: alternate what is compared). TRAIN_ARGS: more
# bench_training.py arguments (default: --steps 20 --fit-repeats 3).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/bench_out}
SITE=${TF_SITE:-/root/site-packages}  # TF loads plugins only from a path with "site-packages"
mkdir -p "$OUT"
. tools/device_env.sh
if [ ! -d "$SITE/tensorflow" ]; then
  mkdir -p "$SITE"
  # shellcheck disable=SC2086  # TF_PARTS is a glob
  cat ${TF_PARTS:-/root/stash/p*} | "${ZSTD:-zstd}" -d --long=31 | tar -x -C "$SITE" || exit 1
fi
# Our wheel (pure platlib, no scripts): unpacking it is installing it.
rm -rf "$SITE"/tensorflow_metal_plugin* "$SITE"/_tensorflow_metal_plugin_keras.py "$SITE"/tensorflow-plugins/*metal*
python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" dist/*.whl "$SITE" || exit 1
# $SITE as a site directory (its .pth files run, as in a pip install):
# through a sitecustomize on PYTHONPATH.
mkdir -p "$SITE.boot"
echo "import site; site.addsitedir('$SITE')" > "$SITE.boot/sitecustomize.py"
export PYTHONPATH=$SITE.boot
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv > "$OUT/training_log.txt" 2>&1
# shellcheck disable=SC2086
timeout "${TRAIN_TIMEOUT:-420}" python3 tools/bench_training.py ${TRAIN_ARGS:---steps 20 --fit-repeats 3} \
  --json "$OUT/training.json" 2>&1 | tee -a "$OUT/training_log.txt"
rc=${PIPESTATUS[0]}
if [ "${PROFILE:-0}" = 1 ]; then
  for _ in $(seq "${PROFILE_ROUNDS:-1}"); do
    for v in default ${PROFILE_VARIANTS:-}; do
      if [ "$v" = default ]; then f=$OUT/training_profile.txt; settings=
      else f=$OUT/training_profile_$(echo "$v" | tr -c 'A-Za-z0-9_\n' '_').txt; settings=${v//,/ }; fi
      # shellcheck disable=SC2086
      env $settings timeout "${PROFILE_TIMEOUT:-120}" python3 tools/bench_training.py \
        ${PROFILE_ARGS:---steps 5 --fit-repeats 0} --no-cpu --profile \
        --models "${PROFILE_MODELS:-cnn,transformer}" >> "$f" 2>&1
    done
  done
fi
echo "device_training: exit status $rc; outputs in $OUT"
exit "$rc"
