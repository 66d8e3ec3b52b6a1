#!/usr/bin/env python3
"""Packs the Bazel outputs and the Python package into a wheel.

The wheel puts the loader into site-packages/tensorflow-plugins/ (where
`import tensorflow` finds it) and the core library beside the Python package.
The Python side uses ctypes, so the wheel is for any Python 3 ("py3-none");
the libraries make it platform-specific.

  build_wheel.py --loader L.so --core C.so --tf-version 2.21.0 --out dist/
"""
import argparse
import base64
import hashlib
import os
import platform
import zipfile

NAME = "tensorflow_metal_plugin"
DIST = "tensorflow-metal-plugin"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def version():
    with open(os.path.join(ROOT, "python", NAME, "__init__.py")) as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=")[1].strip().strip('"')
    raise SystemExit("no __version__ in the package")


def record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loader", required=True)
    ap.add_argument("--core", required=True)
    ap.add_argument("--tf-version", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "dist"))
    args = ap.parse_args()

    ver = version()
    tag = "py3-none-linux_%s" % platform.machine()
    files = {}
    pkg = os.path.join(ROOT, "python", NAME)
    for fn in sorted(os.listdir(pkg)):
        if fn.endswith(".py"):
            with open(os.path.join(pkg, fn), "rb") as f:
                files["%s/%s" % (NAME, fn)] = f.read()
    # The Keras hook (see its docstring) and the .pth line that loads it.
    with open(os.path.join(ROOT, "python", "_tensorflow_metal_plugin_keras.py"), "rb") as f:
        files["_tensorflow_metal_plugin_keras.py"] = f.read()
    files["tensorflow_metal_plugin.pth"] = b"import _tensorflow_metal_plugin_keras\n"
    with open(args.core, "rb") as f:
        files["%s/libtfmp_core.so" % NAME] = f.read()
    with open(args.loader, "rb") as f:
        files["tensorflow-plugins/libtensorflow_metal_plugin.so"] = f.read()

    dist_info = "%s-%s.dist-info" % (NAME, ver)
    files[dist_info + "/METADATA"] = (
        "Metadata-Version: 2.1\n"
        "Name: %s\n"
        "Version: %s\n"
        "Summary: TensorFlow GPU device on Vulkan (and Metal via MoltenVK), built for TensorFlow %s\n"
        "Requires-Python: >=3.9\n"
        "License: Apache-2.0\n" % (DIST, ver, args.tf_version)).encode()
    files[dist_info + "/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: tools/build_wheel.py\nRoot-Is-Purelib: false\nTag: %s\n" % tag).encode()
    files[dist_info + "/top_level.txt"] = (NAME + "\n").encode()
    record = [record_line(k, v) for k, v in files.items()] + [dist_info + "/RECORD,,"]
    files[dist_info + "/RECORD"] = ("\n".join(record) + "\n").encode()

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "%s-%s-%s.whl" % (NAME, ver, tag))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in files.items():
            info = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if arcname.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    print(path)


if __name__ == "__main__":
    main()
