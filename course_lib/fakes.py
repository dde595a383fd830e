"""Can the course's judge tell a real image from one passed through a generator's codec?

A VAE round trip (encode, then decode the latent's mean) changes every pixel a little and
leaves the picture looking the same. `compare` puts real captioned digits and their round
trips in front of the caption judge (`caption_judge`) and asks two detectors to separate
them: a threshold on the judge's digit confidence, and a logistic regression on the judge's
features, both scored on images they were not fitted on.

Letters: N images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from course_lib import caption_judge, judge


@torch.no_grad()
def round_trip(vae, images: Tensor, batch_size: int = 250) -> Tensor:
    """Images (N, 3, H, W) in [-1, 1] -> their VAE reconstructions (decode of the mean)."""
    out = []
    for chunk in images.split(batch_size):
        mean, _ = vae.encode(chunk.to(vae.dtype))
        out.append(vae.decode(mean).float().clamp(-1, 1))
    return torch.cat(out)


def threshold_accuracy(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> float:
    """Accuracy of the best one-number threshold (either direction) picked on one half of
    the scores, measured on the other half: 0.5 is a coin toss."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate([real, fake])
    is_fake = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    order = rng.permutation(len(scores))
    fit, held = order[: len(order) // 2], order[len(order) // 2 :]
    best, best_rule = 0.0, (0.0, 1)
    seen = np.unique(scores[fit])
    for cut in (seen[:-1] + seen[1:]) / 2:  # midway between neighbouring scores
        for sign in (1, -1):
            right = ((sign * scores[fit] > sign * cut) == is_fake[fit]).mean()
            if right > best:
                best, best_rule = right, (cut, sign)
    cut, sign = best_rule
    return float(((sign * scores[held] > sign * cut) == is_fake[held]).mean())


def probe_accuracy(real: Tensor, fake: Tensor, folds: int = 5) -> float:
    """Cross-validated accuracy of a logistic regression on features (N, F) of each kind."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    x = torch.cat([real, fake]).double().numpy()
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    probe = LogisticRegression(max_iter=2000)
    return float(cross_val_score(probe, x, y, cv=folds).mean())


@dataclass
class Comparison:
    """What the judge sees in real images and their round trips."""

    pixel_rms: float  # RMS change per pixel on [-1, 1]: how much the round trip moved
    confidence_real: Tensor  # (N,) the judge's digit confidence on the real images
    confidence_fake: Tensor  # (N,) and on their round trips
    read_same: float  # fraction of pairs the judge reads as the same digit, colour, layout
    threshold_accuracy: float  # a confidence threshold as a real-vs-fake detector
    probe_accuracy: float  # a logistic regression on the judge's features as a detector

    def __str__(self) -> str:
        return (
            f"round trip moves each pixel by {self.pixel_rms:.3f} (RMS, on [-1, 1]); the judge "
            f"reads {self.read_same:.1%} of pairs identically; mean confidence real "
            f"{self.confidence_real.mean():.3f}, round-tripped {self.confidence_fake.mean():.3f}; "
            f"detectors (held-out accuracy, 0.5 = chance): confidence threshold "
            f"{self.threshold_accuracy:.2f}, logistic regression on judge features "
            f"{self.probe_accuracy:.2f}"
        )


def compare(images: Tensor, vae, digit_judge=None) -> Comparison:
    """Real captioned digits (N, 3, 32, 32) in [-1, 1] against their VAE round trips."""
    digit_judge = digit_judge if digit_judge is not None else judge.load_judge()
    fakes = round_trip(vae, images)
    readings, features = [], []
    for batch in (images, fakes):
        unit = (batch + 1) / 2
        reading = caption_judge.read(unit, digit_judge)
        crops = caption_judge.digit_crops(unit, reading.layout)
        readings.append(reading)
        features.append(judge.judge(crops, digit_judge).features)
    real, fake = readings
    same = (real.digit == fake.digit) & (real.color == fake.color) & (real.layout == fake.layout)
    return Comparison(
        pixel_rms=(fakes - images).pow(2).mean().sqrt().item(),
        confidence_real=real.digit_confidence,
        confidence_fake=fake.digit_confidence,
        read_same=same.float().mean().item(),
        threshold_accuracy=threshold_accuracy(
            real.digit_confidence.numpy(), fake.digit_confidence.numpy()
        ),
        probe_accuracy=probe_accuracy(*features),
    )
