"""Benchmarks: speed, memory and FLOPs of the engine and the VapourSynth filter, and their report."""
