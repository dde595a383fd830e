"""vit-digits: the notebook-01 ViT trained on the 4,000 training digits, with shift augmentation."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from course_lib import config, data, train
from course_lib.recipes import Row
from course_lib.vit import ViT, ViTConfig, predict

NAME = "vit-digits"
HALF = False  # 0.14M parameters: 0.55 MB in fp32, not worth the rounding
STEPS = 7000
BATCH_SIZE = 128
LR = 2e-3


def classification_loss(model: ViT, batch, generator: torch.Generator | None = None):
    """Cross-entropy on a batch of shifted digits: the ViT's whole training objective."""
    images, labels = batch
    return F.cross_entropy(model(data.random_shift(images, 2, generator)), labels)


def train_vit(model: ViT, steps: int, seed: int = 0, progress: bool = True) -> train.TrainResult:
    """AdamW with a one-cycle learning rate on the training digits, `steps` batches of 128."""
    generator = config.seed_everything(seed)
    images, labels = data.mnist_tensors("train")
    optimizer, schedule = train.adamw_one_cycle(model.parameters(), LR, steps, weight_decay=0.05)
    return train.fit(
        model,
        lambda m, batch: classification_loss(m, batch, generator),
        data.batches(images, labels, batch_size=BATCH_SIZE, generator=generator),
        optimizer=optimizer,
        scheduler=schedule,
        steps=steps,
        desc=NAME,
        progress=progress,
    )


def test_accuracy(model: ViT) -> float:
    images, labels = data.mnist_tensors("test")
    return (predict(model, images) == labels).float().mean().item()


def build(seed: int = 0):
    """Train vit-digits from scratch: the run behind the shipped weights."""
    config.seed_everything(seed)
    model = ViT(ViTConfig())
    result = train_vit(model, STEPS, seed)
    metrics = {
        "test_accuracy": round(test_accuracy(model), 4),
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
    }
    return model, metrics


def benchmark() -> list[Row]:
    from course_lib import checkpoints

    model = checkpoints.load_pretrained(NAME)
    rows = [Row(NAME, "test accuracy (1,000 digits)", test_accuracy(model), ">= 0.97")]
    fresh = ViT(ViTConfig())
    train_vit(fresh, 5, progress=False)  # warm-up
    start = time.perf_counter()
    timed = train_vit(fresh, 100, progress=False)
    ms = 1000 * (time.perf_counter() - start) / timed.steps
    rows.append(Row(NAME, f"training step (batch {BATCH_SIZE})", ms, unit="ms"))
    return rows
