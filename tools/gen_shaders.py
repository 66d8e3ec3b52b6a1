#!/usr/bin/env python3
"""Compiles every shader variant of kernels/shaders/variants.py to SPIR-V.

Each variant is compiled with glslc, validated with spirv-val, checked against
the Apple GPU limits of DESIGN.md section 3 (no float64, no 64-bit atomics,
<= 32 KiB shared memory, <= 1024 invocations per workgroup) and, with --msl,
translated to Metal Shading Language by spirv-cross. The output is one C++
source embedding the SPIR-V (the plugin's kernel library).

Variants listed in variants.REQUIRES need a device feature (e.g. "coopmat_nv",
cooperative matrices): they are compiled, validated and limit-checked like the
others but not translated to Metal (SPIRV-Cross has no equivalent), and the
embedded library tags them with the feature so the runtime creates their
pipelines only on devices that have it. Each op must keep a portable variant.
"coopmat_khr" variants are compiled as NV cooperative-matrix shaders and
rewritten to VK_KHR_cooperative_matrix (coopmat_nv_to_khr); set SPIRV_VAL_KHR
to a spirv-val that knows that extension to validate the result too.
"coopmat2_nv" variants (GL_NV_cooperative_matrix2, beyond glslang 11) are
compiled with glslang 16 (tools/glslang16.py: a library from the slangpy
wheel, fetched once with pip into ~/.cache/tfmp) and validated with that
library's spirv-val; where it is unavailable (TFMP_GLSLANG16=off, no network
on a first build) they are left out with a message, and devices use the
coopmat_nv kernels instead.

  gen_shaders.py --out kernel_library.cc      # what the Bazel build runs
  gen_shaders.py --msl OUTDIR                 # Metal portability check (tests)
"""
import argparse
import concurrent.futures
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
SHADERS = os.path.join(os.path.dirname(HERE), "kernels", "shaders")

APPLE_MAX_SHARED = 32 * 1024
# Variants that need a device feature (variants.REQUIRES) are Vulkan-only and
# never translated to Metal: they may use what every device with cooperative
# matrices offers (NVIDIA's Vulkan driver reports 48 KiB; AMD, Intel 64 KiB).
VULKAN_FEATURE_MAX_SHARED = 48 * 1024
APPLE_MAX_INVOCATIONS = 1024
MAX_PUSH_CONSTANTS = 128


def load_variants(shader_dir):
    """(rows, requires): the variant rows and {token: required device feature}."""
    sys.path.insert(0, shader_dir)
    import variants  # noqa: E402  (the table lives beside the shaders)
    rows = variants.variants()
    return rows, dict(getattr(variants, "REQUIRES", {}))


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


class Module:
    """Types and decorations of a SPIR-V module, parsed from spirv-dis --raw-id."""

    def __init__(self, disasm):
        self.lines = disasm.splitlines()
        self.ops, self.consts, self.offsets, self.strides = {}, {}, {}, {}
        for line in self.lines:
            m = re.match(r"\s*(%\S+) = (Op\w+)(.*)", line)
            if m:
                self.ops[m.group(1)] = (m.group(2), m.group(3).split())
                if m.group(2) == "OpConstant" and len(m.group(3).split()) == 2:
                    try:
                        self.consts[m.group(1)] = int(m.group(3).split()[1])
                    except ValueError:
                        pass
                continue
            m = re.match(r"\s*OpMemberDecorate (%\S+) (\d+) Offset (\d+)", line)
            if m:
                self.offsets[(m.group(1), int(m.group(2)))] = int(m.group(3))
            m = re.match(r"\s*OpDecorate (%\S+) ArrayStride (\d+)", line)
            if m:
                self.strides[m.group(1)] = int(m.group(2))

    def size(self, tid):
        op, rest = self.ops[tid]
        if op in ("OpTypeFloat", "OpTypeInt"):
            return int(rest[0]) // 8
        if op == "OpTypeBool":
            return 4
        if op == "OpTypeVector":
            return self.size(rest[0]) * int(rest[1])
        if op == "OpTypeArray":
            stride = self.strides.get(tid, self.size(rest[0]))
            return stride * self.consts.get(rest[1], 1)
        if op == "OpTypeStruct":
            if any((tid, i) in self.offsets for i in range(len(rest))):
                return max(self.offsets.get((tid, i), 0) + self.size(t) for i, t in enumerate(rest))
            return sum(self.size(t) for t in rest)
        if op == "OpTypePointer":
            return 8  # physical storage buffer pointer (device address)
        raise ValueError("unsized type %s %s" % (tid, op))

    def variables(self, storage):
        """Pointee types of the OpVariables of a storage class."""
        out = []
        for op, rest in self.ops.values():
            if op == "OpVariable" and len(rest) >= 2 and rest[1] == storage:
                out.append(self.ops[rest[0]][1][1])
        return out

    def shared_memory_bytes(self):
        return sum(self.size(t) for t in self.variables("Workgroup"))

    def push_constant_bytes(self):
        return sum(self.size(t) for t in self.variables("PushConstant"))

    def dynamic_coopmat_indexing(self):
        """True if an OpAccessChain indexes a Function array of cooperative
        matrices with a non-constant index."""
        consts = {i for i, (op, _) in self.ops.items() if op in ("OpConstant", "OpSpecConstant")}
        for op, rest in self.ops.values():
            if op != "OpAccessChain" or len(rest) < 3:
                continue
            base = self.ops.get(rest[1])
            if not base or base[0] != "OpVariable" or base[1][1] != "Function":
                continue
            pointee = self.ops[self.ops[base[1][0]][1][1]]
            while pointee[0] == "OpTypeArray":
                pointee = self.ops[pointee[1][0]]
            if pointee[0] == "OpTypeCooperativeMatrixNV" and any(i not in consts for i in rest[2:]):
                return True
        return False

    def local_size(self):
        for line in self.lines:
            m = re.search(r"OpExecutionMode %\S+ LocalSize (\d+) (\d+) (\d+)", line)
            if m:
                return [int(g) for g in m.groups()]
        return [1, 1, 1]


# SPIR-V opcodes and capabilities of the cooperative-matrix rewrite below.
OP_CAPABILITY, OP_EXTENSION, OP_TYPE_INT, OP_CONSTANT_TRUE, OP_CONSTANT_FALSE, OP_CONSTANT = \
    17, 10, 21, 41, 42, 43
NV_TYPE, NV_LOAD, NV_STORE, NV_MULADD, NV_LENGTH, NV_CAPABILITY = 5358, 5359, 5360, 5361, 5362, 5357
KHR_TYPE, KHR_LOAD, KHR_STORE, KHR_MULADD, KHR_CAPABILITY = 4456, 4457, 4458, 4459, 6022
# Instructions laid out <result type> <result> ... that may carry a coop-matrix value.
_TYPED_RESULT_OPS = {1, 44, 46, 61, 80, 81, 83, 169, 245, NV_LOAD, NV_MULADD}


def coopmat_nv_to_khr(code):
    """Rewrites a SPV_NV_cooperative_matrix module into SPV_KHR_cooperative_matrix.

    glslang 11 (Debian 12's) compiles only the NV extension; the KHR one
    (AMD, Intel, newer drivers) differs in form, not in meaning: each matrix
    type also names its use (MatrixA, MatrixB, Accumulator), loads and stores
    take a layout constant instead of a column-major bool, before the stride.
    The use of each type is read off the OpCooperativeMatrixMulAddNV operands;
    the shader must therefore give A and B fragments distinct types
    (matmul_coopmat.comp's COOPMAT_KHR does) and use each type in one role
    only, or this raises. The NV module is validated before the rewrite; the
    result cannot be (spirv-val 2022.4 predates the KHR extension).
    """
    words = list(struct.unpack("<%dI" % (len(code) // 4), code))
    header, bound = words[:5], words[3]
    insts, i = [], 5
    while i < len(words):
        count, op = words[i] >> 16, words[i] & 0xFFFF
        insts.append([op, words[i + 1:i + count]])
        i += count
    uint_type, bools, uints, result_type, use = None, {}, {}, {}, {}
    for op, w in insts:
        if op == OP_TYPE_INT and w[1:] == [32, 0]:
            uint_type = w[0]
        elif op in (OP_CONSTANT_TRUE, OP_CONSTANT_FALSE):
            bools[w[1]] = op == OP_CONSTANT_TRUE
        if op in _TYPED_RESULT_OPS:
            result_type[w[1]] = w[0]
        if op == NV_LENGTH:
            raise ValueError("OpCooperativeMatrixLengthNV is not rewritten")
    for op, w in insts:
        if op == NV_MULADD:
            for role, value in ((0, w[2]), (1, w[3]), (2, w[4]), (2, w[0])):
                if value not in result_type and value != w[0]:
                    raise ValueError("MulAdd operand %%%d comes from an unexpected instruction" % value)
                t = result_type.get(value, value)
                if use.setdefault(t, role) != role:
                    raise ValueError("cooperative matrix type %%%d is used as both %s and %s" %
                                     (t, "ABC"[use[t]], "ABC"[role]))
    nv_types = [w[0] for op, w in insts if op == NV_TYPE]
    if not nv_types or uint_type is None or any(t not in use for t in nv_types):
        raise ValueError("cooperative matrix types without a MulAdd role: %s" %
                         [t for t in nv_types if t not in use])
    # The use and layout operands: fresh uint constants 0, 1, 2 placed right after
    # the uint type, so that they precede the matrix types that name them.
    new_consts = []
    for v in (0, 1, 2):
        uints[v] = bound
        new_consts.append([OP_CONSTANT, [uint_type, bound, v]])
        bound += 1
    out = []
    for op, w in insts:
        if op == NV_TYPE:
            op, w = KHR_TYPE, w + [uints[use[w[0]]]]
        elif op == NV_LOAD:  # type result ptr stride colmajor [memory] -> type result ptr layout stride [memory]
            op, w = KHR_LOAD, [w[0], w[1], w[2], uints[int(bools[w[4]])], w[3]] + w[5:]
        elif op == NV_STORE:  # ptr obj stride colmajor [memory] -> ptr obj layout stride [memory]
            op, w = KHR_STORE, [w[0], w[1], uints[int(bools[w[3]])], w[2]] + w[4:]
        elif op == NV_MULADD:
            op = KHR_MULADD
        elif op == OP_CAPABILITY and w == [NV_CAPABILITY]:
            w = [KHR_CAPABILITY]
        elif op == OP_EXTENSION:
            name = struct.pack("<%dI" % len(w), *w).rstrip(b"\0")
            if name == b"SPV_NV_cooperative_matrix":
                raw = b"SPV_KHR_cooperative_matrix\0"
                raw += b"\0" * (-len(raw) % 4)
                w = list(struct.unpack("<%dI" % (len(raw) // 4), raw))
        out.append([op, w])
        if op == OP_TYPE_INT and w[0] == uint_type:
            out += new_consts  # constants right after their type, before any use
    # Self-check: every matrix type names ids defined before it (drivers crash
    # on forward references; the H200's did).
    seen = set()
    for op, w in out:
        if op == KHR_TYPE and not set(w[1:]) <= seen:
            raise ValueError("a cooperative matrix type refers to later ids: %s" % (set(w[1:]) - seen))
        seen.update(w[:2])
    header[3] = bound
    words = header + [x for op, w in out for x in [(len(w) + 1) << 16 | op] + w]
    return struct.pack("<%dI" % len(words), *words)


_glslang16_lock = threading.Lock()


def compile_glslang16(lib, token, source, defines, shader_dir, spv):
    """A "coopmat2_nv" variant through glslang 16 (SPIR-V 1.6): returns the
    disassembly (the library's spirv-dis) for the checks below."""
    sys.path.insert(0, HERE)
    import glslang16  # noqa: E402
    text = glslang16.preprocess(os.path.join(shader_dir, source), [shader_dir], defines)
    with _glslang16_lock:  # one compile at a time through the one library
        code = glslang16.compile_glsl(lib, text, token + ".comp")
        if not glslang16.validate(lib, code):
            raise RuntimeError("%s (%s): glslang16's spirv-val rejects it" % (token, source))
        # Friendly names, and comments after ';' (which spirv-dis --raw-id has not).
        disasm = re.sub(r"\s*;[^\n]*", "", glslang16.disassemble(lib, code))
    with open(spv, "wb") as f:
        f.write(code)
    return disasm


def compile_variant(row, shader_dir, workdir, msl_dir, requires="", glslang16_lib=None):
    token, source, defines = row
    spv = os.path.join(workdir, token + ".spv")
    if requires == "coopmat2_nv":
        defines = dict(defines, TFMP_FP16="1")
        disasm = compile_glslang16(glslang16_lib, token, source, defines, shader_dir, spv)
        return check_and_finish(token, source, defines, spv, disasm, workdir, msl_dir, requires)
    # TFMP_NO_OPT: left to the driver (a shader specialized at run time).
    opt = [] if defines.get("TFMP_NO_OPT") else ["-O"]
    cmd = ["glslc", "-fshader-stage=compute", "--target-env=vulkan1.2"] + opt + [
           "-I", shader_dir, os.path.join(shader_dir, source), "-o", spv]
    cmd += ["-D%s=%s" % (k, v) for k, v in sorted(defines.items())]
    if "float16_t" in " ".join(str(v) for v in defines.values()):
        cmd.append("-DTFMP_FP16=1")
    run(cmd)
    run(["spirv-val", "--target-env", "vulkan1.2", spv])
    disasm = run(["spirv-dis", "--raw-id", spv])
    return check_and_finish(token, source, defines, spv, disasm, workdir, msl_dir, requires)


def check_and_finish(token, source, defines, spv, disasm, workdir, msl_dir, requires):
    """The limit checks, the MSL translation and the result row of a compiled variant."""
    mod = Module(disasm)
    problems = []
    if re.search(r"OpTypeFloat 64", disasm):
        problems.append("uses float64")
    if re.search(r"OpCapability Int64Atomics", disasm):
        problems.append("uses 64-bit atomics")
    shared = mod.shared_memory_bytes()
    max_shared = VULKAN_FEATURE_MAX_SHARED if requires else APPLE_MAX_SHARED
    if shared > max_shared:
        problems.append("uses %d bytes of shared memory (> %d)" % (shared, max_shared))
    local = mod.local_size()
    if local[0] * local[1] * local[2] > APPLE_MAX_INVOCATIONS:
        problems.append("has %d invocations per workgroup (> %d)" %
                        (local[0] * local[1] * local[2], APPLE_MAX_INVOCATIONS))
    push = mod.push_constant_bytes()
    if push > MAX_PUSH_CONSTANTS:
        problems.append("has %d bytes of push constants (> %d)" % (push, MAX_PUSH_CONSTANTS))
    if requires and mod.dynamic_coopmat_indexing():
        # Drivers then keep every cooperative matrix of the array in local memory
        # (the H200's did: 10x slower); index with constants (unrolled code).
        problems.append("indexes an array of cooperative matrices with a non-constant index")
    if problems:
        raise RuntimeError("%s (%s): %s" % (token, source, "; ".join(problems)))
    if msl_dir and not requires:
        run(["spirv-cross", "--msl", "--msl-version", "20300", spv,
             "--output", os.path.join(msl_dir, token + ".metal")])
    with open(spv, "rb") as f:
        code = f.read()
    if requires == "coopmat_khr":
        code = coopmat_nv_to_khr(code)
        # spirv-val 2022.4 (Debian 12) predates the KHR extension; a newer one
        # (SPIRV-Tools 2023.4+) validates the rewritten module when named here.
        if os.environ.get("SPIRV_VAL_KHR"):
            khr = os.path.join(workdir, token + ".khr.spv")
            with open(khr, "wb") as f:
                f.write(code)
            run([os.environ["SPIRV_VAL_KHR"], "--target-env", "vulkan1.2", khr])
    types = " ".join(defines.get(k, "") for k in ("T", "TO"))
    return token, code, push, "float16_t" in types, "uint8_t" in types, requires


def emit_cc(results, out):
    lines = ["// Generated by tools/gen_shaders.py from kernels/shaders/variants.py. Do not edit.",
             '#include "tensorflow_metal_plugin/runtime/kernel_library.h"', "", "#include <cstring>", "",
             "namespace tfmp {", "namespace rt {", "namespace {", ""]
    for token, code, _, _, _, _ in results:
        words = [int.from_bytes(code[i:i + 4], "little") for i in range(0, len(code), 4)]
        body = ",".join("0x%08x" % w for w in words)
        lines.append("const uint32_t k_%s[] = {%s};" % (token, body))
    lines += ["", "const KernelBinary kKernels[] = {"]
    for token, code, push, fp16, int8, requires in results:
        lines.append('    {"%s", k_%s, %d, %d, %s, %s, "%s"},' % (token, token, len(code), push,
                                                                  "true" if fp16 else "false",
                                                                  "true" if int8 else "false",
                                                                  requires))
    lines += ["};", "", "}  // namespace", "",
              "const KernelBinary* FindKernelBinary(const char* name) {",
              "  for (const auto& k : kKernels)",
              "    if (std::strcmp(k.name, name) == 0) return &k;",
              "  return nullptr;", "}", "",
              "const KernelBinary* KernelBinaries(size_t* count) {",
              "  *count = sizeof(kKernels) / sizeof(kKernels[0]);",
              "  return kKernels;", "}", "",
              "}  // namespace rt", "}  // namespace tfmp", ""]
    with open(out, "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shaders", default=SHADERS, help="shader folder (with variants.py)")
    ap.add_argument("--out", help="write the embedded kernel library (C++) here")
    ap.add_argument("--msl", help="also translate every variant to Metal into this folder")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    rows, requires = load_variants(args.shaders)
    glslang16_lib = None
    if any(requires.get(r[0]) == "coopmat2_nv" for r in rows):
        sys.path.insert(0, HERE)
        import glslang16  # noqa: E402
        glslang16_lib = glslang16.library_path()
        if not glslang16_lib:
            left = [r for r in rows if requires.get(r[0]) == "coopmat2_nv"]
            print("gen_shaders: glslang 16 unavailable (tools/glslang16.py): leaving out the %d "
                  "coopmat2_nv variants (VK_NV_cooperative_matrix2 GEMMs); devices use the "
                  "coopmat_nv ones" % len(left), file=sys.stderr)
            rows = [r for r in rows if requires.get(r[0]) != "coopmat2_nv"]
    tokens = [r[0] for r in rows]
    dup = {t for t in tokens if tokens.count(t) > 1}
    if dup:
        sys.exit("duplicate shader tokens: %s" % sorted(dup))
    if args.msl:
        os.makedirs(args.msl, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(compile_variant, r, args.shaders, work, args.msl,
                                   requires.get(r[0], ""), glslang16_lib) for r in rows]
            try:
                results = [f.result() for f in futures]
            except RuntimeError as e:
                sys.exit("gen_shaders: %s" % e)
    if args.out:
        emit_cc(results, args.out)
    vulkan_only = sum(1 for r in results if r[5])
    print("gen_shaders: %d variants OK%s%s" % (
        len(results), " (Metal: %s)" % args.msl if args.msl else "",
        ", %d of them Vulkan-only (device features)" % vulkan_only if vulkan_only else ""))


if __name__ == "__main__":
    main()
