"""Reading a ViT's attention: maps per query, rollout, mean attention distance, receptive fields.

Every function is pure: attention weights in, numpy arrays out, ready for a figure or a widget.

Letters: L layers, B images, h heads, T = N + 1 tokens (CLS first, then N patches in
row-major order), S = sqrt(N) patches per side, P patch size in pixels.
Attention weights A[..., i, j] say how much query token i takes from key token j; each
row sums to 1 (`vit.ViT(...)(x, return_attention=True)` returns them per layer).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from course_lib import checks


def stack_layers(attentions: Sequence[Tensor] | Tensor) -> Tensor:
    """A list over layers of (B, h, T, T) (what the ViT returns) -> one tensor (L, B, h, T, T)."""
    if not isinstance(attentions, Tensor):
        if not attentions or not all(isinstance(a, Tensor) for a in attentions):
            raise TypeError(
                "pass the list of attention tensors from model(x, return_attention=True)[1]"
            )
        if len({a.shape for a in attentions}) > 1 or attentions[0].ndim != 4:
            shapes = sorted({tuple(a.shape) for a in attentions})
            raise ValueError(f"each layer's attention must be (B, h, T, T), alike; got {shapes}")
        attentions = torch.stack(list(attentions))
    if attentions.ndim != 5:
        raise ValueError(
            f"attention over layers must be (L, B, h, T, T), got {tuple(attentions.shape)}"
        )
    return attentions


def _check_square(attention: Tensor) -> int:
    """Validate (..., T, T) weights over a square grid of patches; return S."""
    if not isinstance(attention, Tensor):
        raise TypeError(f"attention must be a torch.Tensor (..., T, T), got {type(attention)}")
    if attention.ndim < 2 or attention.shape[-1] != attention.shape[-2]:
        raise ValueError(
            f"attention must end in (T, T) with T = patches + 1, got {tuple(attention.shape)}"
        )
    patches = attention.shape[-1] - 1
    side = math.isqrt(patches)
    if patches < 1 or side * side != patches:
        raise ValueError(
            f"T = {attention.shape[-1]} tokens is not [CLS] + a square grid of patches; "
            "pass weights whose last two dimensions are (N + 1, N + 1), N = S * S"
        )
    return side


def query_maps(attention: Tensor, query: int) -> np.ndarray:
    """What token `query` (0 = CLS, 1 + k = patch k) attends to, over the patch grid.

    attention (..., T, T) -> (..., S, S): row `query`, the patch columns, laid out as the
    image. The weight the query gives to CLS is left out, so a map sums to 1 - A[query, 0].
    """
    side = _check_square(attention)
    tokens = attention.shape[-1]
    if not isinstance(query, int) or not 0 <= query < tokens:
        raise ValueError(f"query must be a token index 0..{tokens - 1} (0 is CLS), got {query!r}")
    row = attention[..., query, 1:].detach().float().cpu()  # (..., N)
    return row.reshape(*row.shape[:-1], side, side).numpy()  # (..., S, S)


def cls_maps(attention: Tensor) -> np.ndarray:
    """Attention from the CLS token over the patches: (..., T, T) -> (..., S, S)."""
    return query_maps(attention, 0)


def rollout(attentions: Sequence[Tensor] | Tensor, residual: float = 0.5) -> np.ndarray:
    """Attention rollout, Abnar & Zuidema 2020: how much each token draws from each input token.

    Per layer: average the heads, add the residual connection as identity,
    A~ = (1 - residual) A + residual I, renormalise rows; then multiply layers up,
    R_l = A~_l A~_(l-1) ... A~_1. attentions (L, B, h, T, T) or a list of (B, h, T, T)
    -> (L, B, T, T) whose entry l is the rollout through layers 1..l+1.
    """
    stacked = stack_layers(attentions).detach().float().cpu()  # (L, B, h, T, T)
    _check_square(stacked)
    if stacked.ndim != 5:
        raise ValueError(
            f"rollout wants (L, B, h, T, T) or a list of (B, h, T, T), got {tuple(stacked.shape)}"
        )
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual must be between 0 and 1 (the paper uses 0.5), got {residual}")
    eye = torch.eye(stacked.shape[-1])
    rolled, out = None, []
    for layer in stacked:  # (B, h, T, T)
        mixed = (1 - residual) * layer.mean(dim=1) + residual * eye  # (B, T, T)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)  # rows sum to 1 again
        rolled = mixed if rolled is None else mixed @ rolled
        out.append(rolled)
    return torch.stack(out).numpy()  # (L, B, T, T)


def patch_distances(side: int, patch_size: int) -> np.ndarray:
    """Euclidean distance in pixels between the centres of every two patches: (N, N).

    side: patches along each edge of the grid (S), patch_size: pixels along each patch's edge.
    """
    checks.positive_int(side, "side (patches along an edge)")
    checks.positive_int(patch_size, "patch_size (pixels)")
    rows, cols = np.divmod(np.arange(side * side), side)  # (N,), row-major like patchify
    centres = np.stack([rows, cols], axis=1) * patch_size  # (N, 2), pixels
    return np.linalg.norm(centres[:, None] - centres[None], axis=-1)


def mean_attention_distance(attention: Tensor, patch_size: int) -> np.ndarray:
    """How far each query patch looks, in pixels, averaged over queries (Dosovitskiy et al.
    2021, fig. 7 "mean attention distance").

    attention (..., T, T) -> (...,). Distances are between patch centres (P px to a
    neighbour), so a head that looks only at its own patch scores 0; the paper measured
    between pixels. Only patch-to-patch weights count: the CLS row and column are dropped
    and each row renormalised, so what a patch gives to CLS (which has no place in the
    image) does not pull the distance towards 0.
    """
    side = _check_square(attention)
    weights = attention[..., 1:, 1:].detach().double().cpu()  # (..., N, N)
    weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    distances = torch.from_numpy(patch_distances(side, patch_size))  # (N, N)
    per_query = (weights * distances).sum(dim=-1)  # (..., N)
    return per_query.mean(dim=-1).numpy()


def uniform_attention_distance(side: int, patch_size: int) -> float:
    """Mean attention distance of a head that spreads evenly over all patches: 'global'."""
    return float(patch_distances(side, patch_size).mean())


def effective_receptive_field(unit: Callable[[Tensor], Tensor], images: Tensor) -> np.ndarray:
    """Where a unit's value comes from, measured: mean |d unit / d pixel| (Luo et al. 2016).

    unit(images) returns one number per image (B,), e.g. a CNN channel sum at one position;
    images (B, C, H, W) -> (H, W), normalised to sum to 1.
    """
    pixels = images.detach().clone().requires_grad_(True)
    values = unit(pixels)
    if values.shape != (len(images),):
        raise ValueError(f"unit must return one number per image, shape ({len(images)},)")
    (grad,) = torch.autograd.grad(values.sum(), pixels)
    field = grad.abs().mean(dim=(0, 1)).cpu().double()  # (H, W)
    return (field / field.sum().clamp_min(1e-30)).numpy()


def map_mean_distance(weights: np.ndarray, centre: tuple[float, float]) -> float:
    """Weighted mean distance in pixels from `centre` (row, col) of an (H, W) map of weights."""
    rows, cols = np.indices(weights.shape)
    distance = np.hypot(rows - centre[0], cols - centre[1])
    return float((weights * distance).sum() / weights.sum())


def theoretical_receptive_field(kernels: Sequence[int], strides: Sequence[int]) -> list[int]:
    """Receptive field side in pixels after each layer of a stack of convolutions / poolings.

    r_l = r_(l-1) + (k_l - 1) * j_(l-1), j_l = j_(l-1) * s_l, with r_0 = j_0 = 1.
    """
    if len(kernels) != len(strides):
        raise ValueError("give one stride per kernel size")
    field, jump, out = 1, 1, []
    for kernel, stride in zip(kernels, strides, strict=True):
        field += (kernel - 1) * jump
        jump *= stride
        out.append(field)
    return out
