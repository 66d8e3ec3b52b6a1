"""Finds the installed TensorFlow by asking it (tf.sysconfig), never by path.

The Python interpreter comes from PYTHON_BIN_PATH (the Makefile passes the
project's .venv), else python3 on PATH.
"""

def _tf_configure_impl(rctx):
    python = rctx.os.environ.get("PYTHON_BIN_PATH", "") or str(rctx.which("python3"))
    script = "\n".join([
        "import os, sys",
        "os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'",
        "import tensorflow as tf",
        "print(tf.sysconfig.get_include())",
        "print(tf.sysconfig.get_lib())",
        "print(tf.__version__)",
        "print(' '.join(f for f in tf.sysconfig.get_compile_flags() if not f.startswith('-I')))",
    ])
    res = rctx.execute([python, "-c", script])
    if res.return_code != 0:
        fail("tf_configure: could not import tensorflow with %s:\n%s" % (python, res.stderr))
    lines = res.stdout.strip().split("\n")
    include, lib, version, flags = lines[-4], lines[-3], lines[-2], lines[-1]
    rctx.symlink(include, "include")
    rctx.symlink(lib + "/libtensorflow_framework.so.2", "libtensorflow_framework.so.2")
    rctx.symlink(lib + "/libtensorflow_cc.so.2", "libtensorflow_cc.so.2")
    defines = [f[2:] for f in flags.split(" ") if f.startswith("-D")]
    rctx.file("BUILD", """
package(default_visibility = ["//visibility:public"])

cc_library(
    name = "headers",
    hdrs = glob(["include/tensorflow/**/*.h", "include/tensorflow/**/*.inc",
                 "include/google/**/*.h", "include/google/**/*.inc",
                 "include/absl/**/*.h", "include/absl/**/*.inc",
                 "include/third_party/**", "include/unsupported/**", "include/Eigen/**",
                 "include/tsl/**/*.h", "include/xla/**/*.h"],
                allow_empty = True),
    includes = ["include"],
    defines = %s,
)

cc_import(
    name = "framework",
    shared_library = "libtensorflow_framework.so.2",
)

cc_import(
    name = "tensorflow_cc",
    shared_library = "libtensorflow_cc.so.2",
)
""" % repr(defines))
    rctx.file("version.bzl", "TF_VERSION = %r\nTF_COMPILE_FLAGS = %r\n" % (version, flags))

tf_configure = repository_rule(
    implementation = _tf_configure_impl,
    environ = ["PYTHON_BIN_PATH"],
    local = True,
)
