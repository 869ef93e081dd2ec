import pytest
import torch
import torch.nn.functional as F

from dvcp_plugin.models.features import CompactEncoder
from dvcp_plugin.models.global_stage import GlobalMatching, KeyState
from dvcp_plugin.models.local import LocalPropagation
from dvcp_plugin.models.losses import dvcp_losses
from dvcp_plugin.models.propagation import StepOutput, propagate_step
from dvcp_plugin.models.refine import RefinementNet
from dvcp_plugin.models.resolution import Grey


def grey_of(seed=0) -> Grey:
    grey = texture(seed=seed)[:, :1]
    return Grey(grey, grey)


def texture(height=37, width=53, seed=0):
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 4, width // 4, generator=generator)
    return F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)


@pytest.fixture
def stage():
    torch.manual_seed(0)
    return GlobalMatching(CompactEncoder(fine_channels=16, coarse_channels=32))


def test_prepare_key_puts_chroma_on_the_fine_grid(stage):
    grey = grey_of()
    chroma = torch.rand(1, 2, 37, 53) - 0.5
    key = stage.prepare_key(grey, chroma)
    assert isinstance(key, KeyState)
    assert key.fine_chroma.shape == (1, 2, 19, 27) == (1, 2, *key.features.fine.shape[-2:])
    assert key.fine_chroma.mean().item() == pytest.approx(chroma.mean().item(), abs=0.02)
    uniform = stage.prepare_key(grey, torch.full((1, 2, 37, 53), 0.25))
    assert torch.allclose(uniform.fine_chroma, torch.full_like(uniform.fine_chroma, 0.25))


def test_matching_the_keyframe_to_itself_is_fully_confident(stage):
    grey = grey_of()
    key = stage.prepare_key(grey, torch.rand(1, 2, 37, 53) - 0.5)
    chroma, confidence = stage(grey, key)
    assert chroma.shape == (1, 2, 37, 53) and confidence.shape == (1, 1, 37, 53)
    assert torch.allclose(confidence, torch.ones_like(confidence))


def test_matching_estimates_are_differentiable_in_both_feature_heads(stage):
    grey = grey_of()
    key = stage.prepare_key(grey, torch.rand(1, 2, 37, 53) - 0.5)
    rolled = grey.work.roll(2, dims=-1)
    fine, coarse = stage.matching_estimates(Grey(rolled, rolled), key)
    assert fine.shape == coarse.shape == (1, 2, 37, 53)
    (fine.square().sum() + coarse.square().sum()).backward()
    assert stage.extractor.fine_head.weight.grad.abs().sum() > 0
    assert stage.extractor.coarse_head.weight.grad.abs().sum() > 0


def test_propagate_step_combines_the_stages(stage):
    torch.manual_seed(1)
    local_stage = LocalPropagation(kernel_size=5, widths=(8, 16))
    refine_stage = RefinementNet(widths=(8, 16))
    grey_prev, grey_cur = grey_of(seed=1), grey_of(seed=2)
    chroma_prev = torch.rand(1, 2, 37, 53) - 0.5
    key = stage.prepare_key(grey_prev, chroma_prev)
    step = propagate_step(local_stage, stage, refine_stage, key, grey_prev, grey_cur, chroma_prev)
    assert isinstance(step, StepOutput)
    assert torch.equal(step.local, local_stage(grey_prev, grey_cur, chroma_prev)[0])
    assert torch.equal(step.reliability, torch.ones_like(step.reliability))  # the paper's stage has none
    global_chroma, confidence = stage(grey_cur, key)
    assert torch.equal(step.global_, global_chroma) and torch.equal(step.confidence, confidence)
    assert torch.equal(step.final, step.local)  # untrained refinement returns the local estimate
    with torch.no_grad():
        refine_stage.head.bias.fill_(3.0)
    pushed = propagate_step(local_stage, stage, refine_stage, key, grey_prev, grey_cur, chroma_prev)
    assert torch.equal(pushed.final, torch.full_like(pushed.final, 0.5))


def test_losses():
    target = torch.zeros(1, 2, 4, 4)
    final = torch.full_like(target, 0.1)
    local = torch.full_like(target, -0.3)
    total, parts = dvcp_losses(final, local, target, local_weight=0.5)
    assert parts["final"] == pytest.approx(0.1)
    assert parts["local"] == pytest.approx(0.3)
    assert parts["total"] == pytest.approx(0.25) == total.item()
    assert total.requires_grad is False
    final.requires_grad_(True)
    dvcp_losses(final, local, target)[0].backward()
    assert final.grad.abs().sum() > 0
