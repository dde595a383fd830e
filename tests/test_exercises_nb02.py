"""Notebook 02's checks: reference Correct, stub Not yet, typical slips Not right with hints."""

import pytest
import torch
from verdicts import assert_verdicts

from course_lib import attention, checkpoints, data
from course_lib.exercises import nb02


def _scores(block, tokens, head, norm=True):
    return nb02._head_scores(block, tokens, head, normalise=norm)


def head_divided_by_d(block, tokens, head):
    scores, d = _scores(block, tokens, head)
    return (scores / d).softmax(-1)


def head_rows_wrong_axis(block, tokens, head):
    scores, d = _scores(block, tokens, head)
    return (scores / d**0.5).softmax(-2)


def head_without_norm(block, tokens, head):
    scores, d = _scores(block, tokens, head, norm=False)
    return (scores / d**0.5).softmax(-1)


def head_always_zero(block, tokens, head):
    return nb02.reference_head(block, tokens, 0)


@pytest.fixture(scope="module")
def model():
    return checkpoints.load_pretrained("vit-digits").eval()


@pytest.fixture(scope="module")
def images():
    return data.mnist_tensors("test")[0][:50]


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (head_divided_by_d, "sqrt(d), not d"),
        (head_rows_wrong_axis, "wrong axis"),
        (head_without_norm, "norm1"),
        (head_always_zero, "that is head 0"),
    ],
)
def test_head(model, images, wrong, hint):
    assert_verdicts(nb02.check_head, nb02.reference_head, wrong, hint, model, images)


@pytest.fixture(scope="module")
def weights(model, images):
    with torch.no_grad():
        _, w = model(images[:3], return_attention=True)
    return attention.stack_layers(w)  # (L, B, h, T, T)


def rollout_reversed(w):
    eye = torch.eye(w.shape[-1])
    return nb02._rollout_with(w, lambda layer: 0.5 * layer.mean(0) + 0.5 * eye, "later-right")


def rollout_no_residual(w):
    return nb02._rollout_with(w, lambda layer: layer.mean(0))


def rollout_unnormalised(w):
    return nb02._rollout_with(w, lambda layer: layer.mean(0) + torch.eye(w.shape[-1]))


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (rollout_reversed, "wrong order"),
        (rollout_no_residual, "residual is missing"),
        (rollout_unnormalised, "renormalise"),
    ],
)
def test_rollout(weights, wrong, hint):
    assert_verdicts(nb02.check_rollout, nb02.reference_rollout, wrong, hint, weights)


def rollout_numpy(w):  # attention.rollout's own output, an array, not a tensor
    return attention.rollout(w[:, None])[-1, 0]


def test_rollout_returning_numpy_is_told_to_return_a_tensor(weights):
    result = nb02.check_rollout(rollout_numpy, weights)
    assert result.status == "Not right" and "torch.from_numpy" in result.message
    assert "array(" not in result.message and "numpy float32 array of shape" in result.message


def test_untrained(images):
    assert nb02.check_untrained(nb02.UNTRAINED[2], images).status == "Correct"
    assert nb02.check_untrained(None, images).status == "Not yet"
    assert nb02.check_untrained(nb02.UNTRAINED[0], images).status == "Not right"
    assert nb02.check_untrained("local", images).status == "Not right"  # not one of the options


def test_residual_coverage(weights):
    measured = nb02.rollout_coverage(weights, 0.9)
    assert nb02.check_residual_coverage(round(measured, 2), weights).status == "Correct"
    assert nb02.check_residual_coverage(None, weights).status == "Not yet"
    unchanged = nb02.check_residual_coverage(nb02.rollout_coverage(weights, 0.5), weights)
    assert unchanged.status == "Not right" and "set RESIDUAL = 0.9" in unchanged.message
    assert nb02.check_residual_coverage(16.0, weights).status == "Not right"
