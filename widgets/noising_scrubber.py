"""NoisingScrubber: drag t from 0 to T-1 and watch an image dissolve into noise.

Every x_t comes from the closed form x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
with one fixed eps, computed for the t shown (well under a millisecond), so no stack of all
T images is kept; a frame's JPEG bytes are cached. Beside the image, the alpha_bar curve with
a marker at t.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as ipw
import numpy as np
import torch

from course_lib import diffusion
from widgets import frames
from widgets.base import Explorer, Move, check_images, check_scale, check_seed, play_for

CURVE = np.array([40, 90, 200], dtype=np.uint8)  # the alpha_bar line
MARKER = np.array([230, 40, 60], dtype=np.uint8)  # where t is
AXIS = np.array([160, 160, 160], dtype=np.uint8)
SCHEDULES = ("cosine", "linear")


def noising_pixels(
    image: torch.Tensor,
    schedule: diffusion.NoiseSchedule,
    noise: torch.Tensor,
    ts: Sequence[int] | None = None,
    chunk: int = 100,
) -> np.ndarray:
    """x_t of one (C, H, W) image at each t of `ts` (default: every t = 0..T-1), as uint8
    pixels (len(ts), H, W[, 3])."""
    if image.shape != noise.shape:
        raise ValueError(f"image {tuple(image.shape)} and noise {tuple(noise.shape)} must match")
    ts = torch.arange(schedule.T) if ts is None else torch.as_tensor(ts, dtype=torch.long)
    out = []
    for t in ts.split(chunk):  # (n,)
        x0 = image.expand(len(t), *image.shape)  # (n, C, H, W)
        x_t = schedule.q_sample(x0, t, noise.expand_as(x0))
        out += [frames.to_pixels(x) for x in x_t]
    return np.stack(out)


def curve_panel(alpha_bar: torch.Tensor, height: int, width: int) -> np.ndarray:
    """alpha_bar against t drawn as RGB (height, width, 3): 1 at the top, 0 at the bottom."""
    panel = np.full((height, width, 3), 255, dtype=np.uint8)
    panel[-1, :] = AXIS
    panel[:, 0] = AXIS
    xs = np.linspace(0, width - 1, len(alpha_bar)).round().astype(int)
    ys = ((1 - alpha_bar.numpy()) * (height - 1)).round().astype(int)
    for dy in (-1, 0, 1):  # a line 3 px thick
        panel[np.clip(ys + dy, 0, height - 1), xs] = CURVE
    return panel


def compose(
    pixels: np.ndarray, panel: np.ndarray, t: int, alpha_bar_t: float, T: int, scale: int
) -> np.ndarray:
    """One frame: the image at t (enlarged) beside the alpha_bar curve with a marker at t."""
    image = frames.upscale(frames.as_rgb(pixels), scale)
    height = image.shape[0]
    curve = panel.copy()
    h, w = curve.shape[:2]
    x = round(t / max(1, T - 1) * (w - 1))
    y = round((1 - alpha_bar_t) * (h - 1))
    curve[:, x : x + 1] = MARKER  # a thin vertical line at t
    rows, cols = np.ogrid[:h, :w]
    curve[(rows - y) ** 2 + (cols - x) ** 2 <= 36] = MARKER  # a dot on the curve
    gap = np.full((height, 12, 3), 255, dtype=np.uint8)
    return np.concatenate([image, gap, curve], axis=1)


class NoisingScrubber(Explorer):
    """A t slider with Play, a schedule choice, the image at t and alpha_bar with a marker at t.

    images: name -> (C, H, W) tensor in [-1, 1]. The noise eps is drawn once per image from
    `seed`, so every t shows the same noise, only more or less of it.
    """

    rows = (("play", "t"), ("schedule", "image"))
    frame_format = "jpeg"
    # a frame is ~10 KB (digit) to ~25 KB (96x96 photo) of JPEG: up to 16 MB of them
    cache_limits = {"panels": 8, "frames": 1000}
    cache_megabytes = {"frames": 16}
    bench_moves = (
        Move("t slider, digit, first visit", "t", range(1, 1000, 20)),
        Move("t slider, digit, cached", "t", range(1, 1000, 20)),
        Move(
            "t slider, 96x96 photo, first visit", "t", range(2, 1000, 20), before={"image": "photo"}
        ),
    )

    def __init__(self, images: dict[str, torch.Tensor], T: int = 1000, seed: int = 0, scale=None):
        one = "must be a (1 or 3, H, W) tensor"
        check_images(images, lambda x: x.ndim == 3 and x.shape[0] in (1, 3), one)
        check_seed(seed)
        check_scale(scale, optional=True)
        self.images = images
        self.schedules = {name: getattr(diffusion.NoiseSchedule, name)(T) for name in SCHEDULES}
        self.T = T
        self.scale = scale
        generator = torch.Generator().manual_seed(seed)
        self.noise = {
            name: torch.randn(im.shape, generator=generator) for name, im in images.items()
        }
        t = ipw.IntSlider(min=0, max=T - 1, value=0, description="t", continuous_update=True)
        super().__init__(
            {
                "t": t,
                "play": play_for(t, interval=60, step=max(1, T // 100)),
                "schedule": ipw.ToggleButtons(options=list(SCHEDULES), description="schedule"),
                "image": ipw.Dropdown(options=list(images), description="image"),
            }
        )

    def _scale(self, image: torch.Tensor) -> int:
        return self.scale or max(1, round(224 / image.shape[-1]))

    def pixels(self, image: str, schedule: str, ts: Sequence[int]) -> np.ndarray:
        """x_t of `image` under `schedule` at each t of `ts`, as uint8 pixels (closed form)."""
        return noising_pixels(self.images[image], self.schedules[schedule], self.noise[image], ts)

    def frame_pixels(self, image: str, schedule: str, t: int) -> np.ndarray:
        """The frame for (image, schedule, t) as an RGB array; the pure part of `draw`."""
        pixels = self.pixels(image, schedule, [t])[0]
        scale = self._scale(self.images[image])
        height = pixels.shape[1] * scale
        alpha_bar = self.schedules[schedule].alpha_bar
        panel = self.cached(
            (schedule, height), lambda: curve_panel(alpha_bar, height, int(height * 1.4)), "panels"
        )
        return compose(pixels, panel, t, float(alpha_bar[t]), self.T, scale)

    def draw(self) -> None:
        c = self.controls
        image, schedule, t = c["image"].value, c["schedule"].value, c["t"].value
        frame = self.cached(
            (image, schedule, t),
            lambda: frames.encode(self.frame_pixels(image, schedule, t), "jpeg"),
        )
        self.show(frame)
        s = self.schedules[schedule]
        a = float(s.alpha_bar[t])
        snr_db = 10 * np.log10(float(s.snr[t]))
        self.status.value = (
            f"t = {t} of {self.T - 1}: x_t = <b>{a**0.5:.3f}</b> x_0 + <b>{(1 - a) ** 0.5:.3f}</b> "
            f"eps; alpha_bar = {a:.4f}, SNR = {snr_db:+.1f} dB ({schedule} schedule)"
        )

    def static(self, ts: tuple[int, ...] | None = None):
        """A matplotlib figure: the current image at a few t under both schedules."""
        import matplotlib.pyplot as plt

        image = self.controls["image"].value
        ts = ts or tuple(round(f * (self.T - 1)) for f in (0, 0.1, 0.25, 0.5, 0.75, 1.0))
        fig, axes = plt.subplots(len(SCHEDULES), len(ts), figsize=(1.8 * len(ts), 4))
        for row, schedule in enumerate(SCHEDULES):
            pixels = self.pixels(image, schedule, ts)
            for ax, t, x_t in zip(axes[row], ts, pixels, strict=True):
                ax.imshow(x_t, cmap="gray", vmin=0, vmax=255)
                a = float(self.schedules[schedule].alpha_bar[t])
                ax.set_title(f"{schedule} t={t}\nalpha_bar={a:.2f}", fontsize=8)
        return frames.finish_figure(fig)

    @classmethod
    def demo(cls) -> NoisingScrubber:
        """A test digit and a real photo (96x96), T = 1000."""
        from course_lib import data

        digits, labels = data.mnist_tensors("test")
        return cls({f"digit {labels[0].item()}": digits[0], "photo": data.load_photo("china", 96)})
