import pytest
import torch

from dvcp_plugin.models.color import MATRICES, luma_chroma_to_rgb, rgb_to_luma_chroma


@pytest.mark.parametrize("matrix", ["601", "709"])
def test_round_trip(matrix):
    torch.manual_seed(0)
    rgb = torch.rand(2, 3, 5, 7)
    luma, chroma = rgb_to_luma_chroma(rgb, matrix)
    assert luma.shape == (2, 1, 5, 7) and chroma.shape == (2, 2, 5, 7)
    assert torch.allclose(luma_chroma_to_rgb(luma, chroma, matrix), rgb, atol=1e-5)


@pytest.mark.parametrize("matrix", ["601", "709"])
def test_luma_uses_matrix_coefficients_and_chroma_is_zero_centred(matrix):
    kr, kb = MATRICES[matrix]
    torch.manual_seed(1)
    rgb = torch.rand(1, 3, 4, 4)
    luma, chroma = rgb_to_luma_chroma(rgb, matrix)
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    assert torch.allclose(luma, kr * r + (1 - kr - kb) * g + kb * b, atol=1e-6)
    grey = torch.full((1, 3, 2, 2), 0.4)
    assert torch.allclose(rgb_to_luma_chroma(grey, matrix)[1], torch.zeros(1, 2, 2, 2), atol=1e-6)
    extremes = torch.eye(3).view(3, 3, 1, 1)
    chroma_extremes = rgb_to_luma_chroma(extremes, matrix)[1]
    assert chroma_extremes.min() >= -0.5 - 1e-6 and chroma_extremes.max() <= 0.5 + 1e-6
    # Pure blue reaches Cb = +0.5, pure red Cr = +0.5 (kornia rounds its 601 coefficients to 3 digits).
    assert chroma_extremes[2, 0].item() == pytest.approx(0.5, abs=1e-3)
    assert chroma_extremes[0, 1].item() == pytest.approx(0.5, abs=1e-3)


def test_601_luma_is_bt601():
    rgb = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1)
    luma, _ = rgb_to_luma_chroma(rgb, "601")
    assert luma.item() == pytest.approx(0.299 * 0.2 + 0.587 * 0.5 + 0.114 * 0.9, abs=1e-6)


def test_709_differs_from_601():
    rgb = torch.tensor([0.9, 0.1, 0.3]).view(1, 3, 1, 1)
    assert not torch.allclose(rgb_to_luma_chroma(rgb, "601")[0], rgb_to_luma_chroma(rgb, "709")[0])


def test_output_is_clamped():
    luma = torch.ones(1, 1, 2, 2)
    chroma = torch.full((1, 2, 2, 2), 0.5)
    rgb = luma_chroma_to_rgb(luma, chroma)
    assert rgb.min() >= 0 and rgb.max() <= 1


def test_unknown_matrix_names_choices():
    with pytest.raises(ValueError, match="601.*709"):
        rgb_to_luma_chroma(torch.rand(1, 3, 2, 2), "2020")
    with pytest.raises(ValueError, match="601.*709"):
        luma_chroma_to_rgb(torch.rand(1, 1, 2, 2), torch.rand(1, 2, 2, 2), "bt2020")
