"""Diffusion maths as pure functions over tensors: noise schedules, the forward process,
DDPM and DDIM steps, and a sampling loop. Knows no model class: a model is any callable
`model(x_t, t, cond) -> eps`.

Notation (paper symbol -> code):
    beta_t                 betas[t]        noise added at step t
    alpha_t = 1 - beta_t   alphas[t]
    alpha_bar_t = prod_{s<=t} alpha_s      alpha_bar[t]   signal kept after t+1 steps
    x_0, x_t, eps          x0, x_t, eps    clean image, noisy image, standard Gaussian noise
    eps_theta(x_t, t)      eps             the model's guess of the noise
    beta_tilde_t           posterior_variance[t] = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t
    SNR(t)                 snr[t] = alpha_bar_t / (1 - alpha_bar_t)

Timesteps are 0-based, t = 0..T-1 (the papers count 1..T): alpha_bar[0] is the first,
nearly clean step and alpha_bar[T-1] is nearly pure noise; "alpha_bar_{-1}" = 1 means x_0.

References: Ho, Jain & Abbeel 2020 (DDPM); Song, Meng & Ermon 2021 (DDIM); Nichol &
Dhariwal 2021 (cosine schedule).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from course_lib import checks

NoisePredictor = Callable[[Tensor, Tensor, object], Tensor]  # model(x_t, t (B,), cond) -> eps


def alpha_bar_cosine(t: Tensor, s: float = 0.008) -> Tensor:
    """alpha_bar(t) for t in [0, 1]: f(t) / f(0), f(t) = cos^2(pi/2 (t + s) / (1 + s)).

    Nichol & Dhariwal 2021, eq. 17.
    """
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return f / math.cos(s / (1 + s) * math.pi / 2) ** 2


def _check_T(T: int) -> None:
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T (number of timesteps) must be a positive int, got {T!r}")


class NoiseSchedule:
    """A forward process: betas (T,), and everything derived from them.

    Build one with `NoiseSchedule.linear(T)` or `NoiseSchedule.cosine(T)`, or from any
    betas in (0, 1). The tensors are float64 on the CPU; methods move what they use to the
    device and dtype of their inputs.
    """

    def __init__(self, betas: Tensor, name: str = "custom"):
        if isinstance(betas, str):
            raise TypeError(
                f"NoiseSchedule({betas!r}) takes a tensor of betas; for a named schedule use "
                f"NoiseSchedule.{betas if betas in ('linear', 'cosine') else 'linear'}(T)"
            )
        if not isinstance(betas, Tensor | list | tuple):
            raise TypeError(f"betas must be a 1-D tensor of length T, got {type(betas).__name__}")
        betas = torch.as_tensor(betas, dtype=torch.float64).cpu()
        if betas.ndim != 1 or len(betas) == 0:
            raise ValueError(f"betas must be a 1-D tensor of length T, got {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("every beta must be strictly between 0 and 1")
        self.name = name
        self.betas = betas  # (T,)
        self.alphas = 1.0 - betas  # (T,)
        self.alpha_bar = torch.cumprod(self.alphas, dim=0)  # (T,)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar[:-1]])
        self.alpha_bar_prev = alpha_bar_prev  # (T,), alpha_bar_{t-1}, 1 at t = 0
        self.posterior_variance = (1 - alpha_bar_prev) / (1 - self.alpha_bar) * betas  # (T,)
        self.snr = self.alpha_bar / (1 - self.alpha_bar)  # (T,)

    @classmethod
    def linear(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        """Betas rising linearly from beta_start to beta_end (Ho et al. 2020, section 4)."""
        _check_T(T)
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError(
                f"need 0 < beta_start <= beta_end < 1, got {beta_start} and {beta_end}"
            )
        return cls(torch.linspace(beta_start, beta_end, T, dtype=torch.float64), name="linear")

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008, max_beta: float = 0.999):
        """alpha_bar follows a squared cosine; betas = 1 - alpha_bar_t / alpha_bar_{t-1}, capped
        at max_beta so the last step is not a division by ~0 (Nichol & Dhariwal 2021, eq. 17)."""
        _check_T(T)
        steps = torch.arange(T + 1, dtype=torch.float64) / T  # 0, 1/T, ..., 1
        f = alpha_bar_cosine(steps, s)  # (T+1,), f[0] = 1
        betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)  # (T,)
        return cls(betas, name="cosine")

    @classmethod
    def from_spec(cls, spec: dict) -> NoiseSchedule:
        """The schedule a checkpoint records, e.g. {"kind": "cosine", "T": 1000} (the other
        keys are that kind's arguments): NoiseSchedule.from_spec(checkpoints.metadata(name)
        ["schedule"]) rebuilds the schedule the model was trained with."""
        if not isinstance(spec, dict) or "kind" not in spec:
            raise ValueError(
                f"a schedule spec is a dict with a 'kind' ('linear' or 'cosine') and its "
                f"arguments, e.g. {{'kind': 'cosine', 'T': 1000}}; got {spec!r}"
            )
        builders = {"linear": cls.linear, "cosine": cls.cosine}
        options = {k: v for k, v in spec.items() if k != "kind"}
        if spec["kind"] not in builders:
            raise ValueError(f"unknown schedule kind {spec['kind']!r}; pass 'linear' or 'cosine'")
        return builders[spec["kind"]](**options)

    @property
    def T(self) -> int:
        return len(self.betas)

    def __repr__(self) -> str:
        return f"NoiseSchedule.{self.name}(T={self.T})"

    def check_t(self, t: int | Tensor) -> None:
        """Raise a ValueError unless every t is an integer in 0..T-1."""
        if isinstance(t, Tensor):
            if t.dtype.is_floating_point or t.dtype == torch.bool:
                raise TypeError(f"t must hold integers, got a {t.dtype} tensor")
            bad = t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.T)
        elif isinstance(t, int) and not isinstance(t, bool):
            bad = not 0 <= t < self.T
        else:
            raise TypeError(f"t must be an int or an integer tensor, got {type(t).__name__}")
        if bad:
            raise ValueError(f"timestep t out of range: must be in 0..{self.T - 1}, got {t}")

    def at(self, values: Tensor, t: int | Tensor, x: Tensor) -> Tensor:
        """values[t] shaped to broadcast against x: a scalar, or (B, 1, 1, 1) per image."""
        self.check_t(t)
        if isinstance(t, Tensor) and t.ndim > 0:
            if t.shape != (len(x),):
                raise ValueError(
                    f"t must be an int or a (B,) tensor with B={len(x)}, got {t.shape}"
                )
            picked = values[t.cpu()].reshape(-1, *([1] * (x.ndim - 1)))  # (B, 1, 1, 1)
        else:
            picked = values[int(t)]
        return picked.to(device=x.device, dtype=x.dtype)

    def q_sample(self, x0: Tensor, t: int | Tensor, noise: Tensor) -> Tensor:
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps: q(x_t | x_0) in one shot
        (Ho et al. 2020, eq. 4). t: an int, or a (B,) tensor of one timestep per image."""
        _images(x0=x0, noise=noise)
        alpha_bar_t = self.at(self.alpha_bar, t, x0)
        return alpha_bar_t.sqrt() * x0 + (1 - alpha_bar_t).sqrt() * noise


def _images(**tensors: Tensor) -> None:
    """Float tensors of one shape: integer images would cast the schedule's constants to
    integers (sqrt(alpha_bar) -> 0) and give a silently wrong answer."""
    checks.same_shape(**tensors)
    for name, value in tensors.items():
        checks.floating(value, name)


def _adds_noise(std: Tensor, noise: Tensor | None, x_t: Tensor, step: str) -> bool:
    """Whether a reverse step with noise level `std` adds noise; if it does, `noise` must be
    given, a float tensor shaped like x_t. `step` names the step in the error."""
    if not bool((std > 0).any()):
        return False
    if noise is None:
        raise ValueError(f"{step} adds noise: pass noise=torch.randn(x_t.shape, generator=g)")
    _images(x_t=x_t, noise=noise)
    return True


def predict_x0(x_t: Tensor, eps: Tensor, alpha_bar_t: Tensor | float) -> Tensor:
    """The clean image a noise guess implies:
    x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
    alpha_bar_t = torch.as_tensor(alpha_bar_t, dtype=x_t.dtype, device=x_t.device)
    return (x_t - (1 - alpha_bar_t).sqrt() * eps) / alpha_bar_t.sqrt()


def eps_from_x0(x_t: Tensor, x0: Tensor, alpha_bar_t: Tensor | float) -> Tensor:
    """The noise that turns x_0 into x_t:
    eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t)."""
    alpha_bar_t = torch.as_tensor(alpha_bar_t, dtype=x_t.dtype, device=x_t.device)
    return (x_t - alpha_bar_t.sqrt() * x0) / (1 - alpha_bar_t).sqrt()


def ddpm_step(
    schedule: NoiseSchedule, x_t: Tensor, eps: Tensor, t: int | Tensor, noise: Tensor | None = None
) -> Tensor:
    """One reverse step x_t -> x_{t-1} (Ho et al. 2020, Algorithm 2):

        x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) + sqrt(beta_tilde_t) z

    noise z ~ N(0, I) is needed for t > 0 (pass torch.randn(x_t.shape, generator=g)); at
    t = 0 the variance is 0 and noise is ignored.
    """
    _images(x_t=x_t, eps=eps)
    # 1. the coefficients at t
    alpha_t = schedule.at(schedule.alphas, t, x_t)
    beta_t = schedule.at(schedule.betas, t, x_t)
    alpha_bar_t = schedule.at(schedule.alpha_bar, t, x_t)
    variance = schedule.at(schedule.posterior_variance, t, x_t)  # beta_tilde_t, 0 at t = 0
    # 2. the posterior mean, written with the noise guess
    mean = (x_t - beta_t / (1 - alpha_bar_t).sqrt() * eps) / alpha_t.sqrt()
    # 3. add noise with the posterior variance
    if not _adds_noise(variance, noise, x_t, f"ddpm_step at t={t}"):
        return mean
    return mean + variance.sqrt() * noise


def ddim_sigma(alpha_bar_t: Tensor, alpha_bar_prev: Tensor, eta: float) -> Tensor:
    """The noise level of a DDIM step (Song et al. 2021, eq. 16):

        sigma = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t))
                    sqrt(1 - alpha_bar_t / alpha_bar_prev)

    eta = 1 gives the DDPM posterior's standard deviation, eta = 0 none.
    """
    return (
        eta
        * ((1 - alpha_bar_prev) / (1 - alpha_bar_t)).sqrt()
        * (1 - alpha_bar_t / alpha_bar_prev).sqrt()
    )


def ddim_step(
    x_t: Tensor,
    eps: Tensor,
    alpha_bar_t: Tensor | float,
    alpha_bar_prev: Tensor | float,
    eta: float = 0.0,
    noise: Tensor | None = None,
) -> Tensor:
    """One DDIM step from alpha_bar_t to alpha_bar_prev, which may skip many timesteps
    (Song et al. 2021, eq. 12):

        x_prev = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev - sigma^2) eps + sigma z

    eta = 0: deterministic (no noise needed); eta = 1: DDPM's variance. alpha_bar_prev = 1
    is the last step, to the clean image.
    """
    _images(x_t=x_t, eps=eps)
    checks.number(eta, "eta", minimum=0, hint="0 = deterministic DDIM, 1 = DDPM")
    alpha_bar_t = torch.as_tensor(alpha_bar_t, dtype=x_t.dtype, device=x_t.device)
    alpha_bar_prev = torch.as_tensor(alpha_bar_prev, dtype=x_t.dtype, device=x_t.device)
    if not bool(((alpha_bar_t > 0) & (alpha_bar_t < 1)).all()):
        raise ValueError("alpha_bar_t must be strictly between 0 and 1")
    if not bool(((alpha_bar_prev >= alpha_bar_t) & (alpha_bar_prev <= 1)).all()):
        raise ValueError(
            "alpha_bar_prev must lie between alpha_bar_t and 1: a reverse step removes noise"
        )
    # 1. the clean image the noise guess implies
    x0_hat = predict_x0(x_t, eps, alpha_bar_t)
    # 2. how much fresh noise this step adds
    sigma = ddim_sigma(alpha_bar_t, alpha_bar_prev, eta)
    # 3. point back towards x_t along the predicted noise, with what variance is left
    direction = (1 - alpha_bar_prev - sigma**2).clamp(min=0).sqrt() * eps
    x_prev = alpha_bar_prev.sqrt() * x0_hat + direction
    if not _adds_noise(sigma, noise, x_t, f"ddim_step with eta={eta}"):
        return x_prev
    return x_prev + sigma * noise


def ddim_timesteps(T: int, steps: int, start: int | None = None) -> list[int]:
    """`steps` timesteps spread evenly over start .. 0 (default start = T-1), descending,
    e.g. T=1000, steps=4: [999, 666, 333, 0]. A later start is SDEdit's partial denoising."""
    _check_T(T)
    start = T - 1 if start is None else start
    if not isinstance(start, int) or isinstance(start, bool) or not 0 <= start < T:
        raise ValueError(f"start must be a timestep in 0..{T - 1}, got {start!r}")
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= start + 1:
        raise ValueError(f"steps must be an int between 1 and {start + 1}, got {steps!r}")
    if steps == 1:
        return [start]
    return [round(start * (1 - i / (steps - 1))) for i in range(steps)]


@dataclass
class Trajectory:
    """A stored reverse process. xs: (S+1, B, C, H, W), x_T first and the sample last;
    x0s: (S, B, C, H, W), the predicted clean image at each step; timesteps: the S values of t."""

    xs: Tensor
    x0s: Tensor
    timesteps: list[int]

    @property
    def images(self) -> Tensor:
        return self.xs[-1]


def cfg(eps_uncond: Tensor, eps_cond: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance: eps_uncond + scale (eps_cond - eps_uncond).

    scale 0: the unconditional guess; 1: the conditional guess; > 1: pushed further away
    from "any digit" towards "this digit" (Ho & Salimans 2022, eq. 6, with w = scale - 1).
    """
    _images(eps_uncond=eps_uncond, eps_cond=eps_cond)
    checks.number(scale, "scale", hint="the guidance scale, e.g. 3.0")
    return eps_uncond + scale * (eps_cond - eps_uncond)


# The guidance scales w that notebooks, widgets and the benchmark sweep.
GUIDANCE_SCALES = (0.0, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0)


def drop_condition(
    cond: Tensor, p: float, null: Tensor | int, generator: torch.Generator | None = None
) -> Tensor:
    """Condition dropout, the training half of classifier-free guidance: each row of `cond`
    (B, ...) becomes `null` with probability p, so one network learns both the conditional
    and the unconditional guess (Ho & Salimans 2022, Algorithm 1, p_uncond).

    null: the "no condition" value, a scalar (e.g. the "no label" index) or a tensor that
    broadcasts against one row or the whole batch (e.g. the empty prompt's token ids).
    One uniform draw per row from `generator`, on the CPU.
    """
    if not isinstance(cond, Tensor) or cond.ndim == 0:
        raise TypeError("cond must be a tensor with one row per example, (B, ...)")
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise ValueError(f"condition dropout p must be a number in [0, 1] (e.g. 0.15), got {p!r}")
    drop = torch.rand(len(cond), generator=generator) < p  # (B,) bool
    drop = drop.to(cond.device).reshape(-1, *([1] * (cond.ndim - 1)))  # (B, 1, ...)
    null = torch.as_tensor(null, dtype=cond.dtype, device=cond.device)
    if null.ndim == cond.ndim:
        null = null[: len(cond)]  # a batch of null rows, at least B of them
    return torch.where(drop, null, cond)


def check_guidance_scale(guidance_scale) -> None:
    """Raise unless guidance_scale is None or a real number >= 0."""
    hint = "0 = unconditional, 1 = conditional, > 1 = guided, e.g. 3.0"
    checks.number(guidance_scale, "guidance_scale", minimum=0, allow_none=True, hint=hint)


def predict_noise(
    model: NoisePredictor,
    x: Tensor,
    t: int,
    cond=None,
    guidance_scale: float | None = None,
    null_cond=None,
) -> Tensor:
    """The model's noise guess for a batch at one timestep: model(x, t (B,), cond).

    The one place the sampler calls the model. With guidance_scale set (and cond given), the
    guess is cfg(eps_uncond, eps_cond, guidance_scale), where eps_uncond is the model's guess
    with `null_cond` (the "no label" condition). Both guesses come from ONE forward pass on
    the batch doubled: [x, x] with [null_cond, cond]. Scale 1 needs only the conditional
    pass and scale 0 only the unconditional one, so those run a single batch.
    """
    t_batch = torch.full((len(x),), t, device=x.device, dtype=torch.long)  # (B,)
    return guided(model, x, t_batch, cond, guidance_scale, null_cond)


def guided(model, x: Tensor, t_batch: Tensor, cond=None, guidance_scale=None, null_cond=None):
    """model(x, t_batch, cond), combined with the `null_cond` output by `cfg` when
    guidance_scale is set: the body of `predict_noise`, for any per-image time t_batch (B,)
    (integer diffusion timesteps, or flow times in [0, 1]) and any output (noise, velocity)."""
    if guidance_scale is None or cond is None:
        return model(x, t_batch, cond)
    if null_cond is None:
        raise ValueError(
            "guided sampling needs the 'no label' condition: pass null_cond, e.g. "
            "torch.full_like(labels, num_classes)"
        )
    if guidance_scale == 1:
        return model(x, t_batch, cond)  # cfg(e_u, e_c, 1) = e_c: skip the unconditional pass
    if guidance_scale == 0:
        return model(x, t_batch, null_cond)  # cfg(e_u, e_c, 0) = e_u
    both = model(
        torch.cat([x, x]), torch.cat([t_batch, t_batch]), torch.cat([null_cond, cond])
    )  # (2B, C, H, W): the first B guesses are unconditional, the next B conditional
    eps_uncond, eps_cond = both.chunk(2)
    return cfg(eps_uncond, eps_cond, guidance_scale)


def sampling_timesteps(
    schedule: NoiseSchedule, sampler: str, steps: int | None, t_start: int | None = None
) -> list[int]:
    """The timesteps a sampler visits, descending from t_start (default T-1): DDPM every
    one of them, DDIM `steps` of them."""
    if sampler not in ("ddpm", "ddim"):
        raise ValueError(f"unknown sampler {sampler!r}; pass 'ddpm' or 'ddim'")
    start = schedule.T - 1 if t_start is None else t_start
    if sampler == "ddim":
        return ddim_timesteps(schedule.T, start + 1 if steps is None else steps, start)
    if steps not in (None, schedule.T, start + 1):
        raise ValueError(
            f"DDPM takes every one of the T={schedule.T} steps; for {steps} steps use "
            "sampler='ddim' (eta=1 gives DDPM's noise)"
        )
    return list(range(start, -1, -1))


def _check_sampling(
    shape: tuple[int, ...], cond, guidance_scale, null_cond, generator, x0_range, eta=0.0
) -> None:
    """What every sampling loop (DDPM/DDIM here, Euler in `flow`) checks before it starts."""
    checks.number(eta, "eta", minimum=0)
    checks.generator(generator)
    checks.number(x0_range, "x0_range", above=0, allow_none=True, hint="None = no clamp")
    check_guidance_scale(guidance_scale)
    if guidance_scale is not None and cond is None:
        raise ValueError("guidance_scale needs a condition to guide towards: pass cond=labels")
    for name, c in (("cond", cond), ("null_cond", null_cond)):
        if isinstance(c, Tensor) and len(c) != shape[0]:
            raise ValueError(
                f"{name} holds {len(c)} conditions but the batch has {shape[0]} images; "
                "pass one label per image"
            )


def _reverse_step(schedule, sampler: str, x, eps, t: int, t_next: int | None, eta, randn):
    """One step of `sample`'s loop from t to t_next (None: the last step, to x_0)."""
    if sampler == "ddpm":
        return ddpm_step(schedule, x, eps, t, noise=None if t == 0 else randn())
    alpha_bar_t = schedule.alpha_bar[t].item()
    alpha_bar_prev = 1.0 if t_next is None else schedule.alpha_bar[t_next].item()
    noise = randn() if eta > 0 and t_next is not None else None
    return ddim_step(x, eps, alpha_bar_t, alpha_bar_prev, eta, noise)


@torch.no_grad()
def sample(
    model: NoisePredictor,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    sampler: str = "ddim",
    steps: int | None = 50,
    eta: float = 0.0,
    cond=None,
    guidance_scale: float | None = None,
    null_cond=None,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    clip_x0: bool = True,
    x0_range: float = 1.0,
    return_trajectory: bool = False,
    progress: bool = True,
    callback: Callable[[int, int], None] | None = None,
    init: Tensor | None = None,
    t_start: int | None = None,
) -> Tensor | Trajectory:
    """Run the reverse process from pure noise x_T ~ N(0, I) of `shape` (B, C, H, W), or
    (SDEdit, Meng et al. 2022) from a clean `init` (B, C, H, W) noised to t_start by q_sample.
    sampler="ddpm": every step, `ddpm_step`; "ddim": `steps` of them, `ddim_step` with `eta`.
    clip_x0 keeps each predicted clean image, and the final sample, in [-x0_range, x0_range]
    (the noise guess is recomputed from it): cleaner backgrounds, no blow-up when alpha_bar
    is near 0; pixels use 1, latents the training latents' range. Noise: from `generator`.
    callback(i, n) is called after step i of n. cond: the condition (e.g. (B,) labels); with
    guidance_scale (>= 0) each step is guided against `null_cond` (see `predict_noise`).
    Returns the samples (B, C, H, W), or a `Trajectory` with every x_t and predicted x_0."""
    timesteps = sampling_timesteps(schedule, sampler, steps, t_start)
    _check_sampling(shape, cond, guidance_scale, null_cond, generator, x0_range, eta)

    def randn() -> Tensor:
        return torch.randn(shape, generator=generator).to(device)

    x = randn()  # x_T, (B, C, H, W)
    if init is not None:  # SDEdit: x_{t_start} = sqrt(alpha_bar) init + sqrt(1 - alpha_bar) eps
        x = schedule.q_sample(init.to(device, x.dtype), timesteps[0], x)
    xs, x0s = [x.cpu()], []
    for i, t in enumerate(tqdm(timesteps, desc=sampler, disable=not progress, leave=False)):
        eps = predict_noise(model, x, t, cond, guidance_scale, null_cond)
        alpha_bar_t = schedule.alpha_bar[t].item()
        x0 = predict_x0(x, eps, alpha_bar_t)
        if clip_x0:
            x0 = x0.clamp(-x0_range, x0_range)
            eps = eps_from_x0(x, x0, alpha_bar_t)
        t_next = timesteps[i + 1] if i + 1 < len(timesteps) else None
        x = _reverse_step(schedule, sampler, x, eps, t, t_next, eta, randn)
        if return_trajectory:
            xs.append(x.cpu())
            x0s.append(x0.cpu())
        if callback is not None:
            callback(i + 1, len(timesteps))
    x = x.clamp(-x0_range, x0_range) if clip_x0 else x
    if not return_trajectory:
        return x
    return Trajectory(
        xs=torch.stack([*xs[:-1], x.cpu()]), x0s=torch.stack(x0s), timesteps=timesteps
    )


def diffusion_loss(
    model: NoisePredictor,
    schedule: NoiseSchedule,
    x0: Tensor,
    cond=None,
    generator: torch.Generator | None = None,
    min_snr_gamma: float | None = None,
) -> Tensor:
    """The simple loss ||eps - eps_theta(x_t, t)||^2, a random t per image (Ho et al. eq. 14).

    min_snr_gamma: weight each image by min(SNR(t), gamma) / SNR(t), so the many nearly clean
    timesteps count less (Hang et al. 2023, "Min-SNR"); None keeps the simple loss.
    """
    t = torch.randint(0, schedule.T, (len(x0),), generator=generator).to(x0.device)  # (B,)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    x_t = schedule.q_sample(x0, t, noise)
    error = (model(x_t, t, cond) - noise) ** 2  # (B, C, H, W)
    if min_snr_gamma is None:
        return error.mean()
    snr = schedule.snr[t.cpu()].to(x0.device, x0.dtype)  # (B,)
    weight = snr.clamp(max=min_snr_gamma) / snr  # (B,), 1 for noisy images, < 1 for clean ones
    return (weight * error.flatten(1).mean(1)).mean()


@torch.no_grad()
def x0_errors(
    model: NoisePredictor,
    schedule: NoiseSchedule,
    x0: Tensor,
    timesteps: list[int] | tuple[int, ...],
    cond=None,
    generator: torch.Generator | None = None,
    x0_range: float | None = 1.0,
) -> list[float]:
    """How far the model's clean-image guess is from the truth at each t: the mean squared
    error of predict_x0(q_sample(x0, t, eps), eps_theta), clamped to [-x0_range, x0_range]
    as `sample` clamps it (None: unclamped), against x0; one number per t.

    x0 (B, C, H, W) in model space; one noise draw per t from `generator`, on the CPU."""
    errors = []
    for t in timesteps:
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        x_t = schedule.q_sample(x0, t, noise)
        t_batch = torch.full((len(x0),), t, device=x0.device, dtype=torch.long)  # (B,)
        x0_hat = predict_x0(x_t, model(x_t, t_batch, cond), schedule.alpha_bar[t].item())
        if x0_range is not None:
            x0_hat = x0_hat.clamp(-x0_range, x0_range)
        errors.append(((x0_hat - x0) ** 2).mean().item())
    return errors
