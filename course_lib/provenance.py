"""Provenance for any image: which training images is it closest to, and how close is close?

A distance means little on its own, so every answer comes with a yardstick: the typical
(median) distance from a training image to its nearest *other* training image. A generated
image far below that yardstick is a near-copy of a training image; one near it is as new as
any training digit is to its neighbours.

Spaces:
- "pixel": RMS distance per pixel on [-1, 1] (any image size, grey or colour);
- "judge": L2 between the digit judge's CLS features (`judge`, 28x28 grey digits);
- "clip": 1 - cosine similarity of clip-digits' image embeddings (32x32 colour images).

Letters: N images searched for, M training images, F feature width, k neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

SPACES = ("pixel", "judge", "clip")
STORED = (torch.float32, torch.float16, torch.uint8)  # an index's images; uint8: 0..255
CHUNK = 512  # rows of queries and of keys compared at a time


@dataclass
class Neighbours:
    """The k nearest training images of each query image, nearest first."""

    indices: Tensor  # (N, k) int64, rows of the training set
    distances: Tensor  # (N, k) float, in the index's space
    labels: Tensor | None  # (N, k) the neighbours' labels, when the index has them
    baseline: float  # median train-to-train nearest-neighbour distance in the same space
    space: str

    @property
    def ratio(self) -> Tensor:
        """(N,) nearest distance / baseline: near 0 a copy, near 1 as new as a training digit."""
        return self.distances[:, 0] / self.baseline

    def __str__(self) -> str:
        lines = [
            f"nearest training images ({self.space} space; typical train-to-train "
            f"distance {self.baseline:.3f})"
        ]
        for n in range(len(self.indices)):
            found = ", ".join(
                f"#{i} ({'' if self.labels is None else f'digit {self.labels[n, j]}, '}{d:.3f})"
                for j, (i, d) in enumerate(
                    zip(self.indices[n].tolist(), self.distances[n].tolist(), strict=True)
                )
            )
            lines.append(f"image {n}: {found}; nearest / typical = {self.ratio[n]:.2f}")
        return "\n".join(lines)


def embed(images: Tensor, space: str, model=None) -> Tensor:
    """Images (N, C, H, W) in [-1, 1] -> the vectors distances are measured between, (N, F).

    model: the judge (space "judge") or clip-digits (space "clip"); None loads the shipped one."""
    from course_lib import checkpoints, clip, judge

    if space not in SPACES:
        raise ValueError(f"unknown space {space!r}; pass one of {SPACES}")
    check_images(images)
    images = images.detach().cpu()
    if space == "pixel":  # the pixels themselves, no copy: `distances` makes them RMS per pixel
        return (images if images.dtype in STORED else images.float()).flatten(1)
    images = as_float(images)
    if space == "judge":
        return judge.judge(images, model).features
    model = model if model is not None else checkpoints.load_pretrained("clip-digits")
    return clip.embed_images(model, images)


def check_images(images) -> None:
    """Refuse what is not a (N, C, H, W) tensor of floats in [-1, 1] or uint8 0..255."""
    if not isinstance(images, Tensor) or images.ndim != 4:
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a (N, C, H, W) tensor in [-1, 1], got {got}")
    if not (images.is_floating_point() or images.dtype == torch.uint8):
        raise TypeError(
            f"images must be floats in [-1, 1] (or uint8 0..255), got {images.dtype}: "
            "convert with images.float() / 127.5 - 1"
        )


def as_float(images: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Images or pixel vectors in [-1, 1] as floats; uint8 ones hold 0..255 for -1..1."""
    if images.dtype == torch.uint8:
        return images.to(dtype) / 127.5 - 1
    return images.to(dtype)


def distances(queries: Tensor, keys: Tensor, space: str) -> Tensor:
    """(N, F) and (M, F) vectors -> (N, M) distances: 1 - cosine for unit "clip" vectors; L2
    for "judge" features; for "pixel", L2 / sqrt(F), the root-mean-square pixel difference."""
    if space == "clip":
        return 1 - queries @ keys.T
    scale = queries.shape[1] ** 0.5 if space == "pixel" else 1.0
    rows = []  # in float64, CHUNK x CHUNK blocks at a time: no float64 copy of all M keys
    for q in queries.split(CHUNK):
        q = as_float(q, torch.float64)
        row = torch.cat(
            [torch.cdist(q, as_float(k, torch.float64)) for k in keys.split(CHUNK)], dim=1
        )
        rows.append((row / scale).float())
    return torch.cat(rows)


def nearest_neighbour_baseline(vectors: Tensor, space: str) -> Tensor:
    """(M,) each training vector's distance to its nearest *other* one (an exact duplicate
    counts as a neighbour at 0 only when it is a separate row)."""
    d = distances(vectors, vectors, space)  # (M, M)
    d.fill_diagonal_(float("inf"))
    return d.min(1).values


def stored(images: Tensor, dtype: torch.dtype) -> Tensor:
    """Images in [-1, 1] kept as `dtype` (no copy if they already are). 4,000 colour 32x32
    images take 49 MB as float32, 25 MB as float16 (a pixel moves by at most 0.0005) and
    12 MB as uint8 (0..255; at most 0.004, a hundredth of a typical distance)."""
    images = images.detach().cpu()
    if dtype != torch.uint8 or images.dtype == torch.uint8:
        return images.to(dtype)
    low, high = images.min().item(), images.max().item()
    if low < -1.001 or high > 1.001:
        raise ValueError(
            f"images must be in [-1, 1] to be kept as uint8, got {low:.3g}..{high:.3g}"
        )
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class TrainingIndex:
    """A training set embedded once, for nearest-neighbour look-ups with a yardstick.

    index = TrainingIndex(train_images, labels=train_labels, space="pixel")
    print(index.nearest(generated, k=3))
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        space: str = "pixel",
        model=None,
        dtype: torch.dtype = torch.float32,
    ):
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels: pass one each")
        if dtype not in STORED:
            raise ValueError(f"dtype must be one of {STORED}, got {dtype!r}")
        check_images(images)
        self.images = stored(images, dtype)
        self.labels, self.space, self.model = labels, space, model
        self.vectors = embed(self.images, space, model)  # (M, F); pixel: a view of the images
        self.baseline = nearest_neighbour_baseline(self.vectors, space).median().item()

    def nearest(self, images: Tensor, k: int = 5) -> Neighbours:
        """The k nearest training images of each of `images` (N, C, H, W) in [-1, 1]."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(self.vectors):
            raise ValueError(f"k must be a whole number in 1..{len(self.vectors)}, got {k!r}")
        if tuple(images.shape[1:]) != tuple(self.images.shape[1:]):
            raise ValueError(
                f"images are {tuple(images.shape[1:])} but the training set is "
                f"{tuple(self.images.shape[1:])}: compare like with like (in [-1, 1])"
            )
        d = distances(embed(images, self.space, self.model), self.vectors, self.space)  # (N, M)
        found = d.topk(k, dim=1, largest=False)  # nearest first
        labels = None if self.labels is None else self.labels[found.indices]
        return Neighbours(found.indices, found.values, labels, self.baseline, self.space)


def training_index(
    kind: str = "digits", space: str = "pixel", model=None, dtype: torch.dtype = torch.float32
) -> TrainingIndex:
    """The course's training set as an index: kind "digits" (4,000 grey 28x28, for ddpm- and
    cfg-digits) or "captioned" (4,000 colour 32x32, for ldm-digits); `dtype` as TrainingIndex."""
    from course_lib import data

    if kind == "digits":
        images, labels = data.mnist_tensors("train")
    elif kind == "captioned":
        images, _, attributes = data.captioned_digits("train")
        labels = torch.from_numpy(attributes["digit"])
    else:
        raise ValueError(f"unknown kind {kind!r}; pass 'digits' or 'captioned'")
    return TrainingIndex(images, labels=labels, space=space, model=model, dtype=dtype)


def nearest_training_images(
    image: Tensor, k: int = 5, space: str = "pixel", index: TrainingIndex | None = None
) -> Neighbours:
    """The k training images nearest to `image` ((C, H, W) or (N, C, H, W) in [-1, 1]), with
    distances and the typical train-to-train distance. A 28x28 grey digit is searched among
    the digits, a 32x32 colour image among the captioned digits; pass `index` to reuse one."""
    images = image[None] if image.ndim == 3 else image
    if index is None:
        kind = "captioned" if images.shape[1] == 3 else "digits"
        index = training_index(kind, space)
    return index.nearest(images, k)
