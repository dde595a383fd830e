"""Notebook 05's checks: reference Correct, stub Not yet, typical slips Not right with hints."""

import dataclasses

import pytest
import torch.nn.functional as F
from verdicts import assert_verdicts

from course_lib import diffusion, unet
from course_lib.exercises import nb05
from course_lib.recipes import ddpm_digits

COSINE = diffusion.NoiseSchedule.cosine(1000)


@pytest.mark.parametrize(
    "slip, hint",
    [
        (dict(one_plus=False), "(1 + scale)"),
        (dict(swap=True), "swapped"),
        (dict(residual=False), "residual is missing"),
        (dict(silu=False), "SiLU"),
    ],
)
def test_res_block(slip, hint):
    def wrong(block, x, emb):
        return nb05.res_variant(block, x, emb, **slip)

    assert_verdicts(nb05.check_res_block, nb05.res_variant, wrong, hint)


def unskipped(block, x, emb):
    h = nb05.res_variant(block, x, emb, residual=False)
    return x + h  # x has C_in channels: fails on the widening block


def unreshaped_time(block, x, emb):
    scale, shift = block.time(F.silu(emb)).chunk(2, dim=1)  # (B, C_out): does not broadcast
    h = block.norm2(block.conv1(F.silu(block.norm1(x)))) * (1 + scale) + shift
    return block.skip(x) + block.conv2(F.silu(h))


@pytest.mark.parametrize("wrong", [unskipped, unreshaped_time])
def test_res_block_shape_mismatch_names_the_reshape_and_the_skip(wrong):
    result = nb05.check_res_block(wrong)
    assert result.status == "Not right", result
    assert "RuntimeError" in result.message and "[:, :, None, None]" in result.message
    assert "block.skip(x)" in result.message


def test_skip_channels():
    model = unet.UNet(dataclasses.replace(ddpm_digits.MODEL, widths=(16, 32, 64)))
    assert nb05.check_skip_channels(64, model).status == "Correct"
    assert nb05.check_skip_channels(None, model).status == "Not yet"
    assert nb05.check_skip_channels(32, model).status == "Not right"  # added, not concatenated
    assert nb05.check_skip_channels(128, model).status == "Not right"  # the 7x7 block's input


def right_ddim(x_t, eps, a_t, a_prev):
    x0_hat = (x_t - (1 - a_t) ** 0.5 * eps) / a_t**0.5
    return a_prev**0.5 * x0_hat + (1 - a_prev) ** 0.5 * eps


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda x, e, a, p: nb05._ddim(x, e, a, p, root=False), "not by alpha_bar_t"),
        (lambda x, e, a, p: nb05._ddim(x, e, a, p, renoise=False), "re-noise it"),
        (lambda x, e, a, p: right_ddim(x, e, p, a) if p < 1 else x, "swapped"),
        (
            lambda x, e, a, p: p**0.5 * nb05._ddim(x, e, a, p, renoise=False) + (1 - p) * e,
            "sqrt(1 - alpha_bar_prev)",
        ),
        (lambda x, e, a, p: nb05._ddim(x, e, a, p, roots=False), "square roots are missing"),
        (lambda x, e, a, p: right_ddim(x, e, a, a), "x_t unchanged"),
    ],
)
def test_ddim_step(wrong, hint):
    assert_verdicts(nb05.check_ddim_step, right_ddim, wrong, hint)


def right_ddpm(schedule, x_t, eps, t, noise):
    alpha_t, beta_t = float(schedule.alphas[t]), float(schedule.betas[t])
    alpha_bar_t, variance = float(schedule.alpha_bar[t]), float(schedule.posterior_variance[t])
    mean = (x_t - beta_t / (1 - alpha_bar_t) ** 0.5 * eps) / alpha_t**0.5
    return mean + variance**0.5 * noise


@pytest.mark.parametrize(
    "slip, hint",
    [
        (dict(variance="beta"), "beta_tilde_t"),
        (dict(shift=1), "off by one timestep"),
        (dict(sign=-1), "wrong sign"),
    ],
)
def test_ddpm_step(slip, hint):
    def wrong(schedule, x_t, eps, t, noise):
        return nb05._ddpm(schedule, x_t, eps, t, noise, **slip)

    assert_verdicts(nb05.check_ddpm_step, right_ddpm, wrong, hint, COSINE)


def test_ddpm_step_planted_bug_is_not_yet():
    result = nb05.check_ddpm_step(nb05.planted_ddpm_step, COSINE)
    assert result.status == "Not yet" and "planted bug" in result.message
