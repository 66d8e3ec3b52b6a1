"""The one table of shader variants. tools/gen_shaders.py compiles each row.

A variant is (token, source, defines). The token names the compute kernel that
the C++ op kernels dispatch (kernels/*.cc), e.g. "add_f16"; the source is a
.comp file beside this one. Adding a dtype or an op is a line here, never a
copied shader.
"""

# dtype token -> (storage type, compute type, accumulator type)
DTYPES = {
    "f32": ("float", "float", "float"),
    "f16": ("float16_t", "float", "float"),
    "i32": ("int", "int", "int"),
    "i64": ("int64_t", "int64_t", "int64_t"),
    "bool": ("uint8_t", "int", "int"),
    "c64": ("vec2", "vec2", "vec2"),  # complex64 as (real, imag)
}
FLOATS = ["f32", "f16"]
NUMBERS = ["f32", "f16", "i32", "i64"]
INTS = ["i32", "i64"]

# GEMM tile configs of matmul.comp: name -> (BM, BN, BK, TM, TN, more
# defines), a BM x BN output tile per workgroup of (BM / TM) * (BN / TN)
# invocations. kernels/matmul_config.h's kGemmTiles repeats them.
GEMM_TILES = {
    "128x128": (128, 128, 8, 8, 8, {}),
    "128x64": (128, 64, 16, 8, 4, {}),
    "64x64": (64, 64, 16, 4, 4, {}),
    "128x128k16": (128, 128, 16, 8, 8, {"PAD": "0"}),  # 32 KiB of shared memory
}

# op token -> (expression in x, dtypes)
UNARY = {
    "neg": ("-x", NUMBERS),
    "abs": ("abs(x)", NUMBERS),
    "square": ("x * x", NUMBERS),
    "exp": ("exp(x)", FLOATS),
    "log": ("tf_log(x)", FLOATS),
    "sqrt": ("tf_sqrt(x)", FLOATS),
    "rsqrt": ("tf_rsqrt(x)", FLOATS),
    "relu": ("tf_relu(x)", NUMBERS),
    "sigmoid": ("tf_sigmoid(x)", FLOATS),
    "tanh": ("tf_tanh(x)", FLOATS),
    "reciprocal": ("C(1) / x", FLOATS),
    "floor": ("floor(x)", FLOATS),
    "ceil": ("ceil(x)", FLOATS),
    "round": ("roundEven(x)", FLOATS),
    "sign": ("tf_sign(x)", NUMBERS),
    "softplus": ("tf_softplus(x)", FLOATS),
    "elu": ("tf_elu(x)", FLOATS),
    "erf": ("tf_erf(x)", FLOATS),
    "log1p": ("tf_log1p(x)", FLOATS),
    "expm1": ("tf_expm1(x)", FLOATS),
    "sin": ("sin(x)", FLOATS),
    "cos": ("cos(x)", FLOATS),
    "erfc": ("tf_erfc(x)", FLOATS),
    "relu6": ("tf_min(tf_max(x, C(0)), C(6))", NUMBERS),
    "selu": ("tf_selu(x)", FLOATS),
    "softsign": ("x / (C(1) + abs(x))", FLOATS),
    "tan": ("tf_tan(x)", FLOATS),
    "atan": ("tf_atan(x)", FLOATS),
    "asin": ("tf_asin(x)", FLOATS),
    "acos": ("tf_acos(x)", FLOATS),
    "sinh": ("tf_sinh(x)", FLOATS),
    "cosh": ("tf_cosh(x)", FLOATS),
    "asinh": ("tf_asinh(x)", FLOATS),
    "acosh": ("tf_acosh(x)", FLOATS),
    "atanh": ("tf_atanh(x)", FLOATS),
    "invert": ("~x", INTS),
    # ALPHA: the op's float attribute, pushed by the host
    "leaky_relu": ("x > C(0) ? x : x * ALPHA", FLOATS),
}

# Convolution tiles (conv.comp): name -> (BM, BN, BK); kernels/conv_plan.h
# lists the same names.
# BN = 32 (Cout or Cin of 32: a 64-wide tile wastes half) lays the 256
# invocations out 8 x 32 instead of 16 x 16.
CONV_TILES = {"128x128": (128, 128, 8), "128x64": (128, 64, 16), "64x64": (64, 64, 16),
              "128x128k16": (128, 128, 16), "64x128": (64, 128, 16),
              "128x32": (128, 32, 16), "256x32": (256, 32, 8)}
# Tiles of the general (gathering) 2-D variants besides their default 64x64:
# "conv2d_fwd_f32_128x32" (odd channel counts, e.g. an RGB input, with few
# output channels).
CONV_GENERAL_TILES = {"128x32": (128, 32, 16)}
# Tiles of the vector variants with x loaded element by element ("_v4a1_").
CONV_A1_TILES = ["128x32", "64x64"]

# Unary ops with a bool result: op token -> (expression, input dtypes)
UNARY_PREDICATES = {
    "isnan": ("isnan(x)", FLOATS),
    "isinf": ("isinf(x)", FLOATS),
    "isfinite": ("!(isnan(x) || isinf(x))", FLOATS),
    "logical_not": ("x == 0", ["bool"]),
}

# op token -> (expression in a and b, dtypes)
BINARY = {
    "add": ("a + b", NUMBERS),
    "sub": ("a - b", NUMBERS),
    "mul": ("a * b", NUMBERS),
    "div": ("tf_div(a, b)", FLOATS),
    "maximum": ("tf_max(a, b)", NUMBERS),
    "minimum": ("tf_min(a, b)", NUMBERS),
    "pow": ("tf_pow(a, b)", FLOATS),
    "div_no_nan": ("b == C(0) ? C(0) : tf_div(a, b)", FLOATS),
    # the quotient rounded to the storage type first, as TF's kernels do
    "floor_div": ("floor(ROUND_T(tf_div(a, b)))", FLOATS),
    # TF: fmod, moved into the divisor's sign
    "floor_mod": ("tf_floor_mod_f(a, b)", FLOATS),
    # integer floor division and modulo (Python's); a zero divisor gives 0
    # (TF's CPU kernel raises, its GPU kernels return garbage)
    "floor_div_int": ("tf_floor_div(a, b)", INTS),
    "floor_mod_int": ("tf_floor_mod(a, b)", INTS),
    # (a - b) rounded to the storage type first, as TF's CPU kernel does
    "squared_difference": ("tf_square_exact(ROUND_T(tf_sub_exact(a, b)))", NUMBERS),
    # gradients: (a, b) are the op's two inputs in order
    "relu_grad": ("b > C(0) ? a : C(0)", NUMBERS),   # (gradients, features)
    "sigmoid_grad": ("b * a * (C(1) - a)", FLOATS),  # (y, dy)
    "tanh_grad": ("b * (C(1) - a * a)", FLOATS),     # (y, dy)
    "sqrt_grad": ("b * C(0.5) / a", FLOATS),         # (y, dy)
    "rsqrt_grad": ("b * C(-0.5) * a * a * a", FLOATS),
    "reciprocal_grad": ("-b * a * a", FLOATS),
    "bitwise_and": ("a & b", INTS),
    "bitwise_or": ("a | b", INTS),
    "bitwise_xor": ("a ^ b", INTS),
    "relu6_grad": ("b > C(0) && b < C(6) ? a : C(0)", NUMBERS),       # (gradients, features)
    "leaky_relu_grad": ("b > C(0) ? a : a * ALPHA", FLOATS),          # (gradients, features)
    "elu_grad": ("b < C(0) ? (b + C(1)) * a : a", FLOATS),            # (gradients, outputs)
    "selu_grad": ("b < C(0) ? a * (b + C(SELU_SCALE_ALPHA)) : a * C(SELU_SCALE)", FLOATS),
    "softplus_grad": ("tf_div(a, exp(-b) + C(1))", FLOATS),           # (gradients, features)
    "softsign_grad": ("tf_div(a, (abs(b) + C(1)) * (abs(b) + C(1)))", FLOATS),
    "atan2": ("tf_atan2(a, b)", FLOATS),
    "xlogy": ("tf_xlogy(a, b)", FLOATS),
    "xlog1py": ("tf_xlog1py(a, b)", FLOATS),
    "xdivy": ("tf_xdivy(a, b)", FLOATS),
    "truncate_div": ("tf_trunc_div(a, b)", INTS),
    "truncate_mod": ("tf_trunc_mod(a, b)", INTS),
    "truncate_mod_f": ("tf_fmod(a, b)", FLOATS),
    # TF clamps the shift to [0, bits - 1]; right shifts of signed types are arithmetic
    "left_shift": ("a << clamp(b, C(0), tf_max_shift(a))", INTS),
    "right_shift": ("a >> clamp(b, C(0), tf_max_shift(a))", INTS),
}

# Binary ops with a bool result: op token -> (expression, input dtypes)
COMPARISONS = {
    "equal": ("a == b", NUMBERS + ["bool"]),
    "not_equal": ("a != b", NUMBERS + ["bool"]),
    "less": ("a < b", NUMBERS),
    "less_equal": ("a <= b", NUMBERS),
    "greater": ("a > b", NUMBERS),
    "greater_equal": ("a >= b", NUMBERS),
    "approximate_equal": ("abs(a - b) < ALPHA", FLOATS),  # ALPHA: the tolerance attribute
    "logical_and": ("a != 0 && b != 0", ["bool"]),
    "logical_or": ("a != 0 || b != 0", ["bool"]),
}

# Reductions: op token -> (combine(a, b), identity per dtype, dtypes)
_LOWEST = {"f32": "-INF_F", "f16": "-INF_F", "i32": "int(0x80000000u)",
           "i64": "(int64_t(1) << 63)"}
_HIGHEST = {"f32": "INF_F", "f16": "INF_F", "i32": "int(0x7fffffffu)",
            "i64": "(~(int64_t(1) << 63))"}
REDUCTIONS = {
    "sum": ("((a) + (b))", {t: "ACC(0)" for t in NUMBERS}, NUMBERS),
    "prod": ("((a) * (b))", {t: "ACC(1)" for t in NUMBERS}, NUMBERS),
    "max": ("tf_max(a, b)", _LOWEST, NUMBERS),
    "min": ("tf_min(a, b)", _HIGHEST, NUMBERS),
    "all": ("((a) & (b))", {"bool": "ACC(1)"}, ["bool"]),
    "any": ("((a) | (b))", {"bool": "ACC(0)"}, ["bool"]),
}
INDEX_TYPES = {"i32": "int", "i64": "int64_t"}

# Stateless random float outputs: dtype token -> (storage, STORE(f), UNIFORM(x)).
RANDOM_FLOATS = {
    "f32": ("float", "(f)", "uint_to_float(x)"),
    "f16": ("uint16_t", "uint16_t(tf_f2h(f))", "(float((x) & 0x3ffu) * (1.0 / 1024.0))"),
    "bf16": ("uint16_t", "uint16_t(tf_f2bf(f))", "(float((x) & 0x7fu) * (1.0 / 128.0))"),
}

CAST_TYPES = ["f32", "f16", "i32", "i64", "bool"]


# --- Indexing and scans (kernels/index_ops.cc) ---
# Scans: op token -> (combine(a, b), identity)
SCANS = {"sum": ("((a) + (b))", "ACC(0)"), "prod": ("((a) * (b))", "ACC(1)")}
# Scatters: op token -> (combine(a, b) of updates in order, apply(o, t, cnt) of
# the total t of cnt updates to the output's value o, dtypes)
SCATTERS = {
    "sum": ("((a) + (b))", "((o) + (t))", NUMBERS),
    "sub": ("((a) + (b))", "((o) - (t))", NUMBERS),
    "max": ("tf_max(a, b)", "tf_max(o, t)", NUMBERS),
    "min": ("tf_min(a, b)", "tf_min(o, t)", NUMBERS),
    "prod": ("((a) * (b))", "((o) * (t))", NUMBERS),
    "mean": ("((a) + (b))", {"f32": "tf_div(t, float(cnt))", "f16": "tf_div(t, float(cnt))",
                             "*": "((t) / ACC(cnt))"}, NUMBERS),
}


def _cast_expr(src, dst):
    """Expression converting x (compute type of src) to dst's storage type."""
    if dst == "bool":
        return "uint8_t(x != %s(0) ? 1 : 0)" % DTYPES[src][1]
    if src in FLOATS and dst == "i32":
        return "tf_to_i32(x)"
    if src in FLOATS and dst == "i64":
        return "tf_to_i64(x)"
    return "%s(x)" % DTYPES[dst][0]


# float16 -> float16 elementwise variants (UNARY, BINARY) move eight elements
# per invocation as 32-bit words where the host finds them aligned (vec = 2,
# unary.comp / binary.comp PACK16). H200, 64M elements, against four per
# invocation as f16vec4: relu 1440 GB/s (1180-1230), add 1670-1690
# (1230-1520); computing in native float16 or converting with packHalf2x16
# measured the same, integer conversions 3x slower. Not the Float16
# capability (helper mem2, H200, relu_f16_64M as uvec4 words, 8 per
# invocation): a copy 3845 GB/s, the same copy in a module with Float16 and
# RoundingModeRTE 16 3886; relu on bit patterns (integers only, no Float16)
# 1495, through unpackHalf2x16 / packHalf2x16 in float 1538 (1522 with
# Float16, 1538 with RTE 16), the shipped relu_f16 1493; add 1674-1681 in all
# three. Any arithmetic between the load and the store costs, not its type;
# fewer workgroups (invocations looping over 2-32 words: grid caps 16384,
# 4224, 1056) measured the same (1442-1519). Helper f16 (H200, one process
# per variant, same session): two or four words per invocation, every load
# before the first store, 1451-1513 GB/s (relu) against 1403 for one, and
# broadcast add 0.255 -> 0.41 ms; a plain uvec4 copy shader over the same
# relu_f16_64M buffers 1509-1552 GB/s, where relu_f32 over 32M floats (the
# same 128 MiB buffers) ran at 3873: the shader's code is not what limits
# these cases (no L2 flush, one input set, other placement: the same). The
# DATA does (H200 round 3, kernel_bench KB_DATA): the float32 copy shader
# over 256 MiB of float16 values stored as float32 (low 13 mantissa bits
# zero) 1661 GB/s against 4106 for uniform random floats; the uvec4 copy of
# float16 random bit patterns 3917, of uniform [-1, 1) halves 1509-1552;
# relu_f16 1437-1590 whatever its inputs (random bits, >= 0, zeros), as its
# outputs are low-entropy; float16 row sums (reads only) fast. Structured
# (compressible) data written to this driver's device memory runs at ~0.4 of
# the copy, float32 too; PyTorch's (cudaMalloc'd) float16 kernels do not.
# CORRECTION (2026-12-02 10:15, four passes of the same cases, one process
# each; bench/h200_2026-12-02_1015): relu_f16 3835-3862 GB/s and add_f16
# 4010-4014 in three passes, 1441 / 1671 in the fourth, where add_f32 and
# float16 row sums were slow too; host-mappable memory and dedicated
# allocations changed nothing. The slow numbers above were slow processes
# (docs/benchmarks.md, "Slow processes"), not the data or the shader.
def _pack16(dtype):
    return {"PACK16": "8"} if dtype == "f16" else {}


def _types(dtype, out=None):
    store, compute, acc = DTYPES[dtype]
    d = {"T": store, "C": compute, "ACC": acc}
    if out:
        d["TO"] = DTYPES[out][0]
    return d


# --- pad.comp / resize.comp tables ---
_BITS = ((8, "uint8_t"), (16, "uint16_t"), (32, "uint"), (64, "uint64_t"))
# sum dtype token -> (storage, compute, LOAD(v), STORE(v), ADD(a,b))
_SUM_TYPES = {
    "f32": ("float", "float", "float(v)", "float(v)", "((a) + (b))"),
    "f16": ("float16_t", "float", "float(v)", "float16_t(v)", "tf_round_half((a) + (b))"),
    "bf16": ("uint16_t", "float", "tf_bf16_to_float(uint(v))", "uint16_t(tf_float_to_bf16(v))",
             "tf_round_bf16((a) + (b))"),
    "i8": ("int8_t", "int", "int(v)", "int8_t(v)", "((a) + (b))"),
    "i16": ("int16_t", "int", "int(v)", "int16_t(v)", "((a) + (b))"),
    "i32": ("int", "int", "int(v)", "int(v)", "((a) + (b))"),
    "i64": ("int64_t", "int64_t", "int64_t(v)", "int64_t(v)", "((a) + (b))"),
}
# image dtype token -> (storage, conversion to float)
_IMAGE_TYPES = {
    "f32": ("float", "float(v)"), "f16": ("float16_t", "float(v)"),
    "bf16": ("uint16_t", "tf_bf16_to_float(uint(v))"),
    "i8": ("int8_t", "float(v)"), "u8": ("uint8_t", "float(v)"), "i16": ("int16_t", "float(v)"),
    "u16": ("uint16_t", "float(v)"), "i32": ("int", "float(v)"), "i64": ("int64_t", "float(v)"),
}


def variants():
    rows = []
    for op, (expr, dtypes) in UNARY.items():
        for t in dtypes:
            rows.append(("%s_%s" % (op, t), "unary.comp",
                         dict(_types(t), OP=expr, **_pack16(t))))
    for op, (expr, dtypes) in UNARY_PREDICATES.items():
        for t in dtypes:
            rows.append(("%s_%s" % (op, t), "unary.comp",
                         dict(_types(t, "bool"), OP="uint8_t((%s) ? 1 : 0)" % expr)))
    for op, (expr, dtypes) in BINARY.items():
        for t in dtypes:
            rows.append(("%s_%s" % (op, t), "binary.comp",
                         dict(_types(t), OP=expr, **_pack16(t))))
    for op, (expr, dtypes) in COMPARISONS.items():
        for t in dtypes:
            rows.append(("%s_%s" % (op, t), "binary.comp",
                         dict(_types(t, "bool"), OP="uint8_t((%s) ? 1 : 0)" % expr)))
    for src in CAST_TYPES:
        for dst in CAST_TYPES:
            if src != dst:
                rows.append(("cast_%s_to_%s" % (src, dst), "unary.comp",
                             dict(_types(src, dst), OP=_cast_expr(src, dst))))
    for t in CAST_TYPES:
        rows.append(("fill_%s" % t, "fill.comp", _types(t)))
    # <op>_<in>_to_<out>: a one-pass reduction, or the two passes of a long
    # one through accumulator-typed partials (float16 accumulates in float32).
    for op, (combine, init, dtypes) in REDUCTIONS.items():
        for t in dtypes:
            acc = "f32" if t == "f16" else t
            for src, dst in sorted({(t, t), (t, acc), (acc, t)}):
                rows.append(("reduce_%s_%s_to_%s" % (op, src, dst), "reduce.comp",
                             dict(_types(src, dst), ACC=DTYPES[acc][2], INIT=init[t],
                                  **{"COMBINE(a,b)": combine})))
    # reduce_sum_<pro>_<in>_to_<out>: a sum's first pass through an
    # elementwise prologue (kernels/reduction.cc _TfmpFusedReduction), the
    # product written exactly as the standalone binary kernel computes it.
    combine, init, _ = REDUCTIONS["sum"]
    for pro, op in (("mul", "mul"), ("sqdiff", "squared_difference")):
        for t in ("f32", "f16"):
            acc = "f32" if t == "f16" else t
            for dst in sorted({t, acc}):
                rows.append(("reduce_sum_%s_%s_to_%s" % (pro, t, dst), "reduce.comp",
                             dict(_types(t, dst), ACC=DTYPES[acc][2], INIT=init[t], PRO=BINARY[op][0],
                                  **{"COMBINE(a,b)": combine})))
    for t in NUMBERS:
        for it, itype in INDEX_TYPES.items():
            rows.append(("argmax_%s_%s" % (t, it), "argmax.comp", dict(_types(t), IT=itype)))
            rows.append(("argmin_%s_%s" % (t, it), "argmax.comp", dict(_types(t), IT=itype, MIN="1")))
    # Device-to-device copies of 1, 2, 4 or 8-byte words (the runtime's shader
    # copy; four words per invocation where aligned).
    for bits, store in _BITS:
        rows.append(("copy_b%d" % bits, "unary.comp", {"T": store, "C": store, "OP": "x"}))
    # Data movement by element size, whatever the dtype.
    for bits, store in ((8, "uint8_t"), (16, "uint16_t"), (32, "uint"), (64, "uint64_t")):
        rows.append(("strided_copy_b%d" % bits, "strided_copy.comp", {"T": store, "C": store}))
    # Gather and OneHot by element size and index type.
    for bits, store in ((8, "uint8_t"), (16, "uint16_t"), (32, "uint"), (64, "uint64_t")):
        for it, itype in INDEX_TYPES.items():
            rows.append(("gather_b%d_%s" % (bits, it), "gather.comp",
                         {"T": store, "C": store, "IT": itype}))
        for it, itype in dict(INDEX_TYPES, u8="uint8_t").items():
            rows.append(("one_hot_b%d_%s" % (bits, it), "gather.comp",
                         dict({"T": store, "C": store, "IT": itype, "ONE_HOT": "1"},
                              **({"IDX(x)": "int64_t(uint(x))"} if it == "u8" else {}))))
    for t in CAST_TYPES:
        rows.append(("select_%s" % t, "select.comp", _types(t)))
    # Convolutions (2-D and 3-D: one shader, SPATIAL3 adds the depth
    # dimension) as implicit GEMMs; the filter gradient may write float32
    # partial sums (split K) that the host adds up.
    for conv, spatial in (("conv2d", {}), ("conv3d", {"SPATIAL3": "1"})):
        for t in FLOATS:
            rows.append(("%s_fwd_%s" % (conv, t), "conv.comp", dict(_types(t), FWD="1", **spatial)))
            rows.append(("%s_bwd_input_%s" % (conv, t), "conv.comp",
                         dict(_types(t), BWD_INPUT="1", **spatial)))
            rows.append(("%s_bwd_filter_%s" % (conv, t), "conv.comp",
                         dict(_types(t), BWD_FILTER="1", **spatial)))
            rows.append(("%s_bwd_filter_%s_to_f32" % (conv, t), "conv.comp",
                         dict(_types(t, "f32"), BWD_FILTER="1", **spatial)))
    for t in FLOATS:
        for tile, (bm, bn, bk) in CONV_GENERAL_TILES.items():
            cfg = dict(BM=str(bm), BN=str(bn), BK=str(bk))
            for mode in ("fwd", "bwd_input", "bwd_filter"):
                rows.append(("conv2d_%s_%s_%s" % (mode, t, tile), "conv.comp",
                             dict(_types(t), **{mode.upper(): "1"}, **cfg)))
            rows.append(("conv2d_bwd_filter_%s_to_f32_%s" % (t, tile), "conv.comp",
                         dict(_types(t, "f32"), BWD_FILTER="1", **cfg)))
    # 2-D channels-last convolutions with channel counts that are multiples
    # of 4: vector loads and hoisted index math, one row per tile
    # (kernels/conv_plan.h CONV_TILES picks it): "conv2d_fwd_f32_v4_128x128".
    for t in FLOATS:
        t4 = {"T4": "vec4" if t == "f32" else "f16vec4", "VEC4": "1"}
        for tile, (bm, bn, bk) in CONV_TILES.items():
            cfg = dict(t4, BM=str(bm), BN=str(bn), BK=str(bk))
            for mode in ("fwd", "bwd_input", "bwd_filter"):
                rows.append(("conv2d_%s_%s_v4_%s" % (mode, t, tile), "conv.comp",
                             dict(_types(t), **{mode.upper(): "1"}, **cfg)))
            rows.append(("conv2d_bwd_filter_%s_to_f32_v4_%s" % (t, tile), "conv.comp",
                         dict(_types(t, "f32"), BWD_FILTER="1", **cfg)))
            # The input gradient of a strided convolution, one GEMM per
            # stride phase (kernels/conv_plan.h ConvPhased).
            rows.append(("conv2d_bwd_input_%s_v4p_%s" % (t, tile), "conv.comp",
                         dict(_types(t), BWD_INPUT="1", PHASED="1", **cfg)))
            if t == "f32":
                rows.append(("conv2d_wgemm_f32_v4_%s" % tile, "conv.comp",
                             dict(_types(t), FWD="1", BATCHED="1", **cfg)))
                # Winograd's filter gradient: 16 GEMMs V^T x D, K split
                rows.append(("conv2d_wgemm_bwd_filter_f32_v4_%s" % tile, "conv.comp",
                             dict(_types(t), BWD_FILTER="1", BATCHED="1", **cfg)))
        # in_c not a multiple of 4 (an RGB input), out_c one: A1 loads x
        # element by element (forward and filter gradient).
        for tile in CONV_A1_TILES:
            bm, bn, bk = CONV_TILES[tile]
            cfg = dict(t4, BM=str(bm), BN=str(bn), BK=str(bk), A1="1")
            for mode in ("fwd", "bwd_filter"):
                rows.append(("conv2d_%s_%s_v4a1_%s" % (mode, t, tile), "conv.comp",
                             dict(_types(t), **{mode.upper(): "1"}, **cfg)))
            rows.append(("conv2d_bwd_filter_%s_to_f32_v4a1_%s" % (t, tile), "conv.comp",
                         dict(_types(t, "f32"), BWD_FILTER="1", **cfg)))
        # Winograd F(2x2, 3x3) transforms (float intermediates) and their
        # batched GEMM (float operands and result).
        rows.append(("conv2d_wino_in_%s" % t, "conv.comp", dict(_types(t), WINO_IN="1", **t4)))
        rows.append(("conv2d_wino_filter_%s" % t, "conv.comp", dict(_types(t), WINO_FILTER="1", **t4)))
        rows.append(("conv2d_wino_filter_bwd_input_%s" % t, "conv.comp",
                     dict(_types(t), WINO_FILTER="1", BWD_INPUT="1", **t4)))
        rows.append(("conv2d_wino_out_%s" % t, "conv.comp", dict(_types("f32", t), WINO_OUT="1",
                                                                  T4="vec4", VEC4="1")))
        rows.append(("conv2d_wino_dy_%s" % t, "conv.comp", dict(_types(t), WINO_DY="1", **t4)))
        rows.append(("conv2d_wino_wgrad_out_%s" % t, "conv.comp",
                     dict(_types("f32", t), WINO_WGRAD_OUT="1", T4="vec4", VEC4="1")))
        # The sum of split-K float partial sums (filter and bias gradients).
        rows.append(("conv_splitk_sum_%s" % t, "conv.comp", dict(_types("f32", t), SPLITK_SUM="1")))
        rows.append(("conv_splitk_sum_rows_%s" % t, "conv.comp",
                     dict(_types("f32", t), SPLITK_SUM="1", SUM_ROWS="1")))
    # Depthwise convolutions, direct. A long reduction (the filter gradient's;
    # the others' only for huge filters) is split into float32 partial sums
    # that the host adds up: "<token>_to_f32" for float16 (float32 partials
    # come from the plain float32 variant).
    for t in FLOATS:
        for mode in ("fwd", "bwd_input", "bwd_filter"):
            rows.append(("depthwise_%s_%s" % (mode, t), "depthwise_conv.comp",
                         dict(_types(t), **{mode.upper(): "1"})))
            if t != "f32":
                rows.append(("depthwise_%s_%s_to_f32" % (mode, t), "depthwise_conv.comp",
                             dict(_types(t, "f32"), **{mode.upper(): "1"})))
    # 2-D and 3-D pooling (pool.comp; SPATIAL3 adds the depth dimension).
    # MaxPool3DGrad routes the gradient as TF's CPU kernel does (TIES).
    for pool, spatial in (("pool", {}), ("pool3d", {"SPATIAL3": "1"})):
        for t in FLOATS:
            for mode in ("max_fwd", "avg_fwd", "max_bwd", "avg_bwd"):
                ties = {"TIES": "1"} if spatial and mode == "max_bwd" else {}
                rows.append(("%s_%s_%s" % (pool, mode, t), "pool.comp",
                             dict(_types(t), **{mode.upper(): "1"}, **spatial, **ties)))
    for t in FLOATS:
        rows.append(("softmax_%s" % t, "softmax.comp", _types(t)))
        rows.append(("log_softmax_%s" % t, "softmax.comp", dict(_types(t), LOG="1")))
        rows.append(("softmax_small_%s" % t, "softmax.comp", dict(_types(t), SMALL="16")))
        rows.append(("log_softmax_small_%s" % t, "softmax.comp", dict(_types(t), LOG="1", SMALL="16")))
        rows.append(("xent_%s" % t, "xent.comp", _types(t)))
        for it, itype in INDEX_TYPES.items():
            rows.append(("sparse_xent_%s_%s" % (t, it), "xent.comp",
                         dict(_types(t), SPARSE="1", LT=itype)))
    for t in FLOATS:
        # The tiled GEMM, one row per tile config (kernels/matmul_config.h
        # repeats GEMM_TILES and chooses among them), and its split-K sum.
        # "_bias_grad": _TfmpMatMulBiasGrad's GEMM that also sums B's columns.
        for tile, (bm, bn, bk, tm, tn, more) in GEMM_TILES.items():
            tiles = dict(_types(t), BM=str(bm), BN=str(bn), BK=str(bk), TM=str(tm), TN=str(tn), **more)
            rows.append(("matmul_%s_%s" % (tile, t), "matmul.comp", tiles))
            rows.append(("matmul_%s_%s_bias_grad" % (tile, t), "matmul.comp", dict(tiles, BIAS_GRAD="1")))
        rows.append(("matmul_reduce_%s" % t, "matmul_reduce.comp", _types(t)))
        rows.append(("bias_add_%s" % t, "bias_add.comp", _types(t)))
    # Stateless random (random.comp): random_<dist>_<dtype>. Float samples are
    # computed in float and stored by STORE; UNIFORM is TF's per-type mapping
    # of 32 random bits to [0, 1) (Uint32ToFloat, Uint16ToHalf, Uint16ToGfloat16).
    for t, (store, conv, uniform) in RANDOM_FLOATS.items():
        for dist in ("uniform", "normal", "truncated_normal"):
            rows.append(("random_%s_%s" % (dist, t), "random.comp",
                         {"T": store, "C": "float", "STORE(f)": conv, "UNIFORM(x)": uniform,
                          "DIST_" + {"truncated_normal": "TRUNCATED"}.get(dist, dist.upper()): "1"}))
    for t in INTS:
        rows.append(("random_uniform_int_%s" % t, "random.comp",
                     dict(_types(t), DIST_INT="1", **({"INT64": "1"} if t == "i64" else {}))))
        # StatefulUniformFullInt: all random bits (uint32/uint64 use the same variants)
        rows.append(("random_full_int_%s" % t, "random.comp",
                     dict(_types(t), DIST_INT="1", FULL_INT="1", **({"INT64": "1"} if t == "i64" else {}))))
    # Stateful RNG state variables: read the state aside and advance its counter.
    rows.append(("rng_skip", "rng_skip.comp", {"T": "uint64_t", "C": "uint64_t"}))
    # --- Indexing and scans (kernels/index_ops.cc) ---
    # Cumsum / Cumprod: scan_<op>_<dtype>, accumulating in ACC (float for
    # float16); the chunk totals are scanned again with the ACC dtype's variant.
    for op, (combine, init) in SCANS.items():
        for t in NUMBERS:
            rows.append(("scan_%s_%s" % (op, t), "scan.comp",
                         dict(_types(t), INIT=init, **{"COMBINE(a,b)": combine})))
    for t in CAST_TYPES:
        rows.append(("where_%s" % t, "scan.comp", dict(_types(t), WHERE="1")))
    # TopKV2 (keys descending) and the stable sort of scatter slots.
    for t in NUMBERS:
        for it, itype in INDEX_TYPES.items():
            rows.append(("topk_%s_%s" % (t, it), "sort.comp", dict(_types(t), IT=itype)))
    rows.append(("sort_u32", "sort.comp", {"T": "uint", "C": "uint", "IT": "uint", "ASCENDING": "1"}))
    rows.append(("rank_sort_u32", "rank_sort.comp", {"T": "uint", "C": "uint"}))
    for it, itype in INDEX_TYPES.items():
        rows.append(("scatter_nd_slots_%s" % it, "scatter_nd.comp",
                     {"T": "uint", "C": "uint", "IT": itype, "SLOTS": "1"}))
    for op, (combine, apply, dtypes) in SCATTERS.items():
        for t in dtypes:
            apply_t = apply.get(t, apply.get("*")) if isinstance(apply, dict) else apply
            rows.append(("scatter_nd_%s_%s" % (op, t), "scatter_nd.comp",
                         dict(_types(t), **{"COMBINE(a,b)": combine, "APPLY(o,t,cnt)": apply_t})))
    for bits, store in ((8, "uint8_t"), (16, "uint16_t"), (32, "uint"), (64, "uint64_t")):
        for it, itype in INDEX_TYPES.items():
            rows.append(("gather_nd_b%d_%s" % (bits, it), "gather_nd.comp",
                         {"T": store, "C": store, "IT": itype}))
        rows.append(("scatter_nd_update_b%d" % bits, "scatter_nd.comp",
                     {"T": store, "C": store, "ACC": store, "COMBINE(a,b)": "(b)",
                      "APPLY(o,t,cnt)": "(t)"}))
    # FFT family (fft.comp: one Stockham stage, complex64 as vec2) and
    # MatrixTriangularSolve (trisolve.comp).
    rows.append(("fft_c64", "fft.comp", {"T": "float", "C": "float"}))
    rows.append(("trisolve_f32", "trisolve.comp", _types("f32")))
    # complex64 elementwise (complex.cc). |x| as std::abs: scaled, so no overflow.
    cabs = "tf_cabs(x)"  # common.glsl: correctly rounded steps (no vec2 / scalar)
    for op, out, expr in (("real", "f32", "x.x"), ("imag", "f32", "x.y"),
                          ("conj", "c64", "vec2(x.x, -x.y)"), ("complex_abs", "f32", cabs)):
        rows.append(("%s_c64" % op, "unary.comp", dict(_types("c64", out), OP=expr, SCALAR_ONLY="1")))
    rows.append(("complex_f32", "binary.comp",
                 dict(_types("f32", "c64"), OP="vec2(a, b)", SCALAR_ONLY="1")))
    # --- Pad / MirrorPad / MirrorPadGrad (pad.comp) and image resizing (resize.comp) ---
    # Forward padding and nearest-neighbor resizing move bits: by element size.
    for bits, store in _BITS:
        rows.append(("pad_b%d" % bits, "pad.comp", {"T": store, "C": store}))
        rows.append(("resize_nearest_b%d" % bits, "resize.comp",
                     {"T": store, "C": store, "NEAREST": "1"}))
    # Sums in the storage type's arithmetic (half / bfloat16 round every partial sum, as
    # TF's CPU kernels do; integers wrap, so one variant per width serves both signs).
    for t, (store, compute, load, store_fn, add) in _SUM_TYPES.items():
        d = {"T": store, "C": compute, "LOAD(v)": load, "STORE(v)": store_fn, "ADD(a,b)": add}
        neg_zero = "uintBitsToFloat(0x80000000u)" if compute == "float" else "C(0)"
        rows.append(("mirror_pad_grad_%s" % t, "pad.comp", dict(d, GRAD="1", NEG_ZERO=neg_zero)))
        if t in ("f32", "f16", "bf16", "i8", "i32"):
            rows.append(("resize_nearest_grad_%s" % t, "resize.comp", dict(d, NEAREST_GRAD="1")))
    # Bilinear: images of any real type in, float32 out; the gradient float32 in.
    for t, (store, load) in _IMAGE_TYPES.items():
        rows.append(("resize_bilinear_%s" % t, "resize.comp",
                     {"T": store, "C": "float", "TO": "float", "LOAD(v)": load, "BILINEAR": "1"}))
    for t in ("f32", "f16", "bf16"):
        store, _, _, store_fn, _ = _SUM_TYPES[t]
        rows.append(("resize_bilinear_grad_%s" % t, "resize.comp",
                     {"T": "float", "C": "float", "TO": store, "STORE(v)": store_fn,
                      "BILINEAR_GRAD": "1"}))
    rows += fused_elementwise_variants()
    rows += optimizer_variants()
    rows += coopmat_variants()
    rows += coopmat_khr_variants()
    rows += coopmat2_variants()
    rows += mma_peak_variants()
    # Fused multi-tensor optimizer updates (kernels/fused_update.cc): one
    # variant; float32/float16 storage is chosen per slot at run time.
    rows.append(("fused_update", "fused_update.comp", _types("f32")))
    # LossScaleOptimizer's finite check of all gradients in one dispatch.
    rows.append(("all_finite", "all_finite.comp", dict(_types("f16"), TO="uint8_t")))
    # ... and its growth cond + iteration count after a finite step, one invocation.
    rows.append(("loss_scale_step", "loss_scale_step.comp", _types("f32")))
    # The same, specialized: the program as constants (fused_update_spec.comp).
    decls = " ".join("layout(constant_id = %d) const uint I%d = 0u;" % (5 + k, k) for k in range(64))
    decls += " " + " ".join("layout(constant_id = %d) const uint K%d = 0u;" % (69 + k, k)
                            for k in range(32))
    for slots in (16, 32, 64):  # as fused_elementwise: fewer slots, faster pipelines
        rows.append(("fused_update_spec" + ("" if slots == 64 else "_p%d" % slots),
                     "fused_update_spec.comp", dict(
                         _types("f32"), SPEC_DECLS=decls, TFMP_NO_OPT="1",
                         KCONST_SELECT="".join("c == %du ? K%d : " % (k, k) for k in range(31)) + "K31",
                         SLOT_VARS=" ".join("uint64_t A%d;" % k for k in range(64)),
                         SLOT_SELECT="".join("s == %du ? A%d : " % (k, k) for k in range(63)) + "A63",
                         SLOT_LOADS=" ".join("if (SLOTS > %du) A%d = load_addr(%du);" % (k, k, k)
                                             for k in range(64)),
                         STEPS=" ".join("if (NPROG > %du) step(I%d);" % (k, k) for k in range(slots)))))
    return rows


# --- Optimizers and scatter updates on variables (kernels/optimizers.cc) ---
# Dense optimizer updates (apply.comp): op token -> (slots after var, scalar
# inputs in the op's input order, formula). Each formula is TF's CPU functor
# (core/kernels/training_ops.cc) written one operation at a time: R() rounds a
# float16 intermediate as Eigen's half arithmetic does (float32: no-op).
APPLY = {
    "gradient_descent": ((), ("lr",), "var = R(var - R(g * lr));"),
    "momentum": (("accum",), ("lr", "momentum"),
                 "accum = R(R(accum * momentum) + g);"
                 "var = NESTEROV ? R(var - R(R(g * lr) + R(R(accum * momentum) * lr)))"
                 " : R(var - R(accum * lr));"),
    "keras_momentum": (("accum",), ("lr", "momentum"),
                       "accum = R(R(accum * momentum) - R(g * lr));"
                       "var = NESTEROV ? R(var + R(R(accum * momentum) - R(g * lr))) : R(var + accum);"),
    "adam": (("m", "v"), ("beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon"),
             "precise C alpha = R(DIV(R(lr * R(SQRT(R(C(1) - beta2_power)))), R(C(1) - beta1_power)));"
             "m = R(m + R(R(g - m) * R(C(1) - beta1)));"
             "v = R(v + R(R(R(g * g) - v) * R(C(1) - beta2)));"
             "precise C num = NESTEROV ? R(R(R(g * R(C(1) - beta1)) + R(beta1 * m)) * alpha) : R(m * alpha);"
             "var = R(var - R(DIV(num, R(R(SQRT(v)) + epsilon))));"),
    "adam_amsgrad": (("m", "v", "vhat"), ("beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon"),
                     "precise C alpha = R(DIV(R(lr * R(SQRT(R(C(1) - beta2_power)))), R(C(1) - beta1_power)));"
                     "m = R(m + R(R(g - m) * R(C(1) - beta1)));"
                     "v = R(v + R(R(R(g * g) - v) * R(C(1) - beta2)));"
                     "vhat = CWISE_MAX(vhat, v);"
                     "var = R(var - R(DIV(R(m * alpha), R(R(SQRT(vhat)) + epsilon))));"),
    "adamax": (("m", "v"), ("beta1_power", "lr", "beta1", "beta2", "epsilon"),
               "m = R(m + R(R(g - m) * R(C(1) - beta1)));"
               "v = CWISE_MAX(R(beta2 * v), abs(g));"
               "var = R(var - R(R(DIV(lr, R(C(1) - beta1_power))) * R(DIV(m, R(v + epsilon)))));"),
    "rmsprop": (("ms", "mom"), ("lr", "rho", "momentum", "epsilon"),
                "ms = R(ms + R(R(R(g * g) - ms) * R(C(1) - rho)));"
                "mom = R(R(mom * momentum) + R(DIV(R(g * lr), R(SQRT(R(ms + epsilon))))));"
                "var = R(var - mom);"),
    "centered_rmsprop": (("mg", "ms", "mom"), ("lr", "rho", "momentum", "epsilon"),
                         "ms = R(ms + R(R(R(g * g) - ms) * R(C(1) - rho)));"
                         "mg = R(mg + R(R(g - mg) * R(C(1) - rho)));"
                         "precise C denom = R(R(ms - R(mg * mg)) + epsilon);"
                         "mom = R(R(mom * momentum) + R(DIV(R(g * lr), R(SQRT(denom)))));"
                         "var = R(var - mom);"),
    "adagrad": (("accum",), ("lr",),
                "if (UPDATE_SLOTS) accum = R(accum + R(g * g));"
                "var = R(var - R(R(g * lr) * R(RSQRT(accum))));"),
    "adagrad_v2": (("accum",), ("lr", "epsilon"),
                   "if (UPDATE_SLOTS) accum = R(accum + R(g * g));"
                   "var = R(var - R(DIV(R(g * lr), R(R(SQRT(accum)) + epsilon))));"),
    "adadelta": (("accum", "accum_update"), ("lr", "rho", "epsilon"),
                 "accum = R(R(accum * rho) + R(R(g * g) * R(C(1) - rho)));"
                 "precise C update = R(R(R(SQRT(R(accum_update + epsilon))) * R(RSQRT(R(accum + epsilon)))) * g);"
                 "var = R(var - R(update * lr));"
                 "accum_update = R(R(accum_update * rho) + R(R(update * update) * R(C(1) - rho)));"),
}
# Scatter updates of a variable's rows (scatter.comp): op token -> (OP(p, u), dtypes).
# Min/max keep std::min/std::max's argument order (Eigen's cwiseMin/cwiseMax).
SCATTER = {
    "update": ("u", FLOATS + ["i64", "bool"]),
    "add": ("p + u", FLOATS),
    "sub": ("p - u", FLOATS),
    "mul": ("p * u", FLOATS),
    "div": ("tf_div(p, u)", FLOATS),
    "min": ("u < p ? u : p", FLOATS),
    "max": ("p < u ? u : p", FLOATS),
}


def optimizer_variants():
    rows = []
    for op, (slots, scalars, formula) in APPLY.items():
        names = ["s1", "s2", "s3"]
        defines = dict(
            LOAD=" ".join("precise C %s = SLOT(%s);" % (s, n) for s, n in zip(slots, names)),
            SCALARS=" ".join("const C %s = SCALAR(k%d);" % (s, k) for k, s in enumerate(scalars)),
            UPDATE=formula,
            STORE=" ".join("PUT(%s, %s);" % (n, s) for s, n in zip(slots, names)))
        for t in FLOATS:
            rows.append(("apply_%s_%s" % (op, t), "apply.comp", dict(_types(t), **defines)))
    for op, (expr, dtypes) in SCATTER.items():
        for t in dtypes:
            for it, itype in INDEX_TYPES.items():
                rows.append(("scatter_%s_%s_%s" % (op, t, it), "scatter.comp",
                             dict(_types(t), IT=itype, OP=expr)))
    return rows


# --- _TfmpFusedElementwise (kernels/fused_elementwise.cc, fused_elementwise.comp) ---
# The interpreter's opcodes, in order: 0 loads an input, 1 a constant,
# 2 rounds to float16 (a Cast to float16 and back); then the UNARY and BINARY
# ops below, each with its standalone kernel's expression. The C++ kernel's
# kFusedOps lists the same tokens in the same order (tests/test_grappler_elementwise.py
# checks it).
FUSED_UNARY = ["neg", "abs", "square", "exp", "log", "sqrt", "rsqrt", "relu", "sigmoid",
               "tanh", "reciprocal", "erf", "erfc", "softplus", "log1p", "expm1", "relu6",
               "elu", "selu", "softsign", "sign", "floor"]
FUSED_BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "squared_difference",
                "div_no_nan", "relu_grad", "sigmoid_grad", "tanh_grad", "sqrt_grad", "rsqrt_grad",
                "reciprocal_grad"]
FUSED_OPS = ["load", "const", "round_f16"] + FUSED_UNARY + FUSED_BINARY


def fused_elementwise_variants():
    cases = ["case 2u: r = tf_round_half(x); break;"]
    for code, op in enumerate(FUSED_OPS):
        if op in FUSED_UNARY:
            cases.append("case %du: r = (%s); break;" % (code, UNARY[op][0]))
        elif op in FUSED_BINARY:
            cases.append("case %du: r = (%s); break;" % (code, BINARY[op][0]))
    # The program as specialization constants (fused_elementwise.comp): ids
    # 3..66 the instructions, 67..82 the constants; one guarded call per slot.
    decls = " ".join("layout(constant_id = %d) const uint I%d = 0u;" % (3 + k, k) for k in range(64))
    decls += " " + " ".join("layout(constant_id = %d) const uint K%d = 0u;" % (67 + k, k)
                            for k in range(16))
    select = "".join("k == %du ? K%d : " % (k, k) for k in range(15)) + "K15"
    # Not optimized by glslc (TFMP_NO_OPT): inlining the step 64 times there
    # would grow the module 64-fold; the driver inlines and folds it after
    # specialization. Drivers inline every slot's step before they fold the
    # unused ones away, so shorter programs take a variant with fewer slots
    # ("_p<slots>", fused_elementwise.cc): pipelines compile faster.
    rows = []
    for t in FLOATS:
        for slots in (8, 16, 32, 64):
            steps = " ".join("if (NPROG > %du) step(I%d);" % (k, k) for k in range(slots))
            rows.append(("fused_elementwise_%s%s" % (t, "" if slots == 64 else "_p%d" % slots),
                         "fused_elementwise.comp",
                         dict(_types(t), FUSED_CASES=" ".join(cases), SPEC_DECLS=decls,
                              KCONST_SELECT=select, STEPS=steps, TFMP_NO_OPT="1")))
    return rows


# --- Device-feature variants (Vulkan only) ---
# REQUIRES maps a variant token to the device feature it needs. Such a
# variant uses SPIR-V that only some Vulkan devices accept and that SPIRV-Cross
# cannot translate to Metal: tools/gen_shaders.py compiles and validates it
# (and holds it to the same Apple limits, so tiles stay portable in size) but
# skips the MSL translation; the runtime creates its pipeline only on a device
# that reports the feature (KernelBinary::requires_feature, DeviceInfo), and the op
# kernel dispatches it only then. Every op keeps a portable variant that
# serves everywhere else (lavapipe, MoltenVK). Features:
#   "coopmat_nv"  VK_NV_cooperative_matrix with float16 x float16 -> float32
#                 16x16x16 at subgroup scope, subgroup size 32, the Vulkan
#                 memory model (DeviceInfo::coopmat_f16; TFMP_COOPMAT=0 off).
#                 Metal's counterpart would be simdgroup_matrix (not written).
#   "coopmat_khr" the same through VK_KHR_cooperative_matrix (AMD, Intel, newer
#                 drivers; DeviceInfo::coopmat_khr). glslang 11 cannot compile
#                 it: gen_shaders.py compiles the NV shader (with COOPMAT_KHR
#                 set: distinct A and B fragment types) and rewrites the SPIR-V
#                 (coopmat_nv_to_khr). Opt-in (TFMP_COOPMAT=khr) until it has
#                 run on a device.
#   "coopmat2_nv" VK_NV_cooperative_matrix2 (workgroup scope, flexible
#                 dimensions, tensor addressing, per-element operations) on
#                 top of VK_KHR_cooperative_matrix, SPIR-V 1.6 / Vulkan 1.3
#                 (DeviceInfo::coopmat2; TFMP_COOPMAT2=0 off). glslang 11
#                 cannot compile it: gen_shaders.py builds these with glslang 16
#                 (tools/glslang16.py, fetched once with pip), or leaves them out
#                 (with a message) where that library is unavailable.
REQUIRES = {}

# matmul_coopmat.comp tile configurations: name -> (BM, BN, BK, WM, WN,
# STAGES), each in the four layouts; kernels/matmul_config.h PickCoopTile
# chooses among them by size (its kCoopTiles must list them with BM x BN;
# kernel_bench times each as coopmat_f16<name>_*). STAGES 2: shared-memory
# double buffering (one barrier per K step). Tried on the H200 (driver 580,
# 4096^3, warmed up, TFLOP/s): "" 87.7; _128x256_64x64 103.5-103.7;
# 128x256 64x64 BK 16 2 stages 104.2; 256x128 64x64 101.7; 128x128 64x64
# 2 stages 101.0; 128x128 64x32 BK 64 87.2; at 2048^3 128x128 64x32 2 stages
# 78.7 vs 76.0. Only the two kept here: each configuration adds ~2.5 MB of
# unrolled SPIR-V to the library and ~4 s of driver compile per layout.
COOPMAT_TILES = {
    "": (128, 128, 32, 64, 32, 1),
    "_128x256_64x64": (128, 256, 32, 64, 64, 1),
}


def coopmat_variants():
    """matmul_coopmat_f16_<ab><tile>: a and b "n" (row-major: A contiguous in
    k, B in n) or "t" (transposed: A contiguous in m, B in k)."""
    rows = []
    for tile, (bm, bn, bk, wm, wn, stages) in COOPMAT_TILES.items():
        for la in "nt":
            for lb in "nt":
                token = "matmul_coopmat_f16_%s%s%s" % (la, lb, tile)
                rows.append((token, "matmul_coopmat.comp",
                             dict(_types("f16"), A_COL="1" if la == "t" else "0",
                                  B_COL="1" if lb == "t" else "0", BM=str(bm), BN=str(bn),
                                  BK=str(bk), WM=str(wm), WN=str(wn), STAGES=str(stages))))
    return rows


def coopmat_khr_variants():
    """matmul_coopmat_khr_f16_<ab>: the default tile for VK_KHR_cooperative_matrix."""
    return [(token.replace("matmul_coopmat_", "matmul_coopmat_khr_"), source,
             dict(defines, COOPMAT_KHR="1"))
            for token, source, defines in coopmat_variants()
            if token[len("matmul_coopmat_f16_nn"):] == ""]


REQUIRES.update({row[0]: "coopmat_nv" for row in coopmat_variants()})
REQUIRES.update({row[0]: "coopmat_khr" for row in coopmat_khr_variants()})


# matmul_coopmat2.comp tile configurations: name -> (BM, BN, BK, THREADS,
# UNROLL), each in the four layouts; kernels/matmul_config.h kCoop2Tiles
# lists them with BM x BN (PickCoop2Tile: 128x256 BK 32 x16 where it fills
# every SM, else _128x128_t128 where that does, else ""); kernel_bench times
# each as coopmat2_f16<name>_*.
# THREADS 256 matches the H200's flexible-dimension shape for 256
# invocations (granularity 32x32x16; vk_device.cc checks it). UNROLL: BK
# steps per loop iteration of the unclamped path.
# H200 (driver 580, kernel_bench, TFLOP/s; cuBLAS 763 at 4096^3, 774 at
# 8192^3): 128x256 BK 32 unrolled x2 / x4 / x8 / x16: 214 / 241 / 262-268 /
# 276 at 4096^3; x2 226 and x8 282 at 8192^3; BK 16 x8 171; 128x128 BK 32
# x2 139 (coopmat_nv's best: 103.5). Report of 2026-12-02 07:45 (each case
# its own process, bench/h200_kernels.json), 4096^3 / 8192^3: x8 267 / 286,
# x16 278 / 295, BK 64 x4 249 / 264, 256x128 242 / 255. Every tile compiles
# to 255 registers (bench/h200_pipeline_stats.txt): one workgroup per SM.
# x16 is 3-4% faster than x8 in two rounds, and in the 09:45 run in every
# layout (4096^3 nn / ta / tb / ta_tb / bias+Relu, TFLOP/s, x16 against x8:
# 274 / 289 / 236 / 246 / 164 against 265 / 277 / 198-231 / 240 / 162;
# 8192^3 293 / 279; batched 4x4096x4096x1024 227 / 220; edge cases pass):
# the wide tile's default since. _128x128_t128: 128 invocations (the
# driver lists a 32x16x16 shape for them; still 255 registers): 2048^3 205
# TFLOP/s against 144 for "" (256 invocations), 4096^3 257, 8192^3 273
# (10:31 run; the default pick at 10:36: 203): PickCoop2Tile's tile where the wide one does not fill the
# SMs but it does.
COOPMAT2_TILES = {
    "": (128, 128, 32, 256, 8),
    "_128x256_k32_u8": (128, 256, 32, 256, 8),
    "_128x256_k32_u16": (128, 256, 32, 256, 16),
    "_128x256_k64_u4": (128, 256, 64, 256, 4),
    "_256x128_k32_u8": (256, 128, 32, 256, 8),
    "_128x128_t128_k32_u8": (128, 128, 32, 128, 8),
}


def coopmat2_variants():
    """matmul_coopmat2_f16_<ab><tile>: layouts as coopmat_variants'."""
    rows = []
    for tile, (bm, bn, bk, threads, unroll) in COOPMAT2_TILES.items():
        for la in "nt":
            for lb in "nt":
                rows.append(("matmul_coopmat2_f16_%s%s%s" % (la, lb, tile), "matmul_coopmat2.comp",
                             dict(_types("f16"), A_COL="1" if la == "t" else "0",
                                  B_COL="1" if lb == "t" else "0", BM=str(bm), BN=str(bn),
                                  BK=str(bk), THREADS=str(threads), UNROLL=str(unroll))))
    return rows


REQUIRES.update({row[0]: "coopmat2_nv" for row in coopmat2_variants()})


def mma_peak_variants():
    """mma_peak_f16_<scope>: mma_peak.comp, the matrix units' ceiling for
    tools/kernel_bench (no op uses it). subgroup: 16x16x16 matrices per
    subgroup (what matmul_coopmat.comp multiplies), 8 accumulators each;
    workgroup: one 128x256x32 product per workgroup of 256 (the float16
    GEMM's wide tile in matmul_coopmat2.comp)."""
    return [
        ("mma_peak_f16_subgroup", "mma_peak.comp",
         dict(SCOPE_WORKGROUP="0", MT="16", NT="16", KT="16", THREADS="128", ACCS="8")),
        ("mma_peak_f16_workgroup", "mma_peak.comp",
         dict(SCOPE_WORKGROUP="1", MT="128", NT="256", KT="32", THREADS="256", ACCS="1")),
    ]


REQUIRES.update({row[0]: "coopmat2_nv" for row in mma_peak_variants()})
