"""clip-digits: the notebook-03 CLIP trained on the 4,000 captioned training digits."""

from __future__ import annotations

import dataclasses
from functools import partial

import torch

from course_lib import config, data, train
from course_lib.clip import CLIP, CLIPConfig
from course_lib.recipes import Row, training_step_row
from course_lib.tokenizer import build_vocab
from course_lib.zero_shot import evaluate

NAME = "clip-digits"
HALF = True  # ~0.3M parameters; fp16 weights score the same as fp32
TRAINING = train.OneCycleTraining(
    steps=1500, batch_size=256, lr=2e-3, weight_decay=0.05, decay_matrices_only=True
)
MAX_SHIFT = 1  # +-1 px: new handwriting positions, never out of the layout's quadrant


def contrastive_loss(model: CLIP, batch, generator: torch.Generator | None = None):
    """The CLIP loss of a batch of (image, token ids) pairs, images shifted by up to 1 px."""
    images, token_ids = batch
    return model(data.random_shift(images, MAX_SHIFT, generator), token_ids)


def train_clip(
    model: CLIP,
    steps: int,
    seed: int = 0,
    progress: bool = True,
    loss_fn=None,
    seconds: float | None = None,
    pairs: tuple[torch.Tensor, list[str]] | None = None,
) -> train.TrainResult:
    """AdamW with a one-cycle learning rate, `steps` batches of 256 captioned digits.

    loss_fn(model, (images, token_ids)) -> scalar; default `contrastive_loss`.
    seconds: an optional wall-time cap (training stops early, the model is kept).
    pairs: (images, captions) already loaded; default `data.captioned_digits("train")`.
    """
    generator = config.seed_everything(seed)
    images, captions = pairs or data.captioned_digits("train")[:2]
    token_ids = model.tokenize(captions)  # (4000, L), on the model's device
    images = images.to(token_ids.device)
    return train.fit_one_cycle(
        model,
        loss_fn or (lambda m, batch: contrastive_loss(m, batch, generator)),
        (images, token_ids),
        dataclasses.replace(TRAINING, steps=steps),
        generator=generator,
        seconds=seconds,
        desc=NAME,
        progress=progress,
    )


def test_metrics(model: CLIP) -> dict[str, float]:
    images, _, attributes = data.captioned_digits("test")
    return evaluate(model, images, attributes)


def build(seed: int = 0):
    """Train clip-digits from scratch: the run behind the shipped weights."""
    config.seed_everything(seed)
    _, captions, _ = data.captioned_digits("train")
    model = CLIP(CLIPConfig(vocab=build_vocab(captions)))  # the tokenizer, from the captions
    result = train_clip(model, TRAINING.steps, seed)
    metrics = {k: round(v, 4) for k, v in test_metrics(model).items()}
    metrics.update(result.summary(window=50), logit_scale=round(model.logit_scale.item(), 2))
    return model, metrics


TARGETS = {
    "zero_shot_digit": ">= 0.95",
    "zero_shot_color": ">= 0.98",
    "zero_shot_layout": ">= 0.98",
    "exact_caption": ">= 0.85",
    "image_to_text_recall@5": "",
    "text_to_image_recall@1": "",
    "text_to_image_recall@5": "reported",
}


def benchmark() -> list[Row]:
    from course_lib import checkpoints

    model = checkpoints.load_pretrained(NAME)
    metrics = test_metrics(model)
    rows = [Row(NAME, f"{k} (1,000 test images)", metrics[k], t) for k, t in TARGETS.items()]
    fresh = CLIP(model.config)
    run = partial(train_clip, fresh, progress=False)  # run(steps)
    rows.append(training_step_row(NAME, run, TRAINING.batch_size, warmup=3, steps=30))
    return rows
