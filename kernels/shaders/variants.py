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
}
FLOATS = ["f32", "f16"]
NUMBERS = ["f32", "f16", "i32", "i64"]
INTS = ["i32", "i64"]

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
}

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
}

# Binary ops with a bool result: op token -> (expression, input dtypes)
COMPARISONS = {
    "equal": ("a == b", NUMBERS + ["bool"]),
    "not_equal": ("a != b", NUMBERS + ["bool"]),
    "less": ("a < b", NUMBERS),
    "less_equal": ("a <= b", NUMBERS),
    "greater": ("a > b", NUMBERS),
    "greater_equal": ("a >= b", NUMBERS),
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


def _cast_expr(src, dst):
    """Expression converting x (compute type of src) to dst's storage type."""
    if dst == "bool":
        return "uint8_t(x != %s(0) ? 1 : 0)" % DTYPES[src][1]
    if src in FLOATS and dst == "i32":
        return "tf_to_i32(x)"
    if src in FLOATS and dst == "i64":
        return "tf_to_i64(x)"
    return "%s(x)" % DTYPES[dst][0]


def _types(dtype, out=None):
    store, compute, acc = DTYPES[dtype]
    d = {"T": store, "C": compute, "ACC": acc}
    if out:
        d["TO"] = DTYPES[out][0]
    return d


def variants():
    rows = []
    for op, (expr, dtypes) in UNARY.items():
        for t in dtypes:
            rows.append(("%s_%s" % (op, t), "unary.comp", dict(_types(t), OP=expr)))
    for op, (expr, dtypes) in UNARY_PREDICATES.items():
        for t in dtypes:
            rows.append(("%s_%s" % (op, t), "unary.comp",
                         dict(_types(t, "bool"), OP="uint8_t((%s) ? 1 : 0)" % expr)))
    for op, (expr, dtypes) in BINARY.items():
        for t in dtypes:
            rows.append(("%s_%s" % (op, t), "binary.comp", dict(_types(t), OP=expr)))
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
    for t in NUMBERS:
        for it, itype in INDEX_TYPES.items():
            rows.append(("argmax_%s_%s" % (t, it), "argmax.comp", dict(_types(t), IT=itype)))
            rows.append(("argmin_%s_%s" % (t, it), "argmax.comp", dict(_types(t), IT=itype, MIN="1")))
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
    # Convolutions as implicit GEMMs; the filter gradient may write float32
    # partial sums (split K) that the host adds up.
    for t in FLOATS:
        rows.append(("conv2d_fwd_%s" % t, "conv2d.comp", dict(_types(t), FWD="1")))
        rows.append(("conv2d_bwd_input_%s" % t, "conv2d.comp", dict(_types(t), BWD_INPUT="1")))
        rows.append(("conv2d_bwd_filter_%s" % t, "conv2d.comp", dict(_types(t), BWD_FILTER="1")))
        rows.append(("conv2d_bwd_filter_%s_to_f32" % t, "conv2d.comp",
                     dict(_types(t, "f32"), BWD_FILTER="1")))
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
    for t in FLOATS:
        for mode in ("max_fwd", "avg_fwd", "max_bwd", "avg_bwd"):
            rows.append(("pool_%s_%s" % (mode, t), "pool.comp", dict(_types(t), **{mode.upper(): "1"})))
    for t in FLOATS:
        rows.append(("softmax_%s" % t, "softmax.comp", _types(t)))
        rows.append(("log_softmax_%s" % t, "softmax.comp", dict(_types(t), LOG="1")))
        rows.append(("xent_%s" % t, "xent.comp", _types(t)))
        for it, itype in INDEX_TYPES.items():
            rows.append(("sparse_xent_%s_%s" % (t, it), "xent.comp",
                         dict(_types(t), SPARSE="1", LT=itype)))
    for t in FLOATS:
        rows.append(("matmul_%s" % t, "matmul.comp", _types(t)))
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
    return rows
