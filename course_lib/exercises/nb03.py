"""Checks for notebook 03 (CLIP): the symmetric contrastive loss, the loss of an untrained
CLIP, class embeddings by prompt ensembling, and one prompt instead of an ensemble."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib import clip, data, zero_shot
from course_lib.exercises import close, compare, prediction
from course_lib.tokenizer import build_vocab


def diagnose_loss(got, expected, case) -> str | None:
    image_emb, text_emb, scale = case
    logits = scale * image_emb @ text_emb.T
    labels = torch.arange(len(logits))
    rows, cols = F.cross_entropy(logits, labels), F.cross_entropy(logits.T, labels)
    slips = {
        "only the image-to-caption direction: average it with the loss over the columns "
        "(logits.T)": rows,
        "only the caption-to-image direction: average it with the loss over the rows": cols,
        "the two cross-entropies are added, not averaged: divide by 2": rows + cols,
        "the logit scale is missing: multiply the cosines by logit_scale": (
            F.cross_entropy(logits / scale, labels) + F.cross_entropy(logits.T / scale, labels)
        )
        / 2,
        "the sign is flipped: a loss is the NEGATIVE mean log-probability": -(rows + cols) / 2,
    }
    for hint, wrong in slips.items():
        if close(got, wrong):
            return hint
    return None


def _unit(rows: int, generator: torch.Generator, dim: int = 64) -> Tensor:
    return F.normalize(torch.randn(rows, dim, generator=generator), dim=-1)


def check_clip_loss(mine) -> object:
    """Exercise 1: my_clip_loss(image_emb, text_emb, logit_scale) -> a 0-d tensor."""
    generator = torch.Generator().manual_seed(1)
    cases, labels = [], []
    for batch, scale in [(2, 1.0), (8, 1 / 0.07), (64, 100.0), (256, 30.0)]:
        image_emb = _unit(batch, generator)
        text_emb = F.normalize(image_emb + 0.8 * _unit(batch, generator), dim=-1)  # paired
        cases.append((image_emb, text_emb, scale))
        labels.append(f"batch {batch}, scale {scale:.3g}")
    return compare(
        mine,
        clip.clip_loss,
        cases,
        name="your loss",
        labels=labels,
        diagnose=diagnose_loss,
    )


def untrained_loss(images: Tensor, captions: list[str]) -> float:
    """The loss of a freshly built CLIP on the first 256 pairs (fixed weights, RNG untouched)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = clip.CLIP(clip.CLIPConfig(vocab=build_vocab(captions))).eval()
    with torch.no_grad():
        image_emb = clip.embed_images(model, images[:256])
        text_emb = clip.embed_texts(model, captions[:256])
        return float(clip.clip_loss(image_emb, text_emb, model.logit_scale))


def check_untrained_loss(answer, images: Tensor, captions: list[str]) -> object:
    """Exercise 2 (predict): the loss of an untrained CLIP on a batch of 256 pairs."""
    return prediction(
        answer,
        untrained_loss(images, captions),
        tolerance=0.3,
        explanation=f"when every caption embeds to nearly the same vector, each row of logits "
        f"is nearly flat and each softmax gives every caption about 1/256: the loss starts "
        f"near log 256 = {math.log(256):.2f}, the loss of guessing.",
    )


def diagnose_ensemble(got, expected, case) -> str | None:
    model, prompts = case
    means = torch.stack([clip.embed_texts(model, p).mean(0) for p in prompts])
    if close(got, means):
        return "the mean of unit vectors is shorter than 1: renormalise (F.normalize) each row"
    if close(got, F.normalize(clip.embed_texts(model, [p[0] for p in prompts]), dim=-1)):
        return "that is the first prompt of each class only: average all of its prompts"
    return None


def check_class_embeddings(mine, model) -> object:
    """Exercise 3: my_class_embeddings(model, prompts_per_class) -> (K, D) unit rows."""
    cases = [(model, zero_shot.ensemble_prompts(a)) for a in ("digit", "color")]
    cases.append((model, [["a large red seven", "a small red seven in the top left"], ["a one"]]))
    with torch.no_grad():
        return compare(
            mine,
            zero_shot.class_embeddings,
            cases,
            name="your class embeddings",
            labels=["10 digits x 30 prompts", "6 colors x 50 prompts", "two classes, 2 + 1"],
            diagnose=diagnose_ensemble,
        )


TEMPLATE = "a small blue {} in the bottom right"


def single_prompt_accuracy(model, image_emb: Tensor, digits: np.ndarray, template: str) -> float:
    """Zero-shot digit accuracy with one prompt per digit, template.format(word)."""
    with torch.no_grad():
        texts = clip.embed_texts(model, [template.format(w) for w in data.DIGIT_WORDS])
    return float(((image_emb @ texts.T).argmax(1).numpy() == digits).mean())


def check_single_prompt(answer, model, image_emb: Tensor, digits: np.ndarray) -> object:
    """Exercise 4 (modify and observe): the accuracy with TEMPLATE as the only prompt."""
    measured = single_prompt_accuracy(model, image_emb, digits, TEMPLATE)
    return prediction(
        answer,
        measured,
        tolerance=0.0051,
        explanation=f"one prompt that also names a color and a layout pulls every class "
        f"embedding towards small blue digits in one corner: the nearest prompt then depends "
        f"on color and layout as much as on the digit ({measured:.1%} here). The ensemble "
        "averages those attributes away.",
    )
