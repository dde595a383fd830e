"""ldm-digits: a text-to-image latent diffusion model on the captioned digits (notebook 07).

The frozen `clip-digits` text encoder gives one state per token; a U-Net on the 8x8x4
latents of the frozen `vae-digits` attends to them; 15% of prompts are dropped to the empty
caption so classifier-free guidance works. Only the U-Net is trained and shipped here.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from course_lib import checkpoints, clip, config, data, diffusion, train
from course_lib.caption_judge import (  # noqa: F401 (notebook 07 calls them from here)
    evaluation_prompts,
    prompt_following,
)
from course_lib.latent_diffusion import (
    TextConditioned,
    activation_numbers,
    null_token_ids,
    training_latents,  # noqa: F401 (notebook 07 calls ldm_digits.training_latents)
)
from course_lib.recipes import Row
from course_lib.recipes.ddpm_digits import WARMUP
from course_lib.unet import UNet, UNetConfig

NAME = "ldm-digits"
HALF = True
VAE_NAME, TEXT_NAME = "vae-digits", "clip-digits"
MODEL = UNetConfig(
    image_size=8,  # the VAE's 8x8 latent grid
    channels=4,  # and its 4 latent channels
    widths=(32, 64, 64),  # 8x8 -> 4x4 -> 2x2
    blocks_per_level=1,
    attention_levels=(1, 2),  # self- and cross-attention at 4x4 and 2x2 (and in the middle)
    cond_dim=64,  # the clip-digits text encoder's width
)
SCHEDULE = {"kind": "cosine", "T": 1000}
STEPS = 3000
BATCH_SIZE = 128
LR = 1e-3
EMA_DECAY = 0.998
PROMPT_DROPOUT = 0.15  # share of training prompts replaced by the empty caption
MIN_SNR_GAMMA = 5.0


def train_ldm(
    denoiser: TextConditioned,
    schedule: diffusion.NoiseSchedule,
    vae,
    steps: int,
    *,
    seed: int = 0,
    seconds: float | None = None,
    progress: bool = True,
) -> tuple[train.TrainResult, train.EMA]:
    """Train the U-Net in `denoiser` on the training latents; return (history, its EMA)."""
    generator = config.seed_everything(seed)
    images, captions, _ = data.captioned_digits("train")
    means, _ = training_latents(vae, images)  # (N, Z, h, w)
    token_ids = denoiser.text_encoder.tokenize(captions)  # (N, L)
    null_ids = null_token_ids(denoiser.text_encoder, BATCH_SIZE)

    def loss_fn(model, batch):
        z0, ids = batch  # the posterior means: see `training_latents`
        ids = diffusion.drop_condition(ids, PROMPT_DROPOUT, null_ids, generator)
        return diffusion.diffusion_loss(
            model, schedule, z0, cond=ids, generator=generator, min_snr_gamma=MIN_SNR_GAMMA
        )

    return train.fit_with_ema(
        denoiser,
        loss_fn,
        data.batches(means, token_ids, batch_size=BATCH_SIZE, generator=generator),
        steps=steps,
        lr=LR,
        ema_decay=EMA_DECAY,
        part=lambda model: model.unet,  # the text encoder stays frozen
        warmup=WARMUP,
        seconds=seconds,
        desc=NAME,
        progress=progress,
    )


def build(seed: int = 0):
    """Train ldm-digits from scratch on top of the shipped vae-digits and clip-digits."""
    config.seed_everything(seed)
    vae = checkpoints.load_pretrained(VAE_NAME)
    text_encoder = clip.pretrained_text_encoder(TEXT_NAME)
    denoiser = TextConditioned(UNet(MODEL), text_encoder)
    schedule = getattr(diffusion.NoiseSchedule, SCHEDULE["kind"])(SCHEDULE["T"])
    result, ema = train_ldm(denoiser, schedule, vae, STEPS, seed=seed)
    means, _ = training_latents(vae, data.captioned_digits("train")[0])
    metrics = {
        "latent_range": round(means.abs().max().item() + 0.05, 1),  # clamp for predicted z0
        "schedule": SCHEDULE,
        "vae": VAE_NAME,
        "text_encoder": TEXT_NAME,
        "prompt_dropout": PROMPT_DROPOUT,
        "steps": result.steps,
        "batch_size": BATCH_SIZE,
        "final_loss": round(sum(result.losses[-100:]) / max(1, len(result.losses[-100:])), 4),
        "train_seconds": round(result.seconds, 1),
        "parameters": sum(p.numel() for p in ema.model.parameters()),
    }
    return ema.model, metrics


def benchmark() -> list[Row]:
    from course_lib import pipelines

    pipe = pipelines.load(NAME)
    rows = []
    targets = {"digit": ">= 0.80", "color": ">= 0.95", "layout": ">= 0.95", "all three": ">= 0.75"}
    prompts, attributes = evaluation_prompts(held_out=False, count=500)
    start = time.perf_counter()
    seen = prompt_following(pipe, prompts, attributes, 3.0)
    seconds = time.perf_counter() - start
    for key, value in seen.items():
        rows.append(
            Row(NAME, f"500 training-pair prompts, w=3, DDIM-50: {key} right", value, targets[key])
        )
    rows.append(
        Row(NAME, "seconds per generated image (w=3, DDIM-50, batch 100)", seconds / 500, unit="s")
    )
    prompts, attributes = evaluation_prompts(held_out=True, count=120)
    for key, value in prompt_following(pipe, prompts, attributes, 3.0).items():
        rows.append(Row(NAME, f"120 held-out-pair prompts, w=3: {key} right", value))
    prompts, attributes = evaluation_prompts(held_out=False, count=100, seed=1)
    for scale in (0.0, 1.0, 5.0):
        right = prompt_following(pipe, prompts, attributes, scale)["all three"]
        rows.append(Row(NAME, f"100 prompts, w={scale:g}: all three right", right))
    rows += speed_rows()
    return rows


def speed_rows(batch: int = 32, repeats: int = 5) -> list[Row]:
    """Seconds per U-Net step in pixel space (32x32x3) against latent space (8x8x4), same widths."""
    latent_unet = UNet(MODEL).eval()
    pixel_unet = UNet(dataclasses.replace(MODEL, image_size=32, channels=3)).eval()
    tokens = torch.randn(batch, 12, MODEL.cond_dim)
    t = torch.randint(0, 1000, (batch,))
    rows, times = [], {}
    for name, unet, shape in (
        ("latent 8x8x4", latent_unet, (4, 8, 8)),
        ("pixel 32x32x3", pixel_unet, (3, 32, 32)),
    ):
        x = torch.randn(batch, *shape)
        with torch.no_grad():
            unet(x, t, tokens)
            start = time.perf_counter()
            for _ in range(repeats):
                unet(x, t, tokens)
        times[name] = (time.perf_counter() - start) / repeats
        rows.append(Row(NAME, f"U-Net step, {name}, batch {batch}", 1000 * times[name], unit="ms"))
        megabytes = 4 * activation_numbers(unet, x, t, tokens) / 2**20
        rows.append(
            Row(NAME, f"activation memory per forward, {name}, batch {batch}", megabytes, unit="MB")
        )
    ratio = times["pixel 32x32x3"] / times["latent 8x8x4"]
    rows.append(Row(NAME, "speed-up of a latent step over a pixel step", ratio, ">= 4", unit="x"))
    return rows
