"""pixel-ar-digits: a tiny autoregressive model of 14x14 binarised digits (notebook 04), the
contrast to diffusion: one network call per pixel, in a fixed raster order.

A causal transformer (`autoregressive.PixelAR`, 2 blocks of width 48) trained with the
negative log-likelihood of each pixel given the ones before it. Small and briefly trained on
purpose: it shows the costs of the approach, it does not compete with the denoisers.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from course_lib import autoregressive, config, train
from course_lib.recipes import Row

NAME = "pixel-ar-digits"
HALF = False  # 0.06M parameters: fp32 is 0.25 MB
MODEL = autoregressive.PixelARConfig()
TRAINING = train.OneCycleTraining(steps=400, batch_size=32, lr=3e-3)


def build(seed: int = 0):
    """Train pixel-ar-digits from scratch: the run behind the shipped weights."""
    generator = config.seed_everything(seed)
    model = autoregressive.PixelAR(MODEL)
    pixels = autoregressive.binarised_digits("train")  # (4000, 196)

    def loss_fn(m, batch):
        return autoregressive.bits_per_pixel(m, batch[0]).mean()

    result = train.fit_one_cycle(
        model, loss_fn, (pixels,), TRAINING, generator=generator, desc=NAME
    )
    test = autoregressive.binarised_digits("test")
    with torch.no_grad():
        bits = autoregressive.bits_per_pixel(model.eval(), test).mean().item()
    metrics = {
        "test_bits_per_pixel": round(bits, 4),
        "training": dataclasses.asdict(TRAINING),
        **result.summary(),
    }
    return model, metrics


def benchmark() -> list[Row]:
    from course_lib import checkpoints, pipelines

    model = checkpoints.load_pretrained(NAME)
    test = autoregressive.binarised_digits("test")
    with torch.no_grad():
        bits = autoregressive.bits_per_pixel(model, test).mean().item()
    start = time.perf_counter()
    _, calls = autoregressive.sample(model, 16, generator=torch.Generator().manual_seed(0))
    ar_seconds = (time.perf_counter() - start) / 16
    pipe = pipelines.load("ddpm-digits")
    start = time.perf_counter()
    pipe(16, 50, generator=torch.Generator().manual_seed(0), progress=False)
    ddim_seconds = (time.perf_counter() - start) / 16
    return [
        Row(NAME, "test negative log-likelihood", bits, unit="bits/pixel"),
        Row(NAME, "network calls per 14x14 sample (one per pixel)", calls),
        Row(NAME, "network calls per ddpm-digits DDIM-50 sample", 50),
        Row(NAME, "seconds per sample, batch 16", ar_seconds, unit="s"),
        Row(
            NAME, "seconds per ddpm-digits DDIM-50 sample (28x28), batch 16", ddim_seconds, unit="s"
        ),
    ]
