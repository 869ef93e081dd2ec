"""Nearest-neighbour feature matching of the global stage (exhaustive, two-stage, and a soft variant).

Features are L2-normalised over channels inside every function here, so the squared L2 distance of two
feature vectors is ``2 − 2·cos`` and lies in [0, 4]; the confidence of a match is ``1 − distance/4``,
in [0, 1].

The hard matchers quantise the unit vectors to integers (1/1024 resolution per component) and compute
squared distances as integer arithmetic carried in float32: every product and partial sum is an integer
below 2**24, so the result is exact whatever the summation order of the matrix product (TF32 too: its
11-bit significand holds the codes exactly). Matches are
therefore bitwise identical across chunk sizes, batch sizes, BLAS kernels and devices, which keeps the
output of a frame independent of how requests were grouped. Hard matching always runs in float32.

Cost, with N the number of positions of a grid and C the channels:

- ``exhaustive_match``: O(Nq_f · Nk_f · Cf) time, O(chunk_size · Nk_f) peak memory.
- ``two_stage_match``: coarse stage O(Nq_c · Nk_c · Cc) over the whole key; fine stage
  O(Nq_f · roi² · Cf), each query searching only a roi×roi window of the key fine grid around the
  key coarse cell its own coarse cell matched. Fine queries are processed grouped by coarse cell
  (every query of a cell shares one window) in chunks of about ``chunk_size`` queries, so peak memory
  is O(chunk_size · roi²) for distances plus O(chunk_size · roi² · Cf / s²) for the gathered windows,
  bounded by O(chunk_size · roi² · Cf).

Both hard matchers compute distances with one exact routine and scan candidates in row-major order, so
argmin ties break identically; when the window covers the whole key grid ``two_stage_match`` returns
exactly what ``exhaustive_match`` returns.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from dvcp_plugin.models.features import FeaturePair


class MatchResult(NamedTuple):
    """Hard match of every query fine position to one key fine position."""

    chroma: Tensor  # (B, 2, Hf, Wf) chroma of the matched key position
    confidence: Tensor  # (B, 1, Hf, Wf) 1 - distance / 4
    index: Tensor  # type: ignore[assignment]  # (B, Hf, Wf) int64 flat index into the key fine grid
    distance: Tensor  # (B, Hf, Wf) squared L2 distance of unit features, in [0, 4]


_CODE_SCALE = 1024.0


class _Codes(NamedTuple):
    """Quantised unit feature vectors (B, N, C) and their exact squared norms (B, N), float32."""

    vectors: Tensor
    norms: Tensor


def _flatten(features: Tensor) -> Tensor:
    """(B, C, H, W) -> unit vectors (B, H·W, C)."""
    return F.normalize(features, dim=1).flatten(2).transpose(1, 2).contiguous()


def _codes(features: Tensor) -> _Codes:
    """Quantise the unit feature vectors of (B, C, H, W) to integers of magnitude at most 1024."""
    vectors = torch.round(_flatten(features.float()) * _CODE_SCALE)
    return _Codes(vectors, vectors.square().sum(dim=-1))


def _distances(query: _Codes, keys: _Codes) -> Tensor:
    """Exact squared distances, rescaled to unit vectors: query (G, M, C), keys (G, R, C) -> (G, M, R)."""
    dot = torch.bmm(query.vectors, keys.vectors.transpose(1, 2))
    squared = query.norms.unsqueeze(-1) + keys.norms.unsqueeze(-2) - 2.0 * dot
    return (squared / _CODE_SCALE**2).clamp(0.0, 4.0)


def _match_batch(query: Tensor, key: Tensor) -> Tensor:
    """Broadcast a key batch of 1 to the query batch; reject other mismatches."""
    if key.shape[0] == query.shape[0]:
        return key
    if key.shape[0] == 1:
        return key.expand(query.shape[0], *key.shape[1:])
    raise ValueError(f"key batch {key.shape[0]} does not match query batch {query.shape[0]}")


def _check_features(query: Tensor, key: Tensor, name: str) -> None:
    if query.dim() != 4 or key.dim() != 4:
        raise ValueError(f"{name} features must be (B, C, H, W), got {tuple(query.shape)} and {tuple(key.shape)}")
    if query.shape[1] != key.shape[1]:
        raise ValueError(f"{name} features have {query.shape[1]} query channels but {key.shape[1]} key channels")


def _check_chroma(key_chroma: Tensor, key_fine: Tensor) -> None:
    if key_chroma.dim() != 4 or key_chroma.shape[1] != 2 or key_chroma.shape[2:] != key_fine.shape[2:]:
        raise ValueError(
            f"key chroma must be (B, 2, {key_fine.shape[2]}, {key_fine.shape[3]}) on the key's fine grid, "
            f"got {tuple(key_chroma.shape)}"
        )


def _nearest(query: _Codes, keys: _Codes, chunk_size: int) -> tuple[Tensor, Tensor]:
    """Nearest key of every query over all keys: (B, M, C), (B, N, C) -> distance, index (B, M)."""
    distances, indices = [], []
    for start in range(0, query.norms.shape[1], max(1, chunk_size)):
        rows = slice(start, start + chunk_size)
        chunk = _distances(_Codes(query.vectors[:, rows], query.norms[:, rows]), keys)
        best, index = chunk.min(dim=-1)
        distances.append(best)
        indices.append(index)
    return torch.cat(distances, dim=1), torch.cat(indices, dim=1)


def _result(distance: Tensor, index: Tensor, key_chroma: Tensor, height: int, width: int) -> MatchResult:
    """Assemble a MatchResult from flat (B, Nq) distances and key indices."""
    batch = distance.shape[0]
    flat_chroma = key_chroma.flatten(2)  # (B, 2, Nk)
    chroma = torch.gather(flat_chroma, 2, index.unsqueeze(1).expand(-1, 2, -1))
    return MatchResult(
        chroma=chroma.view(batch, 2, height, width),
        confidence=(1.0 - distance / 4.0).view(batch, 1, height, width),
        index=index.view(batch, height, width),
        distance=distance.view(batch, height, width),
    )


def exhaustive_match(query_fine: Tensor, key_fine: Tensor, key_chroma: Tensor, chunk_size: int = 4096) -> MatchResult:
    """Match every query fine position to its nearest neighbour over all key fine positions."""
    _check_features(query_fine, key_fine, "fine")
    _check_chroma(key_chroma, key_fine)
    key_fine = _match_batch(query_fine, key_fine)
    key_chroma = _match_batch(query_fine, key_chroma)
    distance, index = _nearest(_codes(query_fine), _codes(key_fine), chunk_size)
    return _result(distance, index, key_chroma, *query_fine.shape[2:])


def _cell_groups(fine_size: int, coarse_size: int, stride: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Fine rows of every coarse cell along one axis, padded to a common length.

    Fine row y belongs to cell min(y // stride, coarse_size - 1). Returns (rows, valid), both
    (coarse_size, group); padded slots repeat a valid row and are marked invalid.
    """
    group = max(stride, fine_size - (coarse_size - 1) * stride)
    rows = torch.arange(coarse_size, device=device)[:, None] * stride + torch.arange(group, device=device)
    valid = rows < fine_size
    valid[:-1, stride:] = False
    return rows.clamp(max=fine_size - 1), valid


def _window_starts(cell: Tensor, stride: int, roi: int, key_size: int) -> Tensor:
    """Start of the roi window centred on key coarse cell ``cell``, shifted to lie inside the key grid."""
    start = cell * stride + (stride - roi) // 2
    return start.clamp(min=0, max=key_size - roi)


def two_stage_match(
    query: FeaturePair,
    key: FeaturePair,
    key_chroma: Tensor,
    roi_size: int | None = None,
    chunk_size: int = 4096,
    *,
    stride_ratio: int,
) -> MatchResult:
    """Coarse-to-fine nearest-neighbour matching (paper's global strategy).

    ``stride_ratio`` s is the extractor's coarse_stride // fine_stride. Stage 1 matches each query
    coarse cell over all key coarse cells. Stage 2 searches, for each query fine position in coarse cell
    (min(y//s, Hc-1), min(x//s, Wc-1)), a roi_size×roi_size window of the key fine grid (default 3·s)
    centred on the key coarse cell matched in stage 1, shifted to lie inside the key grid and capped at
    its size.
    """
    _check_features(query.coarse, key.coarse, "coarse")
    _check_features(query.fine, key.fine, "fine")
    _check_chroma(key_chroma, key.fine)
    if stride_ratio < 1:
        raise ValueError(f"stride_ratio must be a positive integer, got {stride_ratio}")
    roi = 3 * stride_ratio if roi_size is None else roi_size
    if roi < 1:
        raise ValueError(f"roi_size must be positive, got {roi_size}")
    key_coarse = _match_batch(query.coarse, key.coarse)
    key_fine = _match_batch(query.fine, key.fine)
    key_chroma = _match_batch(query.fine, key_chroma)
    batch = query.fine.shape[0]
    device = query.fine.device
    q_hc, q_wc = query.coarse.shape[2:]
    q_hf, q_wf = query.fine.shape[2:]
    k_wc = key_coarse.shape[3]
    k_hf, k_wf = key_fine.shape[2:]
    roi_h, roi_w = min(roi, k_hf), min(roi, k_wf)

    # Stage 1: every query coarse cell against the whole key coarse grid.
    _, coarse_index = _nearest(_codes(query.coarse), _codes(key_coarse), chunk_size)  # (B, Nq_c)
    top = _window_starts(coarse_index // k_wc, stride_ratio, roi_h, k_hf)
    left = _window_starts(coarse_index % k_wc, stride_ratio, roi_w, k_wf)
    window_origin = top * k_wf + left  # (B, Nq_c)
    offsets = (
        torch.arange(roi_h, device=device)[:, None] * k_wf + torch.arange(roi_w, device=device)
    ).flatten()  # row-major

    # Query fine positions grouped by coarse cell, padded to a common group size.
    rows, rows_valid = _cell_groups(q_hf, q_hc, stride_ratio, device)
    cols, cols_valid = _cell_groups(q_wf, q_wc, stride_ratio, device)
    members = (rows[:, None, :, None] * q_wf + cols[None, :, None, :]).flatten(2).flatten(0, 1)
    member_valid = (rows_valid[:, None, :, None] & cols_valid[None, :, None, :]).flatten(2).flatten(0, 1)
    group = members.shape[1]

    query_codes = _codes(query.fine)
    key_codes = _codes(key_fine)
    batch_index = torch.arange(batch, device=device)[:, None, None]
    distance = torch.empty(batch, q_hf * q_wf, device=device)
    index = torch.empty(batch, q_hf * q_wf, dtype=torch.long, device=device)
    cells_per_chunk = max(1, chunk_size // group)
    for start in range(0, members.shape[0], cells_per_chunk):
        cells = slice(start, start + cells_per_chunk)
        positions = members[cells]  # (G, group)
        count = positions.shape[0]
        candidates = window_origin[:, cells, None] + offsets  # (B, G, R)
        members_flat = positions.flatten()
        queries = _Codes(
            query_codes.vectors[:, members_flat].reshape(batch * count, group, -1),
            query_codes.norms[:, members_flat].reshape(batch * count, group),
        )
        windows = _Codes(
            key_codes.vectors[batch_index, candidates].reshape(batch * count, roi_h * roi_w, -1),
            key_codes.norms[batch_index, candidates].reshape(batch * count, roi_h * roi_w),
        )
        best, choice = _distances(queries, windows).min(dim=-1)  # (B·G, group)
        chosen = torch.gather(candidates, 2, choice.view(batch, count, group))
        valid = member_valid[cells].flatten()
        targets = members_flat[valid]
        distance[:, targets] = best.view(batch, -1)[:, valid]
        index[:, targets] = chosen.view(batch, -1)[:, valid]
    return _result(distance, index, key_chroma, q_hf, q_wf)


def soft_match(
    query_fine: Tensor, key_fine: Tensor, key_chroma: Tensor, temperature: float = 0.05, chunk_size: int = 4096
) -> Tensor:
    """Differentiable matching: attention-weighted key chroma (B, 2, Hf, Wf).

    Each query attends to all key positions with softmax(cosine similarity / temperature), as in
    colorization-as-tracking; used to train feature extractors end to end.
    """
    _check_features(query_fine, key_fine, "fine")
    _check_chroma(key_chroma, key_fine)
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    key_fine = _match_batch(query_fine, key_fine)
    key_chroma = _match_batch(query_fine, key_chroma)
    query_flat = _flatten(query_fine)
    keys_flat = _flatten(key_fine)
    values = key_chroma.flatten(2).transpose(1, 2)  # (B, Nk, 2)
    outputs = []
    for start in range(0, query_flat.shape[1], max(1, chunk_size)):
        similarity = torch.bmm(query_flat[:, start : start + chunk_size], keys_flat.transpose(1, 2))
        outputs.append(torch.bmm(torch.softmax(similarity / temperature, dim=-1), values))
    batch, _, height, width = query_fine.shape
    return torch.cat(outputs, dim=1).transpose(1, 2).reshape(batch, 2, height, width)


def soft_two_stage_match(
    query: FeaturePair, key: FeaturePair, key_chroma: Tensor, roi_size: int, temperature: float, *, stride_ratio: int
) -> tuple[Tensor, Tensor]:
    """Two-stage matching with a soft fine stage, the same in training and at inference.

    Stage 1 is the hard, exact nearest coarse neighbour over the whole key (as in
    :func:`two_stage_match`); it picks for every query coarse cell a ``roi_size``² window of the
    key's fine grid. Stage 2 takes, for each query fine position, the softmax (cosine / temperature)
    average of the window's chroma; it is differentiable in the features. Returns (chroma (B,2,Hf,Wf),
    confidence (B,1,Hf,Wf) = the best cosine similarity in the window, clamped to [0, 1]).
    """
    _check_features(query.coarse, key.coarse, "coarse")
    _check_features(query.fine, key.fine, "fine")
    _check_chroma(key_chroma, key.fine)
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    s = stride_ratio
    key_coarse, key_fine = _match_batch(query.coarse, key.coarse), _match_batch(query.fine, key.fine)
    key_chroma = _match_batch(query.fine, key_chroma)
    batch, channels, fine_h, fine_w = query.fine.shape
    coarse_h, coarse_w = query.coarse.shape[2:]
    key_h, key_w = key_fine.shape[2:]
    roi_h, roi_w = min(roi_size, key_h), min(roi_size, key_w)
    with torch.no_grad():
        _, cell = _nearest(_codes(query.coarse), _codes(key_coarse), 4096)  # (B, Nq_c)
        top = _window_starts(cell // key_coarse.shape[3], s, roi_h, key_h)
        left = _window_starts(cell % key_coarse.shape[3], s, roi_w, key_w)
        rows, columns = torch.arange(roi_h, device=cell.device), torch.arange(roi_w, device=cell.device)
        offsets = (rows[:, None] * key_w + columns).flatten()
        candidates = ((top * key_w + left)[..., None] + offsets).flatten(1)  # (B, Nq_c · R)
    cells, window = coarse_h * coarse_w, roi_h * roi_w
    unit_key = F.normalize(key_fine, dim=1).flatten(2)
    keys = torch.gather(unit_key, 2, candidates[:, None].expand(-1, channels, -1)).view(batch, channels, cells, window)
    values = torch.gather(key_chroma.flatten(2), 2, candidates[:, None].expand(-1, 2, -1)).view(batch, 2, cells, window)
    # query fine positions grouped by coarse cell: pad the fine grid to s × the coarse grid
    padding = (0, coarse_w * s - fine_w, 0, coarse_h * s - fine_h)
    unit_query = F.pad(F.normalize(query.fine, dim=1), padding, mode="replicate")
    grouped = unit_query.view(batch, channels, coarse_h, s, coarse_w, s).permute(0, 1, 2, 4, 3, 5)
    grouped = grouped.reshape(batch, channels, cells, s * s)
    similarity = torch.einsum("bcnq,bcnr->bnqr", grouped, keys)  # (B, cells, s², R)
    chroma = torch.einsum("bnqr,bcnr->bcnq", torch.softmax(similarity / temperature, dim=-1), values)
    confidence = similarity.max(dim=-1).values.clamp(0.0, 1.0)[:, None]

    def ungroup(x: Tensor) -> Tensor:
        c = x.shape[1]
        full = x.view(batch, c, coarse_h, coarse_w, s, s).permute(0, 1, 2, 4, 3, 5)
        return full.reshape(batch, c, coarse_h * s, coarse_w * s)[..., :fine_h, :fine_w]

    return ungroup(chroma), ungroup(confidence)


def coarse_soft_match(query_coarse: Tensor, key_coarse: Tensor, key_chroma: Tensor, temperature: float) -> Tensor:
    """Soft matching over the whole coarse key grid: chroma (B,2,Hc,Wc) on the query's coarse grid.

    The hard coarse stage of the matchers has no gradient; this is what trains the coarse
    features. ``key_chroma`` (B,2,H,W) is area-averaged onto the key's coarse grid.
    """
    _check_features(query_coarse, key_coarse, "coarse")
    key_coarse = _match_batch(query_coarse, key_coarse)
    coarse_size = (key_coarse.shape[-2], key_coarse.shape[-1])
    values = F.adaptive_avg_pool2d(_match_batch(query_coarse, key_chroma), coarse_size).flatten(2).transpose(1, 2)
    similarity = torch.bmm(_flatten(query_coarse), _flatten(key_coarse).transpose(1, 2))
    chroma = torch.bmm(torch.softmax(similarity / temperature, dim=-1), values)
    batch, _, height, width = query_coarse.shape
    return chroma.transpose(1, 2).reshape(batch, 2, height, width)
