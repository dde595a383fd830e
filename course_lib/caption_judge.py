"""Judging whether an image shows what its caption says, without asking any generator.

For captioned digits (32x32 RGB, a coloured digit on black, large or small in a quadrant):
- color: the mean color of the stroke pixels, matched to the nearest of the six colors;
- layout: the stroke's bounding box: "large" when it spans more than one quadrant's size,
  else the quadrant holding the box's centre;
- digit: the stroke intensity, cropped by the judged layout and rescaled to 28x28, read by
  the `vit-digits` judge (trained separately from every generator).

Letters: N images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib import data, judge

STROKE = 0.35  # a pixel is stroke when its brightest channel is above this, in [0, 1]
LARGE_SPAN = 15  # a stroke box taller or wider than this is "large" (small digits span <= 13 px)


@dataclass
class Reading:
    """What the judge reads off each image: indices into DIGIT_WORDS, COLOR_NAMES, LAYOUTS."""

    digit: Tensor  # (N,) int64
    color: Tensor  # (N,) int64
    layout: Tensor  # (N,) int64
    digit_confidence: Tensor  # (N,) float

    def agreement(self, attributes: dict) -> dict[str, float]:
        """Fraction right for each attribute and for all three at once."""
        right = {
            key: getattr(self, key).numpy() == np.asarray(attributes[key])
            for key in ("digit", "color", "layout")
        }
        right["all three"] = right["digit"] & right["color"] & right["layout"]
        return {key: float(value.mean()) for key, value in right.items()}


def _check(images: Tensor) -> Tensor:
    if not isinstance(images, Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != (3, 32, 32):
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"the caption judge reads (N, 3, 32, 32) images in [0, 1], got {got}")
    return images.detach().float().cpu().clamp(0, 1)


def read_color(images: Tensor) -> Tensor:
    """(N, 3, 32, 32) in [0, 1] -> (N,) index of the nearest color to the mean stroke color."""
    images = _check(images)
    stroke = images.amax(dim=1, keepdim=True) > STROKE  # (N, 1, 32, 32)
    count = stroke.sum(dim=(2, 3)).clamp_min(1)  # (N, 1)
    mean = (images * stroke).sum(dim=(2, 3)) / count  # (N, 3)
    mean = mean / mean.amax(dim=1, keepdim=True).clamp_min(1e-6)  # brightest channel -> 1
    palette = torch.tensor([data.COLORS[name] for name in data.COLOR_NAMES])  # (6, 3)
    return torch.cdist(mean, palette).argmin(dim=1)


def _boxes(images: Tensor) -> Tensor:
    """(N, 4) stroke bounding boxes (top, bottom, left, right), inclusive pixel indices."""
    stroke = images.amax(dim=1) > STROKE  # (N, 32, 32)
    rows, cols = stroke.any(dim=2), stroke.any(dim=1)  # (N, 32) each
    index = torch.arange(32)
    empty = torch.tensor(-1)
    top = torch.where(rows, index, torch.tensor(99)).amin(1)
    bottom = torch.where(rows, index, empty).amax(1)
    left = torch.where(cols, index, torch.tensor(99)).amin(1)
    right = torch.where(cols, index, empty).amax(1)
    return torch.stack([top, bottom, left, right], dim=1)


def read_layout(images: Tensor) -> Tensor:
    """(N, 3, 32, 32) in [0, 1] -> (N,) index into data.LAYOUTS from the stroke's bounding box."""
    boxes = _boxes(_check(images)).float()
    top, bottom, left, right = boxes.unbind(1)
    large = ((bottom - top) > LARGE_SPAN) | ((right - left) > LARGE_SPAN) | (bottom < 0)
    lower = (top + bottom) / 2 >= 16
    righter = (left + right) / 2 >= 16
    quadrant = 1 + lower.long() * 2 + righter.long()  # 1 top left, 2 top right, 3 bl, 4 br
    return torch.where(large, torch.zeros_like(quadrant), quadrant)


def digit_crops(images: Tensor, layouts: Tensor) -> Tensor:
    """Stroke intensity cropped where `layouts` says, as (N, 1, 28, 28) digits in [-1, 1]."""
    gray = _check(images).amax(dim=1, keepdim=True)  # (N, 1, 32, 32) stroke intensity
    crops = torch.empty(len(gray), 1, 28, 28)
    for i, layout in enumerate(layouts.tolist()):
        if layout == 0:
            crops[i] = gray[i, :, 2:30, 2:30]
        else:
            name = data.LAYOUTS[layout]
            top = 0 if name.startswith("top") else 16
            left = 0 if name.endswith("left") else 16
            quadrant = gray[i : i + 1, :, top : top + 16, left : left + 16]
            crops[i] = F.interpolate(quadrant, size=(28, 28), mode="bilinear", align_corners=False)[
                0
            ]
    return crops * 2 - 1


@torch.no_grad()
def read(images: Tensor, digit_judge=None) -> Reading:
    """Digit, color and layout of each (N, 3, 32, 32) image in [0, 1]."""
    layouts = read_layout(images)
    verdict = judge.judge(digit_crops(images, layouts), model=digit_judge)
    return Reading(verdict.labels, read_color(images), layouts, verdict.confidence)


def evaluation_prompts(held_out: bool, count: int = 500, seed: int = 0):
    """`count` prompts drawn evenly over the (digit, color) pairs seen in training (or the
    held-out ones, `data.HELD_OUT_PAIRS`), with layouts drawn at random from `seed`;
    returns (prompts, attributes), attributes as `Reading.agreement` takes them."""
    held = {(d, data.COLOR_NAMES.index(c)) for d, c in data.HELD_OUT_PAIRS}
    pairs = [
        (d, c)
        for d in range(10)
        for c in range(len(data.COLOR_NAMES))
        if ((d, c) in held) == held_out
    ]
    rng = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(count):
        d, c = pairs[i % len(pairs)]
        layout = int(torch.randint(0, len(data.LAYOUTS), (1,), generator=rng))
        rows.append((d, c, layout))
    prompts = [data.caption(*row) for row in rows]
    attributes = {
        k: torch.tensor([r[i] for r in rows]).numpy()
        for i, k in enumerate(("digit", "color", "layout"))
    }
    return prompts, attributes


def prompt_following(
    pipe,
    prompts,
    attributes,
    guidance_scale: float,
    batch_size: int = 100,
    seed: int = 0,
    num_inference_steps: int = 50,
) -> dict:
    """Generate one image per prompt with a text-to-image pipeline, and judge its digit,
    color and layout against the prompt: the fraction right of each, and of all three."""
    images = torch.cat(
        [
            pipe(
                prompts[i : i + batch_size],
                num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale,
                generator=torch.Generator().manual_seed(seed + i),
            )
            for i in range(0, len(prompts), batch_size)
        ]
    )
    return read(images).agreement(attributes)


def attention_quadrant(word_map: Tensor) -> int:
    """The quadrant (an index into data.LAYOUTS, 1..4) holding most of a (H, W) map's mass."""
    h, w = word_map.shape
    quadrants = word_map.reshape(2, h // 2, 2, w // 2).sum(dim=(1, 3))  # (2, 2): rows, cols
    return 1 + int(quadrants.flatten().argmax())  # 1 top left, 2 top right, 3 bl, 4 br


def attention_quadrant_rate(pipe, count: int = 100, seed: int = 0, batch_size: int = 50):
    """Over `count` prompts of small digits (a quadrant each), how often the digit word's
    cross-attention map puts most of its mass in the quadrant where the digit was drawn (as
    `read_layout` reads it; only images read as small count) and in the prompt's quadrant."""
    prompts, attributes = evaluation_prompts(held_out=False, count=4 * count, seed=seed)
    small = [i for i in range(len(prompts)) if attributes["layout"][i] > 0][:count]
    drawn_hits = drawn_total = prompted_hits = 0
    for start in range(0, len(small), batch_size):
        chunk = small[start : start + batch_size]
        generator = torch.Generator().manual_seed(seed + start)
        results = pipe.cross_attention([prompts[i] for i in chunk], generator=generator)
        drawn = read_layout(torch.stack([r.image for r in results]))
        for i, result, where in zip(chunk, results, drawn.tolist(), strict=True):
            peak = attention_quadrant(result.word(data.DIGIT_WORDS[attributes["digit"][i]]))
            prompted_hits += peak == attributes["layout"][i]
            if where > 0:
                drawn_total += 1
                drawn_hits += peak == where
    return {
        "in the drawn quadrant": drawn_hits / max(drawn_total, 1),
        "in the prompted quadrant": prompted_hits / len(small),
        "images read as small": drawn_total,
    }


def recolour_table(
    pipe, images: Tensor, digit: int, old: str, new: str, strengths, seed=0, num_inference_steps=50
):
    """Image to image: `images` (N, 3, 32, 32) in [0, 1] of an `old`-coloured large `digit`,
    redrawn with the prompt "a large <new> <digit>" at each strength; per strength the
    fraction read in the new colour, in the old colour, and as the same digit."""
    prompt = data.caption(digit, data.COLOR_NAMES.index(new), 0)
    rows = []
    for strength in strengths:
        out = pipe(
            [prompt] * len(images),
            image=images,
            strength=strength,
            num_inference_steps=num_inference_steps,
            generator=torch.Generator().manual_seed(seed),
            progress=False,
        )
        reading = read(out)
        rows.append(
            {
                "strength": strength,
                "new colour": float((reading.color == data.COLOR_NAMES.index(new)).float().mean()),
                "old colour": float((reading.color == data.COLOR_NAMES.index(old)).float().mean()),
                "digit kept": float((reading.digit == digit).float().mean()),
            }
        )
    return rows
