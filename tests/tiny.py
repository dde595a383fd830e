"""Tiny, untrained models for tests that need a whole pipeline but not a trained one."""

import torch

from course_lib import diffusion, pipelines
from course_lib.autoencoder import VAE, VAEConfig
from course_lib.clip import TextEncoder, TextEncoderConfig
from course_lib.latent_diffusion import TextConditioned
from course_lib.unet import UNet, UNetConfig


def text_to_image(make_denoiser=None) -> pipelines.TextToImagePipeline:
    """A text-to-image pipeline on 4x8x8 latents and 3x32x32 images, seeded, untrained.

    make_denoiser(unet, text_encoder, schedule) -> the noise predictor (default: the U-Net
    with its text encoder, as in ldm-digits)."""
    torch.manual_seed(0)
    text = TextEncoder(TextEncoderConfig(dim=32, depth=1, heads=4, mlp_dim=64))
    unet = UNet(
        UNetConfig(
            image_size=8,
            channels=4,
            widths=(16, 32),
            blocks_per_level=1,
            attention_levels=(1,),
            cond_dim=32,
            groups=8,
            heads=4,
        )
    )
    for p in unet.parameters():  # the U-Net starts at zero output; make it say something
        torch.nn.init.normal_(p, std=0.05)
    schedule = diffusion.NoiseSchedule.cosine(1000)
    if make_denoiser is None:
        denoiser = TextConditioned(unet, text)
    else:
        denoiser = make_denoiser(unet, text, schedule)
    return pipelines.TextToImagePipeline(denoiser, VAE(VAEConfig(width=16)), schedule, name="tiny")


def flow_text_to_image() -> pipelines.FlowTextToImagePipeline:
    """A rectified-flow text-to-image pipeline: a tiny DiT on 4x8x8 latents, seeded, untrained
    (its weights scrambled, so it says something)."""
    from course_lib.dit import DiT, DiTConfig, TextDiT

    torch.manual_seed(0)
    text = TextEncoder(TextEncoderConfig(dim=32, depth=1, heads=4, mlp_dim=64))
    dit = DiT(DiTConfig(dim=32, depth=2, heads=4, mlp_dim=64, context_dim=32))
    for p in dit.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return pipelines.FlowTextToImagePipeline(TextDiT(dit, text), VAE(VAEConfig(width=16)))
