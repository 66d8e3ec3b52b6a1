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
            _core.tfmp_fusion_set.argtypes = [ctypes.c_char_p, ctypes.c_int]
            _core.tfmp_fusion_config_json.restype = ctypes.c_char_p
            _core.tfmp_fusion_report_json.restype = ctypes.c_char_p
            _core.tfmp_fusion_optimize.restype = ctypes.c_long
            _core.tfmp_fusion_optimize.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_char_p,
                                                   ctypes.POINTER(ctypes.c_void_p)]
            _core.tfmp_free.argtypes = [ctypes.c_void_p]
            _core.tfmp_profile_json.restype = ctypes.c_char_p
            _core.tfmp_profile_text.restype = ctypes.c_char_p
            _core.tfmp_profile_text.argtypes = [ctypes.c_int]
            _core.tfmp_pipeline_cache_json.restype = ctypes.c_char_p
            _core.tfmp_pipeline_cache_save.restype = ctypes.c_char_p
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
    subgroup_size, cooperative_matrix_f16 (float16 GEMMs on matrix units) and
    cooperative_matrix (what the device offers, or why it is unused). The i-th
    entry is TensorFlow's '/GPU:i'."""
    _, core = _libs()
    if core is None:
        return []
    return json.loads(core.tfmp_devices_json().decode())["devices"]


def stats():
    """Process-wide counters of the work the plugin did (see tensorflow_metal_plugin/stats.h):
    dispatches, command_buffers, host_waits, barriers, copies_* and bytes_* each way,
    allocations, pipelines_created, runtime_thread_submits (command buffers
    submitted early by a stream's runtime thread rather than the op's, with
    TFMP_IDLE_SUBMIT=1)."""
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


# --- the Grappler pass (grappler/) --------------------------------------------

_UNSET = object()


def set_fusion(enabled=_UNSET, **switches):
    """Turns the plugin's Grappler fusions on or off, for graphs optimized from
    now on (a tf.function traced before keeps its graph: trace a new one).

        tfmp.set_fusion(False)               # the whole pass off
        tfmp.set_fusion(conv=False)          # one family off: conv, matmul, optimizer
        tfmp.set_fusion(matmul_bias_gelu_tanh=False)   # one pattern off
        tfmp.set_fusion(conv=None)           # back to the environment's say
        tfmp.set_fusion(None)                # the whole pass back to the environment's say

    These override the environment variables TFMP_FUSION=0 (pass off) and
    TFMP_FUSION_DISABLE=conv,matmul,... (families or pattern names), which
    are read at every optimization. Returns fusion_config()."""
    _, core = _libs()
    if core is None:
        return {}
    items = ([("all", enabled)] if enabled is not _UNSET else []) + list(switches.items())
    for name, value in items:
        v = -1 if value is None else int(bool(value))
        if not core.tfmp_fusion_set(name.encode(), v):
            raise ValueError("unknown fusion family or pattern %r; see fusion_config()" % name)
    return fusion_config()


def fusion_config():
    """The effective switches of the Grappler pass: {"enabled", "families":
    {name: on}, "disabled", "env", "patterns": [{"name", "family", "nodes"}]}
    (patterns largest first, the order they are tried in)."""
    _, core = _libs()
    if core is None:
        return {}
    return json.loads(core.tfmp_fusion_config_json().decode())


def fusion_report(reset=False):
    """What the Grappler pass did since the last reset: {"graphs_optimized",
    "totals": {pattern: times}, "runs": [{"nodes_before", "nodes_after",
    "device_nodes", "skipped", "fired", "fused": [{"name", "op", "pattern",
    "fused_ops"}]}]} (the last 256 runs). TF optimizes each graph twice."""
    _, core = _libs()
    if core is None:
        return {}
    report = json.loads(core.tfmp_fusion_report_json().decode())
    if reset:
        core.tfmp_fusion_reset_report()
    return report


def reset_fusion_report():
    _, core = _libs()
    if core is not None:
        core.tfmp_fusion_reset_report()


def optimize_graph_def(graph_def, preserve=()):
    """Runs the plugin's fusion pass on a tf.compat.v1.GraphDef (or its bytes)
    outside TensorFlow and returns the result as a GraphDef: only nodes placed
    on a GPU device are fused; `preserve` names nodes whose outputs must stay
    (as TF's fetch nodes). For tests and inspection."""
    import tensorflow as tf

    _, core = _libs()
    if core is None:
        raise RuntimeError("the plugin is not active: " + status())
    data = graph_def if isinstance(graph_def, bytes) else graph_def.SerializeToString()
    out = ctypes.c_void_p()
    n = core.tfmp_fusion_optimize(data, len(data), ",".join(preserve).encode(), ctypes.byref(out))
    if n < 0:
        raise ValueError("not a serialized GraphDef")
    try:
        result = ctypes.string_at(out, n)
    finally:
        core.tfmp_free(out)
    g = tf.compat.v1.GraphDef()
    g.ParseFromString(result)
    return g


# --- profiling (tensorflow_metal_plugin/profile.h) ------------------------------


def _need_core():
    _, core = _libs()
    if core is None:
        raise RuntimeError("the plugin is not active: " + status())
    return core


def start_profile():
    """Starts timing every GPU command (clearing what was gathered before).

    While on, each command buffer writes a GPU timestamp after every dispatch
    and copy, and every command waits for the one before it (so a kernel's time
    is its own; independent kernels no longer overlap). Times are read when a
    command buffer completes: no extra host waits. The host time each TF op
    spends in its kernel's Compute is recorded too. TFMP_PROFILE=1 turns this
    on for the whole process and prints the report at exit."""
    _need_core().tfmp_profile_start()


def stop_profile():
    """Stops profiling; returns profile_report() (waits for the profiled GPU work first)."""
    _need_core().tfmp_profile_stop()
    return profile_report()


def profile_report(top=None, text=False):
    """What the profile gathered so far: {"active", "wall_ms", "gpu_ms",
    "batches", "commands", "kernels": [{"name", "count", "gpu_ms", "mean_us"}]
    (largest first), "copies": [{"kind", "count", "bytes", "gpu_ms"}] (kinds
    host_to_device, device_to_host, device_to_device, fill), "ops": [{"op",
    "count", "host_ms", "mean_us"}], "timeline": {"busy_ms", "host_ms",
    "unsubmitted_ms", "launch_ms", "after_ms", "gaps", "align_us"}} - or
    with text=True a table of the `top` (default 20) largest kernels and ops.

    "timeline" says where the GPU sat idle during the wall time: waiting for
    the host to record work (host_ms: TensorFlow's executor, Python, ops'
    host code), holding recorded work not yet submitted (unsubmitted_ms),
    submitted but not started (launch_ms), and after its last work until the
    profile stopped (after_ms); busy_ms plus those four is wall_ms. It is
    None when nothing was timed."""
    core = _need_core()
    if text:
        return core.tfmp_profile_text(20 if top is None else int(top)).decode()
    report = json.loads(core.tfmp_profile_json().decode())
    if top is not None:
        report["kernels"] = report["kernels"][:top]
        report["ops"] = report["ops"][:top]
    return report


class profile:
    """Context manager around start_profile()/stop_profile():

        with tfmp.profile() as p:
            model.train_on_batch(x, y)
        print(p)            # the top-20 table
        p.report["kernels"][0]   # {"name", "count", "gpu_ms", "mean_us"}

    With cpu_ops=True it also lists the ops TensorFlow placed on the CPU, as
    p.cpu_ops = {op type: count}, from TF's run metadata: the partition graphs
    of the functions (and eager ops' kernels) TF instantiates inside the block,
    so put the first call of a tf.function (e.g. a model's first training
    step) inside it; functions instantiated before are not seen."""

    def __init__(self, top=20, cpu_ops=False):
        self.top = top
        self.cpu_ops_wanted = cpu_ops
        self.report = None
        self.text = ""
        self.cpu_ops = None

    def __enter__(self):
        if self.cpu_ops_wanted:
            from tensorflow.python.eager import context

            context.enable_run_metadata()
        start_profile()
        return self

    def __exit__(self, *exc):
        self.report = stop_profile()
        self.text = profile_report(self.top, text=True)
        if self.cpu_ops_wanted:
            from tensorflow.python.eager import context

            try:
                self.cpu_ops = _cpu_ops(context.export_run_metadata())
            finally:
                context.disable_run_metadata()
            if self.cpu_ops:
                self.text += "ops TensorFlow ran on the CPU: " + ", ".join(
                    "%s x%d" % kv for kv in sorted(self.cpu_ops.items())) + "\n"
        return False

    def __str__(self):
        return self.text


def _cpu_ops(metadata):
    """{op type: count} of the nodes placed on a CPU device in RunMetadata's
    partition graphs (TF records them when it instantiates a function, or an
    eager op's kernel, while run metadata is on)."""
    counts = {}
    if metadata is None:
        return counts
    graphs = list(metadata.partition_graphs)
    for fg in metadata.function_graphs:
        graphs.extend(fg.partition_graphs)
    skip = {"_Arg", "_Retval", "_Send", "_Recv", "_HostSend", "_HostRecv", "NoOp", "Const",
            "Identity", "_DeviceArg", "_DeviceRetval"}
    seen = set()
    for g in graphs:
        for node in g.node:
            key = (node.name, node.op, node.device)
            if key in seen or node.op in skip or ":CPU:" not in node.device.upper():
                continue
            seen.add(key)
            counts[node.op] = counts.get(node.op, 0) + 1
    return counts


# --- the pipeline cache on disk (runtime/vulkan/vk_pipeline_cache.cc) -----------


def pipeline_cache():
    """Per device: {"device", "path" ('' when TFMP_PIPELINE_CACHE=0), "loaded"
    (the file was there and valid when the device opened)}."""
    _, core = _libs()
    if core is None:
        return []
    return json.loads(core.tfmp_pipeline_cache_json().decode())


def save_pipeline_cache():
    """Writes the pipeline cache of every device now (it is written at exit
    too, when pipelines were created)."""
    err = _need_core().tfmp_pipeline_cache_save().decode()
    if err:
        raise OSError(err)
