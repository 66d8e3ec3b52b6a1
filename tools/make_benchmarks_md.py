#!/usr/bin/env python3
"""BENCHMARKS.md and its plot from tools/bench_kernels.py's results JSON.

  python tools/make_benchmarks_md.py results.json [--training H100=training.json ...]
                                     [--out BENCHMARKS.md] [--png benchmarks_ratios.png]

Writes the device, driver, date and method, every case's median [min-max]
with its reference's, every ratio, and whether each target (TARGETS below)
is met; plus a PNG bar chart of the ratios (matplotlib when importable, else
a small built-in PNG writer). --training LABEL=JSON (repeatable) adds
tools/bench_training.py --json output as a table, one row per machine and model.
"""
import argparse
import json
import math
import os
import re
import struct
import zlib

# Targets: (case-name regex, ratio key, comparison, threshold, what it says
# [, the least bytes a case moves to count]); the numbers are the performance
# issue's. The bandwidth targets count tensors large enough for bandwidth to
# bind (64 MB moved: 15 us at 4 TB/s); smaller cases (the Transformer's
# [2048, 128] sums, 1 MB) are bound by a dispatch's latency and are compared
# with PyTorch by vs_ref only.
# Ratio keys are bench_kernels.py's: vs_ref = reference time / our time,
# vs_copy_bw = our bytes/s / the device's measured copy bandwidth; both are
# speeds, higher is better. host_us_per_dispatch is microseconds, lower is better.
TARGETS = [
    (r"^matmul_f32_4096x4096x4096$", "vs_ref", ">=", 0.7,
     "fp32 GEMM 4096^3 at least 70% of cuBLAS SGEMM (TF32 off)"),
    # What the MatMul op runs (matmul.cc's choice): coopmat2_f16_<size> where
    # the device has VK_NV_cooperative_matrix2, else coopmat_f16_<size> where
    # it has cooperative matrices (a tuple: the first pattern that names a
    # measured case counts); matmul_f16_<size> is the portable shader, used
    # only where the device has none.
    ((r"^coopmat2_f16_4096x4096x4096$", r"^coopmat_f16_4096x4096x4096$"), "vs_ref", ">=", 0.5,
     "fp16 GEMM 4096^3 (the cooperative-matrix path the MatMul op takes) at least half of cuBLAS HGEMM"),
    # (r50 cases as the op runs them: "@config" variants are experiments)
    (r"^conv2d_fwd_f32_r50_[^@]*$", "vs_ref", ">=", 0.5,
     "Conv2D forward, ResNet-50 shapes at batch 64, at least half of cuDNN (channels_last, TF32 off)"),
    (r"^conv2d_bwd_(input|filter)_f32_r50_[^@]*$", "vs_ref", ">=", 0.4,
     "Conv2D gradients, ResNet-50 shapes at batch 64, at least 40% of cuDNN"),
    (r"^(add|mul|relu|bcast_add)_f32_[^@]*$", "vs_copy_bw", ">=", 0.8,
     "float32 elementwise ops at 80% of the device-to-device copy bandwidth (cases moving >= 64 MB)", 64e6),
    (r"^(add|mul|relu|bcast_add)_f16_[^@]*$", "vs_copy_bw", ">=", 0.8,
     "float16 elementwise ops at 80% of the copy bandwidth (cases moving >= 64 MB)", 64e6),
    (r"^(reduce_sum|softmax)_[^@]*$", "vs_copy_bw", ">=", 0.8,
     "reductions and softmax at 80% of the copy bandwidth (cases moving >= 64 MB)", 64e6),
    (r"^dispatch_overhead$", "host_us_per_dispatch", "<=", 5.0,
     "host cost of recording one dispatch at most 5 us"),
]


def value(case, key):
    if key == "host_us_per_dispatch":
        return case.get(key)
    return case.get("ratios", {}).get(key)


def counts(case, pattern, least):
    """Whether a case counts for a target (name matches, moves enough bytes)."""
    return bool(re.search(pattern, case["name"])) and (not least or case.get("bytes", 0) >= least[0])


def resolve_targets(cases):
    """TARGETS with each tuple of patterns replaced by its first that names a case."""
    out = []
    for pattern, *rest in TARGETS:
        if isinstance(pattern, tuple):
            pattern = next((p for p in pattern if any(re.search(p, c["name"]) for c in cases)),
                           pattern[-1])
        out.append((pattern, *rest))
    return out


def evaluate_targets(cases):
    rows = []
    for pattern, key, cmp, thr, what, *least in resolve_targets(cases):
        hits = [c for c in cases if counts(c, pattern, least)]
        vals = [(c["name"], value(c, key)) for c in hits]
        measured = [v for _, v in vals if v is not None]
        if not measured:
            rows.append((what, key, cmp, thr, hits, None, "not measured"))
            continue
        worst = min(measured) if cmp == ">=" else max(measured)
        ok = all(v is not None and (v >= thr if cmp == ">=" else v <= thr) for _, v in vals)
        ok = ok and all(c.get("check") == "pass" for c in hits)
        rows.append((what, key, cmp, thr, hits, worst, "met" if ok else "NOT met"))
    return rows


def target_of(case, targets):
    out = []
    for pattern, key, cmp, thr, _, *least in targets:
        if counts(case, pattern, least):
            v = value(case, key)
            if v is None:
                out.append("%s %s %g: -" % (key, cmp, thr))
            else:
                ok = v >= thr if cmp == ">=" else v <= thr
                out.append("%s %s %g: %s" % (key, cmp, thr, "met" if ok else "**not met**"))
    return "; ".join(out)


def ms(d):
    if not d or "ms_median" not in d:
        return "-"
    return "%.3f [%.3f-%.3f]" % (d["ms_median"], d["ms_min"], d["ms_max"])


def rate(c):
    if c.get("tflops") is not None:
        return "%.2f TFLOP/s" % c["tflops"] if c["tflops"] >= 0.1 else "%.2f GFLOP/s" % (c["tflops"] * 1e3)
    if c.get("gbps") is not None:
        return "%.1f GB/s" % c["gbps"]
    return ""


def ref_rate(c):
    ref = c.get("ref")
    if not ref or "ms_median" not in ref:
        return ""
    if c.get("flops"):
        t = c["flops"] / (ref["ms_median"] * 1e-3) / 1e12
        return "%.2f TFLOP/s" % t if t >= 0.1 else "%.2f GFLOP/s" % (t * 1e3)
    if c.get("bytes"):
        return "%.1f GB/s" % (c["bytes"] / (ref["ms_median"] * 1e-3) / 1e9)
    return ""


def fmt_ratio(r, k):
    return "%.2f" % r[k] if k in r else "-"


# --- the plot -----------------------------------------------------------------

def plot_series(cases):
    """(labels, vs_ref values, vs_copy_bw values) of the cases that have a ratio."""
    labels, a, b = [], [], []
    for c in cases:
        r = c.get("ratios", {})
        if "vs_ref" in r or "vs_copy_bw" in r:
            labels.append(c["name"])
            a.append(r.get("vs_ref"))
            b.append(r.get("vs_copy_bw"))
    return labels, a, b


def plot_matplotlib(path, title, labels, a, b):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = len(labels)
    fig, ax = plt.subplots(figsize=(10, 0.32 * n + 1.5))
    ys = range(n)
    ax.barh([y - 0.2 for y in ys], [v or 0 for v in a], height=0.4, label="vs reference (PyTorch/cuBLAS/cuDNN)")
    ax.barh([y + 0.2 for y in ys], [v or 0 for v in b], height=0.4, label="vs device copy bandwidth")
    ax.axvline(1.0, color="k", linestyle="--", linewidth=1)
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("speed ratio (higher is better; 1 = parity)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# 3x5 digits for the fallback plot's labels.
_DIGITS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010",
}


def write_png(path, w, h, pixels):
    """pixels: bytearray of w*h RGB triples."""
    raw = b"".join(b"\x00" + bytes(pixels[y * w * 3:(y + 1) * w * 3]) for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def plot_builtin(path, labels, a, b):
    """Vertical bars per case (blue: vs reference, orange: vs copy bandwidth) on
    a log2 scale from 1/16 to 4, a line at 1, gridlines at powers of 2, and the
    case numbers of BENCHMARKS.md's table under the bars."""
    n = max(1, len(labels))
    left, bottom, top, group = 30, 20, 10, 14
    w, h = left + group * n + 10, 260
    px = bytearray(b"\xff" * (w * h * 3))

    def put(x, y, rgb):
        if 0 <= x < w and 0 <= y < h:
            px[(y * w + x) * 3:(y * w + x) * 3 + 3] = bytes(rgb)

    def text(x, y, s):
        for ch in s:
            g = _DIGITS.get(ch)
            if g:
                for i, bit in enumerate(g):
                    if bit == "1":
                        put(x + i % 3, y + i // 3, (0, 0, 0))
            x += 4

    lo, hi = -4.0, 2.0  # log2 range
    plot_h = h - top - bottom

    def ypos(v):
        t = (min(max(math.log2(max(v, 1e-9)), lo), hi) - lo) / (hi - lo)
        return top + int(round((1 - t) * plot_h))

    for e in range(int(lo), int(hi) + 1):
        y = ypos(2.0 ** e)
        for x in range(left, w - 5):
            put(x, y, (0, 0, 0) if e == 0 else (225, 225, 225))
        text(2, y - 2, ("%g" % (2.0 ** e))[:5])
    base = ypos(2.0 ** lo)
    for i in range(len(labels)):
        x0 = left + i * group + 2
        for j, (v, rgb) in enumerate(((a[i], (31, 119, 180)), (b[i], (255, 127, 14)))):
            if v is None:
                continue
            for x in range(x0 + 5 * j, x0 + 5 * j + 5):
                for y in range(ypos(v), base + 1):
                    put(x, y, rgb)
        text(x0, h - bottom + 6, str(i + 1))
    write_png(path, w, h, px)


# --- the document ----------------------------------------------------------------

def main_ratio(case):
    """The ratio a case is judged by: vs_copy_bw for bandwidth-bound cases, else vs_ref."""
    r = case.get("ratios", {})
    return r.get("vs_copy_bw") if r.get("vs_copy_bw") is not None else r.get("vs_ref")


def merge_updates(res, updates):
    """updates: [(label, results, regex or None)] of later runs (on the same
    machine, or another GPU, which the header then names): their cases (those
    whose names the regex matches: the code that changed since) replace the
    same-named ones (or join the table), tagged with the run's label;
    res["updates"] lists the runs for the header."""
    index = {c["name"]: i for i, c in enumerate(res["cases"])}
    res["updates"] = []
    for label, later, pattern in updates:
        taken = [c for c in later["cases"] if pattern is None or re.search(pattern, c["name"])]
        other = later.get("device", {}).get("device")
        res["updates"].append((label, later.get("date", "?"), len(taken),
                               other if other and other != res["device"]["device"] else None))
        res["all_checks_pass"] = res.get("all_checks_pass", True) and all(
            c.get("check") == "pass" for c in taken)
        for c in taken:
            c = dict(c, run=label)
            if c["name"] in index:
                res["cases"][index[c["name"]]] = c
            else:
                index[c["name"]] = len(res["cases"])
                res["cases"].append(c)
    return res


def render(res, training, png_name, previous=None):
    """previous: (label, results) of an earlier run on the same machine, shown
    beside this one's ratios (run-to-run variation in plain sight)."""
    dev, tinfo, cases = res["device"], res.get("torch"), res["cases"]
    prev_label, prev = previous or (None, None)
    prev_cases = {c["name"]: c for c in prev["cases"]} if prev else {}
    L = []
    L.append("# Kernel benchmarks")
    L.append("")
    L.append("Generated by `tools/make_benchmarks_md.py` from `tools/bench_kernels.py` results; "
             "do not edit by hand. How to run: [docs/benchmarks.md](docs/benchmarks.md).")
    L.append("")
    L.append("- Date: %s" % res.get("date", "?"))
    for label, date, n, other in res.get("updates", []):
        where = ("on another GPU, **%s** (its ratios against the reference timed there, in the "
                 "same run)" % other) if other else "on the same machine"
        L.append("- Cases marked *(%s)*: from a later run of this harness %s, "
                 "%s (%d case%s: the code that changed since); the rest from the run above." % (
                     label, where, date, n, "" if n == 1 else "s"))
    L.append("- Device: **%s** (driver %s, %s; %s backend, %.1f GiB device-local)" % (
        dev["device"], dev["driver"], dev.get("vendor", "?"), dev.get("backend", "vulkan"),
        dev.get("memory_bytes", 0) / 2 ** 30))
    if tinfo:
        L.append("- Reference: PyTorch %s, CUDA %s, cuDNN %s on %s; %s" % (
            tinfo["version"], tinfo["cuda"], tinfo["cudnn"], tinfo["gpu"], tinfo["settings"]))
    else:
        L.append("- Reference: none (PyTorch with CUDA was not importable): only our own numbers "
                 "and ratios against our own copy bandwidth")
    if dev.get("software"):
        L.append("- **A software (CPU) Vulkan device: these numbers say nothing about GPU speed.**")
    L.append("- Method: each case's inputs are random (fixed seed, never zeros; two input sets "
             "alternate between runs); the result is checked against a float64 CPU reference "
             "before timing; then %d warm-up runs and %d timed runs, each bracketed by GPU "
             "timestamps (torch.cuda.Event for the reference)%s, %s. Times are medians "
             "[min-max] in ms." % (dev.get("warmup", 0), dev.get("runs", 0),
                                   (", the L2 cache flushed by a %d MiB fill before each" % (dev["l2_flush_bytes"] >> 20))
                                   if dev.get("l2_flush_bytes") else "",
                                   # kernel_bench before 2026-12-02 14:00 always waited (no key)
                                   "recorded back to back" if dev.get("sync_runs") is False
                                   else "the host waiting for each run before the next"))
    if res.get("copy_gbps_reference"):
        L.append("- Copy bandwidth reference (best device-to-device copy measured): %.1f GB/s "
                 "(bytes read + written)" % res["copy_gbps_reference"])
    L.append("- Ratios are speeds, higher is better: `vs_ref` = reference time / our time; "
             "`vs_copy_bw` = our bytes/s / the copy bandwidth.")
    L.append("- Correctness: %s" % ("every case passed its check" if res.get("all_checks_pass")
                                    else "**some checks FAILED** (see the table)"))
    if res.get("control_copy_median_gbps"):
        slow = [c["name"] for c in cases if c.get("slow_process")]
        L.append("- Slow processes: each case's process also times a control copy (64 MiB each way) "
                 "after the case, median %.0f GB/s over the run; a case whose control ran below 75%% "
                 "of that was rerun in a fresh process (`bench_kernels.py --reruns`); %s." % (
                     res["control_copy_median_gbps"],
                     "still slow after that: " + ", ".join("`%s`" % n for n in slow) if slow else "none still slow"))
    clocks = [c["sm_clock_mhz"] for c in cases if c.get("sm_clock_mhz")]
    if clocks:
        tops = sorted(v[2] for v in clocks)
        L.append("- SM clock (nvidia-smi every 50 ms while each case's process ran; `sm_clock_mhz` "
                 "[min, median, max] in the JSON; %d cases sampled): the highest sample per case "
                 "ranged %.0f-%.0f MHz (median %.0f)." % (len(tops), tops[0], tops[-1], tops[len(tops) // 2]))
    L.append("")
    L.append("## Targets")
    L.append("")
    if prev:
        L.append("The `%s` columns are the same cases in an earlier run (%s) of this harness on "
                 "this machine, for run-to-run variation; its own report is in `bench/`." % (
                     prev_label, prev.get("date", "?")))
        L.append("")
    L.append("| target | measure | threshold | cases | worst | status |" + (" %s: worst, status |" % prev_label if prev else ""))
    L.append("|---|---|---|---|---|---|" + ("---|" if prev else ""))
    prev_rows = evaluate_targets(prev["cases"]) if prev else []
    for i, (what, key, cmp, thr, hits, worst, status) in enumerate(evaluate_targets(cases)):
        extra = ""
        if prev:
            pw, ps = prev_rows[i][5], prev_rows[i][6]
            extra = " %s, %s |" % ("-" if pw is None else "%.3g" % pw, ps)
        L.append("| %s | `%s` | %s %g | %d | %s | %s |" % (
            what, key, cmp, thr, len(hits), "-" if worst is None else "%.3g" % worst,
            "**%s**" % status if status != "met" else status) + extra)
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("![ratios](%s)" % png_name)
    L.append("")
    L.append("| # | case | check | ours: ms median [min-max] | rate | reference | ref: ms median [min-max] "
             "| ref rate | vs_ref | vs_copy_bw | target |" + (" %s |" % prev_label if prev else ""))
    L.append("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if prev else ""))
    labels, _, _ = plot_series(cases)
    targets = resolve_targets(cases)
    for c in cases:
        r = c.get("ratios", {})
        num = str(labels.index(c["name"]) + 1) if c["name"] in labels else ""
        ref = c.get("ref") or {}
        if c["op"] == "overhead":
            ours = "%.2f us/dispatch host (GPU %.2f us)" % (c.get("host_us_per_dispatch", float("nan")),
                                                           c.get("gpu_us_per_dispatch", float("nan")))
            refs = ("%.2f us/op host (GPU %.2f us)" % (ref["host_us_per_dispatch"], ref["gpu_us_per_dispatch"])
                    if "host_us_per_dispatch" in ref else "-")
        else:
            ours = ms(c) if "error" not in c else "error: %s" % c["error"]
            refs = ms(ref) if ref else ("error: %s" % c["ref_error"] if c.get("ref_error") else "-")
        check = c.get("check", "?")
        if check != "pass":
            check = "**%s** %s" % (check, c.get("check_detail", ""))
        if c.get("slow_process"):
            check += " (slow process: control copy %.0f GB/s, the run's median %.0f%s)" % (
                c["control_copy_gbps"], res.get("control_copy_median_gbps") or 0,
                "; SM clock max %.0f MHz" % c["sm_clock_mhz"][2] if c.get("sm_clock_mhz") else "")
        L.append("| %s | `%s`%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            num, c["name"], " *(%s)*" % c["run"] if c.get("run") else "", check, ours, rate(c), ref.get("name", "-"), refs, ref_rate(c),
            fmt_ratio(r, "vs_ref"), fmt_ratio(r, "vs_copy_bw"), target_of(c, targets)) +
            (" %s |" % prev_cell(c, prev_cases.get(c["name"])) if prev else ""))
    if training:
        L.append("")
        L.append("## Training steps (tools/bench_training.py)")
        L.append("")
        L.append("Keras `train_on_batch` with defaults (Adam), random data; step times in ms, median "
                 "[min-max] of the timed steps (`--steps`: 20 or 30) after 3 warm-up steps; dispatches counted over one step by "
                 "`tfmp.stats()`; fusion = the plugin's Grappler pass (`tfmp.set_fusion`). The CPU is "
                 "TensorFlow's own kernels on the same machine. `train_on_batch` waits for each step's loss, so "
                 "host and device time add up; the `fit` columns time Keras's own loop (`model.fit`, verbose=0, "
                 "an epoch of `--steps` steps, median [min-max] over 5 epochs), where recording overlaps the "
                 "device's work (blank: a run from before fit was measured).")
        L.append("")
        L.append("| machine | model | GPU, fusion on | dispatches | GPU, fusion off | dispatches | "
                 "fewer dispatches | CPU | CPU / GPU (fused) | fit: GPU | fit: CPU | fit: CPU / GPU |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")

        def ms_range(d):
            return "%.2f [%.2f-%.2f]" % (d["ms_median"], d["ms_min"], d["ms_max"]) if d else "-"
        for label, rows in training:
            for row in rows:
                on, off, cpu = row["fusion_on"], row["fusion_off"], row.get("cpu")
                fit = row.get("fit", {})
                L.append("| %s | %s | %s | %d | %s | %d | %.1fx | %s | %s | %s | %s | %s |" % (
                    label, row["model"], ms_range(on), on["dispatches"], ms_range(off), off["dispatches"],
                    off["dispatches"] / max(on["dispatches"], 1),
                    ms_range(cpu) + (" (%d cores)" % row["cpu_cores"] if cpu else ""),
                    "%.2fx" % row["cpu_over_gpu"] if cpu else "-",
                    ms_range(fit.get("gpu")), ms_range(fit.get("cpu")),
                    "%.2fx" % fit["cpu_over_gpu"] if "cpu_over_gpu" in fit else "-"))
    L.append("")
    return "\n".join(L)


def prev_cell(case, before):
    """The earlier run's ratio of a case (vs_copy_bw, else vs_ref), bold where
    the two runs differ by more than 1.5x."""
    now, then = main_ratio(case), main_ratio(before) if before else None
    if then is None:
        return "-"
    text = "%.3g" % then
    return "**%s**" % text if now and (then / now > 1.5 or now / then > 1.5) else text


def labelled(spec):
    """(label, results) from a LABEL=JSON argument (no label: the file's name)."""
    label, _, path = spec.rpartition("=")
    with open(path) as f:
        return label or os.path.basename(path), json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--training", action="append", default=[], metavar="LABEL=JSON",
                    help="tools/bench_training.py --json output, labelled by machine (repeatable)")
    ap.add_argument("--previous", metavar="LABEL=JSON",
                    help="an earlier bench_kernels.py result on the same machine: its ratios beside these")
    ap.add_argument("--update", action="append", default=[], nargs="+", metavar="LABEL=JSON [REGEX]",
                    help="a later run over some of the cases (code changed since): its cases (those "
                         "REGEX matches) replace the same-named ones, marked with LABEL (repeatable, "
                         "in order)")
    ap.add_argument("--out", default="BENCHMARKS.md")
    ap.add_argument("--png", help="plot path (default: benchmarks_ratios.png beside --out)")
    args = ap.parse_args()
    with open(args.results) as f:
        res = json.load(f)
    merge_updates(res, [labelled(spec[0]) + (spec[1] if len(spec) > 1 else None,) for spec in args.update])
    training = [labelled(spec) for spec in args.training]
    png = args.png or os.path.join(os.path.dirname(os.path.abspath(args.out)), "benchmarks_ratios.png")
    labels, a, b = plot_series(res["cases"])
    try:
        plot_matplotlib(png, "%s, %s" % (res["device"]["device"], res.get("date", "")), labels, a, b)
        how = "matplotlib"
    except ImportError:
        plot_builtin(png, labels, a, b)
        how = "built-in writer"
    png_rel = os.path.relpath(png, os.path.dirname(os.path.abspath(args.out)))
    with open(args.out, "w") as f:
        f.write(render(res, training, png_rel, labelled(args.previous) if args.previous else None))
    print("wrote %s and %s (%s)" % (args.out, png, how))


if __name__ == "__main__":
    main()
