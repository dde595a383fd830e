"""Judging generated digits with a classifier trained separately from any generator.

The judge is the shipped `vit-digits` ViT (98.7% on the test digits). For a batch of
images it gives a label, a confidence (the top softmax probability) and a feature vector
(the ViT's final CLS token); `frechet_distance` compares two sets of features the way FID
compares Inception features (Heusel et al. 2017), on a digit-sized scale.

Letters: N images, F feature width.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from course_lib import checks, diffusion


@dataclass
class Verdict:
    labels: Tensor  # (N,) int64, the judge's class
    confidence: Tensor  # (N,) float, the judge's probability for that class
    features: Tensor  # (N, F), the CLS token after the final LayerNorm

    def confident_fraction(self, threshold: float = 0.9) -> float:
        checks.number(threshold, "threshold", minimum=0, maximum=1, hint="a probability")
        return (self.confidence >= threshold).float().mean().item()

    def class_counts(self, threshold: float = 0.0) -> Tensor:
        """(10,) how many images were judged as each digit, with at least `threshold` confidence."""
        checks.number(threshold, "threshold", minimum=0, maximum=1, hint="a probability")
        keep = self.confidence >= threshold
        return torch.bincount(self.labels[keep], minlength=10)


def load_judge():
    from course_lib import checkpoints

    return checkpoints.load_pretrained("vit-digits")


def _to_judge_input(images: Tensor) -> Tensor:
    """(N, 1, 28 or 32, ...) in [0, 1] or [-1, 1] -> (N, 1, 28, 28) in [-1, 1]."""
    checks.tensor(images, "images", 4, "(N, 1, 28, 28)")
    checks.floating(images, "images")
    if images.shape[1] != 1 or images.shape[-1] not in (28, 32):  # 4-D: checked above
        raise ValueError(
            f"the judge reads (N, 1, 28, 28) or 32x32 digits, got {tuple(images.shape)}"
        )
    if images.shape[-1] == 32:
        images = images[..., 2:30, 2:30]  # the data pads 2 px each side for size 32
    return images


@torch.no_grad()
def judge(
    images: Tensor, model=None, scale: str = "minus_one_one", batch_size: int = 250
) -> Verdict:
    """Labels, confidences and features for digits (N, 1, 28, 28) (32x32 are centre-cropped).

    scale: "minus_one_one" for model-space images in [-1, 1], "zero_one" for pipeline output.
    """
    if scale not in ("minus_one_one", "zero_one"):
        raise ValueError(f"scale must be 'minus_one_one' or 'zero_one', got {scale!r}")
    model = model if model is not None else load_judge()
    images = _to_judge_input(images).float().cpu()
    if scale == "zero_one":
        if images.numel() and float(images.min()) < -0.01:
            raise ValueError(
                f"scale='zero_one' but the images reach {float(images.min()):.3g}: these look "
                "like model-space images in [-1, 1]; pass scale='minus_one_one'"
            )
        images = images * 2 - 1
    labels, confidence, features = [], [], []
    for chunk in images.split(batch_size):
        cls = model.features(chunk)  # (B, D): the normed CLS token
        probs = model.head(cls).softmax(-1)  # (B, 10)
        top = probs.max(-1)
        labels.append(top.indices)
        confidence.append(top.values)
        features.append(cls)
    return Verdict(torch.cat(labels), torch.cat(confidence), torch.cat(features))


def frechet_distance(features_a: Tensor, features_b: Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two (N, F) feature sets."""
    from scipy import linalg

    for name, f in (("features_a", features_a), ("features_b", features_b)):
        checks.tensor(f, name, 2, "(N, F)")
        if len(f) < 2:
            raise ValueError(f"{name} needs at least 2 rows for a covariance, got {len(f)}")
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            f"features_a and features_b must have the same width F, got "
            f"{tuple(features_a.shape)} and {tuple(features_b.shape)}"
        )
    a = features_a.double().cpu().numpy()
    b = features_b.double().cpu().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    root = np.asarray(root[0] if isinstance(root, tuple) else root).real  # drop rounding noise
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def mean_pairwise_distance(images: Tensor) -> float:
    """Diversity of one set of images (N, C, H, W): the mean L2 distance over all pairs,
    per pixel (RMS), so 0 means N copies of one image."""
    flat = images.flatten(1).double()  # (N, C*H*W)
    n = len(flat)
    if n < 2:
        raise ValueError("diversity needs at least 2 images")
    distances = torch.cdist(flat, flat) / flat.shape[1] ** 0.5  # (N, N)
    return (distances.sum() / (n * (n - 1))).item()


def guidance_sweep(
    pipe,
    digits: Sequence[int] = tuple(range(10)),
    per_digit: int = 50,
    scales: Sequence[float] = diffusion.GUIDANCE_SCALES,
    steps: int = 50,
    seed: int = 0,
    referee=None,
    progress: bool = False,
) -> dict[str, list]:
    """For each guidance scale of a label-guided pipeline: the fraction of samples the judge
    reads as the requested digit (fidelity), and the mean pairwise distance between samples
    of one digit (diversity), averaged over digits. Every scale starts from the same noise.
    Returns lists over scales: "scale", "accuracy", "diversity", "seconds", and "images"
    (each (len(digits) * per_digit, 1, H, W) in [0, 1], digit by digit)."""
    referee = referee if referee is not None else load_judge()
    labels = torch.tensor(digits).repeat_interleave(per_digit)  # (D * per_digit,)
    out = {"scale": [], "accuracy": [], "diversity": [], "seconds": [], "images": []}
    for scale in scales:
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(seed)  # the same noise at every scale
        images = pipe(labels, steps, scale, generator=generator, progress=progress)
        out["seconds"].append(time.perf_counter() - start)
        verdict = judge(images, referee, scale="zero_one")
        per_class = [mean_pairwise_distance(group) for group in images.split(per_digit)]
        out["scale"].append(float(scale))
        out["accuracy"].append((verdict.labels == labels).float().mean().item())
        out["diversity"].append(sum(per_class) / len(per_class))
        out["images"].append(images)
    return out
