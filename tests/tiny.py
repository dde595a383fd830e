"""Tiny, untrained models for tests that need a whole pipeline but not a trained one."""

from dataclasses import replace

import torch

from course_lib import diffusion, pipelines
from course_lib.autoencoder import VAE, VAEConfig
from course_lib.clip import TextEncoder, TextEncoderConfig
from course_lib.latent_diffusion import TextConditioned
from course_lib.recipes import ldm_digits
from course_lib.unet import UNet, UNetConfig


def text_to_image(make_denoiser=None) -> pipelines.TextToImagePipeline:
    """A text-to-image pipeline on 4x8x8 latents and 3x32x32 images, seeded, untrained.

    make_denoiser(unet, text_encoder, schedule) -> the noise predictor (default: the U-Net
    with its text encoder, as in ldm-digits)."""
    torch.manual_seed(0)
    text = TextEncoder(TextEncoderConfig(dim=32, depth=1, heads=4, mlp_dim=64))
    # ldm-digits' U-Net (4x8x8 latents, cross-attention), two levels and half the widths
    unet = UNet(replace(ldm_digits.MODEL, widths=(16, 32), attention_levels=(1,), cond_dim=32))
    for p in unet.parameters():  # the U-Net starts at zero output; make it say something
        torch.nn.init.normal_(p, std=0.05)
    schedule = diffusion.NoiseSchedule.cosine(1000)
    if make_denoiser is None:
        denoiser = TextConditioned(unet, text)
    else:
        denoiser = make_denoiser(unet, text, schedule)
    return pipelines.TextToImagePipeline(denoiser, VAE(VAEConfig(width=16)), schedule, name="tiny")


def vlm(patch_size: int = 8) -> pipelines.VLMPipeline:
    """A VLM pipeline with a 1-block ViT and a 2-block language model, seeded, untrained."""
    from course_lib.vlm import VLM, VLMConfig

    torch.manual_seed(0)
    config = VLMConfig(
        patch_size=patch_size,
        vision_dim=16,
        vision_depth=1,
        vision_heads=2,
        vision_mlp_dim=32,
        dim=16,
        depth=2,
        heads=2,
        mlp_dim=32,
    )
    return pipelines.VLMPipeline(VLM(config), name="tiny")


def explorer(name: str):
    """Each of `widgets.__all__` built from tiny untrained models and made-up images, in
    about a second, for tests of what every explorer shares."""
    import widgets
    from course_lib import clip, data, vit

    g = torch.Generator().manual_seed(0)
    digits = {k: torch.rand(1, 28, 28, generator=g) * 2 - 1 for k in ("a", "b")}
    torch.manual_seed(0)
    if name == "PatchExplorer":
        return widgets.PatchExplorer(digits, scale=2)
    if name == "NoisingScrubber":
        return widgets.NoisingScrubber(digits, T=50, scale=2)
    if name == "AttentionExplorer":
        model = vit.ViT(vit.ViTConfig(dim=32, depth=2, heads=2, mlp_dim=64))
        return widgets.AttentionExplorer(model, digits, scale=2)
    if name == "SimilarityExplorer":
        model = clip.CLIP(clip.CLIPConfig(conv_channels=(8, 8, 16), text_dim=32, embed_dim=16))
        captions = data.all_captions()[0][::10]  # 30 captions, with made-up images
        images = torch.rand(len(captions), 3, 32, 32, generator=g) * 2 - 1
        return widgets.SimilarityExplorer(model.eval(), images, captions, top_k=4)
    if name in ("DenoisingScrubber", "GuidanceExplorer"):
        classes = 10 if name == "GuidanceExplorer" else None
        config = UNetConfig(
            image_size=8, widths=(8, 16), attention_levels=(1,), num_classes=classes
        )
        schedule = diffusion.NoiseSchedule.cosine(20)
        if name == "GuidanceExplorer":
            pipe = pipelines.GuidedPipeline(UNet(config).eval(), schedule)
            return widgets.GuidanceExplorer(pipe, scales=(0.0, 3.0), seeds=(0,), images=2, steps=2)
        pipe = pipelines.DiffusionPipeline(UNet(config).eval(), schedule)
        return widgets.DenoisingScrubber(pipe, seeds=(0,), images=2, steps=3)
    if name == "LatentExplorer":
        images = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
        return widgets.LatentExplorer(
            text_to_image(), images, ["a large red seven", "a b"], images_per_prompt=1, steps=2
        )
    if name == "VLMExplorer":
        images = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1
        return widgets.VLMExplorer(vlm(), images, text_to_image(), steps=2)
    if name == "StepsExplorer":
        return widgets.StepsExplorer(
            text_to_image(), flow_text_to_image(), ["a large red seven"], steps=2
        )
    raise ValueError(f"no tiny {name}; add one here")


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
