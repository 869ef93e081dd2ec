"""dvcp: Deep Video Color Propagation for VapourSynth.

The VapourSynth functions ``colorize``, ``local_propagate``, ``global_match``, ``refine`` and
``shots`` (from :mod:`dvcp_plugin.vsapi`) are imported on first use, so that the CLI and training
do not load VapourSynth; ``dir()``, ``help()`` and editors see them as the package's own.
"""

import os
from typing import Any

# OpenMP threads (torch's CPU work) spin while they wait unless told otherwise; with another busy
# process on the same cores (a second dvcp, an encoder, a previewer) spinning threads take each
# other's time and both run many times slower. Waiting passively costs little when alone. This
# must be set before torch loads OpenMP; an OMP_WAIT_POLICY the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# torch's CPU allocator gives its large tensors transparent huge pages (where the system allows
# them on request): a frame's activations are fresh memory every frame, and faulting them in 2 MiB
# at a time instead of 4 KiB took a sixth of the CPU time of a 480p frame off. Read by torch at its
# first large allocation; a THP_MEM_ALLOC_ENABLE the user set is kept.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0"
__all__ = ["colorize", "global_match", "local_propagate", "refine", "shots"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import vsapi

        return getattr(vsapi, name)
    raise AttributeError(f"module 'dvcp_plugin' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
