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
}

# op token -> (expression in a and b, dtypes)
BINARY = {
    "add": ("a + b", NUMBERS),
    "sub": ("a - b", NUMBERS),
    "mul": ("a * b", NUMBERS),
    "div": ("a / b", FLOATS),
    "maximum": ("tf_max(a, b)", NUMBERS),
    "minimum": ("tf_min(a, b)", NUMBERS),
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
    for op, (expr, dtypes) in BINARY.items():
        for t in dtypes:
            rows.append(("%s_%s" % (op, t), "binary.comp", dict(_types(t), OP=expr)))
    for src in CAST_TYPES:
        for dst in CAST_TYPES:
            if src != dst:
                rows.append(("cast_%s_to_%s" % (src, dst), "unary.comp",
                             dict(_types(src, dst), OP=_cast_expr(src, dst))))
    for t in CAST_TYPES:
        rows.append(("fill_%s" % t, "fill.comp", _types(t)))
    # reduce_<in>_to_<out>: a one-pass reduction, or the two passes of a long
    # one through accumulator-typed partial sums (float16 sums in float32).
    for t in NUMBERS:
        acc = "f32" if t == "f16" else t
        for src, dst in sorted({(t, t), (t, acc), (acc, t)}):
            rows.append(("reduce_%s_to_%s" % (src, dst), "reduce.comp",
                         dict(_types(src, dst), ACC=DTYPES[acc][2])))
    for t in FLOATS:
        rows.append(("matmul_%s" % t, "matmul.comp", _types(t)))
        rows.append(("bias_add_%s" % t, "bias_add.comp", _types(t)))
    return rows
