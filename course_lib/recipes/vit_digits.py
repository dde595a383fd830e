"""vit-digits: the notebook-01 ViT trained on the 4,000 training digits, with shift augmentation."""

from __future__ import annotations

import dataclasses
from functools import partial

import torch
import torch.nn.functional as F

from course_lib import config, data, train
from course_lib.recipes import Row, training_step_row
from course_lib.vit import ViT, ViTConfig, predict

NAME = "vit-digits"
HALF = False  # 0.14M parameters: 0.55 MB in fp32, not worth the rounding
TRAINING = train.OneCycleTraining(steps=7000, batch_size=128, lr=2e-3, weight_decay=0.05)
LR = TRAINING.lr  # notebook 02 trains a ViT of its own at this rate


def classification_loss(model: ViT, batch, generator: torch.Generator | None = None):
    """Cross-entropy on a batch of shifted digits: the ViT's whole training objective."""
    images, labels = batch
    return F.cross_entropy(model(data.random_shift(images, 2, generator)), labels)


def train_vit(model: ViT, steps: int, seed: int = 0, progress: bool = True) -> train.TrainResult:
    """AdamW with a one-cycle learning rate on the training digits, `steps` batches of 128."""
    generator = config.seed_everything(seed)
    images, labels = data.mnist_tensors("train")
    return train.fit_one_cycle(
        model,
        lambda m, batch: classification_loss(m, batch, generator),
        (images, labels),
        dataclasses.replace(TRAINING, steps=steps),
        generator=generator,
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
    result = train_vit(model, TRAINING.steps, seed)
    metrics = {"test_accuracy": round(test_accuracy(model), 4), **result.summary()}
    return model, metrics


def benchmark() -> list[Row]:
    from course_lib import checkpoints

    model = checkpoints.load_pretrained(NAME)
    rows = [Row(NAME, "test accuracy (1,000 digits)", test_accuracy(model), ">= 0.97")]
    fresh = ViT(ViTConfig())
    run = partial(train_vit, fresh, progress=False)  # run(steps)
    rows.append(training_step_row(NAME, run, TRAINING.batch_size, warmup=5, steps=100))
    return rows
