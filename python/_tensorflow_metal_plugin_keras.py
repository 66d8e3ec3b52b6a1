"""Makes Keras's default `jit_compile="auto"` work on this plugin's GPU.

Keras 3 turns XLA on whenever TensorFlow lists a GPU (it special-cases only
Apple's GPUs on macOS), and XLA has no compiler for PluggableDevices: with
default arguments, `model.fit` fails with "Could not find compiler for
platform TFMP". TensorFlow gives a plugin no hook into Keras, so the wheel
installs `tensorflow_metal_plugin.pth`, which imports this module at
interpreter start. It only adds an import hook: when (and if) Keras's trainer
module is imported, its `model_supports_jit` is wrapped to answer False while
this plugin offers the GPU, exactly as Keras does for Apple's plugin. An
explicit `jit_compile=True` is left alone.

Opt out with TFMP_KERAS_XLA=1.
"""
import os
import sys

_TARGET = "keras.src.trainers.trainer"


def _plugin_offers_gpu():
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return False
    try:
        from tensorflow_metal_plugin import status

        return status() == "" and bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # never break Keras over a diagnostic
        return False


def _patch(trainer):
    original = trainer.model_supports_jit

    def model_supports_jit(model):
        if _plugin_offers_gpu():
            return False
        return original(model)

    model_supports_jit.__wrapped__ = original
    trainer.model_supports_jit = model_supports_jit


class _KerasTrainerHook:
    """A meta-path finder that only watches for Keras's trainer module."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


if os.environ.get("TFMP_KERAS_XLA") != "1" and not any(
        isinstance(f, _KerasTrainerHook) for f in sys.meta_path):
    sys.meta_path.insert(0, _KerasTrainerHook())
