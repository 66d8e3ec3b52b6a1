# tensorflow-metal-plugin: the two front-door commands are
#   make demo   set up from scratch, build, install, train a Keras model on the device
#   make test   set up from scratch, build, install, run the test suite
# Everything Python lives in .venv at the root; system packages come from apt.

PYTHON      ?= python3
VENV        := .venv
PY          := $(CURDIR)/$(VENV)/bin/python
TF_VERSION  := 2.21.0
# A second TensorFlow release, to test that the plugin declines cleanly there.
OTHER_TF    := 2.20.0
OTHER_VENV  := .venv-tf$(subst .,,$(OTHER_TF))
BAZEL       := bazel
BAZEL_FLAGS := --repo_env=PYTHON_BIN_PATH=$(PY)
WHEEL       := dist/tensorflow_metal_plugin-$(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' python/tensorflow_metal_plugin/__init__.py)-py3-none-linux_$(shell uname -m).whl
APT_PACKAGES := bazel-bootstrap bazel-rules-java glslc spirv-tools spirv-cross libvulkan-dev \
                libvulkan1 mesa-vulkan-drivers
export XDG_RUNTIME_DIR ?= /tmp/tfmp-xdg-$(shell id -u)

.PHONY: all deps venv build install test demo bench clean

all: install

# System packages (Debian 12): compilers for shaders, Bazel, the Vulkan loader
# and Mesa's lavapipe (the CPU Vulkan device used for testing).
deps: .deps-ok
.deps-ok:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	@touch $@

venv: $(VENV)/.ok
$(VENV)/.ok: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	@touch $@

$(OTHER_VENV)/.ok:
	$(PYTHON) -m venv $(OTHER_VENV)
	$(OTHER_VENV)/bin/pip install -q tensorflow-cpu==$(OTHER_TF)
	@touch $@

build: deps venv
	@# glslang 16 for the VK_NV_cooperative_matrix2 shaders (tools/glslang16.py), fetched
	@# with the venv's pip into ~/.cache/tfmp before Bazel's genrule looks for it there.
	@$(PY) tools/glslang16.py --fetch >/dev/null || echo "warning: glslang 16 unavailable: the build leaves the coopmat2 GEMM kernels out"
	$(BAZEL) build $(BAZEL_FLAGS) //tensorflow_metal_plugin:all //tests:runtime_test //tools:kernel_bench
	@rm -rf dist && $(PY) tools/build_wheel.py --tf-version $(TF_VERSION) \
	  --loader bazel-bin/tensorflow_metal_plugin/libtensorflow_metal_plugin.so \
	  --core bazel-bin/tensorflow_metal_plugin/libtfmp_core.so --out dist

install: build
	$(VENV)/bin/pip install -q --force-reinstall --no-deps $(WHEEL)

test: install $(OTHER_VENV)/.ok
	TFMP_OTHER_TF_PYTHON=$(CURDIR)/$(OTHER_VENV)/bin/python TFMP_WHEEL=$(CURDIR)/$(WHEEL) \
	  $(PY) -m pytest -q tests

demo: install
	$(PY) tools/demo.py

clean:
	-$(BAZEL) clean
	rm -rf dist .deps-ok
