import torch

from dvcp_plugin.models.local import KernelPredictionNet, LocalPropagation
from dvcp_plugin.models.refine import RefinementNet
from dvcp_plugin.models.resolution import Grey
from dvcp_plugin.models.unet import UNet


def test_unet_keeps_odd_sizes():
    torch.manual_seed(0)
    net = UNet(3, (4, 8, 16))
    assert net(torch.rand(2, 3, 37, 53)).shape == (2, 4, 37, 53)


def test_kernel_prediction_shapes_and_normalisation():
    torch.manual_seed(0)
    net = KernelPredictionNet(kernel_size=7, widths=(8, 16, 16, 32))
    grey = torch.rand(2, 1, 37, 53)
    vertical, horizontal = net(grey, grey.roll(1, dims=-1))
    for kernel in (vertical, horizontal):
        assert kernel.shape == (2, 7, 37, 53)
        assert kernel.min() >= 0
        assert torch.allclose(kernel.sum(dim=1), torch.ones(2, 37, 53), atol=1e-5)


def test_untrained_kernels_peak_at_the_centre():
    torch.manual_seed(0)
    net = KernelPredictionNet(kernel_size=13, widths=(8, 16))
    vertical, horizontal = net(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))
    for kernel in (vertical, horizontal):
        assert torch.equal(kernel.argmax(dim=1), torch.full((1, 16, 16), 6))
        assert kernel[:, 6].min() > 0.9


def test_untrained_local_propagation_is_close_to_copy():
    torch.manual_seed(0)
    local = LocalPropagation(kernel_size=13, widths=(8, 16, 32))
    assert local.kernel_size == 13
    grey = torch.rand(1, 1, 24, 30)
    # Smooth chroma: nearly a copy when the kernel is nearly a delta.
    chroma = torch.nn.functional.interpolate(torch.rand(1, 2, 3, 4) - 0.5, size=(24, 30), mode="bilinear")
    out, reliability = local(Grey(grey, grey), Grey(grey, grey), chroma)
    assert out.shape == chroma.shape and torch.equal(reliability, torch.ones_like(grey))
    assert (out - chroma).abs().mean() < 0.01


def test_local_output_stays_within_the_range_of_the_previous_chroma():
    torch.manual_seed(1)
    local = LocalPropagation(kernel_size=5, widths=(8, 16))
    for parameter in local.parameters():
        parameter.data.normal_()  # arbitrary kernels
    chroma = torch.rand(1, 2, 20, 21) * 0.4 - 0.1
    prev, cur = torch.rand(1, 1, 20, 21), torch.rand(1, 1, 20, 21)
    out, _ = local(Grey(prev, prev), Grey(cur, cur), chroma)
    assert out.min() >= chroma.min() - 1e-6 and out.max() <= chroma.max() + 1e-6


def test_refinement_untrained_returns_local_exactly_and_keeps_odd_sizes():
    torch.manual_seed(0)
    net = RefinementNet(widths=(8, 16, 16))
    grey, local, reliability, global_, confidence = (torch.rand(2, c, 37, 53) for c in (1, 2, 1, 2, 1))
    out = net(grey, local, reliability, global_, confidence)
    assert out.shape == (2, 2, 37, 53)
    assert torch.equal(out, local)


def test_refinement_can_learn_a_correction():
    torch.manual_seed(0)
    net = RefinementNet(widths=(8, 16))
    grey, local, reliability, global_, confidence = (torch.rand(1, c, 16, 16) for c in (1, 2, 1, 2, 1))
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(30):
        loss = (net(grey, local, reliability, global_, confidence) - global_).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    fused = net(grey, local, reliability, global_, confidence)
    assert (fused - global_).abs().mean() < 0.8 * (local - global_).abs().mean()
