"""PatchExplorer: slice an image into patches and see one become a token.

Pick a patch size (only sizes that tile the image), see the grid over the image, pick a
patch and see its pixels, its flattened vector (P*P*C numbers, in (p1 p2 c) order) and
its place in the token sequence the transformer reads ([CLS] first, then row-major).
"""

from __future__ import annotations

import ipywidgets as ipw
import numpy as np
import torch
from PIL import Image as PILImage

from course_lib import vit
from widgets import frames
from widgets.base import Explorer, Move, check_images, check_scale

GRID = np.array([255, 214, 0], dtype=np.uint8)  # yellow grid lines
PICK = np.array([255, 40, 90], dtype=np.uint8)  # the chosen patch
CLS = np.array([120, 120, 255], dtype=np.uint8)  # the [CLS] slot in the sequence strip


def patch_sizes(image_size: int, min_patches: int = 4) -> list[int]:
    """Patch sizes that tile a square image into at least `min_patches` patches (2 per side)."""
    return [p for p in vit.divisors(image_size) if 1 < p and (image_size // p) ** 2 >= min_patches]


def grid_frame(image: torch.Tensor, patch_size: int, index: int, scale: int) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H*scale, W*scale, 3) uint8: the image, patch grid, chosen patch."""
    _, h, w = image.shape
    vit.patchify(image.unsqueeze(0), patch_size)  # validates the size with a clear error
    per_row = w // patch_size
    if not 0 <= index < (h // patch_size) * per_row:
        raise ValueError(
            f"patch index {index} out of range for {(h // patch_size) * per_row} patches"
        )
    out = frames.tile(image, scale).copy()
    step = patch_size * scale
    out[::step, :] = GRID
    out[:, ::step] = GRID
    out[-1, :] = GRID
    out[:, -1] = GRID
    row, col = divmod(index, per_row)
    top, left = row * step, col * step
    thick = max(2, scale // 2)
    frames.outline(out, top, left, step, thick, PICK)
    return out


def patch_vector(image: torch.Tensor, patch_size: int, index: int) -> torch.Tensor:
    """Flattened patch `index` of a (C, H, W) image: (P*P*C,), exactly as `patchify` makes it."""
    return vit.patchify(image.unsqueeze(0), patch_size)[0, index]


def vector_strip(vector: torch.Tensor, width: int, cell: int = 8) -> np.ndarray:
    """A flattened patch as grey cells, one per number, wrapped to `width` px: (rows, width, 3)."""
    values = ((vector.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()  # (P*P*C,)
    cell = max(2, min(cell, width // len(values)))
    per_line = width // cell
    lines = -(-len(values) // per_line)  # ceiling division
    padded = np.full(lines * per_line, 255, dtype=np.uint8)
    padded[: len(values)] = values
    grid = padded.reshape(lines, per_line)  # one row of cells per line
    cells = grid.repeat(max(cell, 8), axis=0).repeat(cell, axis=1)  # each number a cell
    return frames.as_rgb(cells)[:, :width]


def token_window(num_patches: int, index: int, width: int = 16) -> range:
    """Which patches the sequence strip shows: at most `width`, around the chosen one."""
    first = min(max(0, index - width // 2), max(0, num_patches - width))
    return range(first, min(num_patches, first + width))


def sequence_strip(image: torch.Tensor, patch_size: int, index: int, cell: int = 24) -> np.ndarray:
    """The token sequence [CLS], patch 0, patch 1, ... as thumbnails, the chosen one marked.

    Long sequences show a window of 16 patches around the chosen one.
    """
    c = image.shape[0]
    patches = vit.patchify(image.unsqueeze(0), patch_size)[0]  # (N, P*P*C)
    shown = token_window(len(patches), index)
    out = np.full((cell + 8, (len(shown) + 1) * (cell + 2), 3), 255, dtype=np.uint8)
    out[4 : 4 + cell, 0:cell] = CLS
    for slot, i in enumerate(shown, start=1):
        tile = vit.unpatchify(patches[i][None, None], patch_size, patch_size, c)[0]  # (C, P, P)
        pixels = PILImage.fromarray(frames.as_rgb(frames.to_pixels(tile)))
        left = slot * (cell + 2)
        out[4 : 4 + cell, left : left + cell] = np.asarray(pixels.resize((cell, cell), 0))
        if i == index:
            out[0:3, left : left + cell] = PICK
            out[cell + 5 :, left : left + cell] = PICK
    return out


def compose(image: torch.Tensor, patch_size: int, index: int, scale: int) -> np.ndarray:
    """The whole frame: grid view on top, then the token sequence and the flattened vector."""
    grid = grid_frame(image, patch_size, index, scale)
    sequence = sequence_strip(image, patch_size, index)
    width = max(grid.shape[1], sequence.shape[1])
    vector = vector_strip(patch_vector(image, patch_size, index), width)
    parts = [grid, sequence, vector]
    gap = np.full((10, width, 3), 255, dtype=np.uint8)
    rows = []
    for part in parts:
        padded = np.full((part.shape[0], width, 3), 255, dtype=np.uint8)
        padded[:, : part.shape[1]] = part[:, :width]
        rows += [padded, gap]
    return np.concatenate(rows[:-1])


class PatchExplorer(Explorer):
    """Choose a patch size and a patch; see the grid, the token sequence and the vector.

    images: name -> (C, H, W) tensor in [-1, 1], square.
    """

    cache_limits = {"frames": 128}  # a 224x224 photo's frame is ~150 KB and redraws in ~12 ms
    bench_moves = (
        Move("patch slider, first visit", "patch", range(1, 16), moves=15),
        Move("patch slider, cached", "patch", range(16)),
    )

    def __init__(self, images: dict[str, torch.Tensor], scale: int | None = None):
        square = "must be a square (C, H, W) tensor"
        check_images(images, lambda x: x.ndim == 3 and x.shape[1] == x.shape[2], square)
        check_scale(scale, optional=True)
        for name, image in images.items():
            side = image.shape[-1]
            if not patch_sizes(side):
                near = sorted(
                    (n for n in range(side - 3, side + 4) if patch_sizes(n)),
                    key=lambda n: abs(n - side),
                )
                raise ValueError(
                    f"image {name!r} is {side}x{side}: no patch size tiles it into 2x2 patches "
                    f"or more; crop or resize it to a side that has divisors, e.g. {near[:3]}"
                )
        self.images = images
        self.scale = scale
        first = next(iter(images.values()))
        sizes = patch_sizes(first.shape[-1])
        super().__init__(
            {
                "image": ipw.Dropdown(options=list(images), description="image"),
                "patch_size": ipw.Dropdown(
                    options=sizes, value=sizes[len(sizes) // 2], description="patch size"
                ),
                "patch": ipw.IntSlider(min=0, max=0, description="patch", continuous_update=True),
            }
        )

    @property
    def image(self) -> torch.Tensor:
        return self.images[self.controls["image"].value]

    def _scale(self) -> int:
        return self.scale or max(1, round(400 / self.image.shape[-1]))

    def changed(self, name: str | None) -> None:
        """A new image offers the patch sizes that tile it; a new size sets the patch range."""
        if name == "image":
            sizes = patch_sizes(self.image.shape[-1])
            size = self.controls["patch_size"]
            old = size.value
            size.options = sizes
            size.value = old if old in sizes else sizes[len(sizes) // 2]
        if name in (None, "image", "patch_size"):
            side = self.image.shape[-1] // self.controls["patch_size"].value
            patch = self.controls["patch"]
            patch.max = side * side - 1
            patch.value = min(patch.value, patch.max)
        self.draw()

    def draw(self) -> None:
        name = self.controls["image"].value
        size, index = self.controls["patch_size"].value, self.controls["patch"].value
        image, scale = self.image, self._scale()
        frame = self.cached(
            (name, size, index), lambda: frames.encode(compose(image, size, index, scale))
        )
        self.show(frame)
        c, h, w = image.shape
        side = w // size
        row, col = divmod(index, side)
        vector = patch_vector(self.image, size, index)
        preview = ", ".join(f"{v:+.2f}" for v in vector[:6].tolist())
        self.status.value = (
            f"{side}x{side} = <b>{side * side} patches</b> of {size}x{size}x{c} = "
            f"<b>{vector.numel()} numbers</b> each. Patch {index} (row {row}, column {col}) "
            f"is token {index + 1} of {side * side + 1} (token 0 is [CLS]); its vector starts "
            f"[{preview}, ...]"
        )

    def static(self, patch_sizes_to_show: tuple[int, ...] | None = None):
        """A matplotlib figure: the image under two patch sizes, and one patch's token strip."""
        import matplotlib.pyplot as plt

        image = self.image
        sizes = patch_sizes_to_show or tuple(patch_sizes(image.shape[-1])[-3:-1])
        fig, axes = plt.subplots(1, len(sizes), figsize=(4 * len(sizes), 4.6))
        for ax, size in zip(np.atleast_1d(axes), sizes, strict=True):
            patches = vit.patchify(image.unsqueeze(0), size)[0]  # (N, P*P*C)
            n, busiest = len(patches), int(patches.std(dim=1).argmax())
            ax.imshow(compose(image, size, busiest, self._scale()))
            ax.set_title(f"patch {size}: {n} tokens of {size * size * image.shape[0]} numbers")
        return frames.finish_figure(fig)

    @classmethod
    def demo(cls) -> PatchExplorer:
        """A test digit and a real photo (224x224, as ViT-B/16 sees it)."""
        from course_lib import data

        digits, labels = data.mnist_tensors("test")
        first_of = {digit: int((labels == digit).nonzero()[0]) for digit in (3, 7, 8)}
        images = {f"digit {digit}": digits[i] for digit, i in first_of.items()}
        images["photo (224x224)"] = data.load_photo("china", 224)
        return cls(images)
