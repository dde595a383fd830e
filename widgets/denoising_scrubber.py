"""DenoisingScrubber: step through one stored reverse process, noise to digits.

Top row: x_t at the chosen step; bottom row: the clean image the model predicts from it
(x0_hat). A trajectory is sampled once per (seed, sampler, steps) and cached; the step
slider only indexes it and swaps JPEG bytes. Changing the sampler or the number of steps
samples a new trajectory, with a progress bar.
"""

from __future__ import annotations

import ipywidgets as ipw
import numpy as np
import torch

from course_lib import diffusion
from widgets import frames

SAMPLERS = {  # label -> keyword arguments for the pipeline
    "DDIM, eta=0": {"sampler": "ddim", "eta": 0.0},
    "DDIM, eta=1": {"sampler": "ddim", "eta": 1.0},
    "DDPM (all T steps)": {"sampler": "ddpm"},
}


def to_model_space(images: torch.Tensor) -> torch.Tensor:
    """Pipeline trajectories are in [0, 1]; frames.to_pixels wants [-1, 1]."""
    return images * 2 - 1


def trajectory_frame(trajectory: diffusion.Trajectory, step: int, scale: int) -> np.ndarray:
    """Frame `step` (0 = pure noise, S = the samples) as uint8 (2 rows of B images, enlarged).

    Top: x_t after `step` steps; bottom: the x0 prediction the model made at that point
    (at the end, the last prediction).
    """
    n = len(trajectory.timesteps)
    if not 0 <= step <= n:
        raise ValueError(f"step must be in 0..{n}, got {step}")
    xs = to_model_space(trajectory.xs[step])  # (B, C, H, W)
    x0s = to_model_space(trajectory.x0s[min(step, n - 1)])  # (B, C, H, W)
    gap = 4 * scale // 4 + 2

    def row(batch: torch.Tensor) -> np.ndarray:
        tiles = [frames.upscale(frames.as_rgb(frames.to_pixels(x)), scale) for x in batch]
        spacer = np.full((tiles[0].shape[0], gap, 3), 255, dtype=np.uint8)
        parts = [p for tile in tiles for p in (tile, spacer)][:-1]
        return np.concatenate(parts, axis=1)

    top, bottom = row(xs), row(x0s)
    divider = np.full((gap * 2, top.shape[1], 3), 255, dtype=np.uint8)
    return np.concatenate([top, divider, bottom], axis=0)


class DenoisingScrubber(ipw.VBox):
    """A step slider with Play over a stored reverse trajectory: x_t above, predicted x_0 below.

    pipe: a `course_lib.pipelines.DiffusionPipeline`; seeds: the seeds to choose from; each
    trajectory makes `images` samples at once.
    """

    def __init__(self, pipe, seeds=(0, 1, 2), images: int = 4, steps: int = 50, scale: int = 4):
        if not seeds:
            raise ValueError("pass at least one seed, e.g. seeds=(0, 1, 2)")
        if not isinstance(images, int) or not 1 <= images <= 16:
            raise ValueError(f"images must be an int from 1 to 16, got {images!r}")
        self.pipe, self.images, self.scale = pipe, images, scale
        self._trajectories: dict[tuple, diffusion.Trajectory] = {}
        self._cache: dict[tuple, bytes] = {}
        self.frame = frames.new_frame("jpeg")
        self.status = frames.new_status()
        self.progress = ipw.IntProgress(min=0, max=1, value=0, description="sampling")
        step = ipw.IntSlider(min=0, max=steps, value=0, description="step", continuous_update=True)
        play = ipw.Play(min=0, max=steps, step=1, interval=80, description="play")
        ipw.jslink((play, "value"), (step, "value"))
        ipw.jslink((play, "max"), (step, "max"))
        self.controls = {
            "step": step,
            "play": play,
            "seed": ipw.Dropdown(options=list(seeds), description="seed"),
            "sampler": ipw.Dropdown(options=list(SAMPLERS), description="sampler"),
            "steps": ipw.Dropdown(
                options=sorted({10, 20, 50, steps}), value=steps, description="steps"
            ),
        }
        c = self.controls
        frames.on_change(self.status, self._redraw, c["step"])
        frames.on_change(self.status, self._resample, c["seed"], c["sampler"], c["steps"])
        self._resample()
        super().__init__(
            [
                ipw.HBox([c["play"], c["step"]]),
                ipw.HBox([c["seed"], c["sampler"], c["steps"]]),
                self.frame,
                self.progress,
                self.status,
            ]
        )

    def key(self) -> tuple:
        c = self.controls
        sampler = c["sampler"].value
        steps = None if SAMPLERS[sampler]["sampler"] == "ddpm" else c["steps"].value
        return (c["seed"].value, sampler, steps)

    def trajectory(self, key: tuple | None = None) -> diffusion.Trajectory:
        """The stored trajectory for (seed, sampler, steps): sampled once, then cached."""
        key = key or self.key()
        if key not in self._trajectories:
            seed, sampler, steps = key

            def moved(i: int, n: int) -> None:
                self.progress.max, self.progress.value = n, i

            _, trajectory = self.pipe(
                self.images,
                num_inference_steps=steps,
                generator=torch.Generator().manual_seed(seed),
                return_trajectory=True,
                callback=moved,
                **SAMPLERS[sampler],
            )
            self._trajectories[key] = trajectory
        return self._trajectories[key]

    def _resample(self, _=None) -> None:
        n = len(self.trajectory().timesteps)
        step = self.controls["step"]
        at_end = step.value == step.max
        step.max = n  # the Play button follows through jslink
        step.value = n if at_end else min(step.value, n)
        self._redraw()

    def _redraw(self, _=None) -> None:
        key, step = self.key(), self.controls["step"].value
        trajectory = self.trajectory(key)
        if (key, step) not in self._cache:
            pixels = trajectory_frame(trajectory, step, self.scale)
            self._cache[(key, step)] = frames.encode(pixels, "jpeg")
        self.frame.value = self._cache[(key, step)]
        n = len(trajectory.timesteps)
        where = "pure noise x_T" if step == 0 else f"after step {step} of {n}"
        t = trajectory.timesteps[min(step, n - 1)]
        self.status.value = (
            f"{where} (model asked at t = {t}). Top: x_t. Bottom: the clean image the model "
            "predicts from it, x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."
        )

    def static(self, fractions=(0.0, 0.3, 0.6, 0.8, 0.9, 1.0)):
        """A matplotlib figure: x_t (top) and predicted x_0 (bottom) at a few steps."""
        import matplotlib.pyplot as plt

        trajectory = self.trajectory()
        n = len(trajectory.timesteps)
        steps = [round(f * n) for f in fractions]
        fig, axes = plt.subplots(2, len(steps), figsize=(1.9 * len(steps), 4))
        for col, step in enumerate(steps):
            x_t = trajectory.xs[step, 0, 0].clamp(0, 1).numpy()
            axes[0, col].imshow(x_t, cmap="gray", vmin=0, vmax=1)
            axes[0, col].set_title(f"step {step}/{n}", fontsize=9)
            x0 = trajectory.x0s[min(step, n - 1), 0, 0]
            axes[1, col].imshow(x0.clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            for ax in axes[:, col]:
                ax.axis("off")
        axes[0, 0].set_title(f"x_t, step 0/{n}", fontsize=9)
        axes[1, 0].set_title("predicted x_0", fontsize=9)
        fig.tight_layout()
        return fig

    @classmethod
    def demo(cls) -> DenoisingScrubber:
        """The shipped ddpm-digits pipeline, 4 samples per seed, DDIM with 50 steps."""
        from course_lib import pipelines

        return cls(pipelines.load("ddpm-digits"))
