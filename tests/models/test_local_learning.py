import pytest
import torch
import torch.nn.functional as F

from dvcp_plugin.models.color import rgb_to_luma_chroma
from dvcp_plugin.models.local import LocalPropagation
from dvcp_plugin.models.resolution import Grey

SIZE = 32
MARGIN = 4  # border pixels whose content may enter from outside the frame
MAX_SHIFT = 2


def moving_texture_batch(batch: int, generator: torch.Generator):
    """Pairs of frames of a smooth random colour texture translated by up to MAX_SHIFT pixels."""
    canvas_size = SIZE + 2 * MAX_SHIFT
    coarse = torch.rand(batch, 3, 7, 7, generator=generator)
    canvas = F.interpolate(coarse, size=(canvas_size, canvas_size), mode="bicubic", align_corners=False).clamp(0, 1)
    luma, chroma = rgb_to_luma_chroma(canvas)
    shifts = torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (batch, 2), generator=generator)
    prev_luma, prev_chroma, cur_luma, cur_chroma = [], [], [], []
    for b, (dy, dx) in enumerate(shifts.tolist()):
        still = (slice(MAX_SHIFT, MAX_SHIFT + SIZE),) * 2
        moved = (slice(MAX_SHIFT + dy, MAX_SHIFT + dy + SIZE), slice(MAX_SHIFT + dx, MAX_SHIFT + dx + SIZE))
        prev_luma.append(luma[b, :, still[0], still[1]])
        prev_chroma.append(chroma[b, :, still[0], still[1]])
        cur_luma.append(luma[b, :, moved[0], moved[1]])
        cur_chroma.append(chroma[b, :, moved[0], moved[1]])
    return tuple(torch.stack(frames) for frames in (prev_luma, cur_luma, prev_chroma, cur_chroma))


def interior_l1(estimate, target):
    inner = (..., slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    return (estimate[inner] - target[inner]).abs().mean()


@pytest.mark.slow
def test_training_on_moving_textures_learns_the_motion():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = LocalPropagation(kernel_size=7, widths=(16, 32, 32))
    validation = moving_texture_batch(16, torch.Generator().manual_seed(123))

    def validation_loss():
        with torch.no_grad():
            grey_prev, grey_cur, chroma_prev, chroma_cur = validation
            estimate = model(Grey(grey_prev, grey_prev), Grey(grey_cur, grey_cur), chroma_prev)[0]
            return interior_l1(estimate, chroma_cur).item()

    copy_loss = interior_l1(validation[2], validation[3]).item()
    initial = validation_loss()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(500):
        grey_prev, grey_cur, chroma_prev, chroma_cur = moving_texture_batch(8, generator)
        loss = interior_l1(model(Grey(grey_prev, grey_prev), Grey(grey_cur, grey_cur), chroma_prev)[0], chroma_cur)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    final = validation_loss()
    print(f"copy {copy_loss:.4f} initial {initial:.4f} final {final:.4f}")
    assert final < 0.6 * initial
    assert final < 0.6 * copy_loss
