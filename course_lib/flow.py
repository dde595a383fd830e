"""Flow matching with straight paths (rectified flow) as pure functions over tensors: the
interpolation, the velocity target, an Euler step, a time grid, the loss and a sampling loop.
The sibling of `diffusion.py`; a model is any callable `model(x_t, t, cond) -> v` with t a
(B,) float tensor in [0, 1].

Notation (paper symbol -> code):
    x_0                     x0        a clean image (or latent), the data end, t = 0
    eps ~ N(0, I)           noise     the noise end, t = 1
    x_t = (1 - t) x_0 + t eps         interpolate(x0, noise, t)   a straight line per pair
    v = dx_t / dt = eps - x_0         velocity_target(x0, noise)  the same along the line
    v_theta(x_t, t)         v         the model's guess of the velocity: E[eps - x_0 | x_t]
    x_{t'} = x_t + (t' - t) v         euler_step(x_t, v, t, t_next), t' < t while sampling

Time runs the other way round from DDPM's t = 0..T-1: here t is a real number, 1 is pure
noise and 0 the data, and sampling integrates dx/dt = v from t = 1 down to t = 0.

References: Lipman, Chen, Ben-Hamu, Nickel & Le 2023 ("Flow Matching for Generative
Modeling"); Liu, Gong & Liu 2023 ("Flow Straight and Fast", rectified flow); Esser et al.
2024 (Stable Diffusion 3: rectified flow with logit-normal t sampling).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from course_lib import checks, diffusion

VelocityPredictor = Callable[[Tensor, Tensor, object], Tensor]  # model(x_t, t (B,), cond) -> v
T_SAMPLING = ("uniform", "logit_normal")


def _per_image(t: Tensor | float, x: Tensor) -> Tensor:
    """t in [0, 1], a number or (B,) -> a tensor that broadcasts against x: () or (B, 1, 1, 1)."""
    if not isinstance(t, Tensor):
        checks.number(t, "t", minimum=0, maximum=1, hint="1 = noise, 0 = data")
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if t.ndim and t.shape != (len(x),):
        raise ValueError(f"t must be a number or a (B,) tensor with B={len(x)}, got {t.shape}")
    if t.numel() and not (0 <= float(t.min()) and float(t.max()) <= 1):  # nan fails both
        raise ValueError(f"t must lie in [0, 1] (1 = noise, 0 = data), got {t}")
    if t.ndim == 0:
        return t
    return t.reshape(-1, *([1] * (x.ndim - 1)))  # (B, 1, 1, 1)


def interpolate(x0: Tensor, noise: Tensor, t: Tensor | float) -> Tensor:
    """x_t = (1 - t) x_0 + t eps: the straight line from data (t = 0) to noise (t = 1).

    Liu et al. 2023, eq. 1; Lipman et al. 2023 with sigma_min = 0. t: a number or (B,).
    """
    diffusion._images(x0=x0, noise=noise)
    t = _per_image(t, x0)
    return (1 - t) * x0 + t * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """v = d x_t / dt = eps - x_0: what the network learns to predict (Liu et al. 2023, eq. 1)."""
    diffusion._images(x0=x0, noise=noise)
    return noise - x0


def euler_step(x_t: Tensor, v: Tensor, t: Tensor | float, t_next: Tensor | float) -> Tensor:
    """One Euler step of dx/dt = v from t to t_next: x_{t_next} = x_t + (t_next - t) v.

    While sampling t_next < t, so the step walks against the velocity, towards the data.
    """
    diffusion._images(x_t=x_t, v=v)
    return x_t + (_per_image(t_next, x_t) - _per_image(t, x_t)) * v


def predict_x0(x_t: Tensor, v: Tensor, t: Tensor | float) -> Tensor:
    """The clean end of the line a velocity guess points along: x_0 = x_t - t v."""
    diffusion._images(x_t=x_t, v=v)
    return x_t - _per_image(t, x_t) * v


def time_grid(steps: int, shift: float = 1.0) -> list[float]:
    """steps + 1 times from 1 (noise) down to 0 (data), e.g. steps=4: [1, .75, .5, .25, 0].

    shift > 1 spends more steps near the noise end, t -> shift t / (1 + (shift - 1) t)
    (Esser et al. 2024, eq. 23; SD3 uses shift 3 at 1024 px).
    """
    checks.positive_int(steps, "steps")
    checks.number(shift, "shift", above=0, hint="1 = even steps")
    grid = torch.linspace(1, 0, steps + 1, dtype=torch.float64)
    grid = shift * grid / (1 + (shift - 1) * grid)
    return [float(t) for t in grid]


def sample_t(
    batch: int, kind: str = "logit_normal", generator: torch.Generator | None = None
) -> Tensor:
    """Training times t (B,) in (0, 1): "uniform", or "logit_normal" (t = sigmoid(n),
    n ~ N(0, 1): more weight on the middle times, the hard ones; Esser et al. 2024, eq. 19)."""
    checks.positive_int(batch, "batch")
    checks.generator(generator)
    if kind not in T_SAMPLING:
        raise ValueError(f"unknown t sampling {kind!r}; pass one of {T_SAMPLING}")
    if kind == "uniform":
        return torch.rand(batch, generator=generator)
    return torch.sigmoid(torch.randn(batch, generator=generator))


def flow_loss(
    model: VelocityPredictor,
    x0: Tensor,
    cond=None,
    generator: torch.Generator | None = None,
    t_sampling: str = "logit_normal",
) -> Tensor:
    """The conditional flow matching loss ||v_theta(x_t, t) - (eps - x_0)||^2, one random t
    and one noise draw per image (Lipman et al. 2023, eq. 23; Liu et al. 2023, eq. 1)."""
    t = sample_t(len(x0), t_sampling, generator).to(x0.device, x0.dtype)  # (B,)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    x_t = interpolate(x0, noise, t)
    return ((model(x_t, t, cond) - velocity_target(x0, noise)) ** 2).mean()


def predict_velocity(
    model: VelocityPredictor, x: Tensor, t: float, cond=None, guidance_scale=None, null_cond=None
) -> Tensor:
    """The model's velocity at time t for a batch, guided like the noise guess:
    cfg(v_uncond, v_cond, scale), in one doubled pass (see `diffusion.predict_noise`)."""
    t_batch = torch.full((len(x),), float(t), device=x.device, dtype=x.dtype)  # (B,)
    return diffusion.guided(model, x, t_batch, cond, guidance_scale, null_cond)


@torch.no_grad()
def sample(
    model: VelocityPredictor,
    shape: tuple[int, ...],
    *,
    steps: int = 50,
    shift: float = 1.0,
    cond=None,
    guidance_scale: float | None = None,
    null_cond=None,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    x0_range: float | None = None,
    return_trajectory: bool = False,
    progress: bool = True,
    callback: Callable[[int, int], None] | None = None,
) -> Tensor | diffusion.Trajectory:
    """Euler steps on dx/dt = v_theta from noise x_1 ~ N(0, I) of `shape` (t = 1) to t = 0.

    cond / guidance_scale / null_cond: classifier-free guidance on the velocities, as in
    `diffusion.sample`. x0_range: keep each predicted x_0 in [-x0_range, x0_range] (the
    velocity is recomputed from it), None = no clamp. Noise comes from `generator` on the CPU.
    Returns the samples, or a `diffusion.Trajectory` (its timesteps are the float times).
    """
    diffusion._check_sampling(shape, cond, guidance_scale, null_cond, generator, x0_range)
    times = time_grid(steps, shift)
    x = torch.randn(shape, generator=generator).to(device)  # x_1, (B, C, H, W)
    xs, x0s = [x.cpu()], []
    for i in tqdm(range(steps), desc="euler", disable=not progress, leave=False):
        t, t_next = times[i], times[i + 1]
        v = predict_velocity(model, x, t, cond, guidance_scale, null_cond)
        x0 = predict_x0(x, v, t)
        if x0_range is not None and t > 0:
            x0 = x0.clamp(-x0_range, x0_range)
            v = (x - x0) / t  # the velocity that points at the clamped x_0
        x = euler_step(x, v, t, t_next)
        if return_trajectory:
            xs.append(x.cpu())
            x0s.append(x0.cpu())
        if callback is not None:
            callback(i + 1, steps)
    if not return_trajectory:
        return x
    return diffusion.Trajectory(xs=torch.stack(xs), x0s=torch.stack(x0s), timesteps=times[:-1])


def path_straightness(path: Tensor) -> Tensor:
    """Path length / endpoint distance of each path (S+1, B, ...) -> (B,): 1 for a straight
    line, larger the more it bends (Liu et al. 2023 measure straightness similarly)."""
    if not isinstance(path, Tensor) or path.ndim < 2 or len(path) < 2:
        raise ValueError("path must be a (S+1, B, ...) tensor of at least two points")
    flat = path.flatten(2).double()  # (S+1, B, D)
    length = (flat[1:] - flat[:-1]).norm(dim=-1).sum(0)  # (B,)
    chord = (flat[-1] - flat[0]).norm(dim=-1)  # (B,)
    return length / chord.clamp_min(1e-12)
