"""Op sweep: every kernel registered for device type "GPU", run through TF's own
dispatch once on the plugin's device and once on the CPU, and compared.

    python tools/op_sweep.py                          # sweep, print a summary
    python tools/op_sweep.py --write docs/op_table.md # sweep and write the table
    python tools/op_sweep.py --check docs/op_table.md # sweep; fail if the table is stale

How it works:
  * The registrations come from kernels.get_all_registered_kernels() (device_type
    "GPU"), one (op, type-constraint assignment) per registration. A second
    process imports TF with the plugin hidden, which tells the plugin's kernels
    from the GPU kernels the tensorflow-cpu wheel registers itself (XLA,
    control flow, datasets, ...): those apply to the plugin's device too.
  * RECIPES maps each op to a builder: (rng, dtypes) -> Case(inputs, attrs,
    check). Inputs are built on the CPU; the op runs eagerly under
    tf.device("/GPU:0") with soft placement off (an op without a kernel there
    fails) and every output must live on the GPU. The same call runs on the CPU.
  * check is "exact" (integers, bool, data movement, random ops: bit-exact) or a
    float tolerance per dtype (float32 2e-6 rel, float16 2e-3, bfloat16 1e-2),
    with atol scaled by sqrt(K) for sums, matmul and convolutions.
  * Where the CPU has no kernel for a dtype (NotFoundError), the reference is the
    CPU result on float32 inputs, cast back; the table says so.
  * Every registration is swept, checked another way (the note says how), or
    listed with a reason (REASONS). A registration matching none is "unknown"
    and fails the run, as does any mismatch.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict, namedtuple

os.environ.setdefault("TFMP_ALLOW_SOFTWARE_DEVICE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import numpy as np  # noqa: E402

GPU, CPU = "/GPU:0", "/CPU:0"
FLOATS = ("float16", "float32", "float64", "bfloat16")
COMPLEX = ("complex64", "complex128")
# Absolute/relative tolerance per float dtype (before the sqrt(K) scaling of atol).
TOL = {"float32": (1e-6, 2e-6), "float16": (2e-3, 2e-3), "bfloat16": (1e-2, 1e-2),
       "float64": (1e-12, 1e-12), "complex64": (1e-6, 2e-6), "complex128": (1e-12, 1e-12)}

# A recipe's result: positional inputs (numpy arrays or lists of them), attrs, and
# how to compare: "exact" or "tol" (k: reduction length, rtol: float32 rtol override).
Case = namedtuple("Case", "inputs attrs check k rtol note", defaults=("tol", 1, None, ""))


# ----------------------------------------------------------------------------
# Registrations

def registrations():
    """{op: [{'dtypes': {attr: dtype}, 'host': (...)}]} for device_type GPU."""
    import tensorflow as tf
    from tensorflow.python.framework import kernels
    regs = defaultdict(list)
    for k in kernels.get_all_registered_kernels().kernel:
        if k.device_type != "GPU":
            continue
        dts = {}
        for c in k.constraint:
            types = c.allowed_values.list.type
            dts[c.name] = tf.as_dtype(types[0]).name if len(types) == 1 else \
                "|".join(tf.as_dtype(t).name for t in types)
        regs[k.op].append({"dtypes": dts, "host": tuple(sorted(k.host_memory_arg)), "label": k.label})
    return regs


def reg_key(op, r):
    return (op, tuple(sorted(r["dtypes"].items())), r["host"], r["label"])


def tf_own_registrations():
    """Registration keys present with the plugin hidden (run in a fresh process)."""
    code = ("import os,sys,json; e=os.path.exists; os.path.exists=lambda p: False if "
            "str(p).rstrip('/').endswith('tensorflow-plugins') else e(p)\n"
            "import tensorflow as tf; os.path.exists=e\n"
            "sys.path.insert(0, %r); import op_sweep as s\n"
            "print(json.dumps([s.reg_key(o, r) for o, rs in s.registrations().items() for r in rs]))"
            % os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {json.dumps(k) for k in json.loads(out.stdout.strip().splitlines()[-1])}


def dtype_label(dts):
    return ",".join("%s=%s" % kv for kv in sorted(dts.items())) if dts else "-"


def dtypes_summary(labels):
    """'float16, float32' for one type attr; 'T: ...; Tidx: ... (n combos)' for several."""
    if not labels:
        return "-"
    combos = [dict(kv.split("=") for kv in lb.split(",")) if lb != "-" else {} for lb in labels]
    if not combos[0]:
        return "(no type attr)"
    attrs = sorted(combos[0])
    values = {a: sorted({c[a] for c in combos}) for a in attrs}
    if len(attrs) == 1:
        return ", ".join(values[attrs[0]])
    full = int(np.prod([len(v) for v in values.values()]))
    text = "; ".join("%s: %s" % (a, ", ".join(values[a])) for a in attrs)
    return text + (" (all %d combinations)" % full if full == len(set(labels)) else " (%d of %d combinations)"
                   % (len(set(labels)), full))


# ----------------------------------------------------------------------------
# Inputs

def rand(rng, shape, dtype, lo=-3.0, hi=3.0):
    """Random numpy data of a TF dtype name (bfloat16 through TF's numpy type)."""
    import tensorflow as tf
    np_dtype = tf.as_dtype(dtype).as_numpy_dtype
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in COMPLEX:
        return (rng.uniform(lo, hi, shape) + 1j * rng.uniform(lo, hi, shape)).astype(np_dtype)
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(np_dtype)
        lo_i, hi_i = max(int(lo * 30), info.min), min(int(hi * 30), info.max)
        if dtype.startswith("uint"):
            lo_i, hi_i = 0, min(int((hi - lo) * 30), info.max)
        return rng.integers(lo_i, hi_i + 1, size=shape).astype(np_dtype)
    return rng.uniform(lo, hi, shape).astype(np.float32).astype(np_dtype)


def np_of(dtype):
    import tensorflow as tf
    return tf.as_dtype(dtype).as_numpy_dtype


def unary(lo=-3, hi=3, check="tol", specials=False):
    def build(rng, d):
        x = rand(rng, (5, 33), d.get("T", "bool"), lo, hi)
        if specials:
            x.flat[:6] = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 6e4]).astype(x.dtype)
        return Case([x], {}, check)
    return build


def binary(lo=-3, hi=3, check="tol", rtol=None, nonzero=False):
    def build(rng, d):
        t = d.get("T", "bool")
        a, b = rand(rng, (4, 1, 33), t, lo, hi), rand(rng, (5, 1), t, lo, hi)
        if nonzero and not t.startswith("float"):
            b[b == 0] = 1
        return Case([a, b], {}, check, rtol=rtol)
    return build


def floor_div(rng, d):
    """Same-shape inputs, led by float16 quotients just below an integer (2.564 / 0.855 =
    2.9994), where TF rounds the quotient to float16 (3.0) before the floor."""
    a, b = rand(rng, (165,), d["T"], 0.5, 3), rand(rng, (165,), d["T"], 0.5, 3)
    if d["T"] in FLOATS:
        a[:4], b[:4] = [2.564, 1.797, 2.77, 2.688], [0.855, 0.599, 0.9233, 0.5376]
    b[b == 0] = 1
    return Case([a, b], {}, "tol")


def grad(check="tol"):
    def build(rng, d):
        return Case([rand(rng, (7, 33), d["T"], 0.1, 3), rand(rng, (7, 33), d["T"])], {}, check)
    return build


def with_attrs(recipe, **attrs):
    """A recipe with op attributes added (LeakyRelu's alpha)."""
    def build(rng, d):
        case = recipe(rng, d)
        case.attrs.update(attrs)
        return case
    return build


def reduction(lo=-3, hi=3, check="tol"):
    def build(rng, d):
        t = d.get("T", "bool")
        x = rand(rng, (6, 7, 5), t, lo, hi)
        axes = np.array([0, 2], np_of(d["Tidx"]))
        return Case([x, axes], {"keep_dims": True}, check, k=30)
    return build


def argminmax(rng, d):
    x = rand(rng, (9, 17), d["T"])
    return Case([x, np.array(1, np_of(d["Tidx"]))], {"output_type": d["output_type"]}, "exact")


def add_n(rng, d):
    return Case([[rand(rng, (7, 33), d["T"]) for _ in range(3)]], {}, "tol", k=3)


def cast(rng, d):
    x = rand(rng, (5, 33), d["SrcT"], -100, 100)
    return Case([x], {"DstT": d["DstT"]}, "exact")


def bitcast(rng, d):
    import tensorflow as tf
    src, dst = tf.as_dtype(d["T"]).size, tf.as_dtype(d["type"]).size
    shape = (3, max(1, dst // src))
    raw = rng.integers(0, 256, size=int(np.prod(shape)) * src, dtype=np.uint8)
    return Case([raw.view(np_of(d["T"])).reshape(shape)], {"type": d["type"]}, "bits")


def fill(rng, d):
    return Case([np.array([3, 5], np_of(d["index_type"])), rand(rng, (), d["T"])], {}, "exact")


def matmul(rng, d):
    a, b = rand(rng, (33, 65), d["T"], -1, 1), rand(rng, (17, 65), d["T"], -1, 1)
    return Case([a, b], {"transpose_b": True}, "tol", k=65, rtol=1e-5)


def batch_matmul(broadcast):
    return lambda rng, d: _batch_matmul(rng, d, broadcast)


def _batch_matmul(rng, d, broadcast):
    t = d.get("T") or d["Ta"]
    a, b = rand(rng, (2, 7, 33), t, -1, 1), rand(rng, (1 if broadcast else 2, 33, 5), t, -1, 1)
    attrs = {"Tout": t} if "Tout" in d else {}
    return Case([a, b], attrs, "tol", k=33, rtol=1e-5)


def einsum(rng, d):
    a, b = rand(rng, (2, 3, 33), d["T"], -1, 1), rand(rng, (33, 5), d["T"], -1, 1)
    return Case([[a, b]], {"equation": "abc,cd->abd"}, "tol", k=33, rtol=1e-5)


def gather(rng, d):
    idx = rng.integers(0, 7, (3, 4)).astype(np_of(d["Tindices"]))
    return Case([rand(rng, (7, 5), d["Tparams"]), idx, np.array(0, np_of(d["Taxis"]))], {}, "exact")


def one_hot(rng, d):
    idx = rng.integers(-1, 6, (3, 4)).astype(np_of(d["TI"])) if d["TI"] != "uint8" else \
        rng.integers(0, 6, (3, 4)).astype(np.uint8)
    on, off = rand(rng, (), d["T"]), rand(rng, (), d["T"])
    return Case([idx, np.array(5, np.int32), on, off], {"axis": -1}, "exact")


def range_(rng, d):
    t = np_of(d["Tidx"])
    return Case([np.array(-3, t), np.array(40, t), np.array(3, t)], {}, "exact")


def bias_add(rng, d):
    return Case([rand(rng, (2, 5, 7, 33), d["T"]), rand(rng, (33,), d["T"])], {}, "exact")


def bias_add_grad(rng, d):
    return Case([rand(rng, (2, 5, 7, 33), d["T"])], {}, "tol", k=70, rtol=1e-5)


def softmax(rng, d):
    return Case([rand(rng, (7, 33), d["T"], -5, 5)], {}, "tol", k=33, rtol=1e-5)


def xent(rng, d):
    labels = rng.dirichlet(np.ones(33), 7).astype(np_of(d["T"]))
    return Case([rand(rng, (7, 33), d["T"], -5, 5), labels], {}, "tol", k=33, rtol=1e-5)


def sparse_xent(rng, d):
    labels = rng.integers(0, 33, 7).astype(np_of(d["Tlabels"]))
    return Case([rand(rng, (7, 33), d["T"], -5, 5), labels], {}, "tol", k=33, rtol=1e-5)


CONV = {"strides": [1, 2, 1, 1], "padding": "SAME"}


def conv(kind):
    def build(rng, d):
        t = d["T"]
        x, w = rand(rng, (2, 9, 7, 4), t, -1, 1), rand(rng, (3, 3, 4, 5), t, -1, 1)
        dy = rand(rng, (2, 5, 7, 5), t, -1, 1)
        ins = {"fwd": [x, w], "input": [np.array(x.shape, np.int32), w, dy],
               "filter": [x, np.array(w.shape, np.int32), dy]}[kind]
        return Case(ins, dict(CONV), "tol", k=36, rtol=1e-5)
    return build


def depthwise(kind):  # TF's CPU kernels want equal strides here
    def build(rng, d):
        t = d["T"]
        x, w = rand(rng, (2, 9, 7, 4), t, -1, 1), rand(rng, (3, 3, 4, 2), t, -1, 1)
        dy = rand(rng, (2, 5, 4, 8), t, -1, 1)
        ins = {"fwd": [x, w], "input": [np.array(x.shape, np.int32), w, dy],
               "filter": [x, np.array(w.shape, np.int32), dy]}[kind]
        return Case(ins, dict(CONV, strides=[1, 2, 2, 1]), "tol", k=18, rtol=1e-5)
    return build


def fused_conv(rng, d):
    t = d["T"]
    x, w = rand(rng, (2, 9, 7, 4), t, -1, 1), rand(rng, (3, 3, 4, 5), t, -1, 1)
    attrs = dict(CONV, fused_ops=["BiasAdd", "Relu"], num_args=1, epsilon=1e-4, data_format="NHWC",
                 filter_format="HWIO", dilations=[1, 1, 1, 1], use_cudnn_on_gpu=True,
                 explicit_paddings=[], leakyrelu_alpha=0.2, num_host_args=0)
    attrs.update(T=t, TArgs=[t])
    return Case([x, w, [rand(rng, (5,), t, -1, 1)]], attrs, "tol", k=36, rtol=1e-5)


# The Grappler pass's fused ops (grappler/): the epilogue's activations take
# turns by dtype so each registration runs one of them against TF's CPU kernel.
def fused_matmul(rng, d):
    t = d["T"]
    # TF's CPU kernel runs Gelu only untransposed: transposes with LeakyRelu,
    # Gelu without (tests/test_grappler.py covers every activation).
    half = t == "float16"
    a, b = rand(rng, (7, 9) if half else (9, 7), t, -1, 1), rand(rng, (9, 5) if half else (5, 9), t, -1, 1)
    attrs = dict(transpose_a=not half, transpose_b=not half, num_args=1,
                 fused_ops=["BiasAdd", "GeluExact" if half else "LeakyRelu"],
                 epsilon=1e-4, leakyrelu_alpha=0.2, T=t)
    return Case([a, b, [rand(rng, (5,), t, -1, 1)]], attrs, "tol", k=9, rtol=1e-5)


def fused_depthwise(rng, d):
    t = d["T"]
    x, w = rand(rng, (2, 7, 6, 3), t, -1, 1), rand(rng, (3, 3, 3, 2), t, -1, 1)
    attrs = dict(strides=[1, 1, 1, 1], padding="SAME", data_format="NHWC", dilations=[1, 1, 1, 1],
                 num_args=1, fused_ops=["BiasAdd", "Relu6"], epsilon=1e-4, leakyrelu_alpha=0.2, T=t)
    return Case([x, w, [rand(rng, (6,), t, -1, 1)]], attrs, "tol", k=9, rtol=1e-5)


POOL = {"ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1], "padding": "SAME"}


def pool(kind):
    def build(rng, d):
        t = d["T"]
        x = rand(rng, (2, 9, 8, 3), t)
        x = (np.argsort(rng.random(x.size)).reshape(x.shape) / 7.0).astype(x.dtype)  # no ties
        dy = rand(rng, (2, 5, 4, 3), t)
        if kind == "max":
            return Case([x], dict(POOL), "exact")
        if kind == "avg":
            return Case([x], dict(POOL), "tol", k=9)
        if kind == "maxv2":
            return Case([x, np.array(POOL["ksize"], np.int32), np.array(POOL["strides"], np.int32)],
                        {"padding": "SAME"}, "exact")
        if kind == "maxgrad":
            import tensorflow as tf
            y = tf.raw_ops.MaxPool(input=x, **POOL).numpy()
            return Case([x, y, dy], dict(POOL), "tol", k=9)
        return Case([np.array(x.shape, np.int32), dy], dict(POOL), "tol", k=9)  # avg grad
    return build


# Data movement: any dtype, compared bit for bit.
def transpose(rng, d):
    return Case([rand(rng, (3, 4, 5), d["T"]), np.array([2, 0, 1], np_of(d["Tperm"]))], {}, "exact")


def slice_(rng, d):
    i = np_of(d["Index"])
    return Case([rand(rng, (6, 7), d["T"]), np.array([1, 2], i), np.array([4, -1], i)], {}, "exact")


def strided_slice(rng, d):
    i = np_of(d["Index"])
    return Case([rand(rng, (6, 7, 5), d["T"]), np.array([1, 6, 0], i), np.array([5, 0, 5], i),
                 np.array([2, -2, 1], i)], {"shrink_axis_mask": 0}, "exact")


def strided_slice_grad(rng, d):
    i = np_of(d["Index"])
    return Case([np.array([6, 7, 5], i), np.array([1, 6, 0], i), np.array([5, 0, 5], i),
                 np.array([2, -2, 1], i), rand(rng, (2, 3, 5), d["T"])], {}, "exact")


def tile(rng, d):
    return Case([rand(rng, (3, 4), d["T"]), np.array([2, 3], np_of(d["Tmultiples"]))], {}, "exact")


def broadcast_to(rng, d):
    return Case([rand(rng, (4, 1), d["T"]), np.array([3, 4, 5], np_of(d["Tidx"]))], {}, "exact")


def pack(rng, d):
    return Case([[rand(rng, (3, 4), d["T"]) for _ in range(3)]], {"axis": 1}, "exact")


def concat(rng, d):
    return Case([[rand(rng, (3, n), d["T"]) for n in (4, 1, 6)], np.array(1, np_of(d["Tidx"]))],
                {}, "exact")


def unpack(rng, d):
    return Case([rand(rng, (3, 4, 5), d["T"])], {"num": 4, "axis": 1}, "exact")


def split(rng, d):
    return Case([np.array(1, np.int32), rand(rng, (3, 6, 5), d["T"])], {"num_split": 3}, "exact")


def split_v(rng, d):
    return Case([rand(rng, (3, 7, 5), d["T"]), np.array([2, -1, 1], np_of(d["Tlen"])),
                 np.array(1, np.int32)], {"num_split": 3}, "exact")


def reshape(rng, d):
    return Case([rand(rng, (3, 4, 5), d["T"]), np.array([5, -1], np_of(d["Tshape"]))], {}, "exact")


def identity(rng, d):
    return Case([rand(rng, (3, 5), d.get("T", d.get("dtype")))], {}, "exact")


def placeholder(rng, d):
    return Case([rand(rng, (3, 5), d["dtype"])], {"shape": [3, 5]}, "exact")


def eager_const(rng, d):
    return Case([rand(rng, (3, 5), d["T"])], {"T": d["T"]}, "exact")


def select(v2):
    def build(rng, d):
        c = rng.random((4, 5) if not v2 else (5,)) < 0.5
        return Case([c, rand(rng, (4, 5), d["T"]), rand(rng, (4, 5) if not v2 else (1, 5), d["T"])],
                    {}, "exact")
    return build


def stateless(v2, kind="float"):
    def build(rng, d):
        shape = np.array([5, 33], np.int32)
        ints = [np.array(-7, np_of(d["dtype"])), np.array(100, np_of(d["dtype"]))] if kind == "int" else []
        attrs = {} if ints else {"dtype": d["dtype"]}  # the int ops take dtype from minval
        if v2:
            key, counter = np.array([12345], np.uint64), np.array([6, 7], np.uint64)
            return Case([shape, key, counter, np.array(1, np.int32)] + ints, attrs, "bits")
        return Case([shape, np.array([12, 34], np.int64)] + ints, attrs, "bits")
    return build


def seeded(kind="float"):
    """Stateful ops with a per-kernel generator: fixed nonzero seeds, and the sweep's one
    eager call per device is the cached kernel's first, so both draw the same numbers."""
    def build(rng, d):
        shape = np.array([5, 33], np.int32)
        seeds = {"seed": 87654, "seed2": -321}
        if kind == "int":
            lo, hi = np.array(-7, np_of(d["Tout"])), np.array(100, np_of(d["Tout"]))
            return Case([shape, lo, hi], seeds, "bits")
        return Case([shape], dict(seeds, dtype=d["dtype"]), "bits")
    return build


def key_counter(with_alg):
    def build(rng, d):
        return Case([np.array([2**40 + 3, -5], np.int64)], {}, "exact")
    return build


def get_alg(rng, d):
    return Case([], {}, "exact")


# Padding and image resizing (kernels/pad.cc, kernels/resize.cc): the device follows TF's
# CPU formulas and summation order, so every result is compared exactly.
PADS = [[1, 2], [2, 0], [0, 3]]


def pad(kind):
    def build(rng, d):
        p = np.array(PADS, np_of(d["Tpaddings"]))
        if kind == "grad":
            return Case([rand(rng, (6, 6, 8), d["T"]), p], {"mode": "SYMMETRIC"}, "exact")
        x = rand(rng, (3, 4, 5), d["T"])
        if kind == "v2":
            return Case([x, p, rand(rng, (), d["T"])], {}, "exact")
        return Case([x, p], {"mode": "REFLECT"} if kind == "mirror" else {}, "exact")
    return build


def resize(kind):
    def build(rng, d):
        attrs = {"align_corners": False, "half_pixel_centers": True}
        if kind == "bilinear_grad":
            return Case([rand(rng, (2, 9, 4, 3), "float32"), rand(rng, (2, 5, 7, 3), d["T"])], attrs,
                        "exact")
        if kind == "nearest_grad":
            return Case([rand(rng, (2, 9, 4, 3), d["T"]), np.array([5, 7], np.int32)], attrs, "exact")
        return Case([rand(rng, (2, 5, 7, 3), d["T"]), np.array([9, 4], np.int32)], attrs, "exact")
    return build
# FFT family (complex64), MatrixTriangularSolve and complex64 elementwise ops.
def own_rng(build):
    """A recipe on its own random stream: adding it leaves the other recipes' inputs as they were."""
    return lambda rng, d: build(np.random.default_rng(7), d)


def fft(rank, kind="c2c"):
    shape = {1: (3, 12), 2: (3, 6, 10), 3: (2, 4, 6, 5)}[rank]

    def build(rng, d):
        if kind == "c2c":
            return Case([rand(rng, shape, d["Tcomplex"])], {}, "tol", k=4 * int(np.prod(shape[-rank:])))
        lengths = np.array(shape[-rank:], np.int32) - 1  # inputs longer than fft_length: cropped
        if kind == "r2c":
            return Case([rand(rng, shape, d["Treal"]), lengths], {}, "tol", k=4 * int(np.prod(lengths)))
        lengths[-1] = 2 * (shape[-1] - 2)  # the input holds more than lengths[-1] / 2 + 1 terms
        return Case([rand(rng, shape, d["Tcomplex"]), lengths], {}, "tol", k=4 * int(np.prod(lengths)))
    return build


def triangular_solve(rng, d):
    n = 7
    a = (rand(rng, (2, 1, n, n), d["T"], -1, 1) + n * np.eye(n)).astype(np_of(d["T"]))
    return Case([a, rand(rng, (3, n, 4), d["T"])], {"lower": False, "adjoint": True}, "tol", k=n,
                rtol=1e-5)
# --- Indexing and scans (kernels/scan_sort.cc, kernels/scatter.cc) ---
def _is_int(t):
    return t.startswith(("int", "uint"))


def scan(prod):
    def build(rng, d):
        t = d["T"]
        # float16: TF's CPU rounds every partial sum to float16 (the device keeps float32), so a
        # short axis keeps its own error within the float16 tolerance
        n = 16 if t == "float16" else 300
        x = rng.integers(-2, 3, (4, n, 3)).astype(np_of(t)) if _is_int(t) and prod else \
            rand(rng, (4, n, 3), t, 0.99, 1.01) if prod else rand(rng, (4, n, 3), t, -1, 1)
        return Case([x, np.array(-2, np_of(d["Tidx"]))], {"exclusive": True, "reverse": True},
                    "exact" if _is_int(t) else "tol", k=n, rtol=1e-5)
    return build


def top_k(rng, d):
    x = rand(rng, (5, 40), d["T"])
    x[:, ::4] = x[:, :1]  # ties: lower index first
    return Case([x, np.array(7, np_of(d["Tk"]))], {"sorted": True, "index_type": d["index_type"]}, "exact")


def where(rng, d):
    x = rand(rng, (6, 7, 5), d["T"])
    if d["T"] != "bool":
        x[rng.random(x.shape) < 0.5] = 0
    return Case([x], {}, "exact")


def gather_nd(rng, d):
    idx = (rng.random((4, 3, 2)) * [6, 5]).astype(np_of(d["Tindices"]))
    return Case([rand(rng, (6, 5, 3), d["Tparams"]), idx], {}, "exact")


def _scatter_idx(rng, d):
    return rng.integers(0, 6, (20, 1)).astype(np_of(d["Tindices"]))  # duplicates


def scatter_nd(rng, d):
    t = d["T"]
    return Case([_scatter_idx(rng, d), rand(rng, (20, 5), t), np.array([6, 5], np_of(d["Tindices"]))],
                {}, "exact" if _is_int(t) else "tol", k=20)


def tensor_scatter(rng, d):
    t = d["T"]
    return Case([rand(rng, (6, 5), t), _scatter_idx(rng, d), rand(rng, (20, 5), t)], {},
                "exact" if _is_int(t) or t == "bool" else "tol", k=20)


def unsorted_segment(prod):
    def build(rng, d):
        t = d["T"]
        data = rand(rng, (30, 4), t, 0.9, 1.1) if prod and not _is_int(t) else \
            rng.integers(-2, 3, (30, 4)).astype(np_of(t)) if prod else rand(rng, (30, 4), t)
        ids = rng.integers(-1, 7, 30).astype(np_of(d["Tindices"]))  # -1: dropped
        return Case([data, ids, np.array(7, np_of(d["Tnumsegments"]))], {},
                    "exact" if _is_int(t) else "tol", k=30)
    return build


def segment(rng, d):
    t = d["T"]
    ids = np.sort(rng.integers(0, 9, 30)).astype(np_of(d["Tindices"]))
    return Case([rand(rng, (30, 4), t), ids], {}, "exact" if _is_int(t) else "tol", k=30)


U = unary
EX = "exact"
RECIPES = {
    **{op: U(check=EX) for op in ("Abs", "Neg", "Square", "Relu", "Sign", "Floor", "Ceil", "Round", "Rint")},
    **{op: U(check=EX, specials=True) for op in ("IsNan", "IsInf", "IsFinite")},
    "LogicalNot": U(check=EX),
    **{op: U(-10, 10) for op in ("Exp",)}, "Log": U(0.01, 100), "Sqrt": U(0, 100), "Rsqrt": U(0.01, 100),
    "Sigmoid": U(-20, 20), "Tanh": U(-6, 6), "Reciprocal": U(0.1, 10), "Inv": U(0.1, 10),
    "Softplus": U(-30, 30), "Elu": U(-5, 5), "Erf": U(-4, 4), "Log1p": U(-0.9, 10), "Expm1": U(-5, 5),
    "Sin": U(-6, 6), "Cos": U(-6, 6),
    "Erfc": U(-9, 9), "Relu6": U(-3, 9, check=EX), "Selu": U(-5, 5), "Softsign": U(-5, 5),
    "Tan": U(-1.5, 1.5), "Atan": U(-20, 20), "Asin": U(-1, 1), "Acos": U(-1, 1), "Sinh": U(-10, 10),
    "Cosh": U(-10, 10), "Asinh": U(-100, 100), "Acosh": U(1, 100), "Atanh": U(-0.999, 0.999),
    "Invert": U(check=EX), "LeakyRelu": with_attrs(U(), alpha=0.3),
    "Atan2": binary(), "Xlogy": binary(0.01, 3), "Xlog1py": binary(-0.9, 3), "Xdivy": binary(0.5, 3),
    "TruncateDiv": binary(check=EX, nonzero=True), "TruncateMod": binary(0.5, 3, nonzero=True),
    "Mod": binary(0.5, 3, nonzero=True), "LeftShift": binary(0, 2, check=EX),
    "RightShift": binary(0, 2, check=EX), "ApproximateEqual": with_attrs(grad(), tolerance=0.5),
    **{op: grad() for op in ("EluGrad", "SeluGrad", "SoftplusGrad", "SoftsignGrad")},
    "Relu6Grad": grad(EX), "LeakyReluGrad": with_attrs(grad(), alpha=0.3),
    **{op: binary(check=EX) for op in ("Add", "AddV2", "Sub", "Mul", "Maximum", "Minimum",
                                       "SquaredDifference", "Equal", "NotEqual", "Less", "LessEqual",
                                       "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr",
                                       "BitwiseAnd", "BitwiseOr", "BitwiseXor")},
    "RealDiv": binary(0.5, 3), "Div": binary(0.5, 3, nonzero=True), "DivNoNan": binary(-3, 3),
    "Pow": binary(0.5, 3, rtol=1e-5), "FloorDiv": floor_div,
    "FloorMod": binary(0.5, 3, nonzero=True),
    **{op: grad() for op in ("SigmoidGrad", "TanhGrad", "SqrtGrad", "RsqrtGrad", "ReciprocalGrad",
                             "InvGrad")}, "ReluGrad": grad(EX),
    "AddN": add_n, "Cast": cast, "Bitcast": bitcast, "Fill": fill,
    "ZerosLike": U(check=EX), "OnesLike": U(check=EX),
    "MatMul": matmul, "BatchMatMul": batch_matmul(False), "BatchMatMulV2": batch_matmul(True),
    "BatchMatMulV3": batch_matmul(True), "Einsum": einsum, "GatherV2": gather, "OneHot": one_hot,
    "Range": range_, "BiasAdd": bias_add, "BiasAddV1": bias_add, "BiasAddGrad": bias_add_grad,
    "Sum": reduction(), "Mean": reduction(), "Prod": reduction(0.8, 1.2), "Max": reduction(check=EX),
    "Min": reduction(check=EX), "All": reduction(check=EX), "Any": reduction(check=EX),
    "ArgMax": argminmax, "ArgMin": argminmax,
    "Softmax": softmax, "LogSoftmax": softmax, "SoftmaxCrossEntropyWithLogits": xent,
    "SparseSoftmaxCrossEntropyWithLogits": sparse_xent,
    "Conv2D": conv("fwd"), "Conv2DBackpropInput": conv("input"), "Conv2DBackpropFilter": conv("filter"),
    "_FusedConv2D": fused_conv, "DepthwiseConv2dNative": depthwise("fwd"),
    "_FusedMatMul": fused_matmul, "_FusedDepthwiseConv2dNative": fused_depthwise,
    "DepthwiseConv2dNativeBackpropInput": depthwise("input"),
    "DepthwiseConv2dNativeBackpropFilter": depthwise("filter"),
    "MaxPool": pool("max"), "MaxPoolV2": pool("maxv2"), "AvgPool": pool("avg"),
    "MaxPoolGrad": pool("maxgrad"), "AvgPoolGrad": pool("avggrad"),
    "Transpose": transpose, "Slice": slice_, "StridedSlice": strided_slice,
    "StridedSliceGrad": strided_slice_grad, "Tile": tile, "BroadcastTo": broadcast_to, "Pack": pack,
    "ConcatV2": concat, "Unpack": unpack, "Split": split, "SplitV": split_v, "Reshape": reshape,
    "Select": select(False), "SelectV2": select(True),
    "StatelessRandomUniform": stateless(False), "StatelessRandomNormal": stateless(False),
    "StatelessTruncatedNormal": stateless(False), "StatelessRandomUniformV2": stateless(True),
    "StatelessRandomNormalV2": stateless(True), "StatelessTruncatedNormalV2": stateless(True),
    "StatelessRandomUniformInt": stateless(False, "int"),
    "StatelessRandomUniformIntV2": stateless(True, "int"),
    "StatelessRandomGetKeyCounter": key_counter(False), "StatelessRandomGetKeyCounterAlg": key_counter(True),
    "StatelessRandomGetAlg": get_alg,
    "StatelessRandomUniformFullInt": stateless(False), "StatelessRandomUniformFullIntV2": stateless(True),
    "RandomUniform": seeded(), "RandomStandardNormal": seeded(), "TruncatedNormal": seeded(),
    "RandomUniformInt": seeded("int"),
    **{op: own_rng(fft(r)) for r, ops in ((1, ("FFT", "IFFT")), (2, ("FFT2D", "IFFT2D")),
                                          (3, ("FFT3D", "IFFT3D"))) for op in ops},
    **{op: own_rng(fft(r, "r2c")) for r, op in ((1, "RFFT"), (2, "RFFT2D"), (3, "RFFT3D"))},
    **{op: own_rng(fft(r, "c2r")) for r, op in ((1, "IRFFT"), (2, "IRFFT2D"), (3, "IRFFT3D"))},
    "MatrixTriangularSolve": own_rng(triangular_solve),
    **{op: own_rng(U(check=EX)) for op in ("Real", "Imag", "Conj")}, "ComplexAbs": own_rng(U()),
    "Complex": own_rng(binary(check=EX)),
    # TF's own GPU registrations that are plain identities: swept too.
    **{op: identity for op in ("Identity", "StopGradient", "PreventGradient", "DebugGradientIdentity",
                               )}, "PlaceholderWithDefault": placeholder, "_EagerConst": eager_const,
    # padding and image resizing
    "Pad": pad("pad"), "PadV2": pad("v2"), "MirrorPad": pad("mirror"), "MirrorPadGrad": pad("grad"),
    "ResizeBilinear": resize("bilinear"), "ResizeBilinearGrad": resize("bilinear_grad"),
    "ResizeNearestNeighbor": resize("nearest"), "ResizeNearestNeighborGrad": resize("nearest_grad"),
    # Indexing and scans (kernels/scan_sort.cc, kernels/scatter.cc).
    "Cumsum": scan(False), "Cumprod": scan(True), "TopKV2": top_k, "Where": where,
    "GatherNd": gather_nd, "ScatterNd": scatter_nd,
    **{op: tensor_scatter for op in ("TensorScatterUpdate", "TensorScatterAdd", "TensorScatterSub",
                                     "TensorScatterMin", "TensorScatterMax")},
    "UnsortedSegmentSum": unsorted_segment(False), "UnsortedSegmentProd": unsorted_segment(True),
    "UnsortedSegmentMax": unsorted_segment(False), "UnsortedSegmentMin": unsorted_segment(False),
    "SegmentSum": segment, "SegmentMean": segment,
}
# --- 3-D convolutions and pooling (kernels/conv.cc, kernels/pooling.cc) ---
CONV3D = {"strides": [1, 1, 2, 1, 1], "padding": "SAME"}
POOL3D = {"ksize": [1, 2, 3, 3, 1], "strides": [1, 2, 2, 2, 1], "padding": "SAME"}


def conv3d(kind):
    def build(rng, d):
        t = d["T"]
        x, w = rand(rng, (2, 5, 9, 7, 3), t, -1, 1), rand(rng, (2, 3, 3, 3, 4), t, -1, 1)
        dy = rand(rng, (2, 5, 5, 7, 4), t, -1, 1)
        ins = {"fwd": [x, w], "input": [np.array(x.shape, np.int32), w, dy],
               "filter": [x, np.array(w.shape, np.int32), dy]}[kind]
        k = {"fwd": 54, "input": 72, "filter": 350}[kind]  # reduction lengths
        return Case(ins, dict(CONV3D), "tol", k=k, rtol=1e-5)
    return build


def pool3d(kind):
    def build(rng, d):
        t = d["T"]
        shape = (2, 4, 7, 6, 3)
        x = (np.argsort(rng.random(np.prod(shape))).reshape(shape) / 64.0).astype(np_of(t))  # no ties
        dy = rand(rng, (2, 2, 4, 3, 3), t)
        if kind == "max":  # float16: against float32 on the CPU (no float16 kernel there)
            return Case([x], dict(POOL3D), "exact" if t == "float32" else "tol")
        if kind == "avg":
            return Case([x], dict(POOL3D), "tol", k=18)
        if kind == "maxgrad":
            import tensorflow as tf
            with tf.device(CPU):  # the CPU has no float16 MaxPool3D
                y = tf.raw_ops.MaxPool3D(input=x.astype(np.float32), **POOL3D).numpy().astype(x.dtype)
            return Case([x, y, dy], dict(POOL3D), "tol", k=18)
        return Case([np.array(shape, np.int32), dy], dict(POOL3D), "tol", k=18)  # avg grad
    return build


RECIPES.update({
    "Conv3D": conv3d("fwd"), "Conv3DBackpropInputV2": conv3d("input"),
    "Conv3DBackpropFilterV2": conv3d("filter"),
    "MaxPool3D": pool3d("max"), "AvgPool3D": pool3d("avg"), "MaxPool3DGrad": pool3d("maxgrad"),
    "AvgPool3DGrad": pool3d("avggrad"),
})
# --- end of 3-D convolutions and pooling ---

SPECIAL = {"AssignAddVariableOp", "AssignSubVariableOp", "AssignVariableOp", "QueueIsClosedV2", "Copy"}

# Optimizer and scatter updates of variables (kernels/optimizers.cc): stateful, so
# swept by sweep_variable_update: variables on each device, the same inputs,
# three steps, the variable and its slots compared.
# ResourceApply* -> (slot names after var, scalar inputs {name: value}).
APPLY_SWEEP = {
    "ResourceApplyGradientDescent": ((), {"alpha": 0.1}),
    "ResourceApplyMomentum": (("accum",), {"lr": 0.05, "momentum": 0.9}),
    "ResourceApplyKerasMomentum": (("accum",), {"lr": 0.05, "momentum": 0.9}),
    "ResourceApplyAdam": (("m", "v"), {"beta1_power": 0.9, "beta2_power": 0.999, "lr": 0.01, "beta1": 0.9,
                                       "beta2": 0.999, "epsilon": 1e-3}),
    "ResourceApplyAdamWithAmsgrad": (("m", "v", "vhat"), {"beta1_power": 0.9, "beta2_power": 0.999,
                                                          "lr": 0.01, "beta1": 0.9, "beta2": 0.999,
                                                          "epsilon": 1e-3}),
    "ResourceApplyAdaMax": (("m", "v"), {"beta1_power": 0.9, "lr": 0.01, "beta1": 0.9, "beta2": 0.999,
                                         "epsilon": 1e-3}),
    "ResourceApplyRMSProp": (("ms", "mom"), {"lr": 0.01, "rho": 0.9, "momentum": 0.5, "epsilon": 1e-3}),
    "ResourceApplyCenteredRMSProp": (("mg", "ms", "mom"), {"lr": 0.01, "rho": 0.9, "momentum": 0.5,
                                                           "epsilon": 1e-3}),
    "ResourceApplyAdagrad": (("accum",), {"lr": 0.1}),
    "ResourceApplyAdagradV2": (("accum",), {"lr": 0.1, "epsilon": 1e-3}),
    "ResourceApplyAdadelta": (("accum", "accum_update"), {"lr": 1.0, "rho": 0.95, "epsilon": 1e-3}),
}
SCATTER_SWEEP = {"ResourceScatterUpdate", "ResourceScatterAdd", "ResourceScatterSub", "ResourceScatterMul",
                 "ResourceScatterDiv", "ResourceScatterMin", "ResourceScatterMax"}
SPECIAL = SPECIAL | set(APPLY_SWEEP) | SCATTER_SWEEP
# Ops on an RNG state variable (tf.random.Generator's): op -> kwargs(handle, dtypes) for
# tf.raw_ops; swept by sweep_rng_state.
RNG_STATE_OPS = {
    "RngSkip": lambda h, d: dict(resource=h, algorithm=np.int64(1), delta=np.int64(1000)),
    "RngReadAndSkip": lambda h, d: dict(resource=h, alg=np.int32(1), delta=np.uint64(1000)),
    **{op: (lambda h, d: dict(resource=h, algorithm=np.int64(1), shape=[5, 33], dtype=d["dtype"]))
       for op in ("StatefulUniform", "StatefulStandardNormalV2", "StatefulTruncatedNormal",
                  "StatefulUniformFullInt")},
    "StatefulUniformInt": lambda h, d: dict(resource=h, algorithm=np.int64(1), shape=[5, 33],
                                            minval=np.array(-7, d["dtype"]), maxval=np.array(100, d["dtype"])),
}
SPECIAL |= set(RNG_STATE_OPS)

# Registrations not swept: (op regex, dtype regex or None, reason). First match wins.
REASONS = [
    (r"^_FusedDepthwiseConv2dNative$", "float16", "TF's CPU kernel returns an empty tensor for float16; "
     "tests/test_grappler.py compares it with float32 on the CPU"),
    (r"^(Xla.*|_Xla.*)$", None, "TF's own GPU registration (XLA op); needs an XLA compiler for the device, "
     "which plugins do not have"),
    (r"^(Ref)?(Enter|Exit|NextIteration|Switch|Merge)$|^_SwitchN$", None,
     "TF's own GPU registration: graph control-flow frame op, not callable eagerly; "
     "exercised by tf.function while/cond in tests/test_training.py"),
    (r"^RefIdentity$", None, "TF's own GPU registration: TF1 ref-variable op"),
    (r"Dataset|Iterator|^Optional|^GetOptions$|^DummyIterationCounter$", None,
     "TF's own GPU registration: tf.data resource op, all data on the host"),
    (r"^TensorArray", None, "TF's own GPU registration: TensorArray handle op, host memory only"),
    (r"^Collective", None, "TF's own GPU registration: collective op, needs a multi-device group"),
    (r"^(_ScopedAllocator.*|BatchFunction|CheckPinned|Fact|IsTensorFloat32Enabled|DeserializeSparse|"
     r"RaggedTensorFromVariant)$", None,
     "TF's own GPU registration: host-memory, runtime or test op with no device computation"),
    (r"^ResourceGather$", None, "variable op: a device variable gathered and compared with a CPU "
     "variable in tests/test_gather_bmm.py"),
    # h-fopt: the Grappler pass's fused optimizer step (grappler/patterns/optimizer_update.cc).
    (r"^_TfmpFusedUpdate$", None, "internal op of the Grappler pass (an optimizer step over "
     "variables, compiled from the graph): Keras 3 optimizers trained with and without it, "
     "bit for bit, in tests/test_grappler_optimizer.py"),
    (r".*", r"variant|resource|string|qint|quint", "dtype has no numeric data to compare"),
    # h-gemm: a Dense layer's dW MatMul + BiasAddGrad (grappler/patterns/matmul_bias_grad.cc).
    (r"^_TfmpMatMulBiasGrad$", None, "the plugin's fused MatMul(transpose_a) + BiasAddGrad "
     "(Grappler pass); compared with TF's CPU MatMul and BiasAddGrad in tests/test_grappler.py"),
    # The plugin's own op (no CPU kernel to compare with): programs built by the Grappler pass.
    (r"^_TfmpFusedElementwise$", None, "the plugin's fused elementwise chain (Grappler pass); "
     "compared with the unfused graph and TF's CPU in tests/test_grappler_elementwise.py"),
    (r"^_TfmpAllFinite$", None, "the plugin's all-gradients-finite check of a mixed-precision step "
     "(Grappler pass, grappler/patterns/all_finite.cc); steps with inf/NaN gradients compared with "
     "TF's CPU in tests/test_grappler_optimizer.py"),
    (r"^_TfmpLossScaleStep$", None, "the plugin's LossScaleOptimizer bookkeeping (Grappler pass, "
     "grappler/patterns/loss_scale.cc); scale, counter and iterations equal to TF's CPU in "
     "tests/test_grappler_optimizer.py"),
    (r"^_TfmpFusedBatchMatMul$", None, "the plugin's BatchMatMul + bias + activation (Grappler pass, "
     "grappler/patterns/batch_matmul_bias_activation.cc); compared with TF's CPU in "
     "tests/test_grappler_inference.py"),
    (r"^_TfmpConv2DBackpropFilterBiasGrad$", None, "the plugin's Conv2DBackpropFilter + BiasAddGrad "
     "(Grappler pass, grappler/patterns/conv_bias_grad.cc); compared with TF's CPU "
     "Conv2DBackpropFilter and BiasAddGrad in tests/test_conv.py and tests/test_grappler.py"),
    (r"^_TfmpFusedReduction$", None, "the plugin's Sum / Mean of a Mul or SquaredDifference (Grappler "
     "pass, grappler/patterns/reduce_prologue.cc); compared bit for bit with the unfused pair and "
     "with float64 in tests/test_grappler_reduce.py"),
]
VARIABLE_NOTE = "variable op: run on a device variable and compared with a CPU variable " \
                "(more in tests/test_variables.py)"
UNSUPPORTED_UPDATE = "the plugin raises UnimplementedError for this dtype, as documented"


# Differences from TF's CPU kernels that are known and reported: swept every time, shown
# in the table as "known difference", and not counted as mismatches. One that stops
# showing fails the run, so the entry gets removed.
KNOWN = {}


def reason_for(op, dts):
    label = dtype_label(dts)
    for op_re, dt_re, why in REASONS:
        if re.search(op_re, op) and (dt_re is None or re.search(dt_re, label)):
            return why
    return None


# ----------------------------------------------------------------------------
# Running and comparing

def call(op, inputs, attrs, device):
    """Runs op eagerly on device (inputs start on the CPU); returns numpy outputs."""
    import tensorflow as tf
    from tensorflow.python.eager import context, execute
    from tensorflow.python.util import tf_inspect
    with tf.device(device):
        if hasattr(tf.raw_ops, op):  # python argument names differ from op_def's at times
            names = [a for a in tf_inspect.getfullargspec(getattr(tf.raw_ops, op)).args if a != "name"]
            out = getattr(tf.raw_ops, op)(**dict(zip(names, inputs)), **attrs)
        else:  # internal ops (_FusedConv2D): attrs spelled out
            flat_in = [t for x in inputs for t in (x if isinstance(x, list) else [x])]
            tens = [tf.constant(t) for t in flat_in]
            enum = lambda v: [enum(t) for t in v] if isinstance(v, list) else tf.as_dtype(v).as_datatype_enum
            attrs = dict(attrs, T=tens[0].dtype.as_datatype_enum)  # from the inputs: the CPU twin differs
            if "TArgs" in attrs:
                attrs["TArgs"] = [enum(a.dtype) for a in inputs[2]]
            out = execute.execute(op, 1, inputs=tens, attrs=tuple(x for kv in attrs.items() for x in kv),
                                  ctx=context.context())
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    for o in outs:
        if not o.device.endswith(device.replace("/", "device:")):
            raise AssertionError("%s ran on %s, not %s" % (op, o.device, device))
    return [o.numpy() for o in outs]


TWIN = {"uint8": np.int8, "uint16": np.int16, "uint32": np.int32, "uint64": np.int64,
        "float16": np.int16, "bfloat16": np.int16}


def cpu_twin(x, exact):
    """Inputs for the CPU where it has no kernel for a dtype: float32 for float math,
    the same-size signed integer (same bits) for data movement."""
    if isinstance(x, list):
        return [cpu_twin(t, exact) for t in x]
    if exact and x.dtype.name in TWIN:
        return x.view(TWIN[x.dtype.name])
    return x.astype(np.float32) if x.dtype.name in ("float16", "bfloat16") else x


def compare(out, ref, case, dtype):
    """(ok, max_abs, max_rel, why) for one output."""
    if out.shape != ref.shape or out.dtype != ref.dtype:
        return False, None, None, "shape/dtype %s %s vs CPU %s %s" % (out.shape, out.dtype, ref.shape, ref.dtype)
    if case.check == "bits" or (case.check == "exact" and out.dtype.kind not in "fc" and
                                out.dtype.name != "bfloat16"):
        ok = out.tobytes() == ref.tobytes() if case.check == "bits" else np.array_equal(out, ref)
        return ok, 0.0, 0.0, "" if ok else "not exact"
    o, r = out.astype(np.complex128 if out.dtype.kind == "c" else np.float64), \
        ref.astype(np.complex128 if ref.dtype.kind == "c" else np.float64)
    if case.check == "exact":
        ok = np.array_equal(o, r, equal_nan=True)
        return ok, 0.0, 0.0, "" if ok else "not exact (max abs %.3g)" % np.nanmax(np.abs(o - r))
    atol, rtol = TOL.get(out.dtype.name, TOL["float32"])
    if case.rtol and out.dtype.name == "float32":
        rtol = case.rtol
    atol *= max(1.0, np.sqrt(case.k))
    fin = np.isfinite(o) & np.isfinite(r)
    same_special = np.array_equal(np.isnan(o), np.isnan(r)) and np.array_equal(o[~fin & ~np.isnan(o)],
                                                                              r[~fin & ~np.isnan(r)])
    err = np.abs(o - r)[fin]
    rel = err / np.maximum(np.abs(r[fin]), atol)  # relative to values above atol
    ok = same_special and bool(np.all(err <= atol + rtol * np.abs(r[fin])))
    mx, mr = (float(err.max()), float(rel.max())) if err.size else (0.0, 0.0)
    return ok, mx, mr, "" if ok else "max abs %.3g > atol %.3g + rtol %.3g" % (mx, atol, rtol)


def sweep_one(op, dts, rng):
    """One registration -> dict(status, ...)."""
    import tensorflow as tf
    case = RECIPES[op](rng, dts)
    out = call(op, case.inputs, case.attrs, GPU)
    note = case.note

    def twin_reference(why):
        exact = case.check != "tol"
        attrs = case.attrs if exact else {  # a dtype attr follows the float32 twin
            k: ("float32" if v in ("float16", "bfloat16") else v) for k, v in case.attrs.items()}
        ref = call(op, cpu_twin(case.inputs, exact), attrs, CPU)
        ref = [r.view(o.dtype) if exact and r.dtype.itemsize == o.dtype.itemsize else r.astype(o.dtype)
               for r, o in zip(ref, out)]
        return ref, why + ("the same bits as a signed integer" if exact else "float32 inputs")

    # Sums of float16/bfloat16 (reductions, matmul, convolutions): TF's CPU kernels
    # accumulate some in the narrow type, so their error grows with the length; the
    # device accumulates in float32. Compared with the CPU's float32 result instead
    # (not for min/max: nothing is summed, and their empty-set identities differ).
    if case.check == "tol" and case.k > 1 and not re.search("Min|Max", op) and \
            any(v in ("float16", "bfloat16") for v in dts.values()):
        ref, note = twin_reference("a float16/bfloat16 sum: checked against the CPU result on ")
    else:
        try:
            ref = call(op, case.inputs, case.attrs, CPU)
        except (tf.errors.NotFoundError, tf.errors.UnimplementedError, tf.errors.InvalidArgumentError) as e:
            if isinstance(e, tf.errors.InvalidArgumentError) and "not support" not in str(e) and \
                    "Could not satisfy device specification" not in str(e):
                raise
            ref, note = twin_reference("CPU has no kernel for this dtype: checked against the CPU result on ")
    if len(out) != len(ref):
        return dict(status="mismatch", why="%d outputs vs %d" % (len(out), len(ref)))
    floats = any(o.dtype.kind in "fc" or o.dtype.name == "bfloat16" for o in out)
    res = dict(status="swept", abs=0.0, rel=0.0, exact=case.check != "tol" or not floats, note=note)
    for o, r in zip(out, ref):
        ok, mx, mr, why = compare(o, r, case, dtype_label(dts))
        if not ok:
            return dict(status="mismatch", why=why, note=note)
        res["abs"], res["rel"] = max(res["abs"], mx), max(res["rel"], mr)
    return res


def sweep_special(op, dts, rng):
    """Variables, the queue op and the debug Copy: stateful, so not a plain call."""
    import tensorflow as tf
    if op in APPLY_SWEEP or op in SCATTER_SWEEP:
        return sweep_variable_update(op, dts, rng)
    if op in RNG_STATE_OPS:
        return sweep_rng_state(op, dts)
    dt = dts.get("dtype")
    if op == "QueueIsClosedV2":
        got = []
        for dev in (GPU, CPU):
            with tf.device(dev):
                q = tf.queue.FIFOQueue(3, tf.float32)
                a = tf.raw_ops.QueueIsClosedV2(handle=q.queue_ref)
                q.close()
                got.append((bool(a), bool(tf.raw_ops.QueueIsClosedV2(handle=q.queue_ref)), a.device))
        # Eager runs an op with a resource input on the resource's device (the queue's: the
        # CPU), so the plugin's kernel is reached only in graphs; the values are still checked.
        ok = got[0][:2] == got[1][:2] == (False, True)
        return dict(status="checked" if ok else "mismatch", why=str(got),
                    note="values only: eager places it with its queue on the CPU")
    if op == "Copy":
        x = rand(rng, (5, 7), "float32")
        outs = [call("Copy", [x], {"debug_ops_spec": ["DebugIdentity;file:///dev/null;0"]}, dev)
                for dev in (GPU, CPU)]
        ok = np.array_equal(outs[0][0], outs[1][0])
        return dict(status="swept" if ok else "mismatch", abs=0.0, rel=0.0, exact=True,
                    note="with a debug spec (the device-to-device path)", why="Copy differs")
    # Variable ops: int32 variables live on the host for GPU devices in TF.
    if dt == "int32":
        return dict(status="listed", why="TF keeps int32 variables on the host for GPU devices")
    if dt.startswith(("qint", "quint")):
        return dict(status="listed", why="quantized dtype: tf.Variable cannot hold it eagerly")
    x, y = rand(rng, (5, 7), dt), rand(rng, (5, 7), dt)
    upd = {"AssignAddVariableOp": "assign_add", "AssignSubVariableOp": "assign_sub",
           "AssignVariableOp": "assign"}[op]
    res = []
    for dev in (GPU, CPU):
        with tf.device(dev):
            v = tf.Variable(x)
            try:
                getattr(v, upd)(y)
            except tf.errors.UnimplementedError:
                res.append("unimplemented")
                continue
            r = v.read_value()
            if dev == GPU and not r.device.endswith("GPU:0"):
                return dict(status="mismatch", why="variable read on " + r.device)
            res.append(r.numpy())
    if isinstance(res[0], str):
        if upd != "assign" and dt not in ("float32", "float16", "int64"):
            return dict(status="checked", note=UNSUPPORTED_UPDATE)
        return dict(status="mismatch", why="UnimplementedError on the device")
    ok = np.array_equal(res[0], res[1])
    return dict(status="swept" if ok else "mismatch", abs=0.0, rel=0.0, exact=True, note=VARIABLE_NOTE,
                why="variable differs")


def sweep_variable_update(op, dts, rng):
    """ResourceApply* (3 steps; the variable and its slots compared within the
    dtype's tolerance) and ResourceScatter* (duplicate indices; bit-exact)."""
    import tensorflow as tf
    if op in APPLY_SWEEP:
        dt = dts["T"]
        slots, scalars = APPLY_SWEEP[op]
        shape = (33, 5)
        # v, ms, accum...: positive (square roots); mg small so ms - mg^2 stays positive.
        lo_hi = {"m": (-1, 1), "mom": (-1, 1), "accum": (0.1, 1), "mg": (-0.3, 0.3)}
        if op in ("ResourceApplyMomentum", "ResourceApplyKerasMomentum"):
            lo_hi["accum"] = (-1, 1)
        init = {"var": rand(rng, shape, dt, -2, 2)}
        init.update({s: rand(rng, shape, dt, *lo_hi.get(s, (0.1, 1))) for s in slots})
        grads = [rand(rng, shape, dt, -1, 1) for _ in range(3)]
        res = []
        for dev in (GPU, CPU):
            with tf.device(dev):
                vs = {k: tf.Variable(x) for k, x in init.items()}
                for g in grads:
                    args = {k: v.handle for k, v in vs.items()}
                    args.update({k: tf.constant(x, dt) for k, x in scalars.items()})
                    args["delta" if op == "ResourceApplyGradientDescent" else "grad"] = tf.constant(g)
                    getattr(tf.raw_ops, op)(**args)
                reads = [vs[k].read_value() for k in init]
            if dev == GPU and not all(r.device.endswith("GPU:0") for r in reads):
                return dict(status="mismatch", why="variable read on the CPU")
            res.append([r.numpy() for r in reads])
        case = Case([], {}, "tol")
        worst = [0.0, 0.0]
        for o, r in zip(*res):
            ok, mx, mr, why = compare(o, r, case, dt)
            if not ok:
                return dict(status="mismatch", why=why)
            worst = [max(worst[0], mx), max(worst[1], mr)]
        return dict(status="swept", abs=worst[0], rel=worst[1], exact=False,
                    note="variable op: 3 steps on device variables vs CPU variables, var and slots "
                         "compared (more in tests/test_optimizers.py)")
    dt, it = dts["dtype"], dts["Tindices"]
    if dt == "int32":
        return dict(status="listed", why="TF keeps int32 variables on the host for GPU devices")
    params = rand(rng, (6, 5), dt, 0.9, 1.1)
    if dt in FLOATS:  # signs mixed, magnitudes near 1: Mul/Div stay finite, Min/Max both ways
        params = params * np.where(rng.random((6, 5)) < 0.5, -1, 1).astype(dt)
    indices = np.array([2, 0, 2, 5, 2, 1, 0], it)  # duplicates
    updates = rand(rng, (7, 5), dt, 0.9, 1.1)
    res = []
    for dev in (GPU, CPU):
        with tf.device(dev):
            v = tf.Variable(params)
            getattr(tf.raw_ops, op)(resource=v.handle, indices=tf.constant(indices), updates=tf.constant(updates))
            r = v.read_value()
        if dev == GPU and not r.device.endswith("GPU:0"):
            return dict(status="mismatch", why="variable read on " + r.device)
        res.append(r.numpy())
    # Bit-exact (the same operations in the same order), except float division: the
    # shaders' tf_div can be 1 ulp off.
    exact = not (op == "ResourceScatterDiv" and dt in FLOATS)
    ok, mx, mr, why = compare(res[0], res[1], Case([], {}, "exact" if exact else "tol"), dt)
    return dict(status="swept" if ok else "mismatch", abs=mx, rel=mr, exact=exact, why=why,
                note="variable op: duplicate indices, a device variable vs a CPU variable "
                     "(more in tests/test_optimizers.py)")
def sweep_rng_state(op, dts):
    """Two calls on a fresh state variable per device: outputs and the final state, bit-exact."""
    import tensorflow as tf
    res = []
    for dev in (GPU, CPU):
        with tf.device(dev):
            v = tf.Variable(np.array([12345, 6, 789], np.int64))
            outs = [getattr(tf.raw_ops, op)(**RNG_STATE_OPS[op](v.handle, dts)) for _ in range(2)]
            outs = [o for o in outs if o is not None] + [v.read_value()]
            if not all(o.device.endswith(dev.replace("/", "device:")) for o in outs):
                return dict(status="mismatch", why="ran on " + ", ".join(o.device for o in outs))
            res.append([o.numpy() for o in outs])
    ok = all(a.tobytes() == b.tobytes() and a.dtype == b.dtype for a, b in zip(*res))
    if not ok:
        return dict(status="mismatch", why="not exact")
    return dict(status="swept", abs=0.0, rel=0.0, exact=True,
                note="on a state variable: two calls, outputs and the final state compared")


def run_sweep(seed=0, verbose=False):
    import tensorflow as tf
    tf.config.set_soft_device_placement(False)
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        sys.exit("the plugin offers no GPU device")
    tf_own = tf_own_registrations()
    regs = registrations()
    rng = np.random.default_rng(seed)
    results = {}  # op -> list of (dtype label, result dict, owner)
    for op in sorted(regs):
        for r in regs[op]:
            dts, label = r["dtypes"], dtype_label(r["dtypes"])
            owner = "tf" if json.dumps(list(reg_key(op, r))) in tf_own else "plugin"
            reason = reason_for(op, dts)
            try:
                if op in SPECIAL:
                    res = sweep_special(op, dts, rng)
                elif reason:
                    res = dict(status="listed", why=reason)
                elif op in RECIPES:
                    res = sweep_one(op, dts, rng)
                else:
                    res = dict(status="unknown", why="no recipe and no reason")
            except Exception as e:  # noqa: BLE001 - reported as a mismatch
                res = dict(status="mismatch", why="%s: %s" % (type(e).__name__, str(e).splitlines()[0][:160]))
            if (op, label) in KNOWN:
                if res["status"] == "mismatch":
                    res = dict(status="known", why="%s (%s)" % (KNOWN[op, label], res["why"]))
                else:
                    res = dict(status="mismatch", why="known difference no longer seen: remove it from KNOWN")
            results.setdefault(op, []).append((label, res, owner))
            if verbose or res["status"] in ("mismatch", "unknown"):
                print("%-40s %-28s %s %s" % (op, label, res["status"], res.get("why", "")), flush=True)
    return results, gpus


# ----------------------------------------------------------------------------
# The table

def summarize(results):
    rows = []
    for op, entries in sorted(results.items()):
        swept = [(lb, r) for lb, r, _ in entries if r["status"] == "swept"]
        owners = sorted({o for _, _, o in entries})
        errs = "-"
        if swept:
            by_dtype = defaultdict(lambda: [0.0, 0.0])  # float dtype -> [max abs, max rel]
            for lb, r in swept:
                if not r["exact"]:
                    dt = next((v.split("=")[1] for v in lb.split(",") if v.split("=")[-1] in TOL), lb)
                    by_dtype[dt] = [max(by_dtype[dt][0], r["abs"]), max(by_dtype[dt][1], r["rel"])]
            errs = "; ".join("%s: %.2g / %.2g" % (dt, e[0], e[1]) for dt, e in sorted(by_dtype.items()))
            if len(by_dtype) < len(swept):
                errs = (errs + "; rest exact") if errs else "exact"
        notes = defaultdict(list)
        for lb, r, _ in entries:
            if r["status"] != "swept" or r.get("note"):
                key = r.get("note") or r.get("why") or ""
                prefix = {"swept": "", "checked": "checked: ", "known": "**known difference**: "}
                notes[prefix.get(r["status"], r["status"] + ": ") + key].append(lb)
        note = "; ".join("%s [%s]" % (k, ", ".join(sorted(v)) if len(v) <= 4 else "%d dtypes" % len(v))
                         for k, v in notes.items())
        rows.append(dict(op=op, owner="+".join(owners), regs=len(entries),
                         dtypes=dtypes_summary([lb for lb, r, _ in entries if r["status"] in ("swept", "known")]), errs=errs, notes=note,
                         swept=len(swept), known=sum(r["status"] == "known" for _, r, _ in entries),
                         bad=sum(r["status"] in ("mismatch", "unknown") for _, r, _ in entries)))
    return rows


def write_table(path, rows, gpus, secs):
    import tensorflow as tf
    try:
        import tensorflow_metal_plugin as tfmp
        name = ", ".join(d.get("name", "?") for d in tfmp.devices())
    except Exception:  # noqa: BLE001
        name = str(gpus[0])
    n_plugin = sum("plugin" in r["owner"] for r in rows)
    lines = [
        "# Op sweep: every GPU kernel against TF's CPU kernel",
        "",
        "<!-- generated by tools/op_sweep.py; do not edit -->",
        "Generated %s by `python tools/op_sweep.py --write docs/op_table.md` (regenerate the same way;"
        " `--check docs/op_table.md` is what `tests/test_op_sweep.py` runs)." % datetime.date.today(),
        "TensorFlow %s; device: %s; %.0f s." % (tf.__version__, name, secs),
        "",
        "Each registration for device type `GPU` ran eagerly through `tf.raw_ops` (internal ops through "
        "`execute`) on the device and on the CPU with soft placement off, on random inputs. "
        "Errors are max abs / max rel (relative to values above atol) per float dtype compared with a "
        "tolerance; `exact` means bit-for-bit or array-equal. Tolerances: float32 2e-6 rel, float16 2e-3, bfloat16 1e-2, atol scaled by sqrt(K) "
        "for sums, matmul and convolutions.",
        "",
        "`owner`: `plugin` = registered by this plugin; `tf` = registered for device type GPU by the "
        "tensorflow-cpu wheel itself (present without the plugin), which applies to the plugin's device too.",
        "",
        "Ops: %d (%d with plugin registrations; %d verified against the CPU on at least one "
        "registration); registrations: %d; swept: %d; mismatches: %d; "
        "known differences (swept, listed in KNOWN in the tool, see notes): %d." % (
            len(rows), n_plugin, sum(r["swept"] > 0 for r in rows), sum(r["regs"] for r in rows),
            sum(r["swept"] for r in rows),
            sum(r["bad"] for r in rows), sum(r["known"] for r in rows)),
        "",
        "| op | owner | regs | dtypes swept | max abs / rel error | notes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append("| %s | %s | %d | %s | %s | %s |" % (r["op"], r["owner"], r["regs"], r["dtypes"],
                                                         r["errs"], r["notes"].replace("|", "/")))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def read_table(path):
    """{op: (owner, regs, dtypes swept, errors)} from a written table."""
    table = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[2].isdigit():
            table[cells[0]] = (cells[1], int(cells[2]), cells[3], cells[4])
    return table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", metavar="MD", help="write the table to this file")
    ap.add_argument("--check", metavar="MD", help="fail if this table does not match the sweep")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    results, gpus = run_sweep(args.seed, args.verbose)
    rows = summarize(results)
    secs = time.time() - t0
    n = defaultdict(int)
    for entries in results.values():
        for _, r, _ in entries:
            n[r["status"]] += 1
    listed_ops = [r["op"] for r in rows if r["swept"] == 0 and not r["bad"]]
    print("ops: %d; registrations: %d swept, %d checked otherwise, %d listed with a reason, "
          "%d mismatches, %d known differences, %d unknown; ops with nothing swept: %d; %.1f s" % (
              len(rows), n["swept"], n["checked"], n["listed"], n["mismatch"], n["known"], n["unknown"],
              len(listed_ops), secs))
    failed = n["mismatch"] + n["unknown"] > 0
    if args.write:
        write_table(args.write, rows, gpus, secs)
        print("wrote", args.write)
    if args.check:
        table = read_table(args.check)
        now = {r["op"]: (r["owner"], r["regs"], r["dtypes"]) for r in rows}
        for op in sorted(set(now) | set(table)):
            if table.get(op, ())[:3] != now.get(op):  # errors may differ, the op/dtype set may not
                print("table out of date for %s: table %s, sweep %s" % (op, table.get(op, ())[:3], now.get(op)))
                failed = True
        print("check %s: %s" % (args.check, "FAILED" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
