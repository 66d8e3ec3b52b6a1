#!/bin/bash
# The one command for the GPU machine (docs/benchmarks.md), from the repo root
# there, with .gl/ (the Vulkan loader's .debs) and .bench/ (tools/pack_bench.sh)
# carried:
#   bash tools/device_bench.sh
# Runs tools/kernel_bench on the GPU through Vulkan, times the PyTorch/cuBLAS/
# cuDNN equivalents, and writes to $OUT (default ./bench_out):
# bench_results.json, BENCHMARKS.md, benchmarks_ratios.png, bench_log.txt,
# gpu.txt. Exit status: bench_kernels.py's (1 if a correctness check failed).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/bench_out}
mkdir -p "$OUT"
. tools/device_env.sh
PY=$(command -v python3)
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu \
    --format=csv 2>&1; "$PY" -c "import torch; print('torch', torch.__version__, torch.version.cuda)" 2>&1; } \
  > "$OUT/gpu.txt"
BIN=.bench/kernel_bench
if ! "$BIN" --list >/dev/null 2>"$OUT/bin_error.txt"; then
  # The carried binary does not run on this image: build it here (needs g++).
  echo "carried kernel_bench does not run ($(head -c 300 "$OUT/bin_error.txt")); building with g++" | tee -a "$OUT/gpu.txt"
  BIN=/tmp/kernel_bench
  g++ -O2 -std=c++17 -I. -I.bench/include tools/kernel_bench.cc tensorflow_metal_plugin/runtime/vulkan/*.cc \
    tensorflow_metal_plugin/stats.cc tensorflow_metal_plugin/profile.cc .bench/kernel_library.cc -o "$BIN" -ldl -lpthread 2>&1 | tail -20 | tee -a "$OUT/gpu.txt"
fi
# CUDA_HOLD=1 (an experiment, docs/benchmarks.md "Clocks"): another process
# holds a CUDA context (PyTorch) for the whole run, idle, so that the driver
# treats the GPU as in use by a compute application.
if [ "${CUDA_HOLD:-0}" = 1 ]; then
  "$PY" -c "import time, torch; torch.zeros(1, device='cuda'); torch.cuda.synchronize(); time.sleep(86400)" &
  HOLD=$!
  trap 'kill $HOLD 2>/dev/null' EXIT
  sleep 8
  echo "CUDA context held by process $HOLD" | tee -a "$OUT/gpu.txt"
fi
# BENCH_ARGS: more bench_kernels.py arguments (e.g. --filter matmul); BENCH_TIMEOUT:
# seconds for them (480).
timeout "${BENCH_TIMEOUT:-480}" "$PY" tools/bench_kernels.py --isolate --bin "$BIN" ${BENCH_ARGS:-} --out "$OUT/bench_results.json" 2>&1 | tee "$OUT/bench_log.txt"
rc=${PIPESTATUS[0]}
if [ -f "$OUT/bench_results.json" ]; then
  "$PY" tools/make_benchmarks_md.py "$OUT/bench_results.json" --out "$OUT/BENCHMARKS.md" \
    --png "$OUT/benchmarks_ratios.png" 2>&1 | tee -a "$OUT/bench_log.txt"
fi
echo "device_bench: exit status $rc; outputs in $OUT"
exit "$rc"
