"""SimilarityExplorer: type a prompt, see which test images CLIP finds closest.

Top: the images most similar to the prompt, each with its cosine similarity and its
probability under a softmax over all candidate images at the chosen temperature (lower
temperature, sharper softmax). Bottom: one picked image and the captions, among all 300,
it is closest to. Image and caption embeddings are computed once; a new prompt costs one
text-encoder call.
"""

from __future__ import annotations

import ipywidgets as ipw
import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw

from course_lib import clip, data
from widgets import frames
from widgets.base import Explorer, Move, check_count, check_prompt

THUMB = 64  # pixels per thumbnail (a 32x32 digit at 2x)
PICKED = 96  # the picked image at 3x
BAR, GOOD = (70, 130, 230), (20, 150, 60)  # the softmax bars, the true caption

# what `python -m tools.bench` types and slides to
PROMPTS = [f"a small {c} {d} in the top left" for c in ("red", "blue") for d in ("one", "two")]
PROMPTS += [f"a large {c} {d}" for c in ("green", "cyan", "yellow") for d in ("six", "nine")]
TEMPERATURES = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]


def softmax_ranking(scores: torch.Tensor, temperature: float, k: int):
    """Top-k of a 1-D score vector: (indices, scores, softmax(scores / temperature) probs)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    probs = torch.softmax(scores / temperature, dim=0)  # over every candidate
    top = scores.topk(min(k, len(scores))).indices
    return top, scores[top], probs[top]


def to_pixel_array(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8, once, so frames only index."""
    scaled = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _thumb(pixels: np.ndarray, size: int) -> PILImage.Image:
    return PILImage.fromarray(frames.upscale(pixels, size // pixels.shape[0]))


def _bar(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], fraction: float) -> None:
    left, top, right, bottom = box
    draw.rectangle(box, outline=BAR)
    draw.rectangle((left, top, left + round((right - left) * fraction), bottom), fill=BAR)


def draw_prompt_panel(
    pixels: np.ndarray,
    prompt: str,
    ranking: tuple,
    temperature: float,
    labels: frames.Labels,
    width: int,
) -> np.ndarray:
    """Top panel (H, width, 3) uint8: the images closest to the prompt, cosine and softmax.

    pixels: every candidate image as (N, H, W, 3) uint8 (see `to_pixel_array`)."""
    top, cos, probs = ranking
    canvas = PILImage.new("RGB", (width, 30 + THUMB + 56), frames.WHITE)
    draw = ImageDraw.Draw(canvas)
    title = f'prompt "{prompt}"  (softmax over {len(pixels):,} images, T = {temperature:.3f})'
    canvas.paste(labels(title), (10, 8))
    y = 30
    for slot, (i, c, p) in enumerate(zip(top.tolist(), cos.tolist(), probs.tolist(), strict=True)):
        x = 10 + slot * (THUMB + 10)
        canvas.paste(_thumb(pixels[i], THUMB), (x, y))
        canvas.paste(labels(f"cos {c:.2f}"), (x, y + THUMB + 3))
        _bar(draw, (x, y + THUMB + 22, x + THUMB, y + THUMB + 30), p)
        canvas.paste(labels(f"p {p:.2f}"), (x, y + THUMB + 33))
    draw.line((10, canvas.height - 4, width - 10, canvas.height - 4), fill=(200, 200, 200))
    return np.asarray(canvas)


def draw_caption_panel(
    image: np.ndarray,
    index: int,
    ranking: tuple,
    captions: list[str],
    true_caption: str,
    labels: frames.Labels,
    width: int,
) -> np.ndarray:
    """Bottom panel (H, width, 3) uint8: one image (H, W, 3) uint8 and its closest captions."""
    order, cos, probs = ranking
    canvas = PILImage.new("RGB", (width, 24 + PICKED + 14), frames.WHITE)
    draw = ImageDraw.Draw(canvas)
    canvas.paste(labels(f"test image {index}: closest of all 300 captions"), (10, 2))
    y = 22
    canvas.paste(_thumb(image, PICKED), (10, y))
    x0, bar_w = 20 + PICKED, 90
    for row, (j, c, p) in enumerate(zip(order.tolist(), cos.tolist(), probs.tolist(), strict=True)):
        ty = y + row * 19
        _bar(draw, (x0, ty + 3, x0 + bar_w, ty + 13), p)
        canvas.paste(labels(f"p {p:.2f}  cos {c:.2f}"), (x0 + bar_w + 8, ty))
        right = captions[j] == true_caption
        text = captions[j] + ("  (true caption)" if right else "")
        canvas.paste(labels(text, GOOD if right else frames.INK), (x0 + bar_w + 120, ty))
    return np.asarray(canvas)


class SimilarityExplorer(Explorer):
    """A prompt box, a temperature slider and an image picker over CLIP's test embeddings.

    model: a trained `clip.CLIP`; images (N, 3, H, W) in [-1, 1] with their captions.
    """

    # a panel is a ~0.3 MB array, a frame a ~30 KB PNG, a prompt's embedding D floats: about
    # 20 + 8 MB at most, and a frame not kept redraws from its two panels in milliseconds
    cache_limits = {"text": 1024, "panels": 64, "frames": 256}
    cache_megabytes = {"panels": 20}  # all 64 panels
    bench_moves = (
        Move("new prompt", "prompt", PROMPTS, moves=len(PROMPTS)),  # one text call each
        Move("temperature slider, first visit", "temperature", TEMPERATURES, moves=8),
        Move("temperature slider, cached", "temperature", TEMPERATURES),
        Move("test image picker, first visit", "image", range(1, 31), moves=30),
    )

    def __init__(
        self,
        model: clip.CLIP,
        images: torch.Tensor,
        captions: list[str],
        prompt: str = "a large red seven",
        top_k: int = 8,
    ):
        if not isinstance(model, clip.CLIP):
            raise TypeError(f"model must be a course_lib.clip.CLIP, got {type(model).__name__}")
        if len(images) != len(captions) or len(images) == 0:
            raise ValueError(f"give one caption per image: {len(images)} images, {len(captions)}")
        check_prompt(prompt)
        check_count(top_k, "top_k", len(images))  # at most one per image
        self.model, self.images, self.captions, self.top_k = model, images, captions, top_k
        self.image_emb = clip.embed_images(model, images)  # (N, D), once
        self.pixels = to_pixel_array(images)  # (N, H, W, 3) uint8, once
        self.all_captions = data.all_captions()[0]
        self.caption_emb = clip.embed_texts(model, self.all_captions)  # (300, D), once
        self._labels = frames.Labels()
        self.width = max(top_k * (THUMB + 10) + 10, 660)
        learned = 1.0 / model.logit_scale.item()
        super().__init__(
            {
                "prompt": ipw.Text(value=prompt, description="prompt", continuous_update=False),
                "temperature": ipw.FloatLogSlider(
                    value=learned,
                    base=10,
                    min=-3,
                    max=0,
                    step=0.05,
                    description="temperature",
                    readout_format=".3f",
                ),
                "image": ipw.IntSlider(
                    value=0, min=0, max=len(images) - 1, description="test image"
                ),
            }
        )

    def text_embedding(self, prompt: str) -> torch.Tensor:
        """(D,) embedding of a prompt: one text-encoder call, cached."""
        return self.cached(prompt, lambda: self._embed_one(prompt), "text")

    def _embed_one(self, prompt: str) -> torch.Tensor:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one 12-token caption: waking threads costs more than it saves
        try:
            return clip.embed_texts(self.model, [prompt], unknown="ignore")[0]
        finally:
            torch.set_num_threads(threads)

    def prompt_panel(self, prompt: str, temperature: float) -> np.ndarray:
        """Top panel for a prompt: one text-encoder call the first time, then cached."""

        def draw() -> np.ndarray:
            scores = self.image_emb @ self.text_embedding(prompt)  # (N,) cosines
            ranking = softmax_ranking(scores, temperature, self.top_k)
            return draw_prompt_panel(
                self.pixels, prompt, ranking, temperature, self._labels, self.width
            )

        return self.cached(("prompt", prompt, round(temperature, 6)), draw, "panels")

    def caption_panel(self, picked: int, temperature: float) -> np.ndarray:
        """Bottom panel for test image `picked`: its closest captions among all 300."""

        def draw() -> np.ndarray:
            scores = self.caption_emb @ self.image_emb[picked]  # (300,) cosines
            ranking = softmax_ranking(scores, temperature, 5)
            true_caption = self.captions[picked]
            return draw_caption_panel(
                self.pixels[picked],
                picked,
                ranking,
                self.all_captions,
                true_caption,
                self._labels,
                self.width,
            )

        return self.cached(("image", picked, round(temperature, 6)), draw, "panels")

    def compose(self, prompt: str, temperature: float, picked: int) -> np.ndarray:
        """The frame for one setting of the controls: prompt panel over caption panel."""
        return np.concatenate(
            [self.prompt_panel(prompt, temperature), self.caption_panel(picked, temperature)]
        )

    def draw(self) -> None:
        prompt = self.controls["prompt"].value.strip()
        temperature = self.controls["temperature"].value
        picked = self.controls["image"].value
        unknown = self.model.tokenizer.unknown_words(prompt)
        self.model.tokenizer.encode([prompt], unknown="ignore")  # empty or too long: clear error
        frame = self.cached(
            (prompt, round(temperature, 6), picked),
            lambda: frames.encode(self.compose(prompt, temperature, picked)),
        )
        self.show(frame)
        note = f"; unknown words became &lt;unk&gt;: <b>{', '.join(unknown)}</b>" if unknown else ""
        self.status.value = (
            f"learned temperature 1/{self.model.logit_scale.item():.1f} = "
            f"{1 / self.model.logit_scale.item():.3f}{note}"
        )

    def static(
        self, prompts: tuple[str, ...] = ("a large red seven", "a small blue two in the top right")
    ):
        """A matplotlib figure: the frames for a few prompts at the learned temperature."""
        temperature = 1.0 / self.model.logit_scale.item()
        shown = [
            self.compose(p, temperature, i * 97 % len(self.images)) for i, p in enumerate(prompts)
        ]
        return frames.column_figure(shown, width=9, row_height=4.2)

    @classmethod
    def demo(cls) -> SimilarityExplorer:
        """The shipped clip-digits model over the 1,000 captioned test digits."""
        from course_lib import checkpoints

        images, captions, _ = data.captioned_digits("test")
        return cls(checkpoints.load_pretrained("clip-digits"), images, captions)
