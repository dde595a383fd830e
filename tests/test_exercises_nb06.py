"""Notebook 06's checks: reference Correct, stub Not yet, typical slips Not right with hints."""

import pytest
import torch
from verdicts import assert_verdicts

from course_lib.exercises import nb06


def right_drop(cond, p, null, generator):
    drop = torch.rand(len(cond), generator=generator) < p
    return torch.where(drop.reshape(-1, *([1] * (cond.ndim - 1))), null, cond)


def keep_instead(cond, p, null, generator):
    drop = torch.rand(len(cond), generator=generator) >= p
    return torch.where(drop.reshape(-1, *([1] * (cond.ndim - 1))), null, cond)


def one_draw(cond, p, null, generator):
    drop = bool(torch.rand(1, generator=generator) < p)
    return null.expand_as(cond).clone() if drop else cond


def not_reshaped(cond, p, null, generator):
    drop = torch.rand(len(cond), generator=generator) < p  # (B,): fails on (B, L) tokens
    return torch.where(drop, null, cond)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (not_reshaped, "reshape it to (B, 1)"),
        (keep_instead, "wrong way round"),
        (one_draw, "one number per row"),
        (lambda cond, p, null, generator: cond, "nothing was dropped"),
    ],
)
def test_drop_condition(wrong, hint):
    assert_verdicts(nb06.check_drop_condition, right_drop, wrong, hint)


def test_paper_w():
    assert nb06.check_paper_w(6.5).status == "Correct"
    assert nb06.check_paper_w(None).status == "Not yet"
    assert nb06.check_paper_w(7.5).status == "Not right"  # the same number in both conventions
    assert nb06.check_paper_w(8.5).status == "Not right"  # plus one instead of minus one


def right_step(net, x, t, labels, null, w, alpha_bar_t, alpha_bar_prev):
    return nb06.guided_variant(net, x, t, labels, null, w, alpha_bar_t, alpha_bar_prev)


@pytest.mark.parametrize(
    "slip, hint",
    [(dict(scale_shift=1.0), "off by one"), (dict(unguided=True), "no guidance")],
)
def test_guided_step(slip, hint):
    def wrong(*case):
        return nb06.guided_variant(*case, **slip)

    assert_verdicts(nb06.check_guided_step, right_step, wrong, hint)


def test_guided_step_planted_bug_is_not_yet():
    assert nb06.check_guided_step(nb06.planted_guided_step).status == "Not yet"


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda u, c, w: (1 + w) * c - w * u, "Ho & Salimans"),
        (lambda u, c, w: c + w * (u - c), "swapped"),
        (lambda u, c, w: u + w * c, "difference is missing"),
        (lambda u, c, w: u - w * (c - u), "direction is reversed"),
    ],
)
def test_guide(wrong, hint):
    assert_verdicts(nb06.check_guide, lambda u, c, w: u + w * (c - u), wrong, hint)
