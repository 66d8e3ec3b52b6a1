#!/bin/bash
# Regenerates the committed BENCHMARKS.md and benchmarks_ratios.png from the
# H200 runs kept in bench/: the full 07:45 report, the earlier 04:15 run
# beside it, and the later runs' cases for the code that changed since (each
# row marked with its run; docs/benchmarks.md, "Running it on the GPU
# machine", step 4), the issue's target cases re-run on an H100 (19:25,
# 19:28; rows marked H100), plus the training-step tables.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" tools/make_benchmarks_md.py bench/h200_kernels.json \
  --previous "04:15 run=bench/h200_kernels_2026-12-02_0415.json" \
  --update "10:03=bench/h200_kernels_2026-12-02_1003.json" '^(coopmat2_f16|conv2d_bwd_filter)|@(mappable|half32_mappable|::0)$' \
  --update "10:15=bench/h200_2026-12-02_1015/pass0a.json" '^reduce_sum_rows_f16_16384x4096$' \
  --update "10:31=bench/h200_kernels_2026-12-02_1031.json" '^coopmat2_f16_128x128_t128' \
  --update "10:36=bench/h200_kernels_2026-12-02_1036.json" '^((log_)?softmax_f32_[0-9x]+(@loads4)?|coopmat2_f16_(1000x1000x1000|1024x1024x1024|2048x2048x2048))$' \
  --update "13:39=bench/h200_kernels_2026-12-02_1339.json" '^reduce_sum_(rows|cols|all)_f32_[0-9x]+M?(@(loads4|cols128|cols256))?$' \
  --update "14:19 s1=bench/h200_2026-12-02_1419/s1.json" '^reduce_sum_rows_f16_16384x4096$' \
  --update "14:19 a1=bench/h200_2026-12-02_1419/a1.json" '^(idle_gaps_[0-9]+us|reduce_sum_rows_f16_16384x4096@loads4)$' \
  --update "17:35=bench/h200_2026-12-02_1710/reduce_sum_mul_1735.json" '^reduce_sum_mul_' \
  --update "H100 18:57=bench/h100_2026-12-02_1857/conv_phased.json" '^conv2d_bwd_input_f32_(cnn|r50)_.*s2' \
  --update "H100 19:25=bench/h100_2026-12-02_1925/targets.json" \
  --update "H100 19:28=bench/h100_2026-12-02_1925/f16.json" \
  --training "H100 (2026-12-02 19:35, process 1 of 2; SM clock at 1980 MHz in 13% of samples over both)=bench/h100_2026-12-02_1935/r1/training.json" \
  --training "H100 (2026-12-02 19:36, process 2 of 2)=bench/h100_2026-12-02_1935/r2/training.json" \
  --training "H100 (2026-12-02 19:20, strided input gradients per stride phase; SM clock at 1980 MHz in 21% of samples)=bench/h100_2026-12-02_1920/training.json" \
  --training "H200 (2026-12-02 17:10, sums of products fused; SM clock at 345 MHz in 83% of samples, the host slower too)=bench/h200_2026-12-02_1710/training.json" \
  --training "H200 (2026-12-02 16:14; SM clock at 345-570 MHz for most steps)=bench/h200_2026-12-02_1600/training.json" \
  --training "H200 (2026-12-02 04:20)=bench/h200_training.json" \
  --training "H200 (2026-12-02 01:57, before the conv/reduction/tx kernels)=bench/h200_training_2026-12-02_0157.json" \
  --training "H100 (2026-11-25, before the 2026-12-01/02 kernels)=bench/h100_training.json" \
  --training "lavapipe (2026-12-02)=bench/lavapipe_training.json" \
  --out BENCHMARKS.md --png benchmarks_ratios.png
