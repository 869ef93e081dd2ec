import torch
import torch.nn.functional as F

from dvcp_plugin.models.features import FeaturePair
from dvcp_plugin.models.matching import (
    coarse_soft_match,
    exhaustive_match,
    soft_match,
    soft_two_stage_match,
    two_stage_match,
)

STRIDE = 4


def pair(fine):
    """Fine features plus coarse features pooled from them at STRIDE."""
    return FeaturePair(coarse=F.avg_pool2d(fine, STRIDE, ceil_mode=True), fine=fine)


def shifted_pair(dy=3, dx=5, height=32, width=40, channels=256):
    """Random features where the query is the key shifted by (dy, dx) fine positions.

    Coarse cells overlap their true counterpart by as little as 9/16, so many channels keep random
    coarse similarities well below that of the true counterpart.
    """
    torch.manual_seed(0)
    canvas = torch.randn(1, channels, height + 8, width + 8)
    key = canvas[:, :, :height, :width].contiguous()
    query = canvas[:, :, dy : dy + height, dx : dx + width].contiguous()
    chroma = torch.rand(1, 2, height, width) - 0.5
    return pair(query), pair(key), chroma


def test_two_stage_recovers_a_known_displacement():
    dy, dx, height, width = 3, 5, 32, 40
    query, key, chroma = shifted_pair(dy, dx, height, width)
    result = two_stage_match(query, key, chroma, stride_ratio=STRIDE)
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    expected = (ys + dy) * width + (xs + dx)
    inside = (ys + dy < height - STRIDE) & (xs + dx < width - STRIDE)
    assert torch.equal(result.index[0][inside], expected[inside])
    assert torch.allclose(result.confidence[0, 0][inside], torch.ones(int(inside.sum())), atol=1e-6)
    flat = chroma.flatten(2)[0]
    assert torch.equal(result.chroma[0].flatten(1)[:, inside.flatten()], flat[:, expected[inside]])


def test_fine_search_stays_inside_the_window_of_the_coarse_match():
    torch.manual_seed(1)
    query_fine, key_fine = torch.randn(1, 8, 20, 24), torch.randn(1, 8, 20, 24)
    # Every coarse cell of the query is identical to key coarse cell (0, 0) and unlike the others.
    key_coarse = -torch.ones(1, 4, 5, 6)
    key_coarse[..., 0, 0] = 1.0
    query_coarse = torch.ones(1, 4, 5, 6)
    roi = 6
    result = two_stage_match(
        FeaturePair(query_coarse, query_fine), FeaturePair(key_coarse, key_fine), torch.zeros(1, 2, 20, 24),
        roi_size=roi, stride_ratio=STRIDE,
    )
    assert (result.index // 24).max() < roi and (result.index % 24).max() < roi
    unrestricted = exhaustive_match(query_fine, key_fine, torch.zeros(1, 2, 20, 24))
    assert (unrestricted.index // 24).max() >= roi


def test_whole_frame_window_equals_exhaustive_on_odd_sizes():
    torch.manual_seed(2)
    query_fine, key_fine = torch.randn(2, 12, 13, 17), torch.randn(2, 12, 11, 19)
    key_chroma = torch.rand(2, 2, 11, 19) - 0.5
    two_stage = two_stage_match(pair(query_fine), pair(key_fine), key_chroma, roi_size=1000, stride_ratio=STRIDE)
    exhaustive = exhaustive_match(query_fine, key_fine, key_chroma)
    for got, want in zip(two_stage, exhaustive, strict=True):
        assert torch.equal(got, want)
    assert two_stage.index.dtype == torch.int64 and two_stage.index.shape == (2, 13, 17)
    assert two_stage.distance.min() >= 0 and two_stage.distance.max() <= 4


def test_chunking_does_not_change_results():
    query, key, chroma = shifted_pair(2, 1, 18, 22)
    big = exhaustive_match(query.fine, key.fine, chroma, chunk_size=100_000)
    small = exhaustive_match(query.fine, key.fine, chroma, chunk_size=7)
    for got, want in zip(small, big, strict=True):
        assert torch.equal(got, want)
    big = two_stage_match(query, key, chroma, chunk_size=100_000, stride_ratio=STRIDE)
    small = two_stage_match(query, key, chroma, chunk_size=1, stride_ratio=STRIDE)
    for got, want in zip(small, big, strict=True):
        assert torch.equal(got, want)


def test_key_batch_of_one_is_shared():
    torch.manual_seed(3)
    query_fine, key_fine = torch.randn(3, 8, 9, 10), torch.randn(1, 8, 9, 10)
    chroma = torch.rand(1, 2, 9, 10)
    shared = two_stage_match(pair(query_fine), pair(key_fine), chroma, stride_ratio=STRIDE)
    single = two_stage_match(pair(query_fine[1:2]), pair(key_fine), chroma, stride_ratio=STRIDE)
    assert torch.equal(shared.index[1:2], single.index)


def test_soft_match_with_tiny_temperature_approaches_hard_match():
    query, key, chroma = shifted_pair()
    hard = exhaustive_match(query.fine, key.fine, chroma)
    soft = soft_match(query.fine, key.fine, chroma, temperature=0.01, chunk_size=100)
    exact = hard.confidence[0, 0] > 0.9999  # positions with an exact counterpart in the key
    assert exact.sum() > 600
    assert torch.allclose(soft[0][:, exact], hard.chroma[0][:, exact], atol=1e-4)
    warm = soft_match(query.fine, key.fine, chroma, temperature=1.0)
    assert (warm[0][:, exact] - hard.chroma[0][:, exact]).abs().mean() > 0.05


def test_gradients_flow_through_soft_match():
    torch.manual_seed(4)
    query = torch.randn(1, 8, 6, 7, requires_grad=True)
    key = torch.randn(1, 8, 5, 6, requires_grad=True)
    soft_match(query, key, torch.rand(1, 2, 5, 6)).sum().backward()
    assert query.grad.abs().sum() > 0 and key.grad.abs().sum() > 0


def _features(seed: int) -> FeaturePair:
    return pair(torch.randn(1, 64, 26, 30, generator=torch.Generator().manual_seed(seed)))


def test_soft_two_stage_match_with_a_tiny_temperature_is_the_hard_two_stage_match():
    dy, dx, height, width = 3, 5, 32, 40
    query, key, chroma = shifted_pair(dy, dx, height, width)  # a clear best match inside the key
    hard = two_stage_match(query, key, chroma, roi_size=8, stride_ratio=STRIDE)
    soft, similarity = soft_two_stage_match(query, key, chroma, roi_size=8, temperature=1e-4, stride_ratio=STRIDE)
    assert soft.shape == hard.chroma.shape and similarity.shape == hard.confidence.shape
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    inside = (ys + dy < height - STRIDE) & (xs + dx < width - STRIDE)
    assert (soft - hard.chroma)[..., inside].abs().max() < 1e-3
    # its confidence is the best cosine similarity, i.e. 1 - d/2 for the squared distance d of unit vectors
    assert torch.allclose(similarity[0, 0], (1 - hard.distance[0] / 2).clamp(0, 1), atol=2e-3)


def test_soft_two_stage_match_trains_the_fine_features_and_the_coarse_soft_match_the_coarse_ones():
    query, key = _features(seed=6), _features(seed=7)
    query = FeaturePair(query.coarse.requires_grad_(True), query.fine.requires_grad_(True))
    chroma = torch.rand(1, 2, *key.fine.shape[-2:]) - 0.5
    soft, _ = soft_two_stage_match(query, key, chroma, roi_size=8, temperature=0.05, stride_ratio=4)
    soft.sum().backward()
    assert query.fine.grad.abs().sum() > 0 and query.coarse.grad is None
    coarse_soft_match(query.coarse, key.coarse, chroma, temperature=0.05).sum().backward()
    assert query.coarse.grad.abs().sum() > 0
