#!/usr/bin/env python3
"""Compiles every shader variant of kernels/shaders/variants.py to SPIR-V.

Each variant is compiled with glslc, validated with spirv-val, checked against
the Apple GPU limits of DESIGN.md section 3 (no float64, no 64-bit atomics,
<= 32 KiB shared memory, <= 1024 invocations per workgroup) and, with --msl,
translated to Metal Shading Language by spirv-cross. The output is one C++
source embedding the SPIR-V (the plugin's kernel library).

  gen_shaders.py --out kernel_library.cc      # what the Bazel build runs
  gen_shaders.py --msl OUTDIR                 # Metal portability check (tests)
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SHADERS = os.path.join(os.path.dirname(HERE), "kernels", "shaders")

APPLE_MAX_SHARED = 32 * 1024
APPLE_MAX_INVOCATIONS = 1024
MAX_PUSH_CONSTANTS = 128


def load_variants(shader_dir):
    sys.path.insert(0, shader_dir)
    import variants  # noqa: E402  (the table lives beside the shaders)
    return variants.variants()


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

    def local_size(self):
        for line in self.lines:
            m = re.search(r"OpExecutionMode %\S+ LocalSize (\d+) (\d+) (\d+)", line)
            if m:
                return [int(g) for g in m.groups()]
        return [1, 1, 1]


def compile_variant(row, shader_dir, workdir, msl_dir):
    token, source, defines = row
    spv = os.path.join(workdir, token + ".spv")
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
    mod = Module(disasm)
    problems = []
    if re.search(r"OpTypeFloat 64", disasm):
        problems.append("uses float64")
    if re.search(r"OpCapability Int64Atomics", disasm):
        problems.append("uses 64-bit atomics")
    shared = mod.shared_memory_bytes()
    if shared > APPLE_MAX_SHARED:
        problems.append("uses %d bytes of shared memory (> %d)" % (shared, APPLE_MAX_SHARED))
    local = mod.local_size()
    if local[0] * local[1] * local[2] > APPLE_MAX_INVOCATIONS:
        problems.append("has %d invocations per workgroup (> %d)" %
                        (local[0] * local[1] * local[2], APPLE_MAX_INVOCATIONS))
    push = mod.push_constant_bytes()
    if push > MAX_PUSH_CONSTANTS:
        problems.append("has %d bytes of push constants (> %d)" % (push, MAX_PUSH_CONSTANTS))
    if problems:
        raise RuntimeError("%s (%s): %s" % (token, source, "; ".join(problems)))
    if msl_dir:
        run(["spirv-cross", "--msl", "--msl-version", "20300", spv,
             "--output", os.path.join(msl_dir, token + ".metal")])
    with open(spv, "rb") as f:
        code = f.read()
    types = " ".join(defines.get(k, "") for k in ("T", "TO"))
    return token, code, push, "float16_t" in types, "uint8_t" in types


def emit_cc(results, out):
    lines = ["// Generated by tools/gen_shaders.py from kernels/shaders/variants.py. Do not edit.",
             '#include "tensorflow_metal_plugin/runtime/kernel_library.h"', "", "#include <cstring>", "",
             "namespace tfmp {", "namespace rt {", "namespace {", ""]
    for token, code, _, _, _ in results:
        words = [int.from_bytes(code[i:i + 4], "little") for i in range(0, len(code), 4)]
        body = ",".join("0x%08x" % w for w in words)
        lines.append("const uint32_t k_%s[] = {%s};" % (token, body))
    lines += ["", "const KernelBinary kKernels[] = {"]
    for token, code, push, fp16, int8 in results:
        lines.append('    {"%s", k_%s, %d, %d, %s, %s},' % (token, token, len(code), push,
                                                            "true" if fp16 else "false",
                                                            "true" if int8 else "false"))
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
    rows = load_variants(args.shaders)
    tokens = [r[0] for r in rows]
    dup = {t for t in tokens if tokens.count(t) > 1}
    if dup:
        sys.exit("duplicate shader tokens: %s" % sorted(dup))
    if args.msl:
        os.makedirs(args.msl, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(compile_variant, r, args.shaders, work, args.msl) for r in rows]
            try:
                results = [f.result() for f in futures]
            except RuntimeError as e:
                sys.exit("gen_shaders: %s" % e)
    if args.out:
        emit_cc(results, args.out)
    print("gen_shaders: %d variants OK%s" % (len(results), " (Metal: %s)" % args.msl if args.msl else ""))


if __name__ == "__main__":
    main()
