"""tensorflow-metal-plugin: a TensorFlow GPU device on Vulkan (and Metal, via MoltenVK).

Installing the package is all it takes: ``import tensorflow`` loads the plugin
from ``site-packages/tensorflow-plugins`` and lists a ``GPU`` device. This
module adds introspection:

    >>> import tensorflow_metal_plugin as tfmp
    >>> tfmp.devices()      # what the plugin offers, or [] with tfmp.status() saying why
    >>> tfmp.stats()        # dispatches, submits, host waits, bytes copied...
    >>> tfmp.reset_stats()
    >>> tfmp.fusion_report()   # what the Grappler pass fused (patterns, node counts)
    >>> tfmp.set_fusion(conv=False)   # switch fusion families off (or the pass: False)
    >>> with tfmp.profile() as p:     # GPU time per kernel and copy, host time per op
    ...     step()
    >>> print(p)
    >>> tfmp.pipeline_cache()         # where compiled pipelines are kept between runs

Environment variables (read once, when TensorFlow loads the plugin):
    TFMP_ALLOW_SOFTWARE_DEVICE=1   also offer CPU implementations of Vulkan
                                   (Mesa's lavapipe): slow, for testing
    TFMP_VISIBLE_DEVICES=1,0       pick and order among the usable devices
    TFMP_PROFILE=1                 profile the whole process; print the report at exit
    TFMP_CACHE_DIR=/some/dir       where the pipeline cache lives (default
                                   $XDG_CACHE_HOME or ~/.cache, /tensorflow_metal_plugin)
    TFMP_PIPELINE_CACHE=0          no pipeline cache on disk
    TFMP_BARRIERS=full             a barrier before every GPU command (default: only
                                   where commands' memory overlaps)
Read at every graph optimization (so they apply to newly traced functions):
    TFMP_FUSION=0                  the plugin's Grappler fusion pass off (default on)
    TFMP_FUSION_DISABLE=conv,matmul,optimizer  fusion families (or pattern names) off
    TFMP_FUSION_DUMP=/some/dir     write each graph before/after fusion (.pb)
"""

from tensorflow_metal_plugin._native import (
    built_for_tensorflow,
    devices,
    fusion_config,
    fusion_report,
    optimize_graph_def,
    pipeline_cache,
    profile,
    profile_report,
    reset_fusion_report,
    reset_stats,
    save_pipeline_cache,
    set_fusion,
    start_profile,
    stats,
    status,
    stop_profile,
)

__version__ = "0.1.0"
__all__ = ["devices", "stats", "reset_stats", "status", "built_for_tensorflow", "set_fusion",
           "fusion_config", "fusion_report", "reset_fusion_report", "optimize_graph_def",
           "profile", "start_profile", "stop_profile", "profile_report", "pipeline_cache",
           "save_pipeline_cache", "__version__"]
