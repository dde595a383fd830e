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
        "reduction='sum' adds over the B pairs: each cross-entropy is a mean over the batch "
        "(the default reduction='mean')": len(logits) * (rows + cols) / 2,
        "reduction='sum' adds over the B pairs, and the two directions are added: take the "
        "mean over the batch (the default) and divide by 2": len(logits) * (rows + cols),
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
    # B = 8 first: at B = 2 a sum over the batch and a sum of the two directions coincide
    for batch, scale in [(8, 1 / 0.07), (2, 1.0), (64, 100.0), (256, 30.0)]:
        image_emb = _unit(batch, generator)
        text_emb = F.normalize(image_emb + 2 * _unit(batch, generator), dim=-1)  # paired, noisy
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
BASELINE = "a large red {}"  # the single prompt the notebook measured first


def single_prompt_accuracy(model, image_emb: Tensor, digits: np.ndarray, template: str) -> float:
    """Zero-shot digit accuracy with one prompt per digit, template.format(word)."""
    with torch.no_grad():
        texts = clip.embed_texts(model, [template.format(w) for w in data.DIGIT_WORDS])
    return float(((image_emb @ texts.T).argmax(1).numpy() == digits).mean())


def template_shift(model, template: str, baseline: str = BASELINE) -> tuple[float, float]:
    """How changing baseline to template moves the ten digit embeddings: the mean cosine of
    one digit's two embeddings, and of each digit's shift with the mean shift."""
    with torch.no_grad():
        old = clip.embed_texts(model, [baseline.format(w) for w in data.DIGIT_WORDS])  # (10, D)
        new = clip.embed_texts(model, [template.format(w) for w in data.DIGIT_WORDS])  # (10, D)
    shift = new - old  # (10, D): what the other words add to each digit
    alike = F.cosine_similarity(shift, shift.mean(0, keepdim=True), dim=-1)  # (10,)
    return float((old * new).sum(-1).mean()), float(alike.mean())


def explain_single_prompt(model, measured: float, baseline: float, ensembled: float) -> str:
    """Why one prompt's wording did (or did not) move the accuracy, from the measurements."""
    apart, alike = template_shift(model, TEMPLATE)
    moved = "lowered" if measured < baseline - 0.01 else "did not lower"
    said = (
        f"{BASELINE!r} scored {baseline:.3f} and the 30-prompt ensemble {ensembled:.3f}: naming "
        f"another color and layout {moved} the accuracy. The two prompts for one digit embed "
        f"far apart (cosine {apart:.2f}), but "
    )
    if alike < 0.9:
        return said + (
            f"the other words shift the ten class embeddings unevenly (each shift has cosine "
            f"{alike:.2f} with their mean), so they reorder some images' digits."
        )
    return said + (
        f"the other words move all ten class embeddings by nearly the same vector (each shift "
        f"has cosine {alike:.2f} with their mean): they add about the same to an image's score "
        "for every digit, and the ranking among digits, all that zero-shot reads, changes "
        "little. Our text encoder keeps digit, color and layout apart, so the ensemble gains "
        "little here; on web images, where the words around a class name change what it "
        "means, CLIP found the wording and ensembling of prompts worth several points."
    )


def check_single_prompt(answer, model, image_emb: Tensor, digits: np.ndarray) -> object:
    """Exercise 4 (modify and observe): the accuracy with TEMPLATE as the only prompt."""
    measured = single_prompt_accuracy(model, image_emb, digits, TEMPLATE)
    baseline = single_prompt_accuracy(model, image_emb, digits, BASELINE)
    with torch.no_grad():
        guess = zero_shot.zero_shot_predict(model, None, "digit", image_emb=image_emb)  # (N,)
    ensembled = float((guess.numpy() == digits).mean())
    return prediction(
        answer,
        measured,
        tolerance=0.0051,
        fraction=True,
        explanation=explain_single_prompt(model, measured, baseline, ensembled),
    )
