"""What every widget shares: tensors to pixels, pixels to PNG/JPEG bytes, errors shown.

Widgets keep one `ipywidgets.Image` and swap its bytes; these helpers make the bytes.
Arrays are uint8, (H, W) grey or (H, W, 3) RGB.
"""

from __future__ import annotations

import functools
import html
import io
import traceback

import ipywidgets as ipw
import numpy as np
import torch
from PIL import Image as PILImage


def to_pixels(image: torch.Tensor) -> np.ndarray:
    """A (C, H, W) tensor in [-1, 1] -> uint8 (H, W) for C=1 or (H, W, 3) for C=3."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected one image (1 or 3, H, W), got shape {tuple(image.shape)}")
    scaled = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
    array = scaled.to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, C)
    return array[..., 0] if array.shape[-1] == 1 else array


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 -> (H, W, 3) uint8."""
    return np.repeat(pixels[..., None], 3, axis=-1) if pixels.ndim == 2 else pixels


def upscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so each source pixel stays a crisp square."""
    return pixels.repeat(factor, axis=0).repeat(factor, axis=1)


def outline(pixels: np.ndarray, top: int, left: int, size: int, thick: int, color) -> None:
    """Draw a square frame of `thick` pixels in `color` around a size x size box, in place."""
    pixels[top : top + thick, left : left + size] = color
    pixels[top + size - thick : top + size, left : left + size] = color
    pixels[top : top + size, left : left + thick] = color
    pixels[top : top + size, left + size - thick : left + size] = color


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


def new_frame(fmt: str = "png", width: int | None = None) -> ipw.Image:
    """The one persistent Image a widget draws into, shown at its own size (or `width` px).

    `align_self` keeps a VBox from stretching the image to the whole output width, which in
    JupyterLab doubles a 400 px frame and pushes the controls off screen.
    """
    layout = ipw.Layout(align_self="flex-start", width=f"{width}px" if width else None)
    return ipw.Image(format=fmt, layout=layout)


def new_status() -> ipw.HTML:
    """A line under the frame for readouts and, when a callback fails, the error."""
    return ipw.HTML(value="")


def shows_errors(status: ipw.HTML):
    """Wrap a widget callback so an exception is shown in `status` instead of vanishing."""

    def decorate(callback):
        @functools.wraps(callback)
        def wrapped(*args, **kwargs):
            try:
                return callback(*args, **kwargs)
            except Exception as err:  # shown to the person moving the slider
                detail = html.escape("".join(traceback.format_exception_only(type(err), err)))
                status.value = f"<pre style='color:#b00020;white-space:pre-wrap'>{detail}</pre>"
                return None

        return wrapped

    return decorate


def on_change(status: ipw.HTML, callback, *controls) -> None:
    """Call `callback` whenever any of `controls` changes value; errors go to `status`."""
    wrapped = shows_errors(status)(callback)
    for control in controls:
        control.observe(wrapped, "value")


def set_error(status: ipw.HTML, message: str) -> None:
    status.value = f"<pre style='color:#b00020;white-space:pre-wrap'>{html.escape(message)}</pre>"
