"""A small convolutional VAE: the image codec of latent diffusion (Kingma & Welling 2014;
Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models").

Letters: B batch, C image channels, H x W pixels, Z latent channels, h x w latent grid
(H/4 x W/4 here: two stride-2 downsamplings).

Notation, paper -> code:
    mu, log sigma^2      mean, logvar          the encoder's Gaussian q(z given x)
    z = mu + sigma eps   sample_latent(...)    the reparameterisation trick
    KL(q || N(0, I))     kl_divergence(...)    closed form for diagonal Gaussians
    scale factor         config.scaling_factor  1 / std of training latents (SD v1: 0.18215)

`encode` returns the posterior *in diffusion space* (already multiplied by the scaling
factor) and `decode` undoes the factor, so the diffusion model only ever sees latents of
unit scale. While training the VAE the factor is 1; it is measured afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib import checks


@dataclass(frozen=True)
class VAEConfig:
    image_size: int = 32  # H = W
    channels: int = 3  # C: RGB captioned digits
    latent_channels: int = 4  # Z: 32x32x3 -> 8x8x4, as Stable Diffusion's 4 channels
    width: int = 32  # channels at full size; doubled at 16x16 and 8x8, where the ResBlocks are
    kl_weight: float = 1e-3  # weight of the per-element KL against the per-pixel MSE
    scaling_factor: float = 1.0  # 1 / std of the training latents; measured after training

    def __post_init__(self):
        checks.positive_ints(self, "image_size", "channels", "latent_channels", "width")
        if self.image_size % 4:
            raise ValueError(
                f"image_size must be divisible by 4 (two downsamplings), got {self.image_size}"
            )

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        side = self.image_size // 4
        return (self.latent_channels, side, side)


class ResBlock(nn.Module):
    """x + conv(silu(norm(conv(silu(norm(x)))))): the basic block of both halves."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(8, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(8, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class VAE(nn.Module):
    """Images (B, C, H, W) in [-1, 1] <-> latents (B, Z, H/4, W/4)."""

    def __init__(self, config: VAEConfig = VAEConfig()):
        super().__init__()
        self.config = config
        c, w, z = config.channels, config.width, config.latent_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(c, w, 3, padding=1),  # (B, w, H, W)
            nn.SiLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),  # (B, 2w, H/2, W/2)
            ResBlock(2 * w),
            nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1),  # (B, 2w, H/4, W/4)
            ResBlock(2 * w),
            nn.GroupNorm(8, 2 * w),
            nn.SiLU(),
            nn.Conv2d(2 * w, 2 * z, 3, padding=1),  # (B, 2Z, h, w): mean and log-variance
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(z, 2 * w, 3, padding=1),  # (B, 2w, h, w)
            ResBlock(2 * w),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1),  # (B, 2w, H/2, W/2)
            ResBlock(2 * w),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(2 * w, w, 3, padding=1),  # (B, w, H, W)
            nn.GroupNorm(8, w),
            nn.SiLU(),
            nn.Conv2d(w, c, 3, padding=1),  # (B, C, H, W)
            nn.Tanh(),
        )

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images -> (mean, logvar), each (B, Z, h, w), in diffusion space (scaled)."""
        c = self.config
        expected = (c.channels, c.image_size, c.image_size)
        checks.model_images(x, "images", expected, "the VAE encoder", self.dtype)
        mean, logvar = self.encoder(x).chunk(2, dim=1)  # (B, Z, h, w) each
        logvar = logvar.clamp(-30.0, 20.0)
        s = self.config.scaling_factor
        return mean * s, logvar + 2 * math.log(s)  # z' = s z: mean scales by s, variance by s^2

    def decode(self, latents: Tensor) -> Tensor:
        """Scaled latents (B, Z, h, w) -> images (B, C, H, W) in [-1, 1]."""
        checks.batch(latents, "latents", self.config.latent_shape, "the VAE decoder", self.dtype)
        return self.decoder(latents / self.config.scaling_factor)

    def forward(self, x: Tensor, generator: torch.Generator | None = None):
        """Encode, sample with the reparameterisation trick, decode: (recon, mean, logvar)."""
        mean, logvar = self.encode(x)
        return self.decode(sample_latent(mean, logvar, generator)), mean, logvar


def sample_latent(mean: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """z = mean + exp(logvar / 2) * eps, eps ~ N(0, I): the reparameterisation trick."""
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * logvar) * eps


def kl_divergence(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) per element: 0.5 (mean^2 + var - 1 - logvar)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)


def vae_loss(
    model: VAE, images: Tensor, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """The VAE objective: per-pixel MSE + kl_weight * per-element KL. Returns all three."""
    recon, mean, logvar = model(images, generator)
    reconstruction = F.mse_loss(recon, images)
    kl = kl_divergence(mean, logvar).mean()
    return {"loss": reconstruction + model.config.kl_weight * kl, "mse": reconstruction, "kl": kl}


def slerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Spherical interpolation between latents a and b (same shape), t in [0, 1].

    Gaussian latents live near a sphere; a straight line between two of them passes through
    low-norm latents the decoder never saw, an arc does not (Shoemake 1985; White 2016).
    """
    if a.shape != b.shape:
        raise ValueError(
            f"latents must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must be between 0 and 1, got {t}")
    a_flat, b_flat = a.flatten(), b.flatten()
    cos = torch.dot(a_flat, b_flat) / (a_flat.norm() * b_flat.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-4:  # nearly parallel: the arc is a line
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


@torch.no_grad()
def measure_scaling_factor(model: VAE, images: Tensor, batch_size: int = 500) -> float:
    """1 / std of the unscaled latent means over `images`: makes diffusion latents unit-scale."""
    s = model.config.scaling_factor
    means = [model.encode(chunk)[0] / s for chunk in images.split(batch_size)]
    return 1.0 / torch.cat(means).std().item()
