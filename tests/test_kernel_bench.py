"""The kernel benchmark harness (tools/kernel_bench, tools/bench_kernels.py,
tools/make_benchmarks_md.py) on the test device: every case's result must
pass its float64 reference check, so a kernel whose push constants or
dispatch geometry drift from the harness's copy shows up here, not as a
silently wrong benchmark on the GPU machine."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

KERNEL_BENCH = os.path.join(ROOT, "bazel-bin", "tools", "kernel_bench")


def run(*args, timeout=120):
    assert os.path.exists(KERNEL_BENCH), "build it first: bazel build //tools:kernel_bench (make build does)"
    return subprocess.run([KERNEL_BENCH, *args], capture_output=True, text=True, timeout=timeout)


def test_quick_run_every_case_checked_and_timed(tmp_path):
    out = tmp_path / "results.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench_kernels.py"), "--bin",
                        KERNEL_BENCH, "--quick", "--runs", "3", "--no-torch", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    cases = res["cases"]
    names = {c["name"] for c in cases}
    # Every family the benchmark covers is there.
    for prefix in ("dispatch_overhead", "copy_d2d", "add_f32", "mul_f32", "bcast_add_f32",
                   "reduce_sum_rows", "reduce_sum_cols", "softmax_f32", "matmul_f32", "matmul_f16",
                   "conv2d_fwd_f32", "conv2d_bwd_input_f32", "conv2d_bwd_filter_f32"):
        assert any(n.startswith(prefix) for n in names), prefix
    for c in cases:
        assert c["check"] == "pass", c
        assert c["checked"] > 0, c
        if c["op"] == "overhead":
            assert c["host_us_per_dispatch"] > 0 and c["gpu_us_per_dispatch"] > 0, c
        else:
            assert c["runs"] == 3 and 0 < c["ms_min"] <= c["ms_median"] <= c["ms_max"], c
            # the controls timed in the case's process (HBM copy, L2 copy, GEMM)
            assert c["control_copy_gbps"] > 0 and c["control_l2copy_gbps"] > 0 and c["control_gemm_tflops"] > 0, c
    # The memory-bound cases get a ratio against the measured copy bandwidth.
    assert res["copy_gbps_reference"] > 0
    assert all("vs_copy_bw" in c["ratios"] for c in cases if c["op"] in ("add", "softmax"))
    # The report renders from it, with its plot.
    md, png = tmp_path / "BENCHMARKS.md", tmp_path / "plot.png"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_benchmarks_md.py"), str(out),
                        "--out", str(md), "--png", str(png)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = md.read_text()
    assert res["device"]["device"] in text and "## Targets" in text
    assert all(c["name"] in text for c in cases)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_wrong_result_fails_every_check():
    # --perturb scales each result by 1.01 before its check, as a slightly wrong kernel would.
    r = run("--quick", "--runs", "1", "--warmup", "0", "--perturb", "--filter", "^(?!.*132x132)")
    assert r.returncode == 1, r.stderr
    cases = [json.loads(line) for line in r.stdout.splitlines()[1:]]
    assert len(cases) > 15
    bad = [c["name"] for c in cases if c["check"] != "FAIL"]
    assert not bad, bad


def test_filter_and_usage():
    # A filter that matches nothing runs nothing and succeeds; an unknown flag is a usage error.
    r = run("--quick", "--filter", "no_such_case")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1, r.stdout + r.stderr
    assert run("--bogus").returncode == 2


def test_list_names_the_full_size_cases():
    r = run("--list")
    assert r.returncode == 0, r.stderr
    names = r.stdout.split()
    assert "matmul_f32_4096x4096x4096" in names and "matmul_f16_4096x4096x4096" in names
    for mode in ("fwd", "bwd_input", "bwd_filter"):
        assert "conv2d_%s_f32_r50_64x56x56x64to64_3x3" % mode in names
    # the matrix units' ceiling (shaders/mma_peak.comp), beside the GEMMs through VK_NV_cooperative_matrix2
    assert {"mma_peak_f16_subgroup", "mma_peak_f16_workgroup", "coopmat2_f16_4096x4096x4096"} <= set(names)
    # the float16 bandwidth question: dedicated allocations and other data beside the defaults
    assert {"relu_f16_64M@dedicated", "relu_f16_64M@zero16", "add_f16_64M@bits16",
            "copy_shader_d2d_256MiB@half32", "relu_f32_64M@dedicated"} <= set(names)
    # the 3x3 stride-1 filter gradients with 128+ channels (Winograd by default) beside the direct GEMM
    direct = [n for n in names if n.endswith("@::0")]
    assert "conv2d_bwd_filter_f32_r50_64x7x7x512to512_3x3@::0" in direct
    assert all(n.startswith("conv2d_bwd_filter_f32_r50") and "x64to64" not in n and n.endswith("_3x3@::0")
               for n in direct), direct


def test_fp16_target_counts_the_path_the_matmul_op_takes(tmp_path):
    # coopmat2_f16_* where the device has VK_NV_cooperative_matrix2, else coopmat_f16_*.
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_benchmarks_md as mb
    base = [c for c in json.load(open(os.path.join(ROOT, "bench", "h200_kernels.json")))["cases"]
            if not c["name"].startswith("coopmat2_")]
    v1 = [c for c in base if c["name"] == "coopmat_f16_4096x4096x4096"]
    assert v1
    cm2 = dict(v1[0], name="coopmat2_f16_4096x4096x4096", ratios={"vs_ref": 0.6})

    def fp16_row(cases):
        return [row for row in mb.evaluate_targets(cases) if row[0].startswith("fp16 GEMM")][0]

    _, _, _, _, hits, worst, status = fp16_row(base)
    assert [c["name"] for c in hits] == ["coopmat_f16_4096x4096x4096"] and status == "NOT met"
    _, _, _, _, hits, worst, status = fp16_row(base + [cm2])
    assert [c["name"] for c in hits] == ["coopmat2_f16_4096x4096x4096"] and (worst, status) == (0.6, "met")
    targets = mb.resolve_targets(base + [cm2])
    assert mb.target_of(cm2, targets) == "vs_ref >= 0.5: met" and mb.target_of(v1[0], targets) == ""


def test_matmul_configs_each_case_per_config():
    # --matmul-configs runs every GEMM case once per tile config (split-K
    # included), each checked against float64; the JSON names the plan.
    configs = ["64x64", "128x128:3", "128x64:2", "default"]
    r = run("--quick", "--runs", "1", "--warmup", "0", "--filter", "^matmul_", "--matmul-configs",
            ",".join(configs))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    cases = [json.loads(line) for line in r.stdout.splitlines()[1:]]
    assert len(cases) == 7 * len(configs)
    for c in cases:
        assert c["check"] == "pass" and c["checked"] > 0, c
        config = c["name"].split("@")[1]
        if config != "default":
            tile, _, splits = config.partition(":")
            assert c["tile"] == tile, c
            # K bounds the splits (at least one k-tile each)
            assert 1 < c["splits"] <= int(splits) if splits else c["splits"] == 1, c
    # lavapipe (no SM count) with few output tiles and a long K: split-K by default
    assert any(c["splits"] > 1 for c in cases if c["name"].endswith("@default"))


def test_training_table_shows_both_loops(tmp_path):
    # bench_training.py's rows render with their fit columns; rows from before fit was timed render "-".
    step = {"ms_median": 5.0, "ms_min": 4.0, "ms_max": 6.0, "loss": 2.3, "dispatches": 100}
    new = {"model": "cnn", "gpu": "x", "cpu_cores": 16, "fusion_on": step, "fusion_off": dict(step, dispatches=500),
           "cpu": dict(step, ms_median=40.0), "cpu_over_gpu": 8.0,
           "fit": {"gpu": dict(step, ms_median=3.25), "cpu": dict(step, ms_median=39.0), "cpu_over_gpu": 12.0}}
    old = {k: v for k, v in new.items() if k != "fit"}
    (tmp_path / "new.json").write_text(json.dumps([new]))
    (tmp_path / "old.json").write_text(json.dumps([old]))
    md = tmp_path / "B.md"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_benchmarks_md.py"),
                        os.path.join(ROOT, "bench", "h200_kernels.json"), "--training", "A=%s" % (tmp_path / "new.json"),
                        "--training", "B=%s" % (tmp_path / "old.json"), "--out", str(md), "--png", str(tmp_path / "p.png")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = [line for line in md.read_text().splitlines() if line.startswith(("| A |", "| B |"))]
    assert len(rows) == 2
    assert rows[0].endswith("| 3.25 [4.00-6.00] | 39.00 [4.00-6.00] | 12.00x |"), rows[0]
    assert rows[1].endswith("| 8.00x | - | - | - |"), rows[1]


def test_previous_run_beside_this_one(tmp_path):
    # --previous puts an earlier run's ratios beside these (bold where they differ by > 1.5x).
    res = json.load(open(os.path.join(ROOT, "bench", "h200_kernels.json")))
    before = json.loads(json.dumps(res))
    copy = next(c for c in before["cases"] if c["name"] == "copy_shader_d2d_256MiB")
    copy["ratios"]["vs_copy_bw"] = 0.25
    (tmp_path / "now.json").write_text(json.dumps(res))
    (tmp_path / "before.json").write_text(json.dumps(before))
    md = tmp_path / "B.md"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_benchmarks_md.py"), str(tmp_path / "now.json"),
                        "--previous", "earlier=%s" % (tmp_path / "before.json"), "--out", str(md),
                        "--png", str(tmp_path / "p.png")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = md.read_text()
    row = next(line for line in text.splitlines() if "`copy_shader_d2d_256MiB`" in line)
    assert row.endswith("| **0.25** |"), row
    row = next(line for line in text.splitlines() if "`copy_d2d_256MiB`" in line)
    assert row.endswith("| %.3g |" % res["cases"][[c["name"] for c in res["cases"]].index("copy_d2d_256MiB")]["ratios"]["vs_copy_bw"]), row
    assert "| target | measure | threshold | cases | worst | status | earlier: worst, status |" in text


FAKE_BENCH = r'''#!%s
# A stand-in for kernel_bench: two cases; "slow_case"'s control copy is slow
# in its first FAKE_SLOW processes, then fast.
import json, os, sys
args = sys.argv[1:]
names = ["fast_case", "slow_case"]
if "--list" in args:
    print("\n".join(names))
    sys.exit(0)
name = args[args.index("--filter") + 1].strip("^$")
count_file = os.path.join(os.environ["FAKE_DIR"], name)
n = int(open(count_file).read()) if os.path.exists(count_file) else 0
open(count_file, "w").write(str(n + 1))
control = 100.0 if name == "slow_case" and n < int(os.environ["FAKE_SLOW"]) else 1000.0
print(json.dumps({"device": "fake", "driver": "fake", "runs": 3, "warmup": 1}))
print(json.dumps({"name": name, "op": "add", "dtype": "f32", "params": {"n": 4}, "runs": 3,
                  "ms_median": 10.0 / control, "ms_min": 1.0, "ms_max": 1.0, "bytes": 48.0, "gbps": 1.0,
                  "check": "pass", "checked": 4, "worst_err_over_tol": 0, "control_copy_gbps": control}))
'''


def test_slow_processes_rerun(tmp_path):
    # bench_kernels.py --isolate reruns a case whose control copy ran slow and keeps the faster process.
    fake = tmp_path / "kernel_bench"
    fake.write_text(FAKE_BENCH % sys.executable)
    fake.chmod(0o755)
    # and an nvidia-smi whose SM clock, memory clock and utilization samples the run records per case
    (tmp_path / "bin").mkdir()
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.write_text("#!/bin/sh\nwhile true; do echo 1980, 3201, 7; sleep 0.05; done\n")
    smi.chmod(0o755)

    def bench(slow, reruns):
        run_dir = tmp_path / ("s%d_r%d" % (slow, reruns))
        run_dir.mkdir()
        out = run_dir / "out.json"
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench_kernels.py"), "--isolate",
                            "--bin", str(fake), "--no-torch", "--reruns", str(reruns), "--out", str(out)],
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, FAKE_DIR=str(run_dir), FAKE_SLOW=str(slow),
                                    PATH="%s:%s" % (tmp_path / "bin", os.environ["PATH"])))
        assert r.returncode == 0, r.stdout + r.stderr
        res = json.loads(out.read_text())
        return res, {c["name"]: c for c in res["cases"]}

    res, cases = bench(slow=1, reruns=1)  # slow once: the rerun's result stays
    assert cases["slow_case"]["control_copy_gbps"] == 1000.0 and cases["slow_case"]["controls_seen"] == [100.0, 1000.0]
    assert cases["slow_case"]["ms_median"] == 0.01 and not cases["slow_case"].get("slow_process")
    assert cases["fast_case"]["sm_clock_mhz"][2] == 1980.0 and cases["fast_case"]["mem_clock_mhz"][0] == 3201.0
    assert cases["fast_case"]["gpu_util_pct"] == [7.0, 7.0, 7.0]
    assert "reruns" not in cases["fast_case"]
    _, cases = bench(slow=5, reruns=2)  # slow every time: flagged, the first result kept
    assert cases["slow_case"]["slow_process"] and cases["slow_case"]["reruns"] == 2
    assert cases["slow_case"]["controls_seen"] == [100.0, 100.0, 100.0]
    _, cases = bench(slow=1, reruns=0)  # no reruns: flagged
    assert cases["slow_case"]["slow_process"] and "reruns" not in cases["slow_case"]
    md = tmp_path / "B.md"
    (tmp_path / "flagged.json").write_text(json.dumps(dict(res, cases=list(cases.values()), control_copy_median_gbps=550.0)))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_benchmarks_md.py"), str(tmp_path / "flagged.json"),
                        "--out", str(md), "--png", str(tmp_path / "p.png")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = md.read_text()
    assert "still slow after that: `slow_case`" in text
    assert "pass (slow process: control copy 100 GB/s, the run's median 550; SM clock max 1980 MHz)" in text
    assert "2 cases sampled): the highest sample per case ranged 1980-1980 MHz" in text


def test_later_run_updates_some_cases(tmp_path):
    # --update: a later run's cases replace the same-named ones (or join), each marked with its label.
    base = json.load(open(os.path.join(ROOT, "bench", "h200_kernels.json")))
    copy = dict(next(c for c in base["cases"] if c["name"] == "copy_d2d_256MiB"))
    copy["ratios"] = dict(copy["ratios"], vs_copy_bw=0.123)
    later = dict(base, date="later-date", cases=[copy, dict(copy, name="brand_new_case")])
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "later.json").write_text(json.dumps(later))
    md = tmp_path / "B.md"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_benchmarks_md.py"), str(tmp_path / "base.json"),
                        "--update", "10:00=%s" % (tmp_path / "later.json"), "^(copy_d2d|brand_new)",
                        "--update", "11:00=%s" % (tmp_path / "later.json"), "nothing matches", "--out", str(md),
                        "--png", str(tmp_path / "p.png")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = md.read_text()
    rows = [line for line in text.splitlines() if "`copy_d2d_256MiB`" in line]
    assert len(rows) == 1 and "`copy_d2d_256MiB` *(10:00)*" in rows[0] and "| 0.12 |" in rows[0], rows
    assert "`brand_new_case` *(10:00)*" in text
    assert "Cases marked *(10:00)*: from a later run of this harness on the same machine, later-date (2 cases" in text
    assert "*(11:00)*: from a later run of this harness on the same machine, later-date (0 cases" in text
    row = next(line for line in text.splitlines() if "`copy_shader_d2d_256MiB`" in line)
    assert "*(" not in row


@pytest.mark.parametrize("switch", ["TFMP_DEDICATED_MEMORY", "TFMP_MAPPABLE_MEMORY"])
def test_memory_experiments(switch):
    # TFMP_DEDICATED_MEMORY=1 (every device buffer its own dedicated allocation) and
    # TFMP_MAPPABLE_MEMORY=1 (tensors in host-mappable device-local memory) compute the same.
    env = dict(os.environ, **{switch: "1"})
    r = subprocess.run([KERNEL_BENCH, "--quick", "--runs", "1", "--warmup", "0", "--filter",
                        "^(copy_shader|add_f32|relu_f16|reduce_sum_rows_f32|matmul_f32_64x128x128_b32$)"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    cases = [json.loads(line) for line in r.stdout.splitlines()[1:]]
    assert len(cases) >= 6 and all(c["check"] == "pass" for c in cases), cases
