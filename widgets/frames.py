"""Drawing helpers every explorer shares: tensors to pixels, tiles and grids, text labels,
pixels to PNG/JPEG bytes, and the matplotlib figures of `static()`.

Explorers keep one `ipywidgets.Image` and swap its bytes; these helpers make the bytes.
Arrays are uint8, (H, W) grey or (H, W, 3) RGB. Images come in as (C, H, W) tensors in
[-1, 1], as the models take them; pipelines return [0, 1] (`to_model_space` converts).
"""

from __future__ import annotations

import functools
import io

import ipywidgets as ipw
import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from course_lib import diffusion

WHITE, INK = (255, 255, 255), (30, 30, 30)  # the page and the text on it


def to_pixels(image: torch.Tensor) -> np.ndarray:
    """A (C, H, W) tensor in [-1, 1] -> uint8 (H, W) for C=1 or (H, W, 3) for C=3."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected one image (1 or 3, H, W), got shape {tuple(image.shape)}")
    scaled = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
    array = scaled.to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, C)
    return array[..., 0] if array.shape[-1] == 1 else array


def to_model_space(images: torch.Tensor) -> torch.Tensor:
    """Pipeline outputs and trajectories are in [0, 1] (floats, or `compact` uint8 0..255);
    `to_pixels` wants [-1, 1]."""
    return unit(images) * 2 - 1


def compact(trajectory: diffusion.Trajectory) -> diffusion.Trajectory:
    """A pipeline's trajectory (in [0, 1]) as uint8 pixels, 0..255: a quarter of the float
    bytes in a cache, and exactly the values a frame shows (`to_pixels` rounds the same way).
    `unit` turns its tensors back into floats in [0, 1]."""

    def pixels(images: torch.Tensor) -> torch.Tensor:
        return (images.clamp(0, 1) * 255).round().to(torch.uint8)

    return diffusion.Trajectory(
        pixels(trajectory.xs), pixels(trajectory.x0s), list(trajectory.timesteps)
    )


def unit(images: torch.Tensor) -> torch.Tensor:
    """Images of a trajectory, compact (uint8 0..255) or not (floats), as floats in [0, 1]."""
    return images.float() / 255 if images.dtype == torch.uint8 else images


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 -> (H, W, 3) uint8."""
    return np.repeat(pixels[..., None], 3, axis=-1) if pixels.ndim == 2 else pixels


def upscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so each source pixel stays a crisp square."""
    return pixels.repeat(factor, axis=0).repeat(factor, axis=1)


def tile(image: torch.Tensor, scale: int) -> np.ndarray:
    """One image (C, H, W) in [-1, 1] -> (scale H, scale W, 3) uint8, grey made RGB."""
    return upscale(as_rgb(to_pixels(image)), scale)


def grid(tiles: list[np.ndarray], columns: int, gap: int) -> np.ndarray:
    """Equal (h, w, 3) tiles in rows of `columns`, `gap` white pixels apart: one uint8 image."""
    h, w, _ = tiles[0].shape
    rows = -(-len(tiles) // columns)  # ceiling division
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for k, part in enumerate(tiles):
        r, c = divmod(k, columns)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = part
    return out


def outline(pixels: np.ndarray, top: int, left: int, size: int, thick: int, color) -> None:
    """Draw a square frame of `thick` pixels in `color` around a size x size box, in place."""
    pixels[top : top + thick, left : left + size] = color
    pixels[top + size - thick : top + size, left : left + size] = color
    pixels[top : top + size, left : left + thick] = color
    pixels[top : top + size, left + size - thick : left + size] = color


def trajectory_frame(trajectory: diffusion.Trajectory, step: int, scale: int) -> np.ndarray:
    """Frame `step` (0 = pure noise, S = the samples) as uint8 (2 rows of B images, enlarged).

    Top: x_t after `step` steps; bottom: the x0 prediction the model made at that point
    (at the end, the last prediction). The trajectory is a pipeline's, in [0, 1], or `compact`.
    """
    n = len(trajectory.timesteps)
    if not 0 <= step <= n:
        raise ValueError(f"step must be in 0..{n}, got {step}")
    xs = to_model_space(trajectory.xs[step])  # (B, C, H, W)
    x0s = to_model_space(trajectory.x0s[min(step, n - 1)])  # (B, C, H, W)
    gap = 4 * scale // 4 + 2
    top = grid([tile(x, scale) for x in xs], len(xs), gap)
    bottom = grid([tile(x, scale) for x in x0s], len(x0s), gap)
    divider = np.full((gap * 2, top.shape[1], 3), 255, dtype=np.uint8)
    return np.concatenate([top, divider, bottom], axis=0)


class Labels:
    """Text rendered once per (string, colour) and pasted after: TrueType drawing is the
    slow part of a frame, and the same captions and numbers come back again and again.
    The last `limit` strings are kept (least recently used forgotten first)."""

    def __init__(self, size: int = 13, limit: int = 512):
        try:
            self.font = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1: one fixed bitmap font
            self.font = ImageFont.load_default()
        self._tile = functools.lru_cache(maxsize=limit)(self.render)  # this object's own

    def __call__(self, text: str, fill=INK) -> PILImage.Image:
        return self._tile(text, fill)

    def render(self, text: str, fill=INK) -> PILImage.Image:
        """`text` in `fill` on white, as a small RGB image just large enough to hold it."""
        _, _, right, bottom = self.font.getbbox(text)
        label = PILImage.new("RGB", (max(1, right), max(1, bottom) + 2), WHITE)
        ImageDraw.Draw(label).text((0, 0), text, fill=fill, font=self.font)
        return label


def encode(pixels: np.ndarray, fmt: str = "png", quality: int = 90) -> bytes:
    """uint8 pixels -> PNG bytes (maps, clean images) or JPEG bytes (noisy frames)."""
    buffer = io.BytesIO()
    image = PILImage.fromarray(np.ascontiguousarray(pixels))
    if fmt == "png":
        image.save(buffer, format="PNG", compress_level=1)
    elif fmt == "jpeg":
        image.save(buffer, format="JPEG", quality=quality)
    else:
        raise ValueError(f"unknown format {fmt!r}; use 'png' or 'jpeg'")
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    """Frame bytes back to a uint8 array (for tests and checks)."""
    return np.asarray(PILImage.open(io.BytesIO(data)))


def finish_figure(fig):
    """Hide every axis of a matplotlib figure and tighten its layout: how `static()` ends."""
    for ax in fig.axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def column_figure(shown: list[np.ndarray], width: float, row_height: float):
    """A matplotlib figure of uint8 frames, one under another, `row_height` inches each."""
    import matplotlib.pyplot as plt

    rows = len(shown)
    fig, axes = plt.subplots(rows, 1, figsize=(width, row_height * rows), squeeze=False)
    for ax, frame in zip(axes[:, 0], shown, strict=True):
        ax.imshow(frame)
    return finish_figure(fig)


def new_frame(fmt: str = "png", width: int | None = None) -> ipw.Image:
    """The one persistent Image an explorer draws into, shown at its own size (or `width` px).

    `align_self` keeps a VBox from stretching the image to the whole output width, which in
    JupyterLab doubles a 400 px frame and pushes the controls off screen.
    """
    layout = ipw.Layout(align_self="flex-start", width=f"{width}px" if width else None)
    return ipw.Image(format=fmt, layout=layout)
