"""The runtime: the engine that runs a shot, its state cache, and the pipelines the VapourSynth functions share."""
