"""A Diffusion Transformer (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers",
DiT) on the VAE latents: notebook 01's ViT with a timestep and a prompt.

    latent (B, Z, h, w) --patchify--> (B, N, P*P*Z) --linear--> tokens (B, N, D) + positions
    c = MLP(timestep embedding of t) + linear(pooled prompt vector)       the condition (B, D)
    depth x Block: self-attention, cross-attention to the prompt's token states,
                   MLP, each branch modulated by c (adaLN-Zero, see `transformer.Block`)
    final adaLN norm (shift, scale from c) --zero-init linear--> (B, N, P*P*Z) --unpatchify-->
    output (B, Z, h, w): a velocity (flow matching) or a noise guess (DDPM), same shape as x

Unlike the ViT there is no CLS token and no class head: every patch token comes back out as
its patch of the output. The last linear layer starts at zero, so a fresh DiT outputs 0.

Letters: B batch, Z latent channels, h = w latent side, P patch size, N = (h/P)^2 tokens,
D width, L prompt tokens, D_text text width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib import checks
from course_lib.latent_diffusion import frozen_reader
from course_lib.transformer import Block, modulate
from course_lib.unet import timestep_embedding
from course_lib.vit import check_patch_config, patchify, unpatchify


@dataclass(frozen=True)
class DiTConfig:
    image_size: int = 8  # the latent side h = w (vae-digits: 8x8)
    channels: int = 4  # Z, latent channels (vae-digits: 4)
    patch_size: int = 2  # 8/2 -> 4x4 = 16 tokens, as DiT-XL/2 uses patch 2
    dim: int = 128  # D, width of every token
    depth: int = 4  # transformer blocks
    heads: int = 4  # attention heads, each d = D / heads wide
    mlp_dim: int = 512  # hidden width of each block's MLP (4 D)
    context_dim: int | None = 64  # width of the prompt's token states (clip-digits: 64); None: none
    time_scale: float = 1000.0  # t in [0, 1] is embedded as t * time_scale, like DDPM's 0..999
    learn_sigma: bool = False  # DiT also predicts a variance; flow matching needs none

    def __post_init__(self):
        check_patch_config(self)  # image_size: the latent side
        if self.learn_sigma:
            raise ValueError("learn_sigma is not supported: the course's DiT predicts one output")

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class FinalLayer(nn.Module):
    """adaLN (shift and scale from c, no gate) then a zero-initialised linear to patches."""

    def __init__(self, dim: int, patch_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.linear = nn.Linear(dim, patch_dim)
        for layer in (self.modulation[1], self.linear):  # a fresh DiT outputs exactly 0
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Tokens (B, N, D), condition (B, D) -> patches (B, N, P*P*Z)."""
        shift, scale = self.modulation(c)[:, None].chunk(2, dim=-1)  # (B, 1, D) each
        return self.linear(modulate(self.norm(x), shift, scale))


class DiT(nn.Module):
    """Latent (B, Z, h, w), time t (B,) in [0, 1], prompt states -> output (B, Z, h, w)."""

    def __init__(self, config: DiTConfig = DiTConfig()):
        super().__init__()
        self.config = c = config
        patch_dim = c.patch_size * c.patch_size * c.channels
        self.patch_embed = nn.Linear(patch_dim, c.dim)  # as in the ViT
        self.pos_embed = nn.Parameter(torch.randn(1, c.num_patches, c.dim) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(c.dim, c.dim), nn.SiLU(), nn.Linear(c.dim, c.dim))
        self.text_proj = None if c.context_dim is None else nn.Linear(c.context_dim, c.dim)
        self.blocks = nn.ModuleList(
            Block(
                dim=c.dim,
                heads=c.heads,
                mlp_dim=c.mlp_dim,
                context_dim=c.context_dim,
                cond_dim=c.dim,
            )
            for _ in range(c.depth)
        )
        self.final = FinalLayer(c.dim, patch_dim)

    def _check(self, x: Tensor, t: Tensor, context: Tensor | None, pooled: Tensor | None):
        c = self.config
        checks.batch(
            x, "x", (c.channels, c.image_size, c.image_size), "this DiT", self.pos_embed.dtype
        )
        if not isinstance(t, Tensor) or t.shape != (len(x),):
            raise ValueError(f"t must be a (B,) tensor of times with B={len(x)}, got {t!r}")
        if (context is None) != (c.context_dim is None) or (pooled is None) != (context is None):
            raise ValueError(
                "a DiT built with context_dim needs context (B, L, D_text) and pooled "
                "(B, D_text) (use TextDiT to make them from token ids); one without takes neither"
            )

    def condition(self, t: Tensor, pooled: Tensor | None) -> Tensor:
        """The adaLN condition c (B, D): the embedded time plus the projected prompt vector."""
        c = self.time_mlp(timestep_embedding(t * self.config.time_scale, self.config.dim))
        return c if pooled is None else c + self.text_proj(pooled)

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        context: Tensor | None = None,
        context_padding_mask: Tensor | None = None,
        pooled: Tensor | None = None,
    ) -> Tensor:
        """x (B, Z, h, w), t (B,) -> (B, Z, h, w). context (B, L, D_text): the prompt's token
        states, context_padding_mask (B, L) True at <pad>; pooled (B, D_text): one prompt vector."""
        self._check(x, t, context, pooled)
        cfg = self.config
        tokens = self.patch_embed(patchify(x, cfg.patch_size)) + self.pos_embed  # (B, N, D)
        c = self.condition(t, pooled)  # (B, D)
        for block in self.blocks:
            tokens = block(
                tokens, context=context, cond=c, context_padding_mask=context_padding_mask
            )  # (B, N, D)
        patches = self.final(tokens, c)  # (B, N, P*P*Z)
        return unpatchify(patches, cfg.patch_size, cfg.image_size, cfg.channels)  # (B, Z, h, w)


class TextDiT(nn.Module):
    """v_theta(z_t, t, token ids): a DiT fed by a frozen text encoder, the token states for
    cross-attention and the pooled <end> state for adaLN; the DiT sibling of
    `latent_diffusion.TextConditioned`, so samplers can pass token ids as the condition."""

    def __init__(self, dit: DiT, text_encoder: nn.Module):
        super().__init__()
        self.dit = dit
        self.text_encoder = frozen_reader(
            text_encoder, dit.config.context_dim, "DiT", "context_dim"
        )

    @property
    def config(self) -> DiTConfig:
        return self.dit.config

    @property
    def backbone(self) -> DiT:
        """The part that trains (the text encoder stays frozen)."""
        return self.dit

    def forward(self, z: Tensor, t: Tensor, token_ids: Tensor) -> Tensor:
        """z (B, Z, h, w), t (B,) in [0, 1], token ids (B, L) -> output (B, Z, h, w)."""
        with torch.no_grad():
            states, padding = self.text_encoder.hidden_states(token_ids)  # (B, L, D_text)
            pooled = self.text_encoder.pool(states, token_ids)  # (B, D_text)
        return self.dit(z, t, states, context_padding_mask=padding, pooled=pooled)
