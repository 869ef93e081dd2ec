"""VapourSynth streaming filters: one per stage, and frame <-> tensor conversion."""
