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

Environment variables (read once, when TensorFlow loads the plugin):
    TFMP_ALLOW_SOFTWARE_DEVICE=1   also offer CPU implementations of Vulkan
                                   (Mesa's lavapipe): slow, for testing
    TFMP_VISIBLE_DEVICES=1,0       pick and order among the usable devices
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
    reset_fusion_report,
    reset_stats,
    set_fusion,
    stats,
    status,
)

__version__ = "0.1.0"
__all__ = ["devices", "stats", "reset_stats", "status", "built_for_tensorflow", "set_fusion",
           "fusion_config", "fusion_report", "reset_fusion_report", "optimize_graph_def",
           "__version__"]
