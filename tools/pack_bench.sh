#!/bin/bash
# Builds tools/kernel_bench here and packs what the GPU machine needs into
# .bench/ (git-ignored; carry it with .gl/): the binary (self-contained: only
# libc/libm stay dynamic, the Vulkan loader is dlopened), and for a fallback
# build there with g++ if the binary does not run: the generated kernel
# library source and the Vulkan headers. See docs/benchmarks.md.
#   bash tools/pack_bench.sh [bazel --output_base]   (then carry .gl and .bench)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-}
# The Python with TensorFlow that the build's @local_tf repository reads
# (make build's: .venv); PYTHON_BIN_PATH overrides.
if [ -z "${PYTHON_BIN_PATH:-}" ] && [ -x .venv/bin/python ]; then PY=$PWD/.venv/bin/python
else PY=${PYTHON_BIN_PATH:-$(command -v python3)}; fi
bazel ${BASE:+--output_base=$BASE} build --repo_env=PYTHON_BIN_PATH="$PY" //tools:kernel_bench >/dev/null 2>&1 ||
  { echo "bazel build //tools:kernel_bench failed" >&2; exit 1; }
rm -rf .bench && mkdir -p .bench/include/vulkan
cp bazel-bin/tools/kernel_bench .bench/
cp bazel-bin/kernels/shaders/kernel_library.cc .bench/
cp /usr/include/vulkan/vulkan.h /usr/include/vulkan/vulkan_core.h /usr/include/vulkan/vk_platform.h \
  .bench/include/vulkan/
[ -d /usr/include/vk_video ] && cp -r /usr/include/vk_video .bench/include/
chmod -R u+w .bench
if ldd .bench/kernel_bench | grep -Eq "tensorflow|libstdc\+\+|libvulkan"; then
  echo "kernel_bench is not self-contained:" >&2; ldd .bench/kernel_bench >&2; exit 1
fi
du -sh .bench
