"""Checks for notebook 05 (a U-Net, DDPM and DDIM): a residual block with time modulation,
the channels a skip connection adds, one DDIM step, and a planted bug in one DDPM step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib import diffusion, unet
from course_lib.exercises import close, compare, prediction


def res_variant(block, x, emb, *, one_plus=True, swap=False, residual=True, silu=True):
    """ResBlock.forward with one of the typical slips switched on (the defaults are right)."""
    h = block.conv1(F.silu(block.norm1(x)))
    scale, shift = block.time(F.silu(emb) if silu else emb)[:, :, None, None].chunk(2, dim=1)
    if swap:
        scale, shift = shift, scale
    h = block.norm2(h) * ((1 + scale) if one_plus else scale) + shift
    h = block.conv2(block.dropout(F.silu(h)))
    return block.skip(x) + h if residual else h


def diagnose_res_block(got, expected, case) -> str | None:
    block, x, emb = case
    slips = {
        "the scale multiplies by (1 + scale), not by scale: a zero time output must leave "
        "the features as they are": dict(one_plus=False),
        "scale and shift are swapped: chunk(2, dim=1) gives scale first, then shift": dict(
            swap=True
        ),
        "the residual is missing: add the input (through block.skip) to the result": dict(
            residual=False
        ),
        "the time embedding goes through SiLU before block.time": dict(silu=False),
    }
    with torch.no_grad():
        for hint, slip in slips.items():
            if close(got, res_variant(block, x, emb, **slip), atol=1e-4):
                return hint
    return None


def res_block_cases() -> list[tuple]:
    """Three ResBlocks with random weights (conv2 starts at zero, which would hide the time
    path), inputs and time embeddings: a widening block (1x1 skip) and two identity skips."""
    generator = torch.Generator().manual_seed(5)
    cases = []
    for dim_in, dim_out, batch, side in [(8, 16, 3, 14), (16, 16, 2, 7), (8, 8, 1, 28)]:
        torch.manual_seed(dim_in * 100 + side)
        block = unet.ResBlock(dim_in=dim_in, dim_out=dim_out, time_dim=12, groups=4, dropout=0.0)
        torch.nn.init.normal_(block.conv2.weight, std=0.1)
        torch.nn.init.normal_(block.time.weight, std=0.5)
        block.eval()
        x = torch.randn(batch, dim_in, side, side, generator=generator)
        emb = torch.randn(batch, 12, generator=generator)
        cases.append((block, x, emb))
    return cases


def check_res_block(mine) -> object:
    """Exercise 1: my_res_block(block, x, emb), written with the block's own layers, against
    block(x, emb)."""
    with torch.no_grad():
        return compare(
            mine,
            lambda block, x, emb: block(x, emb),
            res_block_cases(),
            name="your residual block",
            labels=["8 -> 16 channels, 14x14", "16 -> 16 channels, 7x7", "8 -> 8 channels, 28x28"],
            diagnose=diagnose_res_block,
            atol=1e-5,
            shape_hint="block.time gives (B, 2 C_out): index it [:, :, None, None] before the "
            "split so scale and shift broadcast over H and W; and add block.skip(x), which has "
            "C_out channels, not x itself",
        )


def up_input_channels(model: unet.UNet) -> list[tuple[int, int]]:
    """(side, channels) of the input of every ResBlock on the up path, in order, measured with
    hooks on one forward pass of a 28x28 image."""
    seen = []
    hooks = [
        block["res"].register_forward_pre_hook(
            lambda _, args: seen.append((args[0].shape[-1], args[0].shape[1]))
        )
        for block in model.up
        if "res" in block
    ]
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, 28, 28, device=device), torch.tensor([0], device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def check_skip_channels(answer, model: unet.UNet) -> object:
    """Exercise 2 (predict): the channels entering the first up-path ResBlock at 14x14."""
    seen = up_input_channels(model)
    channels = next(c for side, c in seen if side == 14)
    width = model.config.widths[1]
    return prediction(
        answer,
        channels,
        tolerance=0.5,
        explanation=f"at 14x14 the upsampled features, narrowed to the level's width ({width} "
        f"channels), are concatenated with the skip saved on the way down (another "
        f"{channels - width}): torch.cat([h, skip], dim=1) adds channels, not values. Every "
        f"up-path block's input, (side, channels): {seen}.",
    )


def _ddim(x_t, eps, a_t, a_prev, *, root=True, renoise=True, roots=True):
    """One DDIM step (eta = 0) written out; root=False: x0_hat divides by alpha_bar_t;
    roots=False: no square root anywhere."""
    r = (lambda v: v**0.5) if roots else (lambda v: v)  # noqa: E731
    x0_hat = (x_t - r(1 - a_t) * eps) / (r(a_t) if root else a_t)
    if not renoise:
        return x0_hat
    return r(a_prev) * x0_hat + r(1 - a_prev) * eps


def diagnose_ddim_step(got, expected, case) -> str | None:
    x_t, eps, a_t, a_prev = case
    slips = {
        "x0_hat divides by sqrt(alpha_bar_t), not by alpha_bar_t": _ddim(
            x_t, eps, a_t, a_prev, root=False
        ),
        "that is x0_hat: re-noise it to alpha_bar_prev with the same eps": _ddim(
            x_t, eps, a_t, a_prev, renoise=False
        ),
        "alpha_bar_t and alpha_bar_prev are swapped: predict x0 with alpha_bar_t, re-noise "
        "with alpha_bar_prev": _ddim(x_t, eps, a_prev, a_t) if a_prev < 1 else None,
        "the re-noising mixes in eps with sqrt(1 - alpha_bar_prev), not with 1 - alpha_bar_prev": (
            a_prev**0.5 * _ddim(x_t, eps, a_t, a_prev, renoise=False) + (1 - a_prev) * eps
        ),
        "the square roots are missing: the closed form scales x0 by sqrt(alpha_bar) and the "
        "noise by sqrt(1 - alpha_bar), in both steps": _ddim(x_t, eps, a_t, a_prev, roots=False),
        "that is x_t unchanged: re-noise x0_hat to alpha_bar_prev, the next, smaller noise "
        "level, not back to alpha_bar_t": _ddim(x_t, eps, a_t, a_t),
    }
    for hint, wrong in slips.items():
        if wrong is not None and close(got, wrong, atol=1e-4):
            return hint
    return None


def ddim_cases() -> list[tuple]:
    generator = torch.Generator().manual_seed(6)
    alpha_bar = diffusion.NoiseSchedule.cosine(1000).alpha_bar
    cases = []
    for t, prev in [(950, 900), (500, 450), (40, None)]:
        x_t = torch.randn(4, 1, 28, 28, generator=generator)
        eps = torch.randn(4, 1, 28, 28, generator=generator)
        a_prev = 1.0 if prev is None else float(alpha_bar[prev])
        cases.append((x_t, eps, float(alpha_bar[t]), a_prev))
    return cases


def check_ddim_step(mine) -> object:
    """Exercise 3: my_ddim_step(x_t, eps, alpha_bar_t, alpha_bar_prev), eta = 0, against
    diffusion.ddim_step; alpha_bars are floats."""
    return compare(
        mine,
        diffusion.ddim_step,
        ddim_cases(),
        name="your DDIM step",
        labels=["t 950 -> 900", "t 500 -> 450", "t 40 -> the clean image (alpha_bar_prev 1)"],
        diagnose=diagnose_ddim_step,
        atol=1e-4,
    )


def _ddpm(schedule, x_t, eps, t, noise, *, root=True, variance="tilde", shift=0, sign=1):
    """One DDPM step written out, with one of the typical slips switched on."""
    at = lambda values: float(values[max(t - shift, 0)])  # noqa: E731
    alpha_t, beta_t, alpha_bar_t = at(schedule.alphas), at(schedule.betas), at(schedule.alpha_bar)
    var = float(schedule.posterior_variance[t] if variance == "tilde" else schedule.betas[t])
    denominator = (1 - alpha_bar_t) ** 0.5 if root else 1 - alpha_bar_t
    mean = (x_t - sign * beta_t / denominator * eps) / alpha_t**0.5
    return mean + (var**0.5 * noise if t > 0 else 0)


def planted_ddpm_step(schedule, x_t, eps, t, noise):
    """The handed-out step: the square root on 1 - alpha_bar_t is missing."""
    return _ddpm(schedule, x_t, eps, t, noise, root=False)


def diagnose_ddpm_step(got, expected, case) -> str | None:
    schedule, x_t, eps, t, noise = case
    slips = {
        "the eps term divides by sqrt(1 - alpha_bar_t)": dict(root=False),
        "the noise uses beta_t as its variance; this step's is the posterior's beta_tilde_t": dict(
            variance="beta"
        ),
        "off by one timestep: use the coefficients at t, not t - 1": dict(shift=1),
        "wrong sign: the step subtracts the predicted noise": dict(sign=-1),
    }
    for hint, slip in slips.items():
        if close(got, _ddpm(schedule, x_t, eps, t, noise, **slip), atol=1e-4):
            return hint
    return None


def check_ddpm_step(mine, schedule: diffusion.NoiseSchedule) -> object:
    """Exercise 4 (find the bug): my_ddpm_step(schedule, x_t, eps, t, noise), t an int,
    against diffusion.ddpm_step at a low, a middle, a high and the last timestep."""
    generator = torch.Generator().manual_seed(8)
    cases, labels = [], []
    for t in (10, 500, 900, 0):
        x_t, eps, noise = (torch.randn(3, 1, 28, 28, generator=generator) for _ in range(3))
        cases.append((schedule, x_t, eps, t, noise))
        labels.append(f"t = {t}" + (" (no noise added)" if t == 0 else ""))
    return compare(
        mine,
        diffusion.ddpm_step,
        cases,
        name="your DDPM step",
        labels=labels,
        diagnose=diagnose_ddpm_step,
        atol=1e-4,
        planted=planted_ddpm_step,
    )


def reference_ddim_step(x_t: Tensor, eps: Tensor, alpha_bar_t, alpha_bar_prev) -> Tensor:
    """diffusion.ddim_step at eta = 0, for Result.use."""
    return diffusion.ddim_step(x_t, eps, alpha_bar_t, alpha_bar_prev)
