"""The VapourSynth core from the PyPI wheel starts and runs std filters on real frames."""

import numpy as np
import vapoursynth as vs


def test_core_from_wheel_runs_std_filter(core):
    assert core.core_version.release_major >= 74
    clip = core.std.BlankClip(format=vs.GRAY8, width=32, height=16, length=3, color=[100])
    inverted = core.std.Invert(clip)
    frame = inverted.get_frame(2)
    plane = np.asarray(frame[0])
    assert plane.shape == (16, 32)
    assert np.all(plane == 155)
