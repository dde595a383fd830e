"""ldm-digits: a text-to-image latent diffusion model on the captioned digits (notebook 07).

The frozen `clip-digits` text encoder gives one state per token; a U-Net on the 8x8x4
latents of the frozen `vae-digits` attends to them; 15% of prompts are dropped to the empty
caption so classifier-free guidance works. Only the U-Net is trained and shipped here.
"""

from __future__ import annotations

import time

import torch

from course_lib import caption_judge, checkpoints, clip, config, data, diffusion, train
from course_lib.latent_diffusion import (
    TextConditioned,
    null_token_ids,
    step_costs,
    training_latents,
)
from course_lib.recipes import Row
from course_lib.unet import UNet, UNetConfig

NAME = "ldm-digits"
HALF = True
VAE_NAME, TEXT_NAME = "vae-digits", "clip-digits"
DEPENDS_ON = (VAE_NAME, TEXT_NAME)  # their sha256 are pinned in the metadata by pretrain
PIPELINE = "course_lib.pipelines.TextToImagePipeline"
MODEL = UNetConfig(
    image_size=8,  # the VAE's 8x8 latent grid
    channels=4,  # and its 4 latent channels
    widths=(32, 64, 64),  # 8x8 -> 4x4 -> 2x2
    blocks_per_level=1,
    attention_levels=(1, 2),  # self- and cross-attention at 4x4 and 2x2 (and in the middle)
    cond_dim=64,  # the clip-digits text encoder's width
)
SCHEDULE = {"kind": "cosine", "T": 1000}
TRAINING = train.DenoiserTraining(
    steps=3000,
    batch_size=128,
    lr=1e-3,
    warmup=100,
    ema_decay=0.998,
    min_snr_gamma=5.0,
    cond_dropout=0.15,  # share of training prompts replaced by the empty caption
    channels_last=False,  # 8x8 latents: too small for NHWC to pay
)


def build(seed: int = 0):
    """Train ldm-digits from scratch on top of the shipped vae-digits and clip-digits."""
    config.seed_everything(seed)
    vae = checkpoints.load_pretrained(VAE_NAME)
    text_encoder = clip.pretrained_text_encoder(TEXT_NAME)
    denoiser = TextConditioned(UNet(MODEL), text_encoder)
    images, captions, _ = data.captioned_digits("train")
    means, _ = training_latents(vae, images)  # (N, Z, h, w): the U-Net trains on the means
    result, ema = train.fit_denoiser(
        denoiser,
        diffusion.NoiseSchedule.from_spec(SCHEDULE),
        (means, text_encoder.tokenize(captions)),  # latents and their prompts' ids (N, L)
        TRAINING,
        generator=config.seed_everything(seed),
        cond_null=null_token_ids(text_encoder, TRAINING.batch_size),  # the empty prompt
        part=lambda model: model.unet,  # the text encoder stays frozen
        desc=NAME,
    )
    metrics = {
        "latent_range": round(means.abs().max().item() + 0.05, 1),  # clamp for predicted z0
        "schedule": SCHEDULE,
        "pipeline": PIPELINE,
        "vae": VAE_NAME,
        "text_encoder": TEXT_NAME,
        **train.denoiser_metadata(TRAINING, result, ema.model),
    }
    return ema.model, metrics


def benchmark() -> list[Row]:
    from course_lib import pipelines

    pipe = pipelines.load(NAME)
    rows = []
    targets = {"digit": ">= 0.80", "color": ">= 0.95", "layout": ">= 0.95", "all three": ">= 0.75"}
    prompts, attributes = caption_judge.evaluation_prompts(held_out=False, count=500)
    start = time.perf_counter()
    seen = caption_judge.prompt_following(pipe, prompts, attributes, 3.0)
    seconds = time.perf_counter() - start
    for key, value in seen.items():
        rows.append(
            Row(NAME, f"500 training-pair prompts, w=3, DDIM-50: {key} right", value, targets[key])
        )
    rows.append(
        Row(NAME, "seconds per generated image (w=3, DDIM-50, batch 100)", seconds / 500, unit="s")
    )
    prompts, attributes = caption_judge.evaluation_prompts(held_out=True, count=120)
    for key, value in caption_judge.prompt_following(pipe, prompts, attributes, 3.0).items():
        rows.append(Row(NAME, f"120 held-out-pair prompts, w=3: {key} right", value))
    prompts, attributes = caption_judge.evaluation_prompts(held_out=False, count=100, seed=1)
    for scale in (0.0, 1.0, 5.0):
        right = caption_judge.prompt_following(pipe, prompts, attributes, scale)["all three"]
        rows.append(Row(NAME, f"100 prompts, w={scale:g}: all three right", right))
    costs = step_costs(MODEL, batch=32)
    for space, cost in costs.items():
        where = f"{space} {cost['shape']}, batch 32"
        rows.append(Row(NAME, f"U-Net step, {where}", cost["ms"], unit="ms"))
        rows.append(Row(NAME, f"activation memory per forward, {where}", cost["MB"], unit="MB"))
    ratio = costs["pixel"]["ms"] / costs["latent"]["ms"]
    rows.append(Row(NAME, "speed-up of a latent step over a pixel step", ratio, ">= 4", unit="x"))
    return rows + black_box_rows(pipe)


STRENGTHS = (0.05, 0.1, 0.2, 0.4, 0.6, 1.0)  # image to image: how far back towards noise


def red_sevens(pipe, count: int = 40, seed: int = 0):
    """Generated large red sevens that the caption judge reads as such: (N, 3, 32, 32)."""
    images = pipe(["a large red seven"] * count, generator=torch.Generator().manual_seed(seed))
    reading = caption_judge.read(images)
    keep = (reading.digit == 7) & (reading.color == data.COLOR_NAMES.index("red"))
    return images[keep]


def colour_fractions(pipe, prompt: str, count: int, negative_prompt=None) -> list[float]:
    """The share of `count` images read in each of data.COLOR_NAMES."""
    images = pipe(
        [prompt] * count,
        generator=torch.Generator().manual_seed(0),
        negative_prompt=negative_prompt,
    )
    colours = caption_judge.read(images).color
    return [float((colours == i).float().mean()) for i in range(len(data.COLOR_NAMES))]


def black_box_rows(pipe) -> list[Row]:
    """Notebook 07's measurements: attention quadrants, recolouring, a negative prompt."""
    rows = []
    rates = caption_judge.attention_quadrant_rate(pipe, count=100)
    for key in ("in the drawn quadrant", "in the prompted quadrant"):
        rows.append(Row(NAME, f"digit word's attention mostly {key} (100 small)", rates[key]))
    sevens = red_sevens(pipe)
    for row in caption_judge.recolour_table(pipe, sevens, 7, "red", "blue", STRENGTHS):
        where = f"red seven -> 'a large blue seven', strength {row['strength']:g} ({len(sevens)})"
        rows.append(
            Row(
                NAME,
                f"{where}: read blue / red / seven",
                " / ".join(f"{row[k]:.2f}" for k in ("new colour", "old colour", "digit kept")),
            )
        )
    red = data.COLOR_NAMES.index("red")
    plain = colour_fractions(pipe, "a large seven", 100)[red]
    steered = colour_fractions(pipe, "a large seven", 100, negative_prompt="red")[red]
    rows.append(
        Row(
            NAME,
            "'a large seven' read red: no negative / negative 'red'",
            f"{plain:.2f} / {steered:.2f}",
        )
    )
    return rows
