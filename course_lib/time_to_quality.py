"""Quality against training seconds: train a denoiser as notebook 05 does and, at marks of
training time, judge samples of its EMA weights. The clock counts training only: judging
pauses it. `python -m course_lib.time_to_quality` runs the recipes side by side, stores the
curves beside ddpm-digits (checkpoints/time-to-quality.json) and prints them; the ddpm-digits
benchmark prints the stored ones.

A recipe is a `train.DenoiserTraining` (batch, learning rate, EMA, Min-SNR) and a U-Net
config; `RECIPES` holds notebook 05's and the variants tried against it.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from course_lib import checkpoints, config, data, diffusion, judge, train
from course_lib.recipes import ddpm_digits
from course_lib.unet import UNet, UNetConfig

MARKS = (60, 120, 180, 240, 300)  # training seconds at which the EMA weights are judged
SAMPLES = 200  # DDIM-50 samples judged at each mark
NOTEBOOK_MODEL = dataclasses.replace(ddpm_digits.MODEL, widths=(16, 32, 64))  # notebook 05's
NOTEBOOK = train.DenoiserTraining(  # notebook 05's full mode: its loop, as a recipe
    steps=3000,
    batch_size=32,
    lr=1e-3,
    warmup=100,
    ema_decay=0.995,
    min_snr_gamma=None,  # the simple loss
    channels_last=True,
)
RECIPES = {
    "notebook 05 (batch 32, simple loss)": (NOTEBOOK_MODEL, NOTEBOOK),
    "+ Min-SNR-5 weighting": (NOTEBOOK_MODEL, dataclasses.replace(NOTEBOOK, min_snr_gamma=5.0)),
    "+ Min-SNR-5, batch 64": (
        NOTEBOOK_MODEL,
        dataclasses.replace(NOTEBOOK, min_snr_gamma=5.0, batch_size=64, steps=1500),
    ),
}
TABLE = "time-to-quality.json"  # the stored curves, pinned in ddpm-digits' manifest entry


def judged(model: torch.nn.Module, schedule, train_features, referee) -> dict:
    """The EMA weights' DDIM-50 samples, judged: confident share, digits seen, Frechet."""
    shape = (SAMPLES, 1, 28, 28)
    generator = torch.Generator().manual_seed(0)  # the same noise at every mark
    images = diffusion.sample(model, schedule, shape, steps=50, generator=generator, progress=False)
    verdict = judge.judge(images, referee)
    return {
        "confident": round(verdict.confident_fraction(), 3),
        "digits": int((verdict.class_counts(0.9) > 0).sum()),
        "frechet": round(judge.frechet_distance(verdict.features, train_features), 3),
    }


def curve(model_config: UNetConfig, hp: train.DenoiserTraining, marks=MARKS, seed: int = 0):
    """Train a fresh U-Net with recipe `hp` for marks[-1] training seconds; at each mark,
    judge its EMA weights. Returns one dict a mark: seconds, steps and `judged`'s numbers."""
    generator = config.seed_everything(seed)
    images, _ = data.mnist_tensors("train")  # (4000, 1, 28, 28)
    schedule = diffusion.NoiseSchedule.from_spec(ddpm_digits.SCHEDULE)
    referee = judge.load_judge()
    train_features = judge.judge(images, referee).features
    model = UNet(model_config)
    points, paused, start = [], 0.0, time.perf_counter()

    def at_mark(result: train.TrainResult, ema: train.EMA) -> bool:
        nonlocal paused
        trained = time.perf_counter() - start - paused
        if trained < marks[len(points)]:
            return False
        judging = time.perf_counter()
        points.append(
            {"seconds": round(trained, 1), "steps": result.steps}
            | judged(ema.model, schedule, train_features, referee)
        )
        paused += time.perf_counter() - judging
        return len(points) == len(marks)

    # the marks end the run; the learning rate's schedule still spans the recipe's steps
    unbounded = dataclasses.replace(hp, steps=10**9, schedule_steps=hp.schedule_steps or hp.steps)
    train.fit_denoiser(
        model,
        schedule,
        (images,),
        unbounded,
        generator=generator,
        desc="time to quality",
        callback=at_mark,
    )
    return points


def run(recipes=None, marks=MARKS) -> dict:
    """Every recipe's curve, one after another in one process (the same machine state)."""
    recipes = RECIPES if recipes is None else recipes
    out = {"threads": torch.get_num_threads(), "samples": SAMPLES, "curves": {}}
    for name, (model_config, hp) in recipes.items():
        out["curves"][name] = curve(model_config, hp, marks)
    return out


def in_order(results: dict) -> list[str]:
    """The recipes of `results` in RECIPES' order (a stored table has its keys sorted)."""
    known = list(RECIPES)
    return sorted(results["curves"], key=lambda n: known.index(n) if n in known else len(known))


def markdown(results: dict) -> str:
    """One row a recipe and mark: seconds, steps, confident share, digits, Frechet."""
    lines = [
        f"Time to quality ({results['samples']} DDIM-50 samples a mark, "
        f"{results['threads']} threads; Frechet on the judge's features vs the train digits):",
        "",
        "| recipe | train s | steps | confident >= 0.9 | digits | Frechet |",
        "|---|---|---|---|---|---|",
    ]
    for name in in_order(results):
        for p in results["curves"][name]:
            lines.append(
                f"| {name} | {p['seconds']:.0f} | {p['steps']} | {p['confident']:.3f} | "
                f"{p['digits']} | {p['frechet']:.2f} |"
            )
    return "\n".join(lines)


def load() -> dict:
    """The stored curves (sha256-checked), what the benchmark prints."""
    return checkpoints.read_table(ddpm_digits.NAME, TABLE)


if __name__ == "__main__":
    results = run()
    checkpoints.write_table(ddpm_digits.NAME, TABLE, results)
    print(markdown(results))
