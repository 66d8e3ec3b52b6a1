# Sourced by tools/device_bench.sh and tools/device_training.sh on the GPU
# machine (docs/benchmarks.md): unpacks the Vulkan loader's .debs carried in
# .gl/ and points the loader at NVIDIA's driver; a CPU Vulkan device never
# stands in for the GPU in these numbers.
if ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
export TFMP_ALLOW_SOFTWARE_DEVICE=${TFMP_ALLOW_SOFTWARE_DEVICE:-0}
