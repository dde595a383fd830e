"""DenoisingScrubber: step through one stored reverse process, noise to digits.

Top row: x_t at the chosen step; bottom row: the clean image the model predicts from it
(x0_hat). A trajectory is sampled once per (seed, sampler, steps) and cached; the step
slider only indexes it and swaps JPEG bytes. Changing the sampler or the number of steps
samples a new trajectory, with a progress bar.
"""

from __future__ import annotations

import ipywidgets as ipw
import torch

from course_lib import diffusion
from widgets import frames
from widgets.base import Explorer, Move, check_count, check_scale, check_seeds, play_for

SAMPLERS = {  # label -> keyword arguments for the pipeline
    "DDIM, eta=0": {"sampler": "ddim", "eta": 0.0},
    "DDIM, eta=1": {"sampler": "ddim", "eta": 1.0},
    "DDPM (all T steps)": {"sampler": "ddpm"},
}


class DenoisingScrubber(Explorer):
    """A step slider with Play over a stored reverse trajectory: x_t above, predicted x_0 below.

    pipe: a `course_lib.pipelines.DiffusionPipeline`; seeds: the seeds to choose from; each
    trajectory makes `images` samples at once.
    """

    rows = (("play", "step"), ("seed", "sampler", "steps"))
    frame_format = "jpeg"
    samples = True
    # trajectories are kept `frames.compact`, as uint8: a DDPM one of 4 digits is 2 x 1,001
    # steps of (4, 1, 28, 28), 6.3 MB (25 MB as floats), and takes a minute to sample;
    # DDIM-50 is 0.3 MB. Frames are ~10 KB: a DDPM run's worth.
    # All 27 of the demo's (seed, sampler, steps) fit: going back to a DDPM run never waits.
    cache_limits = {"trajectories": 32, "frames": 1024}
    cache_megabytes = {"trajectories": 28}  # 3 DDPM runs, 19 MB; 24 DDIM ones, at most 7 MB
    bench_moves = (
        Move("step slider, first visit", "step", range(1, 41), moves=40),
        Move("step slider, cached", "step", range(0, 41)),
    )

    def __init__(self, pipe, seeds=(0, 1, 2), images: int = 4, steps: int = 50, scale: int = 4):
        check_seeds(seeds)
        check_scale(scale)
        check_count(images, "images", 16)
        T = pipe.schedule.T
        check_count(steps, "steps", T)
        self.pipe, self.images, self.scale = pipe, images, scale
        step = ipw.IntSlider(min=0, max=steps, value=0, description="step", continuous_update=True)
        super().__init__(
            {
                "step": step,
                "play": play_for(step, interval=80),
                "seed": ipw.Dropdown(options=list(seeds), description="seed"),
                "sampler": ipw.Dropdown(options=list(SAMPLERS), description="sampler"),
                "steps": ipw.Dropdown(
                    options=sorted(n for n in {10, 20, 50, steps} if n <= T),
                    value=steps,
                    description="steps",
                ),
            }
        )

    def slow_settings(self) -> list[dict]:
        """Every (seed, sampler, steps): each samples a trajectory (DDPM ignores steps)."""
        settings, counts = [], self.nearest_first("steps")
        for seed in self.nearest_first("seed"):
            for sampler in self.nearest_first("sampler"):
                ddpm = SAMPLERS[sampler]["sampler"] == "ddpm"
                for steps in counts[:1] if ddpm else counts:
                    settings.append({"seed": seed, "sampler": sampler, "steps": steps})
        return settings

    def key(self) -> tuple:
        c = self.controls
        sampler = c["sampler"].value
        steps = None if SAMPLERS[sampler]["sampler"] == "ddpm" else c["steps"].value
        return (c["seed"].value, sampler, steps)

    def trajectory(self, key: tuple | None = None) -> diffusion.Trajectory:
        """The stored trajectory for (seed, sampler, steps): sampled once, then cached."""
        key = key or self.key()
        return self.cached(key, lambda: self.sample(*key), "trajectories")

    def sample(self, seed: int, sampler: str, steps: int | None) -> diffusion.Trajectory:
        """One reverse process of `self.images` samples, every step kept, with a progress bar
        that counts down the seconds left; the choosing controls wait while it runs."""
        long = SAMPLERS[sampler]["sampler"] == "ddpm"
        if long:
            self.status.value = (
                f"DDPM runs every one of the T={self.pipe.schedule.T} steps: about a minute on a "
                "laptop CPU (the bar counts down); DDIM with 50 steps takes a second."
            )
        waiting = [self.controls[n] for n in ("seed", "sampler", "steps")]
        for control in waiting:
            control.disabled = True
        try:
            trajectory = self._sample(seed, sampler, steps)
        finally:
            for control in waiting:
                control.disabled = False
            self.ignore_steps()
        if long:
            self.status.value = ""
        return trajectory

    def ignore_steps(self) -> None:
        """DDPM takes every step whatever the steps control says: grey it out then."""
        chosen = SAMPLERS[self.controls["sampler"].value]["sampler"]
        self.controls["steps"].disabled = chosen == "ddpm"

    def _sample(self, seed: int, sampler: str, steps: int | None) -> diffusion.Trajectory:
        _, trajectory = self.pipe(
            self.images,
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(seed),
            return_trajectory=True,
            callback=self.show_progress,
            progress=False,  # the widget's own bar shows it, not a second tqdm bar below
            **SAMPLERS[sampler],
        )
        return frames.compact(trajectory)

    def changed(self, name: str | None) -> None:
        """A new seed, sampler or step count: its trajectory, and the step slider fits it."""
        self.ignore_steps()
        if name != "step":
            n = len(self.trajectory().timesteps)
            step = self.controls["step"]
            at_end = step.value == step.max
            step.max = n  # the Play button follows through jslink
            step.value = n if at_end else min(step.value, n)
        self.draw()

    def draw(self) -> None:
        key, step = self.key(), self.controls["step"].value
        trajectory = self.trajectory(key)
        frame = self.cached(
            (key, step),
            lambda: frames.encode(frames.trajectory_frame(trajectory, step, self.scale), "jpeg"),
        )
        self.show(frame)
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
            x_t = frames.unit(trajectory.xs[step, 0, 0]).numpy()
            axes[0, col].imshow(x_t, cmap="gray", vmin=0, vmax=1)
            axes[0, col].set_title(f"step {step}/{n}", fontsize=9)
            x0 = frames.unit(trajectory.x0s[min(step, n - 1), 0, 0])
            axes[1, col].imshow(x0.numpy(), cmap="gray", vmin=0, vmax=1)
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
