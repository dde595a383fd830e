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
    if not isinstance(images, Tensor) or images.ndim != 4:
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a (N, C, H, W) tensor in [-1, 1], got {got}")
    images = images.detach().float().cpu()
    if space == "pixel":  # the pixels themselves, no copy: `distances` makes them RMS per pixel
        return images.flatten(1)
    if space == "judge":
        return judge.judge(images, model).features
    model = model if model is not None else checkpoints.load_pretrained("clip-digits")
    return clip.embed_images(model, images)


def distances(queries: Tensor, keys: Tensor, space: str) -> Tensor:
    """(N, F) and (M, F) vectors -> (N, M) distances: 1 - cosine for unit "clip" vectors; L2
    for "judge" features; for "pixel", L2 / sqrt(F), the root-mean-square pixel difference."""
    if space == "clip":
        return 1 - queries @ keys.T
    d = torch.cdist(queries.double(), keys.double())
    return (d / queries.shape[1] ** 0.5 if space == "pixel" else d).float()


def nearest_neighbour_baseline(vectors: Tensor, space: str) -> Tensor:
    """(M,) each training vector's distance to its nearest *other* one (an exact duplicate
    counts as a neighbour at 0 only when it is a separate row)."""
    d = distances(vectors, vectors, space)  # (M, M)
    d.fill_diagonal_(float("inf"))
    return d.min(1).values


class TrainingIndex:
    """A training set embedded once, for nearest-neighbour look-ups with a yardstick.

    index = TrainingIndex(train_images, labels=train_labels, space="pixel")
    print(index.nearest(generated, k=3))
    """

    def __init__(
        self, images: Tensor, labels: Tensor | None = None, space: str = "pixel", model=None
    ):
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels: pass one each")
        self.images, self.labels, self.space, self.model = images, labels, space, model
        self.vectors = embed(images, space, model)  # (M, F)
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


def training_index(kind: str = "digits", space: str = "pixel", model=None) -> TrainingIndex:
    """The course's training set as an index: kind "digits" (4,000 grey 28x28, for ddpm- and
    cfg-digits) or "captioned" (4,000 colour 32x32, for ldm-digits)."""
    from course_lib import data

    if kind == "digits":
        images, labels = data.mnist_tensors("train")
    elif kind == "captioned":
        images, _, attributes = data.captioned_digits("train")
        labels = torch.from_numpy(attributes["digit"])
    else:
        raise ValueError(f"unknown kind {kind!r}; pass 'digits' or 'captioned'")
    return TrainingIndex(images, labels=labels, space=space, model=model)


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
