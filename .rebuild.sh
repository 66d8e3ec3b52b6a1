set -e
cd /tmp/wt-conv
PY=/tmp/wt-conv/.venv/bin/python
bazel --output_base=/tmp/bazel-conv build --repo_env=PYTHON_BIN_PATH=$PY //tensorflow_metal_plugin:all //tests:runtime_test //tools:kernel_bench
rm -rf dist && $PY tools/build_wheel.py --tf-version 2.21.0 --loader bazel-bin/tensorflow_metal_plugin/libtensorflow_metal_plugin.so --core bazel-bin/tensorflow_metal_plugin/libtfmp_core.so --out dist
$PY -m pip install -q --force-reinstall --no-deps dist/*.whl
