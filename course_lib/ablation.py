"""The U-Net's skip connections, cut: one U-Net trained twice on the same budget, once as
built and once with every skip carrying zeros (`UNetConfig(skips=False)`), then compared on
the error of the predicted clean image x_0 at several t and on samples (notebook 05).

    python -m course_lib.ablation [--steps N] [--force]   # ~2 x 2 minutes on a busy 2-core CPU

writes checkpoints/skip-ablation.json (the errors, a grid of samples from each, how it was
trained) and pins its sha256 in ddpm-digits' manifest entry under "tables"; the notebook's fast
mode and the ddpm-digits benchmark read it with `load_results`, which refuses a file that
differs from the manifest. It refuses to replace the file without --force.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from course_lib import checkpoints, config, data, diffusion, train
from course_lib.unet import UNet, UNetConfig

RESULTS = "skip-ablation.json"
OWNER = "ddpm-digits"  # the manifest entry that pins the results (notebook 05's model)
MODEL = UNetConfig(image_size=16, widths=(16, 32, 64), blocks_per_level=1)  # digits at 16x16
SCHEDULE = {"kind": "cosine", "T": 1000}
TRAINING = train.DenoiserTraining(
    steps=400, batch_size=32, lr=2e-3, warmup=50, ema_decay=0.99, min_snr_gamma=5.0
)
TIMESTEPS = (25, 100, 250, 500, 750, 950)  # where the x_0 error is measured
VARIANTS = {"with skips": True, "skips cut": False}


def digits_16(split: str) -> torch.Tensor:
    """The MNIST digits padded to 32x32 and averaged down 2x2: (M, 1, 16, 16) in [-1, 1]."""
    images, _ = data.mnist_tensors(split, size=32)  # (M, 1, 32, 32)
    return F.avg_pool2d(images, 2)


def train_pair(training: train.DenoiserTraining = TRAINING, seed: int = 0, progress=True):
    """The two U-Nets, {"with skips": UNet, "skips cut": UNet} (their EMA copies), each
    trained on the 4,000 training digits from the same seed, batches and noise."""
    images = digits_16("train")  # (4000, 1, 16, 16)
    schedule = diffusion.NoiseSchedule.from_spec(SCHEDULE)
    models = {}
    for name, skips in VARIANTS.items():
        config.seed_everything(seed)
        model = UNet(dataclasses.replace(MODEL, skips=skips))
        generator = torch.Generator().manual_seed(seed)
        _, ema = train.fit_denoiser(
            model, schedule, (images,), training, generator=generator, desc=name, progress=progress
        )
        models[name] = ema.model.eval()
    return models


def measure(models: dict, count: int = 500, samples: int = 16, seed: int = 0) -> dict:
    """x_0 errors at TIMESTEPS on `count` test digits, and `samples` DDIM-50 samples (a
    uint8 tensor (S, 16, 16)), for each model; the same noise for both. The same form as
    `load_results` gives, so a notebook shows fresh and stored results with one code path."""
    schedule = diffusion.NoiseSchedule.from_spec(SCHEDULE)
    test = digits_16("test")
    out = {"timesteps": list(TIMESTEPS), "x0_error": {}, "samples": {}}
    for name, model in models.items():
        g = torch.Generator().manual_seed(seed)
        out["x0_error"][name] = diffusion.x0_errors(
            model, schedule, test[:count], TIMESTEPS, None, g
        )
        shape = (samples, 1, MODEL.image_size, MODEL.image_size)
        g = torch.Generator().manual_seed(seed)
        x = diffusion.sample(model, schedule, shape, steps=50, generator=g, progress=False)
        pixels = ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)[:, 0]  # (S, 16, 16)
        out["samples"][name] = pixels
    return out


def run(training: train.DenoiserTraining = TRAINING, seed: int = 0, progress=True) -> dict:
    """Train both, measure both: the results `save_results` writes, in `load_results`' form."""
    start = time.perf_counter()
    models = train_pair(training, seed, progress)
    results = measure(models, seed=seed)
    results["training"] = dataclasses.asdict(training)
    results["model"] = dataclasses.asdict(MODEL)
    results["seed"] = seed
    results["seconds"] = round(time.perf_counter() - start, 1)
    return results


def results_path(directory: Path | None = None) -> Path:
    return (directory or checkpoints.checkpoint_dir()) / RESULTS


def save_results(results: dict, directory: Path | None = None, force: bool = False) -> Path:
    """Write the results JSON and pin its sha256 in the manifest (`checkpoints.write_table`);
    refuse to replace one that exists unless force. The samples' tensors are stored as lists."""
    path = results_path(directory)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to replace it")
    table = dict(results)
    if "samples" in table:
        table["samples"] = {
            name: s.tolist() if isinstance(s, torch.Tensor) else s
            for name, s in table["samples"].items()
        }
    return checkpoints.write_table(OWNER, RESULTS, table, directory, compact=True)


def load_results(directory: Path | None = None) -> dict:
    """The stored results, sha256-checked against the manifest: {"timesteps", "x0_error":
    {name: [..]}, "samples": {name: uint8 tensor (S, 16, 16)}, "training", ...}."""
    if not results_path(directory).exists():
        raise FileNotFoundError(
            f"no {results_path(directory)}; make it with `python -m course_lib.ablation`"
        )
    results = checkpoints.read_table(OWNER, RESULTS, directory)
    order = [name for name in VARIANTS if name in results["x0_error"]]  # the file sorts its keys
    results["x0_error"] = {name: results["x0_error"][name] for name in order}
    samples = results["samples"]
    results["samples"] = {
        n: torch.tensor(samples[n], dtype=torch.uint8) for n in order if n in samples
    }
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=TRAINING.steps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace the stored results")
    args = parser.parse_args(argv)
    if results_path().exists() and not args.force:
        parser.exit(2, f"ablation: {results_path()} exists; pass --force to replace it\n")
    training = dataclasses.replace(TRAINING, steps=args.steps)
    path = save_results(run(training, args.seed), force=args.force)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
