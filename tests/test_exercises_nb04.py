"""Notebook 04's checks: reference Correct, stub Not yet, typical slips Not right with hints."""

import pytest
import torch
from verdicts import assert_verdicts

from course_lib import diffusion
from course_lib.exercises import nb04

COSINE = diffusion.NoiseSchedule.cosine(1000)
X0 = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1


def right(x0, t, noise, alpha_bar):
    a = alpha_bar[t].float().reshape(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def no_sqrt(x0, t, noise, alpha_bar):
    a = alpha_bar[t].float().reshape(-1, 1, 1, 1)
    return a * x0 + (1 - a) * noise


def off_by_one(x0, t, noise, alpha_bar):
    return right(x0, (t - 1).clamp(min=0), noise, alpha_bar)


def swapped(x0, t, noise, alpha_bar):
    return right(noise, t, x0, alpha_bar)


def not_reshaped(x0, t, noise, alpha_bar):
    a = alpha_bar[t].float().reshape(1, -1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def not_broadcast(x0, t, noise, alpha_bar):
    a = alpha_bar[t].float()  # (B,) against (B, 1, 28, 28): a shape mismatch
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (not_broadcast, "reshape it to (B, 1, 1, 1)"),
        (no_sqrt, "square roots are missing"),
        (off_by_one, "off by one timestep"),
        (swapped, "swapped"),
        (not_reshaped, "(B, 1, 1, 1)"),
    ],
)
def test_q_sample(wrong, hint):
    assert_verdicts(nb04.check_q_sample, right, wrong, hint, X0, COSINE)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda a: a / (1 - a), "express it in decibels"),
        (lambda a: 20 * torch.log10(a / (1 - a)), "20 * log10"),
        (lambda a: 10 * torch.log10((1 - a) / a), "upside down"),
        (lambda a: 10 * torch.log(a / (1 - a)), "natural log"),
    ],
)
def test_snr_db(wrong, hint):
    assert_verdicts(nb04.check_snr_db, nb04.reference_snr_db, wrong, hint)


def test_sd_signal():
    assert nb04.check_sd_signal(0.07).status == "Correct"
    assert nb04.check_sd_signal(None).status == "Not yet"
    assert nb04.check_sd_signal(0.0).status == "Not right"  # "exactly" pure noise
    root_missing = nb04.check_sd_signal(0.0047)  # alpha_bar, not its root
    assert root_missing.status == "Not right" and "its square root" in root_missing.message
    assert "Hint" not in nb04.check_sd_signal(0.5).message  # no slip explains that one


def test_sd_schedule_matches_the_number_in_the_text():
    assert abs(float(nb04.stable_diffusion_alpha_bar()[-1]) - 0.0047) < 1e-4


def test_beta_end():
    assert nb04.check_beta_end(round(nb04.noise_share(0.01), 3)).status == "Correct"
    assert nb04.check_beta_end(None).status == "Not yet"
    assert nb04.check_beta_end(nb04.noise_share(0.02)).status == "Not right"  # unchanged
    assert nb04.check_beta_end(4.6).status == "Not right"  # a percentage, not a fraction
