"""Blending the two chains that reach a frame between two keyframes of its shot.

Frame n with keyframes a < n < b is coloured twice: by the forward chain from a and by the
backward chain from b, each recursing on its own final chroma and matching against its own
keyframe. The two are blended per pixel by a fixed rule (no training):

    w_a = (b − n)·(ε + c_a(n)),   w_b = (n − a)·(ε + c_b(n)),
    x(n) = (w_a·x_a(n) + w_b·x_b(n)) / (w_a + w_b),

where c is each chain's global-stage confidence at n (clamped to [0, 1]) and ε =
:data:`EPSILON`. The nearer keyframe counts more, and so does the chain whose keyframe is found
again at that pixel; ε keeps the distance term where neither is. The same weights blend every
estimate (local, global, final, reliability), and the confidence itself: the result's confidence
is that of its blended global estimate.
"""

from __future__ import annotations

from torch import Tensor

from dvcp_plugin.models.propagation import StepOutput

EPSILON = 0.05


def blend_weights(
    forward_confidence: Tensor, backward_confidence: Tensor, from_a: int, to_b: int
) -> tuple[Tensor, Tensor]:
    """(w_a, w_b) of frame n from each chain's confidence, ``from_a`` = n − a and ``to_b`` = b − n (both > 0)."""
    if from_a <= 0 or to_b <= 0:
        raise ValueError(f"a blended frame lies strictly between its keyframes, got n - a = {from_a}, b - n = {to_b}")
    w_a = to_b * (EPSILON + forward_confidence.clamp(0.0, 1.0))
    w_b = from_a * (EPSILON + backward_confidence.clamp(0.0, 1.0))
    return w_a, w_b


def blend_chains(forward: StepOutput, backward: StepOutput, from_a: int, to_b: int) -> StepOutput:
    """Frame n's estimates from the forward chain (keyframe a = n − ``from_a``) and the backward chain
    (keyframe b = n + ``to_b``), blended by the rule of the module doc."""
    w_a, w_b = blend_weights(forward.confidence, backward.confidence, from_a, to_b)
    total = w_a + w_b
    return StepOutput(*((w_a * x + w_b * y) / total for x, y in zip(forward, backward, strict=True)))
