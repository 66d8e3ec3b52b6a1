"""tensorflow-metal-plugin: a TensorFlow GPU device on Vulkan (and Metal, via MoltenVK).

Installing the package is all it takes: ``import tensorflow`` loads the plugin
from ``site-packages/tensorflow-plugins`` and lists a ``GPU`` device. This
module adds introspection:

    >>> import tensorflow_metal_plugin as tfmp
    >>> tfmp.devices()      # what the plugin offers, or [] with tfmp.status() saying why
    >>> tfmp.stats()        # dispatches, submits, host waits, bytes copied...
    >>> tfmp.reset_stats()

Environment variables (read once, when TensorFlow loads the plugin):
    TFMP_ALLOW_SOFTWARE_DEVICE=1   also offer CPU implementations of Vulkan
                                   (Mesa's lavapipe): slow, for testing
    TFMP_VISIBLE_DEVICES=1,0       pick and order among the usable devices
"""

from tensorflow_metal_plugin._native import built_for_tensorflow, devices, reset_stats, stats, status

__version__ = "0.1.0"
__all__ = ["devices", "stats", "reset_stats", "status", "built_for_tensorflow", "__version__"]
