"""Makes Keras's defaults work on this plugin's GPU.

Keras 3 assumes any GPU TensorFlow lists is a CUDA GPU in two places:
- `jit_compile="auto"` turns XLA on (it special-cases only Apple's GPUs on
  macOS), and XLA has no compiler for PluggableDevices: `model.fit` fails with
  "Could not find compiler for platform TFMP";
- LSTM and GRU take the cuDNN path (the CudnnRNNV3 op, which has no kernel
  here nor on the CPU): `model.fit` fails with "No OpKernel was registered to
  support Op 'CudnnRNNV3'".
TensorFlow gives a plugin no hook into Keras, so the wheel installs
`tensorflow_metal_plugin.pth`, which imports this module at interpreter start.
It only adds an import hook: when (and if) Keras's modules are imported,
`trainer.model_supports_jit` and the TF backend's `rnn.cudnn_ok` are wrapped to
answer False while this plugin offers the GPU (as Keras does for Apple's
plugin). LSTM/GRU then run Keras's generic recurrent loop, on the device. An
explicit `jit_compile=True` is left alone.

Opt out with TFMP_KERAS_XLA=1 (XLA) and TFMP_KERAS_CUDNN=1 (cuDNN RNNs).
"""
import os
import sys

# module -> (function wrapped to answer False while the plugin offers the GPU,
# the environment variable that leaves it alone)
_TARGETS = {
    "keras.src.trainers.trainer": ("model_supports_jit", "TFMP_KERAS_XLA"),
    "keras.src.backend.tensorflow.rnn": ("cudnn_ok", "TFMP_KERAS_CUDNN"),
}


def _plugin_offers_gpu():
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return False
    try:
        from tensorflow_metal_plugin import status

        return status() == "" and bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # never break Keras over a diagnostic
        return False


def _patch(module, name):
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        if _plugin_offers_gpu():
            return False
        return original(*args, **kwargs)

    wrapper.__wrapped__ = original
    wrapper.__name__ = name
    setattr(module, name, wrapper)


def _wanted():
    return {m: f for m, (f, opt_out) in _TARGETS.items() if os.environ.get(opt_out) != "1"}


class _KerasTrainerHook:
    """A meta-path finder that only watches for the Keras modules above."""

    def find_spec(self, fullname, path, target=None):
        name = _wanted().get(fullname)
        if name is None:
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
            _patch(module, name)

        spec.loader.exec_module = exec_and_patch
        return spec


if _wanted() and not any(isinstance(f, _KerasTrainerHook) for f in sys.meta_path):
    sys.meta_path.insert(0, _KerasTrainerHook())
