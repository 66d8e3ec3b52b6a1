"""ctypes bindings to the plugin's libraries (no compiled Python extension, so
one wheel serves every Python version).

TensorFlow loads the loader (tensorflow-plugins/libtensorflow_metal_plugin.so)
and, when it accepts, the core (tensorflow_metal_plugin/libtfmp_core.so).
ctypes opens the same files, so it shares their state (one dlopen handle).
"""
import ctypes
import json
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_CORE = os.path.join(_HERE, "libtfmp_core.so")
_LOADER = os.path.join(os.path.dirname(_HERE), "tensorflow-plugins", "libtensorflow_metal_plugin.so")

_loader = None
_core = None


def _libs():
    """Imports TensorFlow (which runs the loader), then binds both libraries."""
    global _loader, _core
    if _loader is None:
        import tensorflow  # noqa: F401  (loads the plugin)

        _loader = ctypes.CDLL(_LOADER)
        _loader.tfmp_loader_status.restype = ctypes.c_char_p
        _loader.tfmp_built_for_tf.restype = ctypes.c_char_p
        # Bind the core only where the loader accepted it: in another TF
        # release it may not even load.
        if _loader.tfmp_loader_status().decode() == "":
            _core = ctypes.CDLL(_CORE)
        if _core is not None:
            _core.tfmp_devices_json.restype = ctypes.c_char_p
            _core.tfmp_stats_names.restype = ctypes.c_char_p
            _core.tfmp_stats.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_int]
    return _loader, _core


def status():
    """'' when the plugin offers its devices to TensorFlow; otherwise the reason it declined."""
    loader, _ = _libs()
    return loader.tfmp_loader_status().decode()


def built_for_tensorflow():
    """The TensorFlow release this build of the plugin is for."""
    loader, _ = _libs()
    return loader.tfmp_built_for_tf().decode()


def devices():
    """The devices the plugin offers, as dicts: name, backend, driver, vendor,
    memory_bytes, software, unified_memory, float16, max_shared_memory,
    subgroup_size. The i-th entry is TensorFlow's '/GPU:i'."""
    _, core = _libs()
    if core is None:
        return []
    return json.loads(core.tfmp_devices_json().decode())["devices"]


def stats():
    """Process-wide counters of the work the plugin did (see tensorflow_metal_plugin/stats.h):
    dispatches, command_buffers, host_waits, barriers, copies_* and bytes_* each way,
    allocations, pipelines_created."""
    _, core = _libs()
    if core is None:
        return {}
    names = [n for n in core.tfmp_stats_names().decode().split(",") if n]
    values = (ctypes.c_uint64 * len(names))()
    core.tfmp_stats(values, len(names))
    return dict(zip(names, (int(v) for v in values)))


def reset_stats():
    """Sets every counter of stats() to zero."""
    _, core = _libs()
    if core is not None:
        core.tfmp_reset_stats()
