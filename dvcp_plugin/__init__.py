"""dvcp: Deep Video Color Propagation for VapourSynth."""

__version__ = "0.1.0"
