"""vae-digits: the notebook-07 VAE, 32x32x3 captioned digits <-> 8x8x4 latents."""

from __future__ import annotations

import dataclasses
import time
from functools import partial

import torch

from course_lib import autoencoder, caption_judge, config, data, train
from course_lib.autoencoder import VAE, VAEConfig
from course_lib.recipes import Row, training_step_row

NAME = "vae-digits"
HALF = True  # ~0.4M parameters; fp16 weights reconstruct the same (see benchmark)
TRAINING = train.OneCycleTraining(steps=2000, batch_size=64, lr=2e-3)


def train_vae(
    model: VAE,
    steps: int,
    seed: int = 0,
    images: torch.Tensor | None = None,
    seconds: float | None = None,
    progress: bool = True,
    batch_size: int = TRAINING.batch_size,
) -> train.TrainResult:
    """AdamW with a one-cycle learning rate on the captioned training digits.

    The learning rate only comes down at the end of `steps`: a `seconds` cap that stops the
    run half-way leaves it at its peak, and the reconstructions blurred."""
    generator = config.seed_everything(seed)
    if images is None:
        images, _, _ = data.captioned_digits("train")
    return train.fit_one_cycle(
        model,
        lambda m, batch: autoencoder.vae_loss(m, batch[0], generator)["loss"],
        (images,),
        dataclasses.replace(TRAINING, steps=steps, batch_size=batch_size),
        generator=generator,
        seconds=seconds,
        desc=NAME,
        progress=progress,
    )


def with_scaling_factor(model: VAE, images: torch.Tensor) -> VAE:
    """The same VAE with config.scaling_factor measured on `images` (the training split)."""
    factor = autoencoder.measure_scaling_factor(model, images)
    scaled = VAE(dataclasses.replace(model.config, scaling_factor=round(factor, 5)))
    scaled.load_state_dict(model.state_dict())
    return scaled.eval()


@torch.no_grad()
def reconstruction_quality(model: VAE, split: str = "test") -> dict[str, float]:
    """Test MSE on the [-1, 1] scale, and how often the judges read the reconstruction right."""
    images, _, attributes = data.captioned_digits(split)
    recon = torch.cat([model.decode(model.encode(x)[0]) for x in images.split(500)])
    reading = caption_judge.read((recon + 1) / 2)
    original = caption_judge.read((images + 1) / 2)
    right = reading.agreement(attributes)
    return {
        "mse": ((recon - images) ** 2).mean().item(),
        "digit_read_right": right["digit"],
        "digit_read_right_original": original.agreement(attributes)["digit"],
        "color_read_right": right["color"],
        "layout_read_right": right["layout"],
    }


def build(seed: int = 0):
    """Train vae-digits from scratch, then measure its latent scaling factor."""
    config.seed_everything(seed)
    images, _, _ = data.captioned_digits("train")
    model = VAE(VAEConfig())
    result = train_vae(model, TRAINING.steps, seed, images=images)
    model = with_scaling_factor(model.eval(), images)
    quality = reconstruction_quality(model)
    metrics = {k: round(v, 4) for k, v in quality.items()}
    metrics.update(result.summary())
    return model, metrics


def benchmark() -> list[Row]:
    from course_lib import checkpoints

    model = checkpoints.load_pretrained(NAME)
    q = reconstruction_quality(model)
    rows = [
        Row(NAME, "reconstruction MSE, test ([-1, 1] scale)", q["mse"]),
        Row(NAME, "judge reads reconstructed digit right", q["digit_read_right"], ">= 0.95"),
        Row(NAME, "judge reads original digit right", q["digit_read_right_original"]),
        Row(
            NAME,
            "color / layout of reconstruction read right",
            f"{q['color_read_right']:.3f} / {q['layout_read_right']:.3f}",
        ),
        Row(NAME, "latent scaling factor (SD v1: 0.18215)", model.config.scaling_factor),
    ]
    images = torch.rand(64, 3, 32, 32) * 2 - 1
    fresh = VAE(VAEConfig())
    run = partial(train_vae, fresh, images=images, progress=False)  # run(steps)
    rows.append(training_step_row(NAME, run, TRAINING.batch_size, warmup=3, steps=20))
    with torch.no_grad():
        latent = torch.randn(1, *model.config.latent_shape)
        model.decode(latent)
        start = time.perf_counter()
        for _ in range(20):
            model.decode(latent)
    rows.append(
        Row(NAME, "decode one 8x8x4 latent", 1000 * (time.perf_counter() - start) / 20, unit="ms")
    )
    return rows
