"""A 2-D toy for notebook 09: a mixture of Gaussians whose exact denoiser is known, so DDIM's
path and rectified flow's path from the same noise can be drawn and measured without training.

For data x_0 ~ (1/K) sum_k N(mu_k, s^2 I) and x_t = a x_0 + b eps, each component gives
x_t | k ~ N(a mu_k, (a^2 s^2 + b^2) I), and
    E[x_0 | x_t] = sum_k r_k(x_t) (mu_k + a s^2 / (a^2 s^2 + b^2) (x_t - a mu_k)),
with r_k the posterior weight of component k. Both samplers read that one number:
    DDIM (variance preserving):  a = sqrt(alpha_bar_t), b = sqrt(1 - alpha_bar_t),
                                 eps = (x_t - a x0_hat) / b
    rectified flow:              a = 1 - t, b = t, v = eps_hat - x0_hat
Everything is float64: the first DDIM step divides by sqrt(alpha_bar) close to 0.

Letters: B points, K components, S steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_lib import checks, diffusion, flow


def mixture_means(k: int = 6, radius: float = 3.0) -> Tensor:
    """K component means evenly on a circle, (K, 2) float64."""
    checks.positive_int(k, "k")
    checks.number(radius, "radius", above=0)
    angles = torch.arange(k, dtype=torch.float64) * 2 * math.pi / k
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def sample_mixture(n: int, means: Tensor, std: float, generator=None) -> Tensor:
    """n points (n, 2) from the equal-weight mixture of N(mu_k, std^2 I)."""
    checks.positive_int(n, "n")
    checks.tensor(means, "means", 2, "(K, 2)")
    checks.number(std, "std", above=0)
    checks.generator(generator)
    which = torch.randint(0, len(means), (n,), generator=generator)
    return means[which] + std * torch.randn(n, 2, generator=generator, dtype=torch.float64)


def posterior_mean(x_t: Tensor, a: float, b: float, means: Tensor, std: float) -> Tensor:
    """E[x_0 | x_t] (B, 2) for x_t = a x_0 + b eps and the mixture (see the module docstring)."""
    var = a**2 * std**2 + b**2  # Var(x_t | k), the same for every component
    dist2 = ((x_t[:, None] - a * means[None]) ** 2).sum(-1)  # (B, K)
    weights = torch.softmax(-dist2 / (2 * var), dim=1)  # (B, K), r_k(x_t)
    per_k = means[None] + a * std**2 / var * (x_t[:, None] - a * means[None])  # (B, K, 2)
    return (weights[..., None] * per_k).sum(1)  # (B, 2)


def flow_velocity(x_t: Tensor, t: Tensor, means: Tensor, std: float) -> Tensor:
    """The exact rectified-flow velocity E[eps - x_0 | x_t] at time t in (0, 1]."""
    t = float(t.flatten()[0]) if isinstance(t, Tensor) else float(t)
    x0 = posterior_mean(x_t, 1 - t, t, means, std)
    eps = (x_t - (1 - t) * x0) / t
    return eps - x0


def ddim_noise(x_t: Tensor, alpha_bar_t: float, means: Tensor, std: float) -> Tensor:
    """The exact noise guess E[eps | x_t] of the variance-preserving process at alpha_bar_t."""
    a, b = math.sqrt(alpha_bar_t), math.sqrt(1 - alpha_bar_t)
    return (x_t - a * posterior_mean(x_t, a, b, means, std)) / b


def flow_path(noise: Tensor, steps: int, means: Tensor, std: float) -> Tensor:
    """Euler steps with the exact velocity from `noise` (t = 1) to t = 0: (S+1, B, 2)."""
    times = flow.time_grid(steps)
    xs = [noise]
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        v = flow_velocity(xs[-1], t, means, std)
        xs.append(flow.euler_step(xs[-1], v, t, t_next))
    return torch.stack(xs)


def ddim_path(noise: Tensor, steps: int, means: Tensor, std: float, schedule=None) -> Tensor:
    """Deterministic DDIM steps with the exact noise guess from `noise` (x_T) to x_0:
    (S+1, B, 2), on the cosine schedule of T = 1000 unless another is given."""
    schedule = schedule or diffusion.NoiseSchedule.cosine(1000)
    timesteps = diffusion.ddim_timesteps(schedule.T, steps)
    xs = [noise]
    for i, t in enumerate(timesteps):
        alpha_bar_t = schedule.alpha_bar[t].item()
        prev = 1.0 if i == len(timesteps) - 1 else schedule.alpha_bar[timesteps[i + 1]].item()
        eps = ddim_noise(xs[-1], alpha_bar_t, means, std)
        xs.append(diffusion.ddim_step(xs[-1], eps, alpha_bar_t, prev))
    return torch.stack(xs)


def step_errors(
    noise: Tensor, means: Tensor, std: float, counts=(1, 2, 4, 8, 16, 50), reference: int = 1000
) -> dict[str, list[float]]:
    """Mean distance of each sampler's end point after n steps from its own end point after
    `reference` steps (the exact ODE solution), for each n in counts."""
    out = {}
    for name, path in (("ddim", ddim_path), ("flow", flow_path)):
        exact = path(noise, reference, means, std)[-1]
        out[name] = [
            float((path(noise, n, means, std)[-1] - exact).norm(dim=1).mean()) for n in counts
        ]
    return out
