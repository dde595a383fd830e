"""Painting pixel by pixel: a tiny autoregressive model of binarised digits, the road image
generation did not take (notebook 04), in the manner of PixelCNN / Image GPT, small.

    p(x) = p(x_0) p(x_1 | x_0) ... p(x_{N-1} | x_0 .. x_{N-2}),   pixels in raster order

A causal transformer (the course's `transformer.Block` with causal=True) reads the pixels
shifted right by one (a <start> token first), so its output at position i has seen only
pixels 0 .. i-1 and predicts pixel i. Sampling is one network call per pixel (N = 196 for
14x14), each reusing the keys and values of the pixels before it (`KVCache`).

Letters: B batch, N = S*S pixels in raster order (row by row, left to right), D width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib import checks, data
from course_lib.transformer import Block, KVCache

START = 2  # the <start> token's id; pixels are 0 (black) and 1 (white)


@dataclass(frozen=True)
class PixelARConfig:
    image_size: int = 14  # S: digits shrunk to 14x14 and binarised, N = 196 pixels
    dim: int = 48  # D, the width of every token
    depth: int = 2  # causal transformer blocks
    heads: int = 4
    mlp_dim: int = 96

    @property
    def pixels(self) -> int:
        return self.image_size**2


def binarised_digits(split: str = "train") -> Tensor:
    """MNIST digits averaged down 2x2 from 28x28, each pixel 1 (ink) or 0: (M, 14*14) int64,
    flattened in raster order."""
    images, _ = data.mnist_tensors(split, size=28)  # (M, 1, 28, 28) in [-1, 1]
    return (F.avg_pool2d(images, 2) > 0).long().flatten(1)  # (M, 196)


class PixelAR(nn.Module):
    """p(pixel i = 1 | pixels before i) for every i at once, with a causal mask."""

    def __init__(self, config: PixelARConfig = PixelARConfig()):
        super().__init__()
        self.config = c = config
        self.value_embed = nn.Embedding(3, c.dim)  # black, white, <start>
        self.pos_embed = nn.Parameter(torch.randn(1, c.pixels, c.dim) * 0.02)  # (1, N, D)
        self.blocks = nn.ModuleList(
            Block(dim=c.dim, heads=c.heads, mlp_dim=c.mlp_dim, causal=True) for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, 1)  # the logit of "white"

    def _check(self, pixels: Tensor) -> None:
        n = self.config.pixels
        if not isinstance(pixels, Tensor) or pixels.ndim != 2 or pixels.shape[1] != n:
            got = tuple(pixels.shape) if isinstance(pixels, Tensor) else type(pixels).__name__
            raise ValueError(f"pixels must be (B, {n}) in raster order, got {got}")
        if pixels.dtype != torch.long or int(pixels.min()) < 0 or int(pixels.max()) > 1:
            raise ValueError("pixels must be int64 zeros and ones (binarised_digits makes them)")

    def forward(self, pixels: Tensor) -> Tensor:
        """pixels (B, N) in {0, 1} -> logits (B, N); logit i depends on pixels < i only."""
        self._check(pixels)
        start = torch.full_like(pixels[:, :1], START)  # (B, 1)
        tokens = torch.cat([start, pixels[:, :-1]], dim=1)  # (B, N): shifted right by one
        h = self.value_embed(tokens) + self.pos_embed  # (B, N, D)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))[..., 0]  # (B, N)

    def step(self, token: Tensor, position: int, caches: list[KVCache]) -> Tensor:
        """One network call: the token before `position` (B,) -> the logit of pixel
        `position` (B,), appending to each block's cache."""
        h = self.value_embed(token[:, None]) + self.pos_embed[:, position : position + 1]
        for block, cache in zip(self.blocks, caches, strict=True):
            h = block(h, cache=cache)  # (B, 1, D)
        return self.head(self.norm(h))[:, 0, 0]


def bits_per_pixel(model: PixelAR, pixels: Tensor) -> Tensor:
    """The negative log-likelihood of each image, in bits per pixel: (B,)."""
    logits = model(pixels)
    nll = F.binary_cross_entropy_with_logits(logits, pixels.float(), reduction="none")
    return nll.mean(dim=1) / torch.log(torch.tensor(2.0))


@torch.no_grad()
def sample(
    model: PixelAR,
    count: int,
    *,
    given: Tensor | None = None,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> tuple[Tensor, int]:
    """Draw `count` images one pixel at a time: returns (pixels (B, N) in {0, 1}, the number
    of network calls made, N).

    given (B, N) int64: -1 where the model draws, 0 or 1 where the pixel is forced (a
    prefix to complete, or one wrong pixel planted early). Uniforms come from `generator`."""
    n = model.config.pixels
    device = model.pos_embed.device
    if given is None:
        given = torch.full((count, n), -1, dtype=torch.long)
    if tuple(given.shape) != (count, n):
        raise ValueError(
            f"given must be ({count}, {n}), -1 where to sample, got {tuple(given.shape)}"
        )
    caches = [KVCache() for _ in model.blocks]
    pixels = torch.zeros(count, n, dtype=torch.long)
    token = torch.full((count,), START, dtype=torch.long)
    for i in range(n):
        logit = model.step(token.to(device), i, caches).cpu()  # (B,)
        drawn = (torch.rand(count, generator=generator) < torch.sigmoid(logit / temperature)).long()
        pixels[:, i] = torch.where(given[:, i] >= 0, given[:, i], drawn)
        token = pixels[:, i]
    return pixels, n


def to_images(pixels: Tensor, size: int = 14) -> Tensor:
    """(B, N) raster pixels -> (B, 1, S, S) float images in [0, 1], N = S * S."""
    checks.tensor(pixels, "pixels", 2, "(B, N)")
    checks.positive_int(size, "size")
    if pixels.shape[1] != size * size:
        raise ValueError(
            f"pixels hold {pixels.shape[1]} values an image, not size * size = {size * size}; "
            f"pass size={math.isqrt(pixels.shape[1])} for {pixels.shape[1]} pixels"
        )
    return pixels.float().reshape(-1, 1, size, size)
