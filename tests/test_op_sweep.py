"""The op sweep (tools/op_sweep.py) in --check mode: every registration for the
GPU device type matches TF's CPU kernel or is listed with a reason, and
docs/op_table.md lists every op (regenerate it with
`python tools/op_sweep.py --write docs/op_table.md`)."""
import os
import re
import subprocess
import sys

from conftest import ROOT

TABLE = os.path.join(ROOT, "docs", "op_table.md")
# Ops with plugin kernels that the sweep does not run on the device (listed with a
# reason instead). Today two: QueueIsClosedV2, which eager places with its queue on
# the CPU (its values are still checked; tests/test_variables.py covers it), and
# ResourceGather, a variable op compared with the CPU in tests/test_gather_bmm.py.
MAX_PLUGIN_OPS_NOT_SWEPT = 2
# +2: the plugin's own ops that the Grappler pass builds (no CPU kernel to compare
# with): _TfmpFusedElementwise, compared with the unfused graph in
# tests/test_grappler_elementwise.py, and _TfmpFusedUpdate, the fused optimizer
# step, in tests/test_grappler_optimizer.py.
MAX_PLUGIN_OPS_NOT_SWEPT += 2
# +1: _TfmpConv2DBackpropFilterBiasGrad (grappler/patterns/conv_bias_grad.cc), compared
# with TF's CPU Conv2DBackpropFilter + BiasAddGrad in tests/test_conv.py and
# tests/test_grappler.py.
MAX_PLUGIN_OPS_NOT_SWEPT += 1
# +1: _TfmpMatMulBiasGrad (a Dense layer's dW and db in one GEMM), compared with
# TF's CPU MatMul and BiasAddGrad in tests/test_grappler.py.
MAX_PLUGIN_OPS_NOT_SWEPT += 1
# +3: the mixed-precision step's _TfmpAllFinite and _TfmpLossScaleStep (compared with
# TF's CPU over steps with finite, inf and NaN gradients in tests/test_grappler_optimizer.py)
# and _TfmpFusedBatchMatMul (tests/test_grappler_inference.py).
MAX_PLUGIN_OPS_NOT_SWEPT += 3
# +1: _TfmpFusedReduction (Sum / Mean of a product), compared bit for bit with the
# unfused pair and with float64 in tests/test_grappler_reduce.py.
MAX_PLUGIN_OPS_NOT_SWEPT += 1
# Known differences from TF's CPU kernels (KNOWN in the tool; each one is a plugin bug
# report): none today (FloorDiv float16 was one, fixed).
MAX_KNOWN_DIFFERENCES = 0


def test_op_sweep_check():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import op_sweep

    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "op_sweep.py"), "--check", TABLE],
                          capture_output=True, text=True, timeout=300)
    summary = [line for line in proc.stdout.splitlines() if line.startswith(("ops:", "check", "table"))]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    counts = re.search(r"(\d+) mismatches, (\d+) known differences, (\d+) unknown", proc.stdout)
    assert counts and counts.group(1) == "0" and counts.group(3) == "0", summary
    assert int(counts.group(2)) <= MAX_KNOWN_DIFFERENCES, summary
    table = op_sweep.read_table(TABLE)
    registered = op_sweep.registrations()
    assert set(registered) <= set(table), set(registered) - set(table)
    assert len(table) >= len(registered)
    not_swept = [op for op, (owner, _, _, errors) in table.items() if "plugin" in owner and errors == "-"]
    assert len(not_swept) <= MAX_PLUGIN_OPS_NOT_SWEPT, not_swept
