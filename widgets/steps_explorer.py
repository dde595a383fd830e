"""StepsExplorer: how many steps does a sampler need? ldm-digits with DDIM beside dit-digits
with Euler steps on its rectified flow, from the same noise (notebook 09).

- "latents": for a prompt and a step count, each sampler's predicted clean image x_0 at a few
  of its steps and its final image, one row per sampler. Each (prompt, steps) is sampled once
  (both pipelines draw their starting latent from the same seeded generator), then cached.
- "toy": the 2-D mixture of notebook 09, twelve points walked from the same noise by DDIM
  (exact noise guess) and by Euler (exact velocity) with the chosen number of steps.

One `ipywidgets.Image` shows whichever view is picked.
"""

from __future__ import annotations

import ipywidgets as ipw
import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw

from course_lib import diffusion, toy_flows
from widgets import frames
from widgets.base import Explorer, Move, check_count, check_scale, check_seed

VIEWS = ("latents", "toy")
PROMPTS = (
    "a large red seven",
    "a small blue three in the bottom right",
    "a large yellow zero",
    "a small cyan five in the top left",
)
SHOWN = 5  # predicted-x_0 thumbnails per sampler, spread over its steps
GAP, TITLE = 6, 16


def trajectories(ddim_pipe, flow_pipe, prompt: str, steps: int, seed: int, guidance: float):
    """{"DDIM": trajectory, "Euler": trajectory} of one image each, in [0, 1], same noise."""
    out = {}
    for name, pipe in (("DDIM", ddim_pipe), ("Euler", flow_pipe)):
        _, out[name] = pipe(
            [prompt],
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=torch.Generator().manual_seed(seed),
            return_trajectory=True,
            progress=False,
        )
    return out


def shown_steps(steps: int, shown: int = SHOWN) -> list[int]:
    """Which of a trajectory's `steps` predicted-x_0 steps (0-based) the frame shows."""
    return sorted({round(i * (steps - 1) / max(1, shown - 1)) for i in range(shown)})


def latents_pixels(trajs: dict, scale: int, labels: frames.Labels) -> np.ndarray:
    """One row per sampler: x_0 predicted at `shown_steps`, then the final image; uint8 RGB."""
    rows = []
    for name, traj in trajs.items():
        steps = len(traj.timesteps)
        images = [traj.x0s[i, 0] for i in shown_steps(steps)] + [traj.images[0]]
        titles = [f"x0 @ {i + 1}/{steps}" for i in shown_steps(steps)] + [f"{name}-{steps}"]
        tiles = [frames.tile(frames.to_model_space(image), scale) for image in images]
        size = tiles[0].shape[0]
        row = PILImage.new("RGB", ((size + GAP) * (SHOWN + 1), TITLE + size), frames.WHITE)
        for k, (tile, title) in enumerate(zip(tiles, titles, strict=True)):
            row.paste(labels(title), (k * (size + GAP), 0))
            row.paste(PILImage.fromarray(tile), (k * (size + GAP), TITLE))
        rows.append(np.asarray(row))
    return np.concatenate(rows, axis=0)


TOY_PANEL, TOY_LIMIT = 270, 4.5  # each toy panel's side in pixels; its axes span +-4.5
TOY_COLOURS = {"DDIM": (255, 127, 14), "Euler": (31, 119, 180)}  # matplotlib's C1 and C0


def toy_panel(path: torch.Tensor, data: torch.Tensor, title: str, colour, labels) -> np.ndarray:
    """One toy panel: the mixture's `data` points (M, 2) in grey, and each of the `path`'s
    points (S+1, P, 2) walked step by step, drawn with PIL (no figure); uint8 RGB."""
    panel = PILImage.new("RGB", (TOY_PANEL, TITLE + TOY_PANEL), frames.WHITE)
    draw = ImageDraw.Draw(panel)
    scale = TOY_PANEL / (2 * TOY_LIMIT)

    def pixels(points: torch.Tensor) -> list[tuple[float, float]]:  # (K, 2), y up
        return [((x + TOY_LIMIT) * scale, TITLE + (TOY_LIMIT - y) * scale) for x, y in points]

    for x, y in pixels(data.tolist()):
        draw.rectangle((x - 0.5, y - 0.5, x + 0.5, y + 0.5), fill=(204, 204, 204))
    for point in range(path.shape[1]):
        line = pixels(path[:, point].tolist())
        draw.line(line, fill=colour, width=1)
        for x, y in line:
            draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=colour)
    panel.paste(labels(title), (4, 0))
    return np.asarray(panel)


def toy_pixels(
    steps: int, noise: torch.Tensor, means: torch.Tensor, std: float, labels: frames.Labels
) -> np.ndarray:
    """The toy's DDIM and Euler paths with `steps` steps, side by side; uint8 RGB."""
    data = toy_flows.sample_mixture(600, means, std, torch.Generator().manual_seed(0))
    paths = {
        "DDIM": ("DDIM, exact noise guess", toy_flows.ddim_path(noise, steps, means, std)),
        "Euler": ("Euler, exact velocity", toy_flows.flow_path(noise, steps, means, std)),
    }
    panels = [
        toy_panel(path, data, f"{title}, {steps} steps", TOY_COLOURS[name], labels)
        for name, (title, path) in paths.items()
    ]
    gap = np.full((panels[0].shape[0], GAP, 3), 255, dtype=np.uint8)
    return np.concatenate([panels[0], gap, panels[1]], axis=1)


class StepsExplorer(Explorer):
    """DDIM on a U-Net beside Euler on a DiT's flow: a steps slider (1 to 50), a prompt, and
    a toggle to the 2-D toy. ddim_pipe: a `TextToImagePipeline`; flow_pipe: a
    `FlowTextToImagePipeline`; both take the same prompts."""

    # two trajectories of one image (3x32x32) at up to 51 steps, kept `frames.compact` as
    # uint8: at most 0.3 MB a (prompt, steps); frames are ~30 KB
    cache_limits = {"trajectories": 32, "frames": 256}
    bench_moves = (
        Move("steps slider, first visit (two samplers)", "steps", range(1, 21), moves=20),
        Move("steps slider, cached", "steps", range(1, 21)),
        Move("toy view, steps slider", "steps", range(1, 11), before={"view": "toy"}),
    )

    def __init__(
        self,
        ddim_pipe,
        flow_pipe,
        prompts=PROMPTS,
        steps: int = 8,
        guidance_scale: float = 3.0,
        seed: int = 0,
        scale: int = 3,
        view: str = "latents",
    ):
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        if not isinstance(prompts, list | tuple) or not all(isinstance(p, str) for p in prompts):
            raise ValueError("pass a non-empty list of prompt strings, e.g. ['a large red seven']")
        check_count(steps, "steps", 50)
        # A flow pipeline has no noise schedule; a wrapper without the attribute is let through.
        if (
            getattr(ddim_pipe, "schedule", 0) is None
            or getattr(flow_pipe, "schedule", None) is not None
        ):
            raise TypeError(
                "pass the DDIM pipeline first and the flow one second, e.g. StepsExplorer("
                "pipelines.load('ldm-digits'), pipelines.load('dit-digits'))"
            )
        diffusion.check_guidance_scale(guidance_scale)
        check_seed(seed)
        check_scale(scale)
        self.ddim_pipe, self.flow_pipe = ddim_pipe, flow_pipe
        self.guidance_scale, self.seed, self.scale = guidance_scale, seed, scale
        self.labels = frames.Labels(size=11)
        self.toy_means, self.toy_std = toy_flows.mixture_means(6, 3.0), 0.3
        g = torch.Generator().manual_seed(seed)
        self.toy_noise = torch.randn(12, 2, generator=g, dtype=torch.float64)
        super().__init__(
            {
                "view": ipw.ToggleButtons(options=list(VIEWS), value=view, description="view"),
                "prompt": ipw.Dropdown(options=list(prompts), description="prompt"),
                "steps": ipw.IntSlider(
                    min=1, max=50, value=steps, description="steps", continuous_update=False
                ),
            }
        )

    def slow_settings(self) -> list[dict]:
        """Every (prompt, steps) of the latents view (each samples twice), then the toy's."""
        counts = self.nearest_first("steps")
        settings = [
            {"view": "latents", "prompt": p, "steps": n}
            for p in self.nearest_first("prompt")
            for n in counts
        ]
        return settings + [{"view": "toy", "steps": n} for n in counts]

    def trajectories(self, prompt: str, steps: int) -> dict:
        """Both samplers' trajectories for (prompt, steps), sampled once."""

        def sample():
            found = trajectories(
                self.ddim_pipe, self.flow_pipe, prompt, steps, self.seed, self.guidance_scale
            )
            return {name: frames.compact(trajectory) for name, trajectory in found.items()}

        return self.cached((prompt, steps), sample, cache="trajectories")

    def frame_pixels(self, view: str, prompt: str, steps: int) -> np.ndarray:
        """The pixels of one frame, before encoding."""
        if view == "toy":
            return toy_pixels(steps, self.toy_noise, self.toy_means, self.toy_std, self.labels)
        return latents_pixels(self.trajectories(prompt, steps), self.scale, self.labels)

    def draw(self) -> None:
        v = self.values()
        key = (v["view"], v["prompt"] if v["view"] == "latents" else None, v["steps"])
        self.show(self.cached(key, lambda: frames.encode(self.frame_pixels(*key))))
        self.controls["prompt"].disabled = v["view"] == "toy"
        if v["view"] == "toy":
            self.status.value = (
                f"twelve points from the same noise, {v['steps']} steps each: DDIM (left) "
                "and rectified flow's Euler (right), both with the exact answer for the mixture"
            )
        else:
            self.status.value = (
                f'"{v["prompt"]}", guidance {self.guidance_scale:g}, seed {self.seed}: '
                f"DDIM-{v['steps']} on ldm-digits (top) and Euler-{v['steps']} on dit-digits "
                "(bottom), the predicted x0 at a few steps, then the image"
            )

    def static(self, step_counts=(2, 8, 50)):
        """A matplotlib figure: the latents frame at a few step counts, and the toy at 4."""
        import matplotlib.pyplot as plt

        prompt = self.controls["prompt"].value
        fig, axes = plt.subplots(len(step_counts) + 1, 1, figsize=(8, 2.6 * len(step_counts) + 3))
        for ax, steps in zip(axes, step_counts, strict=False):
            ax.imshow(self.frame_pixels("latents", prompt, steps))
            ax.set_title(f'"{prompt}": {steps} steps (top DDIM, bottom Euler)', fontsize=9)
        axes[-1].imshow(self.frame_pixels("toy", prompt, 4))
        return frames.finish_figure(fig)

    @classmethod
    def demo(cls) -> StepsExplorer:
        """ldm-digits (DDIM) beside dit-digits (Euler), 8 steps to start."""
        from course_lib import pipelines

        return cls(pipelines.load("ldm-digits"), pipelines.load("dit-digits"))
