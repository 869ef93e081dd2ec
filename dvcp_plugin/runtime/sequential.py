"""One shot coloured in a single pass from keyframes at any of its frames, without VapourSynth.

The same method as the state cache (forward and backward chains between keyframes, blended by
:func:`~dvcp_plugin.models.bidirectional.blend_chains`), computed in the plainest order: for each
stretch between two keyframes the backward chain first, held, then the forward chain, blended
frame by frame. ``dvcp eval`` colours its sequences this way, and the tests take it as the
reference that any request order of the state cache must reproduce.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import torch

from ..errors import DvcpError
from ..models.bidirectional import blend_chains
from .engine import Engine, KeyState, StepOutput


def propagate_shot(
    engine: Engine, greys: Sequence[torch.Tensor], keys: Mapping[int, torch.Tensor]
) -> Iterator[StepOutput]:
    """Colour one shot: full-resolution greys (H,W), ``keys`` {frame: full-resolution chroma (2,H,W)}.

    Yields every frame's :class:`StepOutput` at the working resolution, in frame order; a keyframe's
    is its own chroma (:meth:`Engine.key_output`).
    """
    positions = sorted(keys)
    if not positions or positions[0] < 0 or positions[-1] >= len(greys):
        raise DvcpError(f"keyframes {positions} must be frames of the shot (0-{len(greys) - 1}), at least one")
    states: dict[int, KeyState] = {}

    def chain(k: int, frames: range) -> Iterator[StepOutput]:
        if k not in states:
            states[k] = engine.prepare_key(greys[k], keys[k])
        final, prev = engine.key_output(keys[k]).final, engine.to_grey(greys[k])
        for m in frames:
            cur = engine.to_grey(greys[m])
            out = engine.step(states[k], prev, cur, final)
            yield out
            final, prev = out.final, cur

    first, last = positions[0], positions[-1]
    yield from reversed(list(chain(first, range(first - 1, -1, -1))))
    for a, b in zip(positions, positions[1:], strict=False):
        yield engine.key_output(keys[a])
        backward = list(chain(b, range(b - 1, a, -1)))[::-1]
        for n, forward, back in zip(range(a + 1, b), chain(a, range(a + 1, b)), backward, strict=True):
            yield blend_chains(forward, back, n - a, b - n)
    yield engine.key_output(keys[last])
    yield from chain(last, range(last + 1, len(greys)))
