import pytest
import torch
import torch.nn.functional as F

from dvcp_plugin.models.sepconv import per_pixel_separable_conv


def reference(image, vertical, horizontal):
    """Naive version building the full N×N kernel of every pixel."""
    batch, channels, height, width = image.shape
    size = vertical.shape[1]
    radius = size // 2
    padded = F.pad(image, (radius,) * 4, mode="replicate")
    out = torch.zeros_like(image)
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                kernel = torch.outer(vertical[b, :, y, x], horizontal[b, :, y, x])
                patch = padded[b, :, y : y + size, x : x + size]
                out[b, :, y, x] = (patch * kernel).sum(dim=(1, 2))
    return out


def one_hot(batch, size, height, width, tap):
    kernel = torch.zeros(batch, size, height, width)
    kernel[:, tap] = 1.0
    return kernel


def test_matches_reference():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 6, 7)
    vertical = torch.rand(2, 5, 6, 7)
    horizontal = torch.rand(2, 5, 6, 7)
    expected = reference(image, vertical, horizontal)
    assert torch.allclose(per_pixel_separable_conv(image, vertical, horizontal), expected, atol=1e-5)


def test_delta_kernel_is_identity():
    torch.manual_seed(1)
    image = torch.rand(1, 2, 9, 11)
    delta = one_hot(1, 7, 9, 11, 3)
    assert torch.equal(per_pixel_separable_conv(image, delta, delta), image)


@pytest.mark.parametrize("dy, dx", [(2, 0), (0, -3), (-1, 2)])
def test_offset_kernels_shift_the_image(dy, dx):
    torch.manual_seed(2)
    size, radius = 7, 3
    image = torch.rand(1, 2, 12, 14)
    out = per_pixel_separable_conv(image, one_hot(1, size, 12, 14, radius + dy), one_hot(1, size, 12, 14, radius + dx))
    # out[y, x] = image[y + dy, x + dx] wherever that lies inside the image.
    inner = out[..., radius:-radius, radius:-radius]
    source = image[..., radius + dy : 12 - radius + dy, radius + dx : 14 - radius + dx]
    assert torch.equal(inner, source)


def test_gradient_flows_to_image_and_kernels():
    torch.manual_seed(3)
    image = torch.rand(1, 2, 5, 5, requires_grad=True)
    vertical = torch.rand(1, 3, 5, 5, requires_grad=True)
    horizontal = torch.rand(1, 3, 5, 5, requires_grad=True)
    per_pixel_separable_conv(image, vertical, horizontal).square().sum().backward()
    for tensor in (image, vertical, horizontal):
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision(dtype):
    torch.manual_seed(4)
    image = torch.rand(1, 2, 6, 6)
    vertical = torch.softmax(torch.randn(1, 5, 6, 6), dim=1)
    horizontal = torch.softmax(torch.randn(1, 5, 6, 6), dim=1)
    out = per_pixel_separable_conv(image.to(dtype), vertical.to(dtype), horizontal.to(dtype))
    assert out.dtype == dtype
    assert torch.allclose(out.float(), per_pixel_separable_conv(image, vertical, horizontal), atol=2e-2)


def test_shape_errors():
    image = torch.rand(1, 2, 6, 6)
    with pytest.raises(ValueError, match="odd"):
        per_pixel_separable_conv(image, torch.rand(1, 4, 6, 6), torch.rand(1, 4, 6, 6))
    with pytest.raises(ValueError, match="differ"):
        per_pixel_separable_conv(image, torch.rand(1, 3, 6, 6), torch.rand(1, 5, 6, 6))
    with pytest.raises(ValueError, match="do not match"):
        per_pixel_separable_conv(image, torch.rand(1, 3, 6, 5), torch.rand(1, 3, 6, 5))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        per_pixel_separable_conv(torch.rand(2, 6, 6), torch.rand(1, 3, 6, 6), torch.rand(1, 3, 6, 6))
