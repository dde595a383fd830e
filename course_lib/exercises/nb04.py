"""Checks for notebook 04 (forward noising): the batched closed form, the SNR in decibels,
Stable Diffusion's last alpha_bar, and a linear schedule with a lower beta_end."""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib import diffusion
from course_lib.exercises import close, compare, prediction


def _mix(x0, noise, a):
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def diagnose_q_sample(got, expected, case) -> str | None:
    x0, t, noise, alpha_bar = case
    a = alpha_bar[t].double().reshape(-1, 1, 1, 1)
    x0, noise = x0.double(), noise.double()
    slips = {
        "the square roots are missing: scale x0 by sqrt(alpha_bar_t), the noise by "
        "sqrt(1 - alpha_bar_t)": a * x0 + (1 - a) * noise,
        "x0 and the noise are swapped: the signal gets sqrt(alpha_bar_t)": _mix(noise, x0, a),
        "off by one timestep: use alpha_bar[t], not alpha_bar[t - 1]": _mix(
            x0, noise, alpha_bar[(t - 1).clamp(min=0)].double().reshape(-1, 1, 1, 1)
        ),
    }
    for hint, wrong in slips.items():
        if close(got, wrong.to(expected.dtype), atol=1e-4):
            return hint
    if isinstance(got, Tensor) and got.ndim == 4 and got.shape[:2] != expected.shape[:2]:
        return "reshape alpha_bar[t] to (B, 1, 1, 1) so each image gets its own timestep"
    return None


def check_q_sample(mine, x0: Tensor, schedule: diffusion.NoiseSchedule) -> object:
    """Exercise 2: my_q_sample(x0, t, noise, alpha_bar) with t a (B,) tensor, against
    schedule.q_sample; x0: a few digits (B, 1, 28, 28)."""
    alpha_bar = schedule.alpha_bar
    generator = torch.Generator().manual_seed(4)
    noise = torch.randn(x0[:6].shape, generator=generator)
    cases = [
        (x0[:6], torch.tensor([0, 10, 200, 500, 800, 999]), noise, alpha_bar),
        (x0[:6], torch.tensor([999, 1, 1, 300, 2, 650]), noise, alpha_bar),
        (x0[:1], torch.tensor([400]), noise[:1], alpha_bar),
    ]
    return compare(
        mine,
        lambda x, t, noise, _: schedule.q_sample(x, t, noise),
        cases,
        name="your q_sample",
        labels=["six digits, rising t", "six digits, mixed t", "one digit"],
        diagnose=diagnose_q_sample,
        atol=1e-5,
        shape_hint="alpha_bar[t] has shape (B,); reshape it to (B, 1, 1, 1) so that it "
        "broadcasts over each image (B, 1, 28, 28), one factor per image",
    )


def reference_snr_db(alpha_bar: Tensor) -> Tensor:
    return 10 * torch.log10(alpha_bar / (1 - alpha_bar))


def diagnose_snr(got, expected, case) -> str | None:
    (alpha_bar,) = case
    ratio = alpha_bar / (1 - alpha_bar)
    slips = {
        "that is the ratio itself: express it in decibels, 10 * log10(SNR)": ratio,
        "20 * log10 is for amplitudes; alpha_bar is a variance (a power): use 10 * log10": (
            20 * torch.log10(ratio)
        ),
        "the ratio is upside down: signal variance alpha_bar over noise variance 1 - alpha_bar": 10
        * torch.log10(1 / ratio),
        "natural log: decibels use log10": 10 * torch.log(ratio),
    }
    for hint, wrong in slips.items():
        if close(got, wrong, atol=1e-4):
            return hint
    return None


def check_snr_db(mine) -> object:
    """Exercise 3: my_snr_db(alpha_bar) -> 10 log10(alpha_bar / (1 - alpha_bar))."""
    cases = [
        (diffusion.NoiseSchedule.linear(1000).alpha_bar,),
        (diffusion.NoiseSchedule.cosine(1000).alpha_bar,),
        (torch.tensor([0.5, 0.9, 0.01], dtype=torch.float64),),
    ]
    return compare(
        mine,
        reference_snr_db,
        cases,
        name="your SNR in dB",
        labels=["linear schedule", "cosine schedule", "alpha_bar 0.5, 0.9, 0.01"],
        diagnose=diagnose_snr,
        atol=1e-4,
    )


def stable_diffusion_alpha_bar() -> Tensor:
    """Stable Diffusion v1's "scaled linear" schedule: sqrt(beta) linear from
    sqrt(0.00085) to sqrt(0.012) over T = 1000 steps; returns alpha_bar (1000,)."""
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, dim=0)


def check_sd_signal(answer) -> object:
    """Exercise 1 (predict): sqrt(alpha_bar) at SD's last step, the image's surviving share."""
    last = float(stable_diffusion_alpha_bar()[-1])
    return prediction(
        answer,
        last**0.5,
        tolerance=0.5,
        relative=True,
        slips={
            last: "that is alpha_bar_T itself; the question asks for its square root, the "
            "coefficient of x0 (the signal's amplitude)"
        },
        explanation=f"SD's betas stay small (at most 0.012), so alpha_bar_T = {last:.4f} and "
        f"{last**0.5:.3f} of the image's amplitude is still there at t = T: close to, not "
        "exactly, pure noise. (Lin et al. 2024 showed this leftover signal keeps SD from "
        "making very dark or very bright images, and rescaled schedules to zero terminal SNR.)",
    )


def noise_share(beta_end: float) -> float:
    """The fraction of a 1000-step linear schedule's steps below -20 dB."""
    schedule = diffusion.NoiseSchedule.linear(1000, beta_end=beta_end)
    return float((10 * torch.log10(schedule.snr) < -20).double().mean())


def check_beta_end(answer) -> object:
    """Exercise 4 (modify and observe): the share of steps below -20 dB with beta_end 0.01."""
    measured, before = noise_share(0.01), noise_share(0.02)
    return prediction(
        answer,
        measured,
        tolerance=0.005,
        explanation=f"halving beta_end slows the destruction: {measured:.1%} of the steps sit "
        f"below -20 dB instead of {before:.1%}, so fewer steps are wasted on pure noise; but "
        "the last alpha_bar is larger, so t = T is further from pure noise.",
    )
