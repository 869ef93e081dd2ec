"""Training losses of the paper: L1 on the final chroma and L1 on the local estimate."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def dvcp_losses(
    final: Tensor, local: Tensor, target: Tensor, local_weight: float = 1.0
) -> tuple[Tensor, dict[str, float]]:
    """Return ``L1(final, target) + local_weight · L1(local, target)`` and its parts as floats."""
    final_loss = F.l1_loss(final, target)
    local_loss = F.l1_loss(local, target)
    total = final_loss + local_weight * local_loss
    return total, {"final": final_loss.item(), "local": local_loss.item(), "total": total.item()}
