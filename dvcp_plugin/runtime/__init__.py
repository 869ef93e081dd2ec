"""The runtime: the engine that runs a shot on its own torch threads, its state cache, the pipelines the
VapourSynth functions share and the engines they share, shot lists, and one-pass shot colouring."""
