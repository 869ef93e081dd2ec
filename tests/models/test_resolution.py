"""The working resolution shared by the engine and training."""

import torch

from dvcp_plugin.models.resolution import downscale, working_size


def test_working_size_rounds_and_keeps_a_minimum():
    assert working_size(480, 854, 0.5) == (240, 427)
    assert working_size(10, 10, 0.25) == (8, 8)


def test_downscale_keeps_leading_dimensions_and_averages():
    image = torch.rand(3, 2, 40, 60)
    small = downscale(image, (20, 30))
    assert small.shape == (3, 2, 20, 30)
    assert torch.allclose(small[1], downscale(image[1], (20, 30)))
    flat = torch.full((2, 16, 16), 0.25)
    assert torch.allclose(downscale(flat, (5, 7)), torch.full((2, 5, 7), 0.25))
    assert downscale(image, (40, 60)) is image
