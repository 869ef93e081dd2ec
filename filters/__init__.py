"""VapourSynth streaming filters: one per stage, frame <-> tensor conversion, and the errors their frame
callbacks keep."""
