"""Checks for notebook 09's exercises (DiT and flow matching): the velocity target, an Euler
step, how many steps the toy needs, and a bug in an Euler sampling loop."""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib import flow, toy_flows
from course_lib.exercises import choice, close, compare

STEP_COUNTS = (1, 2, 4, 8, 16, 50)


def _pairs() -> list[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(9)
    return [(torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g))]


def _target_slip(got, expected, case) -> str | None:
    x0, noise = case
    if close(got, x0 - noise):
        return "the sign is flipped: x_t moves from data (t = 0) to noise (t = 1), so v = eps - x_0"
    if close(got, noise):
        return "that is the noise alone; the line ends at eps but starts at x_0: subtract x_0"
    if close(got, noise + x0):
        return "a velocity is a difference of the two ends, not their sum"
    return None


def check_velocity_target(velocity_target) -> object:
    """velocity_target(x0, noise) -> the rectified-flow target d x_t / dt."""
    cases = _pairs() + [(torch.tensor([[1.0, -2.0]]), torch.tensor([[0.5, 0.5]]))]
    return compare(
        velocity_target,
        flow.velocity_target,
        cases,
        name="your velocity_target",
        diagnose=_target_slip,
        labels=["a batch of latents", "one 2-D point"],
    )


def _euler_slip(got, expected, case) -> str | None:
    x_t, v, t, t_next = case
    if close(got, x_t + (t - t_next) * v):
        return "the step goes the wrong way: multiply v by (t_next - t), which is negative"
    if close(got, x_t - t_next * v) or close(got, x_t - t * v):
        return "the step size is the time difference t_next - t, not one of the times"
    return None


def check_euler_step(euler_step) -> object:
    """euler_step(x_t, v, t, t_next) -> x_t + (t_next - t) v."""
    g = torch.Generator().manual_seed(3)
    x, v = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
    cases = [(x, v, 1.0, 0.75), (x, v, 0.5, 0.0), (x[:1, 0, 0], v[:1, 0, 0], 0.3, 0.1)]
    return compare(
        euler_step,
        flow.euler_step,
        cases,
        name="your euler_step",
        diagnose=_euler_slip,
        labels=["t 1 -> 0.75", "t 0.5 -> 0", "a small tensor, t 0.3 -> 0.1"],
    )


def toy_steps_needed(threshold: float = 0.1, points: int = 200) -> tuple[int, dict]:
    """The fewest Euler steps (of STEP_COUNTS) with the toy mixture's exact velocity whose
    mean end-point error is below `threshold`, and the errors of both samplers."""
    noise = torch.randn(points, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    errors = toy_flows.step_errors(
        noise, toy_flows.mixture_means(), 0.3, STEP_COUNTS, reference=400
    )
    needed = next(n for n, e in zip(STEP_COUNTS, errors["flow"], strict=True) if e < threshold)
    return needed, errors


def check_steps_needed(answer) -> object:
    """Predict-then-measure: how many Euler steps until the toy's end points are within 0.1."""
    needed, errors = toy_steps_needed()
    table = ", ".join(f"{n}: {e:.2f}" for n, e in zip(STEP_COUNTS, errors["flow"], strict=True))
    return choice(
        answer,
        needed,
        STEP_COUNTS,
        explanation=f"Mean end-point error by step count: {table}. One step lands every point "
        "on the mixture's mean (the velocity at t = 1 points at the average of the data); the "
        "paths bend where they pick a component, and Euler needs steps there.",
    )


def _gaussian_velocity(x: Tensor, t: Tensor | float) -> Tensor:
    """The exact velocity for x_0 ~ N(2, 0.5^2): not linear in t, so Euler's step count shows."""
    t = float(t.flatten()[0]) if isinstance(t, Tensor) else float(t)
    mu, s = 2.0, 0.5
    var = (1 - t) ** 2 * s**2 + t**2
    x0_hat = mu + (1 - t) * s**2 / var * (x - (1 - t) * mu)
    return t / var * (x - (1 - t) * mu) - x0_hat


def reference_euler_sample(velocity, x: Tensor, steps: int) -> Tensor:
    """The loop as it should be: steps + 1 times from 1 down to 0, one Euler step between each."""
    return _euler_loop(velocity, x, torch.linspace(1, 0, steps + 1))


def planted_euler_sample(velocity, x: Tensor, steps: int) -> Tensor:
    """The loop as handed out: its grid has `steps` times, so it takes one step too few."""
    return _euler_loop(velocity, x, torch.linspace(1, 0, steps))


def _euler_loop(velocity, x: Tensor, times: Tensor, *, at_end: bool = False) -> Tensor:
    """Euler steps between consecutive `times`; at_end: the velocity read at t_next (a slip)."""
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = x + (t_next - t) * velocity(x, t_next if at_end else t)
    return x


def _loop_slip(got, expected, case) -> str | None:
    velocity, x, steps = case
    slips = {
        "one step too many: steps Euler steps need steps + 1 times on the grid": torch.linspace(
            1, 0, steps + 2
        ),
        "time runs from 1 (noise) down to 0 (data): the grid is linspace(1, 0, steps + 1)": (
            torch.linspace(0, 1, steps + 1)
        ),
    }
    for hint, times in slips.items():
        if close(got, _euler_loop(velocity, x, times), atol=1e-4):
            return hint
    if close(got, _euler_loop(velocity, x, torch.linspace(1, 0, steps + 1), at_end=True)):
        return "an Euler step reads the velocity where the step starts, velocity(x, t)"
    return "check the time grid (steps + 1 times from 1 to 0) and the sign of the step"


def check_euler_sample(euler_sample) -> object:
    """Find-the-bug: euler_sample(velocity, noise, steps) -> the end point at t = 0. The
    planted bug, handed out unchanged, is Not yet."""
    g = torch.Generator().manual_seed(5)
    cases = [(_gaussian_velocity, torch.randn(6, 1, generator=g), n) for n in (4, 1, 10)]
    return compare(
        euler_sample,
        reference_euler_sample,
        cases,
        name="your euler_sample",
        diagnose=_loop_slip,
        atol=1e-4,
        labels=["4 steps", "1 step", "10 steps"],
        planted=planted_euler_sample,
    )
