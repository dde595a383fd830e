"""A small time-conditioned U-Net that predicts the noise in a noisy image (Ho et al. 2020).

    x_t (B, C, H, W), t (B,)  ->  eps_theta(x_t, t) (B, C, H, W)

Pieces, in the order the image meets them:
- a sinusoidal embedding of the timestep t (as for token positions in "Attention Is All You
  Need"), turned by an MLP into a vector every residual block adds to its features;
- a down path of residual blocks and stride-2 convolutions, saving a skip at each level;
- a middle at the lowest resolution with self-attention, so far-apart strokes can agree;
- an up path that upsamples and concatenates the saved skips, back to full size.

Conditioning (`cond`) is optional and built only when the config asks for it:
- class labels: `num_classes=10` adds a label embedding to the time embedding; label index
  `num_classes` is the "no label" token, which is also what cond=None means (classifier-free
  guidance trains and samples with it);
- token embeddings: `cond_dim=D_c` adds cross-attention from the image features to a (B, L, D_c)
  sequence (e.g. a text encoder's output) at the attention resolutions.

Letters: B batch, C channels, H x W pixels, D time-embedding width, L condition tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from course_lib import checks


@dataclass(frozen=True)
class UNetConfig:
    image_size: int = 28  # square images, H = W; must be divisible by 2**(levels - 1)
    channels: int = 1  # image channels in and out (1 for digits, 4 for a VAE latent)
    widths: tuple[int, ...] = (32, 64, 64)  # feature channels per level, full size first
    blocks_per_level: int = 2  # residual blocks per level on the way down
    attention_levels: tuple[int, ...] = (2,)  # levels (0 = full size) with self-attention
    heads: int = 4  # attention heads; each is widths[level] / heads wide
    time_dim: int = 128  # D, width of the timestep embedding
    groups: int = 8  # GroupNorm groups; must divide every width
    num_classes: int | None = None  # class-conditional when set (label embedding)
    cond_dim: int | None = None  # token-conditional when set (cross-attention to (B, L, cond_dim))
    dropout: float = 0.0
    skips: bool = True  # False: every skip connection carries zeros (the ablation in notebook 05)

    def __post_init__(self):
        levels = len(self.widths)
        if levels < 1:
            raise ValueError("widths needs at least one level, e.g. (32, 64, 64)")
        if self.image_size % 2 ** (levels - 1):
            raise ValueError(
                f"image_size {self.image_size} cannot be halved {levels - 1} times; "
                f"use fewer widths or an image size divisible by {2 ** (levels - 1)}"
            )
        for w in self.widths:
            if w % self.groups or w % self.heads:
                raise ValueError(f"width {w} must be divisible by groups={self.groups} and heads")
        if any(not 0 <= a < levels for a in self.attention_levels):
            raise ValueError(f"attention_levels {self.attention_levels} must be in 0..{levels - 1}")


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal embedding (B,) -> (B, dim): [cos(t w_i), sin(t w_i)], w_i geometric."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)  # (D/2,)
    angles = t.float()[:, None] * freqs[None]  # (B, D/2)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)  # (B, D)


class ResBlock(nn.Module):
    """norm, SiLU, conv; time embedding as a per-channel scale and shift; again; plus the input."""

    def __init__(self, *, dim_in: int, dim_out: int, time_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, dim_in)
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, padding=1)
        self.time = nn.Linear(time_dim, 2 * dim_out)  # -> scale and shift
        self.norm2 = nn.GroupNorm(groups, dim_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, C_out, H, W)
        scale, shift = self.time(F.silu(emb))[:, :, None, None].chunk(2, dim=1)  # (B, C_out, 1, 1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


def attention_with_weights(
    q: Tensor, k: Tensor, v: Tensor, heads: int, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """softmax(Q K^T / sqrt(d)) V over `heads` heads of width d = C / heads, the softmax
    written out (Vaswani et al. 2017): q (B, N, C), k and v (B, M, C), mask (B, M) bool with
    True = keep -> (out (B, N, C), weights (B, heads, N, M), each row summing to 1 over M)."""
    q, k, v = (rearrange(a, "b n (h d) -> b h n d", h=heads) for a in (q, k, v))
    scores = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5  # (B, heads, N, M)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))  # pads: weight 0
    weights = scores.softmax(dim=-1)  # each query's weights over the M keys sum to 1
    return rearrange(weights @ v, "b h n d -> b n (h d)"), weights


class Attention(nn.Module):
    """Self-attention over the H*W positions, plus cross-attention to condition tokens if given.

    Set `keep_cross_attention = True` and each forward stores its cross-attention weights
    in `cross_attention` (B, heads, H*W, L), each row summing to 1 over the tokens: where
    every image position looks (notebook 07's word maps; no patching of the model needed).
    """

    def __init__(self, *, dim: int, heads: int, groups: int, cond_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.keep_cross_attention = False
        self.cross_attention: Tensor | None = None  # (B, heads, H*W, L), when kept
        self.norm = nn.GroupNorm(groups, dim)
        self.to_qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.to_out = nn.Conv2d(dim, dim, 1)
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)
        self.cross = None
        if cond_dim is not None:
            self.cross_norm = nn.GroupNorm(groups, dim)
            self.to_q = nn.Conv2d(dim, dim, 1)
            self.to_kv = nn.Linear(cond_dim, 2 * dim)
            self.cross = nn.Conv2d(dim, dim, 1)
            nn.init.zeros_(self.cross.weight)
            nn.init.zeros_(self.cross.bias)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
        """q (B, N, C), k and v (B, M, C) -> (B, N, C), split into heads; mask (B, M) True=keep."""
        q, k, v = (rearrange(a, "b n (h d) -> b h n d", h=self.heads) for a in (q, k, v))
        if mask is not None:
            mask = mask[:, None, None, :]  # (B, 1, 1, M), broadcast over heads and queries
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # softmax(QK^T/sqrt(d)) V
        return rearrange(out, "b h n d -> b n (h d)")

    def _attend_and_keep(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """`_attend` with the softmax written out, its weights kept in self.cross_attention."""
        out, self.cross_attention = attention_with_weights(q, k, v, self.heads, mask)
        return out

    def cross_qkv(self, x: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Cross-attention's queries (B, H*W, C), one per image position of x (B, C, H, W),
        and its keys and values (B, L, C), one per condition token of tokens (B, L, D_c)."""
        q = rearrange(self.to_q(self.cross_norm(x)), "b c h w -> b (h w) c")  # (B, H*W, C)
        k, v = self.to_kv(tokens).chunk(2, dim=-1)  # each (B, L, C)
        return q, k, v

    def forward(self, x: Tensor, tokens: Tensor | None = None, mask: Tensor | None = None):
        _, _, height, width = x.shape
        qkv = rearrange(self.to_qkv(self.norm(x)), "b c h w -> b (h w) c")  # (B, H*W, 3C)
        out = self._attend(*qkv.chunk(3, dim=-1))  # (B, H*W, C)
        x = x + self.to_out(rearrange(out, "b (h w) c -> b c h w", h=height, w=width))
        if self.cross is not None and tokens is not None:
            attend = self._attend_and_keep if self.keep_cross_attention else self._attend
            out = attend(*self.cross_qkv(x, tokens), mask)
            x = x + self.cross(rearrange(out, "b (h w) c -> b c h w", h=height, w=width))
        return x


class UNet(nn.Module):
    """eps_theta(x_t, t, cond): predicts the noise that was added to x_t at timestep t."""

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = c = config
        d = c.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.SiLU(), nn.Linear(4 * d, d))
        self.label_embed = nn.Embedding(c.num_classes + 1, d) if c.num_classes else None

        def res(dim_in: int, dim_out: int) -> ResBlock:
            return ResBlock(
                dim_in=dim_in, dim_out=dim_out, time_dim=d, groups=c.groups, dropout=c.dropout
            )

        def attn(dim: int) -> Attention:
            return Attention(dim=dim, heads=c.heads, groups=c.groups, cond_dim=c.cond_dim)

        self.conv_in = nn.Conv2d(c.channels, c.widths[0], 3, padding=1)
        # Down path: every block's output is saved as a skip for the up path.
        self.down = nn.ModuleList()
        skip_widths = [c.widths[0]]
        width = c.widths[0]
        for level, level_width in enumerate(c.widths):
            for _ in range(c.blocks_per_level):
                self.down.append(
                    nn.ModuleDict({"res": res(width, level_width)})
                    if level not in c.attention_levels
                    else nn.ModuleDict({"res": res(width, level_width), "attn": attn(level_width)})
                )
                width = level_width
                skip_widths.append(width)
            if level < len(c.widths) - 1:
                self.down.append(nn.ModuleDict({"downsample": nn.Conv2d(width, width, 3, 2, 1)}))
                skip_widths.append(width)
        # Middle, at the lowest resolution: residual, self-attention, residual.
        self.mid1, self.mid_attn, self.mid2 = res(width, width), attn(width), res(width, width)
        # Up path: one more block per level than on the way down, each eats one skip.
        self.up = nn.ModuleList()
        for level in reversed(range(len(c.widths))):
            level_width = c.widths[level]
            for _ in range(c.blocks_per_level + 1):
                block = {"res": res(width + skip_widths.pop(), level_width)}
                if level in c.attention_levels:
                    block["attn"] = attn(level_width)
                self.up.append(nn.ModuleDict(block))
                width = level_width
            if level > 0:  # upsample, and narrow to the next level's width before the big convs
                narrow = nn.Conv2d(width, c.widths[level - 1], 3, padding=1)
                self.up.append(nn.ModuleDict({"upsample": narrow}))
                width = c.widths[level - 1]
        self.norm_out = nn.GroupNorm(c.groups, width)
        self.conv_out = nn.Conv2d(width, c.channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # start by predicting eps = 0
        nn.init.zeros_(self.conv_out.bias)

    def _check_inputs(self, x: Tensor, t: Tensor) -> Tensor:
        c = self.config
        expected = (c.channels, c.image_size, c.image_size)
        dtype = self.conv_out.weight.dtype
        checks.batch(x, "noisy images x_t", expected, "this U-Net", dtype)  # any range
        if isinstance(t, int) or (isinstance(t, Tensor) and t.ndim == 0):
            t = torch.full((len(x),), int(t), device=x.device)
        if not isinstance(t, Tensor) or t.shape != (len(x),):
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"t must be an int or a (B,) tensor with B={len(x)}, got {got}")
        return t.to(x.device)

    def embed(self, t: Tensor, cond: Tensor | None, batch: int) -> Tensor:
        """Timestep (B,) and class labels (B,) if the model has them -> one vector (B, D)."""
        emb = self.time_mlp(timestep_embedding(t, self.config.time_dim))  # (B, D)
        if self.label_embed is not None:
            null = self.config.num_classes  # the "no label" index
            if cond is None:
                cond = torch.full((batch,), null, device=t.device, dtype=torch.long)
            if cond.dtype != torch.long or cond.shape != (batch,):
                raise ValueError(
                    f"cond must be (B,) int64 labels in 0..{null} ({null} = no label), "
                    f"got {cond.dtype} {tuple(cond.shape)}"
                )
            emb = emb + self.label_embed(cond)
        return emb

    def forward(
        self, x: Tensor, t: Tensor | int, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """x (B, C, H, W) in about [-1, 1] at noise level t (B,) -> predicted noise (B, C, H, W).

        cond: None (unconditional); (B,) int64 labels if config.num_classes; (B, L, cond_dim)
        token embeddings if config.cond_dim, with an optional (B, L) bool `mask` (True = keep).
        """
        t = self._check_inputs(x, t)
        c = self.config
        tokens = None
        if c.cond_dim is not None and cond is not None:
            if cond.ndim != 3 or cond.shape[0] != len(x) or cond.shape[2] != c.cond_dim:
                raise ValueError(
                    f"cond must be token embeddings (B={len(x)}, L, {c.cond_dim}), "
                    f"got {tuple(cond.shape)}"
                )
            tokens, cond = cond, None
        elif cond is not None and c.num_classes is None:
            raise ValueError(
                "this U-Net is unconditional (config has no num_classes or cond_dim); "
                "call it with cond=None"
            )
        emb = self.embed(t, cond, len(x))  # (B, D)
        h = self.conv_in(x)  # (B, widths[0], H, W)
        skips = [h]
        for block in self.down:
            if "downsample" in block:
                h = block["downsample"](h)  # (B, C, H/2, W/2)
            else:
                h = block["res"](h, emb)
                if "attn" in block:
                    h = block["attn"](h, tokens, mask)
            skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb), tokens, mask), emb)
        for block in self.up:
            if "upsample" in block:
                h = block["upsample"](F.interpolate(h, scale_factor=2.0, mode="nearest"))
            else:
                skip = skips.pop() if c.skips else torch.zeros_like(skips.pop())  # cut: zeros
                h = block["res"](torch.cat([h, skip], dim=1), emb)  # the skip joins here
                if "attn" in block:
                    h = block["attn"](h, tokens, mask)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, C, H, W)
