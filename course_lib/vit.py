"""Patchify and a small Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16
Words").

Letters: B batch, C channels, H x W pixels, P patch size, N = (H/P)(W/P) patches,
T = N + 1 tokens (CLS first), D model width, h heads, d = D/h head width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor, nn

from course_lib import checks
from course_lib.transformer import Block


def _check_images(images: Tensor, patch_size: int) -> None:
    checks.tensor(images, "images", 4, "(B, C, H, W); for one image use images.unsqueeze(0)")
    checks.positive_int(patch_size, "patch_size")
    h, w = images.shape[-2:]
    if h % patch_size or w % patch_size:
        raise ValueError(
            f"image size {h}x{w} is not divisible by patch size {patch_size}; "
            f"pick a patch size that divides both (for {h}: {divisors(h)})"
        )


def divisors(n: int) -> list[int]:
    """Every patch size that tiles a side of n pixels."""
    return [p for p in range(1, n + 1) if n % p == 0]


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """(B, C, H, W) -> (B, N, P*P*C): patches in row-major order, each flattened as (p1 p2 c)."""
    _check_images(images, patch_size)
    p = patch_size
    return rearrange(images, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)


def unpatchify(patches: Tensor, patch_size: int, image_size: int, channels: int) -> Tensor:
    """(B, N, P*P*C) -> (B, C, H, W) with H = W = image_size: the inverse of `patchify`."""
    checks.tensor(patches, "patches", 3, "(B, N, P*P*C)")
    for value, name in (
        (patch_size, "patch_size"),
        (image_size, "image_size"),
        (channels, "channels"),
    ):
        checks.positive_int(value, name)
    if image_size % patch_size:
        raise ValueError(f"image size {image_size} is not divisible by patch size {patch_size}")
    side = image_size // patch_size
    expected = (side * side, patch_size * patch_size * channels)
    if tuple(patches.shape[1:]) != expected:
        raise ValueError(
            f"patches of shape {tuple(patches.shape)} do not fit a {channels}x{image_size}x"
            f"{image_size} image with patch size {patch_size}: expected (B, {expected[0]}, "
            f"{expected[1]})"
        )
    p = patch_size
    return rearrange(patches, "b (h w) (p1 p2 c) -> b c (h p1) (w p2)", h=side, p1=p, p2=p)


def check_patch_config(config) -> None:
    """Raise unless config.patch_size tiles config.image_size and config.heads split
    config.dim: what a patch transformer's config (the ViT's, the DiT's) checks when built."""
    checks.positive_ints(config, "image_size", "channels", "patch_size", "dim", "depth", "heads")
    checks.positive_ints(config, "mlp_dim")
    if config.image_size % config.patch_size:
        raise ValueError(
            f"image_size {config.image_size} is not divisible by patch_size "
            f"{config.patch_size}; pick one of {divisors(config.image_size)}"
        )
    if config.dim % config.heads:
        raise ValueError(f"dim {config.dim} must be divisible by heads {config.heads}")


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 28  # square images, H = W
    channels: int = 1  # 1 for digits, 3 for RGB
    patch_size: int = 7  # 28/7 -> 4x4 = 16 patches
    dim: int = 64  # D, width of every token
    depth: int = 4  # transformer blocks
    heads: int = 4  # attention heads per block, each d = D / heads wide
    mlp_dim: int = 128  # hidden width of each block's MLP
    num_classes: int = 10
    dropout: float = 0.0

    def __post_init__(self):
        check_patch_config(self)

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class ViT(nn.Module):
    """Patches -> linear embedding -> [CLS] + position embeddings -> blocks -> class logits."""

    def __init__(self, config: ViTConfig = ViTConfig()):
        super().__init__()
        self.config = config
        c = config
        patch_dim = c.patch_size * c.patch_size * c.channels
        self.patch_embed = nn.Linear(patch_dim, c.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.dim))
        self.pos_embed = nn.Parameter(torch.randn(1, c.num_patches + 1, c.dim) * 0.02)
        self.blocks = nn.ModuleList(
            Block(dim=c.dim, heads=c.heads, mlp_dim=c.mlp_dim, dropout=c.dropout)
            for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.num_classes)

    def _check_input(self, x: Tensor) -> None:
        c = self.config
        expected = (c.channels, c.image_size, c.image_size)
        checks.model_images(x, "images", expected, "this ViT", self.patch_embed.weight.dtype)

    def tokens(self, x: Tensor) -> Tensor:
        """Images (B, C, H, W) in [-1, 1] -> input tokens (B, T, D): CLS first, positions added."""
        self._check_input(x)
        patches = patchify(x, self.config.patch_size)  # (B, N, P*P*C)
        tokens = self.patch_embed(patches)  # (B, N, D)
        cls = self.cls_token.expand(len(x), -1, -1)  # (B, 1, D)
        return torch.cat([cls, tokens], dim=1) + self.pos_embed  # (B, T, D)

    def _run_blocks(self, h: Tensor, return_attention: bool) -> tuple[Tensor, list[Tensor]]:
        """Tokens (B, T, D) through every block -> (B, T, D), and each block's weights if asked."""
        attentions = []
        for block in self.blocks:
            if return_attention:
                h, weights = block(h, return_attention=True)  # weights (B, h, T, T)
                attentions.append(weights)
            else:
                h = block(h)
        return h, attentions

    def features(self, x: Tensor, return_attention: bool = False):
        """The pre-head representation: the CLS token after the final norm (B, D); with
        return_attention, also a list over layers of (B, h, T, T)."""
        h, attentions = self._run_blocks(self.tokens(x), return_attention)
        cls = self.norm(h[:, 0])  # (B, D): the classifier reads the CLS token
        return (cls, attentions) if return_attention else cls

    def output_tokens(self, x: Tensor) -> Tensor:
        """Every output token (B, T, D) after the final norm, CLS first, then one per patch:
        the sequence a vision-language model reads (not one pooled vector)."""
        h, _ = self._run_blocks(self.tokens(x), False)
        return self.norm(h)  # (B, T, D)

    def patch_tokens(self, x: Tensor) -> Tensor:
        """One output token per patch (B, N, D), after the final norm, CLS dropped."""
        return self.output_tokens(x)[:, 1:]  # (B, N, D)

    def forward(self, x: Tensor, return_attention: bool = False):
        """Logits (B, classes); with return_attention, also a list over layers of (B, h, T, T)."""
        if return_attention:
            cls, attentions = self.features(x, return_attention=True)
            return self.head(cls), attentions
        return self.head(self.features(x))

    def hidden_states(self, x: Tensor) -> list[Tensor]:
        """Tokens between blocks: a list of depth + 1 tensors (B, T, D).

        Entry 0 is `tokens(x)`, entry l the output of block l; so block l (0-based) reads
        `hidden_states(x)[l]`, and its queries and keys are `block.attn.to_qkv(block.norm1(.))`.
        """
        states = [self.tokens(x)]
        for block in self.blocks:
            states.append(block(states[-1]))
        return states


@torch.no_grad()
def predict(model: ViT, images: Tensor, batch_size: int = 500) -> Tensor:
    """Predicted class for each image (N, C, H, W) -> (N,), in eval mode, in batches."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    preds = [model(chunk.to(device)).argmax(-1).cpu() for chunk in images.split(batch_size)]
    model.train(was_training)
    return torch.cat(preds)
