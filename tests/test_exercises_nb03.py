"""Notebook 03's checks: reference Correct, stub Not yet, typical slips Not right with hints."""

import math

import pytest
import torch
import torch.nn.functional as F
from verdicts import assert_verdicts

from course_lib import checkpoints, clip, data, zero_shot
from course_lib.exercises import nb03


def _logits(a, b, s):
    return s * a @ b.T, torch.arange(len(a))


def loss_one_way(a, b, s):
    logits, labels = _logits(a, b, s)
    return F.cross_entropy(logits, labels)


def loss_summed(a, b, s):
    logits, labels = _logits(a, b, s)
    return F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)


def loss_batch_summed(a, b, s):
    logits, labels = _logits(a, b, s)
    rows = F.cross_entropy(logits, labels, reduction="sum")
    return (rows + F.cross_entropy(logits.T, labels, reduction="sum")) / 2


def loss_batch_and_directions_summed(a, b, s):
    return 2 * loss_batch_summed(a, b, s)


def loss_unscaled(a, b, s):
    return clip.clip_loss(a, b, 1.0)


def loss_transposed_both(a, b, s):
    logits, labels = _logits(a, b, s)
    return F.cross_entropy(logits.T, labels)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (loss_one_way, "only the image-to-caption direction"),
        (loss_summed, "the two cross-entropies are added, not averaged"),
        (loss_batch_summed, "each cross-entropy is a mean over the batch"),
        (loss_batch_and_directions_summed, "and the two directions are added"),
        (loss_unscaled, "logit scale is missing"),
        (loss_transposed_both, "only the caption-to-image direction"),
    ],
)
def test_clip_loss(wrong, hint):
    assert_verdicts(nb03.check_clip_loss, clip.clip_loss, wrong, hint)


@pytest.fixture(scope="module")
def pairs():
    images, captions, _ = data.captioned_digits("train")
    return images[:256], captions[:256]


def test_untrained_loss(pairs):
    assert nb03.check_untrained_loss(math.log(256), *pairs).status == "Correct"
    assert nb03.check_untrained_loss(None, *pairs).status == "Not yet"
    assert nb03.check_untrained_loss(0.0, *pairs).status == "Not right"
    assert nb03.check_untrained_loss(math.log(300), *pairs).status == "Correct"  # close enough
    assert nb03.check_untrained_loss(2 * math.log(256), *pairs).status == "Not right"  # summed


@pytest.fixture(scope="module")
def model():
    return checkpoints.load_pretrained("clip-digits").eval()


def ensemble_unnormalised(model, prompts):
    return torch.stack([clip.embed_texts(model, p).mean(0) for p in prompts])


def ensemble_first_prompt(model, prompts):
    return clip.embed_texts(model, [p[0] for p in prompts])


@pytest.mark.parametrize(
    "wrong, hint",
    [(ensemble_unnormalised, "renormalise"), (ensemble_first_prompt, "first prompt")],
)
def test_class_embeddings(model, wrong, hint):
    assert_verdicts(nb03.check_class_embeddings, zero_shot.class_embeddings, wrong, hint, model)


def test_single_prompt(model):
    images, _, attributes = data.captioned_digits("test")
    image_emb = clip.embed_images(model, images[:300])
    digits = attributes["digit"][:300]
    measured = nb03.single_prompt_accuracy(model, image_emb, digits, nb03.TEMPLATE)
    unchanged = nb03.single_prompt_accuracy(model, image_emb, digits, nb03.BASELINE)
    assert nb03.check_single_prompt(measured, model, image_emb, digits).status == "Correct"
    assert nb03.check_single_prompt(None, model, image_emb, digits).status == "Not yet"
    if abs(unchanged - measured) > 0.01:  # forgot to change the template
        assert nb03.check_single_prompt(unchanged, model, image_emb, digits).status == "Not right"
    percentage = nb03.check_single_prompt(measured * 100, model, image_emb, digits)
    assert percentage.status == "Not right" and "as a fraction" in percentage.message
    explained = nb03.check_single_prompt(measured, model, image_emb, digits).message
    assert nb03.BASELINE in explained and "ensemble" in explained
