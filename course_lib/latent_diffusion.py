"""Latent diffusion (Rombach et al. 2022): the three parts of Stable Diffusion, small.

- a text encoder (the frozen one from `clip-digits`) turns a prompt into one vector per token;
- a U-Net predicts the noise of an 8x8x4 latent, attending to those tokens (cross-attention);
- the VAE decoder (`vae-digits`) turns the final latent into a 32x32x3 image, once.

The U-Net is conditioned on token ids (B, L): `TextConditioned` runs the text encoder and
passes its states and padding mask to the U-Net, so the shared sampler (and its batched
classifier-free guidance) can concatenate conditions like any tensor. The empty prompt ""
is the null condition: only the <end> token, which training shows 10-20% of the time.

Letters: B batch, L context length (tokens), D text width, Z latent channels, h x w latent grid.
"""

from __future__ import annotations

import dataclasses
import time

import torch
from torch import Tensor, nn

from course_lib.clip import TextEncoder
from course_lib.unet import UNet, UNetConfig


def null_token_ids(text_encoder: TextEncoder, batch: int) -> Tensor:
    """The empty prompt for `batch` images: <end> then padding, (B, L) int64."""
    tok = text_encoder.tokenizer
    ids = torch.full((batch, tok.context_length), tok.pad_id, dtype=torch.long)
    ids[:, 0] = tok.end_id
    return ids.to(text_encoder.pos_embed.device)


def prompt_token_ids(text_encoder: TextEncoder, prompts, unknown: str = "warn") -> Tensor:
    """A list of prompts -> token ids (B, L); "" is the null condition (unconditional).

    Unknown words are reported (a warning, or a ValueError with unknown="raise"); a prompt
    longer than the context raises. An empty list or a non-string raises.
    """
    if isinstance(prompts, str):
        raise TypeError(f"pass a list of prompts, e.g. [{prompts!r}], not a bare string")
    if not isinstance(prompts, list | tuple) or not prompts:
        raise ValueError("pass a non-empty list of prompts, e.g. ['a large red seven']")
    if not all(isinstance(p, str) for p in prompts):
        raise TypeError(f"every prompt must be a string, got {[type(p).__name__ for p in prompts]}")
    ids = null_token_ids(text_encoder, len(prompts))
    worded = [i for i, p in enumerate(prompts) if p.strip()]
    if worded:
        ids[worded] = text_encoder.tokenize([prompts[i] for i in worded], unknown=unknown)
    return ids


def frozen_reader(text_encoder: TextEncoder, width: int, model: str, argument: str):
    """The text encoder, frozen and in eval mode, once its width matches the `width` of
    tokens the denoiser's cross-attention reads (else a ValueError naming `argument`)."""
    if width != text_encoder.config.dim:
        raise ValueError(
            f"the {model} attends to tokens of width {width}, but the text encoder makes "
            f"{text_encoder.config.dim}; build the {model} with "
            f"{argument}={text_encoder.config.dim}"
        )
    return text_encoder.eval().requires_grad_(False)


class TextConditioned(nn.Module):
    """eps_theta(z_t, t, token ids): a U-Net with cross-attention, fed by a frozen text encoder."""

    def __init__(self, unet: nn.Module, text_encoder: TextEncoder):
        super().__init__()
        self.unet = unet
        self.text_encoder = frozen_reader(text_encoder, unet.config.cond_dim, "U-Net", "cond_dim")

    @property
    def config(self):
        return self.unet.config

    @property
    def backbone(self) -> nn.Module:
        """The part that trains (the text encoder stays frozen)."""
        return self.unet

    def forward(self, z: Tensor, t: Tensor, token_ids: Tensor) -> Tensor:
        """z (B, Z, h, w), t (B,), token ids (B, L) -> predicted noise (B, Z, h, w)."""
        with torch.no_grad():
            states, padding = self.text_encoder.hidden_states(token_ids)  # (B, L, D), (B, L)
        return self.unet(z, t, states, mask=~padding)  # the U-Net's mask is True = keep


def training_latents(vae: nn.Module, images: Tensor) -> tuple[Tensor, Tensor]:
    """The VAE posterior (mean, logvar) of every training image (N, 3, H, W), scaled: each
    (N, Z, h, w).

    The U-Net trains on the means. Our small VAE's posterior is wide (its std, ~0.8, is close
    to the spread of the means, 1.0), so a sample is mostly noise the decoder learned to
    ignore; Stable Diffusion's VAE has a narrow posterior, where sample and mean agree."""
    with torch.no_grad():
        parts = [vae.encode(chunk) for chunk in images.split(500)]
    return torch.cat([m for m, _ in parts]), torch.cat([v for _, v in parts])


def activation_numbers(model: nn.Module, *inputs) -> int:
    """How many numbers the forward pass produces in all its modules' outputs: what training
    keeps for the backward pass, a measure of activation memory independent of the allocator."""
    total = 0

    def count(_module, _inputs, output):
        nonlocal total
        if isinstance(output, Tensor):
            total += output.numel()

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return total


@torch.no_grad()
def step_costs(
    config: UNetConfig,
    pixel_size: int = 32,
    pixel_channels: int = 3,
    batch: int = 32,
    tokens: int = 12,
    repeats: int = 5,
) -> dict[str, dict]:
    """What the latent space saves: milliseconds per U-Net step and activation memory (MB of
    float32 per forward) of the U-Net `config` on its latents, and of the same widths on
    pixels (pixel_channels, pixel_size, pixel_size), both attending to `tokens` random tokens.

    Returns {"latent": cost, "pixel": cost}, each {"shape": "8x8x4" (h x w x channels),
    "ms": ..., "MB": ...}. Random inputs come from a fixed local generator."""
    generator = torch.Generator().manual_seed(0)
    context = torch.randn(batch, tokens, config.cond_dim, generator=generator)  # (B, L, D)
    t = torch.randint(0, 1000, (batch,), generator=generator)  # (B,)
    pixel = dataclasses.replace(config, image_size=pixel_size, channels=pixel_channels)
    costs = {}
    for space, c in (("latent", config), ("pixel", pixel)):
        unet = UNet(c).eval()
        x = torch.randn(batch, c.channels, c.image_size, c.image_size, generator=generator)
        unet(x, t, context)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            unet(x, t, context)
        costs[space] = {
            "shape": f"{c.image_size}x{c.image_size}x{c.channels}",
            "ms": 1000 * (time.perf_counter() - start) / repeats,
            "MB": 4 * activation_numbers(unet, x, t, context) / 2**20,
        }
    return costs
