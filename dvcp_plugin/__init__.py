"""dvcp: Deep Video Color Propagation for VapourSynth.

``colorize``, ``local_propagate``, ``global_match`` and ``refine`` (from :mod:`dvcp_plugin.vsapi`)
are imported on first use, so that the CLI and training do not load VapourSynth.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["colorize", "global_match", "local_propagate", "refine"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import vsapi

        return getattr(vsapi, name)
    raise AttributeError(f"module 'dvcp_plugin' has no attribute {name!r}")
