"""Ready-to-call generators: a shipped model + its noise schedule + a sampler.

    pipe = pipelines.load("ddpm-digits")
    images = pipe(16, steps=50, seed=0)     # (16, 1, 28, 28) float in [0, 1], on the CPU

`pipe(what, guidance_scale=..., steps=50, seed=0, return_trajectory=False)`: `what` is a
number of images for an unconditional model.
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib import checkpoints, diffusion

PIPELINES = ("ddpm-digits",)


def to_unit(images: Tensor) -> Tensor:
    """Model space [-1, 1] -> picture space [0, 1]: (x + 1) / 2, not clamped."""
    return (images + 1) / 2


class DiffusionPipeline:
    """An unconditional pixel-space denoiser and the schedule it was trained with."""

    def __init__(self, model, schedule: diffusion.NoiseSchedule, name: str = "custom"):
        self.model = model.eval()
        self.schedule = schedule
        self.name = name

    def __repr__(self) -> str:
        c = self.model.config
        size = f"{c.channels}x{c.image_size}x{c.image_size}"
        return f"DiffusionPipeline({self.name!r}, {size}, {self.schedule})"

    def noise_predictor(self, x: Tensor, t: Tensor, cond=None) -> Tensor:
        """model(x_t, t, cond) -> eps, on the model's device and in its memory layout."""
        return self.model(x, t, cond)

    def __call__(
        self,
        what: int,
        guidance_scale: float | None = None,
        steps: int | None = 50,
        seed: int = 0,
        return_trajectory: bool = False,
        *,
        sampler: str = "ddim",
        eta: float = 0.0,
        progress: bool = False,
        callback=None,
    ) -> Tensor | tuple[Tensor, diffusion.Trajectory]:
        """`what` new images (B, C, H, W) in [0, 1] on the CPU; with return_trajectory also the
        `Trajectory` (every x_t and predicted x_0, mapped to [0, 1] the same way).

        sampler="ddim" with `steps` and `eta`, or sampler="ddpm" (all T steps, steps=None).
        """
        if isinstance(what, bool) or not isinstance(what, int) or what < 1:
            raise ValueError(
                f"{self.name} is unconditional: pass the number of images to make, e.g. "
                f"pipe(16), got {what!r}"
            )
        if guidance_scale is not None:
            raise ValueError(
                f"{self.name} is unconditional, so there is nothing to guide towards; leave "
                "guidance_scale=None (class labels and guidance come with 'cfg-digits')"
            )
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        c = self.model.config
        device = next(self.model.parameters()).device
        out = diffusion.sample(
            self.noise_predictor,
            self.schedule,
            (what, c.channels, c.image_size, c.image_size),
            sampler=sampler,
            steps=None if sampler == "ddpm" else steps,
            eta=eta,
            generator=torch.Generator().manual_seed(seed),
            device=device,
            return_trajectory=return_trajectory,
            progress=progress,
            callback=callback,
        )
        if not return_trajectory:
            return to_unit(out).clamp(0, 1).cpu()
        trajectory = diffusion.Trajectory(
            xs=to_unit(out.xs), x0s=to_unit(out.x0s), timesteps=out.timesteps
        )
        return trajectory.images.clamp(0, 1), trajectory


def schedule_of(name: str) -> diffusion.NoiseSchedule:
    """The noise schedule shipped checkpoint NAME was trained with (from its metadata)."""
    spec = checkpoints.metadata(name)["schedule"]
    kind, T = spec["kind"], spec["T"]
    return getattr(diffusion.NoiseSchedule, kind)(T)


def load(name: str, device: str | torch.device = "cpu") -> DiffusionPipeline:
    """A ready pipeline for a shipped checkpoint: "ddpm-digits"."""
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; available: {', '.join(PIPELINES)}")
    model = checkpoints.load_pretrained(name, device=device)
    return DiffusionPipeline(model, schedule_of(name), name=name)
