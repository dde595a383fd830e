"""Memorisation you can trigger and detect: duplicate a few training digits, train a small
denoiser, and count how many samples come out as near-copies of exactly those digits.

Carlini et al. 2023 ("Extracting Training Data from Diffusion Models", USENIX Security)
found that the training images Stable Diffusion reproduced were mostly ones duplicated
many times in its training set. `run` is that finding, reproduced small: the same
training with and without the duplicates, the same sampler and the same yardstick.

A sample is a near-copy when its nearest training digit is closer than `copy_fraction`
times the typical train-to-train nearest-neighbour distance (`provenance`), in pixels.

Letters: N images, C x H x W pixels, K duplicated digits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from course_lib import checkpoints, config, data, diffusion, provenance, train
from course_lib.unet import UNet, UNetConfig

TABLE = "memorisation-digits.json"  # the stored result, beside ddpm-digits (the model it tunes)


@dataclass(frozen=True)
class Setup:
    """One memorisation experiment, small enough for a few CPU minutes per run.

    Both runs start from the shipped ddpm-digits weights (a denoiser that already draws
    digits) and fine-tune them for the same number of steps, one on the de-duplicated
    digits, one on the same digits with K of them copied `copies` times."""

    base_per_class: int = 100  # training digits kept per class: 1,000 distinct digits
    duplicated: int = 4  # K digits (of K different classes) copied many times
    copies: int = 200  # each duplicated digit appears this many times in the duplicated set
    samples: int = 200  # samples drawn from each trained model (reported per 1,000)
    sampling_steps: int = 10  # DDIM steps per sample (eta = 0)
    copy_fraction: float = 0.5  # near-copy: closer than this x the median train-to-train distance
    start_from: str | None = "ddpm-digits"  # shipped weights to fine-tune; None: a fresh `model`
    model: UNetConfig = UNetConfig(  # used when start_from is None (tests): 0.33M parameters
        image_size=28, widths=(8, 16, 32), blocks_per_level=1, attention_levels=(), groups=4
    )
    training: train.DenoiserTraining = train.DenoiserTraining(
        steps=800,
        batch_size=32,
        lr=1e-3,
        warmup=10,
        ema_decay=0.9,
        min_snr_gamma=5.0,
    )
    seed: int = 0


def base_digits(per_class: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """`per_class` training digits of each class, seeded: (images (N, 1, 28, 28), labels (N,))."""
    images, labels = data.mnist_tensors("train")
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(labels.numpy() == d))[:per_class] for d in range(10)]
    index = torch.from_numpy(np.sort(np.concatenate(keep)))
    return images[index], labels[index]


def choose_duplicated(labels: Tensor, count: int, seed: int = 0) -> Tensor:
    """Indices of `count` digits, each of a different class, to copy many times: (K,)."""
    if not 1 <= count <= 10:
        raise ValueError(f"duplicate between 1 and 10 digits (one per class), got {count}")
    rng = np.random.default_rng([seed, 1])
    classes = rng.permutation(10)[:count]
    picks = [rng.choice(np.flatnonzero(labels.numpy() == c)) for c in classes]
    return torch.tensor(picks, dtype=torch.long)


def duplicated_set(images: Tensor, chosen: Tensor, copies: int) -> Tensor:
    """`images` with each of the `chosen` ones appearing exactly `copies` times in all:
    (N + K * (copies - 1), C, H, W), the extra copies appended at the end."""
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be a whole number >= 1 (e.g. 200), got {copies!r}")
    extra = images[chosen].repeat_interleave(copies - 1, dim=0)  # (K * (copies - 1), C, H, W)
    return torch.cat([images, extra])


def count_copies(distances: Tensor, nearest: Tensor, chosen: Tensor, threshold: float) -> dict:
    """Tally near-copies from each sample's nearest training distance (N,) and index (N,).

    Returns {"copies": near-copies of any training digit, "copies_of_duplicated": of one of
    the `chosen` indices, "per_duplicated": a count for each chosen index, in order}."""
    close = distances < threshold  # (N,)
    of_chosen = close[:, None] & (nearest[:, None] == chosen[None, :])  # (N, K)
    return {
        "copies": int(close.sum()),
        "copies_of_duplicated": int(of_chosen.any(1).sum()),
        "per_duplicated": of_chosen.sum(0).tolist(),
    }


def train_and_sample(images: Tensor, setup: Setup, desc: str, progress: bool = True) -> Tensor:
    """Fine-tune (or train afresh) a pixel denoiser on `images`; return setup.samples samples
    (N, 1, 28, 28) in [-1, 1], drawn with DDIM from a seeded generator."""
    generator = config.seed_everything(setup.seed)  # the same start in both runs
    if setup.start_from is None:
        model, schedule = UNet(setup.model), diffusion.NoiseSchedule.cosine(T=1000)
    else:
        model = checkpoints.load_pretrained(setup.start_from).train()
        spec = checkpoints.metadata(setup.start_from)["schedule"]
        schedule = diffusion.NoiseSchedule.from_spec(spec)
    _, ema = train.fit_denoiser(
        model,
        schedule,
        (images,),
        setup.training,
        generator=generator,
        desc=desc,
        progress=progress,
    )
    shape = (setup.samples, 1, model.config.image_size, model.config.image_size)
    noise = torch.Generator().manual_seed(setup.seed + 1)  # the same noise for both models
    return diffusion.sample(
        ema.model, schedule, shape, steps=setup.sampling_steps, generator=noise, progress=progress
    )


def run(setup: Setup = Setup(), progress: bool = True) -> dict:
    """Train on the de-duplicated digits and on the same digits with K of them copied
    `setup.copies` times; count each model's near-copies. Returns the table `store` keeps."""
    images, labels = base_digits(setup.base_per_class, setup.seed)  # (N, 1, 28, 28)
    chosen = choose_duplicated(labels, setup.duplicated, setup.seed)  # (K,)
    index = provenance.TrainingIndex(images, labels=labels, space="pixel")
    threshold = setup.copy_fraction * index.baseline
    table = {
        "setup": _setup_dict(setup),
        "duplicated_indices": chosen.tolist(),
        "duplicated_labels": labels[chosen].tolist(),
        "baseline": round(index.baseline, 4),
        "threshold": round(threshold, 4),
        "runs": {},
    }
    sets = {"de-duplicated": images, "duplicated": duplicated_set(images, chosen, setup.copies)}
    for name, training_images in sets.items():
        samples = train_and_sample(training_images, setup, f"memorisation: {name}", progress)
        found = index.nearest(samples, k=1)
        counts = count_copies(found.distances[:, 0], found.indices[:, 0], chosen, threshold)
        per_thousand = 1000 / setup.samples
        table["runs"][name] = {
            "training_images": len(training_images),
            "copies_per_1000": round(counts["copies"] * per_thousand, 1),
            "copies_of_duplicated_per_1000": round(
                counts["copies_of_duplicated"] * per_thousand, 1
            ),
            "per_duplicated": counts["per_duplicated"],
            "median_nearest_distance": round(found.distances[:, 0].median().item(), 4),
        }
    return table


def _setup_dict(setup: Setup) -> dict:
    """The setup as plain JSON values (tuples become lists), as `load` gives it back."""
    return json.loads(json.dumps(asdict(setup)))


def rows(table: dict) -> list[list[str]]:
    """The table as rows: training set, images, near-copies per 1,000 (any digit, the
    duplicated ones), and which duplicated digits were copied how often."""
    out = []
    for name, r in table["runs"].items():
        copied = ", ".join(
            f"{label} (x{n})"
            for label, n in zip(table["duplicated_labels"], r["per_duplicated"], strict=True)
            if n
        )
        out.append(
            [
                name,
                str(r["training_images"]),
                f"{r['copies_per_1000']:g}",
                f"{r['copies_of_duplicated_per_1000']:g}",
                copied or "none",
            ]
        )
    return out


HEADER = ["training set", "images", "near-copies / 1,000", "of duplicated / 1,000", "copied"]


def markdown(table: dict) -> str:
    """The memorisation table as markdown, for a notebook cell or the benchmark."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows(table)])


def store(table: dict, directory: Path | None = None) -> dict:
    """Write the table as checkpoints/memorisation-digits.json, its sha256 in ddpm-digits'
    manifest entry (`checkpoints.write_table`)."""
    return checkpoints.write_table("ddpm-digits", TABLE, table, directory)


def load(directory: Path | None = None) -> dict:
    """The shipped memorisation table (sha256-checked), what fast mode shows."""
    return checkpoints.read_table("ddpm-digits", TABLE, directory)


def with_budget(setup: Setup, *, steps: int, samples: int, batch_size: int | None = None) -> Setup:
    """The same experiment with another training length, sample count and batch (tests)."""
    batch_size = batch_size or setup.training.batch_size
    training = replace(setup.training, steps=steps, batch_size=batch_size)
    return replace(setup, training=training, samples=samples)
