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
from PIL import ImageDraw, ImageFont

from course_lib import clip, data
from widgets import frames

THUMB = 64  # pixels per thumbnail (a 32x32 digit at 2x)
PICKED = 96  # the picked image at 3x
WHITE, INK, BAR, GOOD, BAD = (
    (255, 255, 255),
    (30, 30, 30),
    (70, 130, 230),
    (20, 150, 60),
    (200, 40, 40),
)


def softmax_ranking(scores: torch.Tensor, temperature: float, k: int):
    """Top-k of a 1-D score vector: (indices, scores, softmax(scores / temperature) probs)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    probs = torch.softmax(scores / temperature, dim=0)  # over every candidate
    top = scores.topk(min(k, len(scores))).indices
    return top, scores[top], probs[top]


def _font():
    try:
        return ImageFont.load_default(size=13)
    except TypeError:  # Pillow < 10.1: one fixed bitmap font
        return ImageFont.load_default()


def _thumb(image: torch.Tensor, size: int) -> PILImage.Image:
    pixels = frames.as_rgb(frames.to_pixels(image))
    return PILImage.fromarray(frames.upscale(pixels, size // pixels.shape[0]))


def draw_frame(
    images: torch.Tensor,
    prompt: str,
    ranking: tuple,
    picked: int,
    caption_ranking: tuple,
    captions: list[str],
    true_caption: str,
    temperature: float,
) -> np.ndarray:
    """The whole frame as (H, W, 3) uint8: prompt results on top, the picked image below."""
    font = _font()
    top, cos, probs = ranking
    k = len(top)
    width = max(k * (THUMB + 10) + 10, 640)
    height = 34 + THUMB + 46 + 24 + PICKED + 30
    canvas = PILImage.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(canvas)
    draw.text(
        (10, 8),
        f'prompt "{prompt}"  (softmax over {len(images):,} images, T = {temperature:.3f})',
        fill=INK,
        font=font,
    )
    y = 30
    for slot, (i, c, p) in enumerate(zip(top.tolist(), cos.tolist(), probs.tolist(), strict=True)):
        x = 10 + slot * (THUMB + 10)
        canvas.paste(_thumb(images[i], THUMB), (x, y))
        draw.text((x, y + THUMB + 3), f"cos {c:.2f}", fill=INK, font=font)
        draw.rectangle((x, y + THUMB + 22, x + THUMB, y + THUMB + 30), outline=BAR)
        draw.rectangle((x, y + THUMB + 22, x + round(THUMB * p), y + THUMB + 30), fill=BAR)
        draw.text((x, y + THUMB + 32), f"p {p:.2f}", fill=INK, font=font)
    y += THUMB + 56
    draw.line((10, y - 6, width - 10, y - 6), fill=(200, 200, 200))
    draw.text((10, y), f"test image {picked}: closest of all 300 captions", fill=INK, font=font)
    y += 20
    canvas.paste(_thumb(images[picked], PICKED), (10, y))
    order, cos, probs = caption_ranking
    x0, bar_w = 20 + PICKED, 90
    for row, (j, c, p) in enumerate(zip(order.tolist(), cos.tolist(), probs.tolist(), strict=True)):
        ty = y + row * 19
        draw.rectangle((x0, ty + 3, x0 + bar_w, ty + 13), outline=BAR)
        draw.rectangle((x0, ty + 3, x0 + round(bar_w * p), ty + 13), fill=BAR)
        right = captions[j] == true_caption
        mark = "  (true caption)" if right else ""
        draw.text(
            (x0 + bar_w + 8, ty),
            f"p {p:.2f}  cos {c:.2f}  {captions[j]}{mark}",
            fill=GOOD if right else INK,
            font=font,
        )
    return np.asarray(canvas)


class SimilarityExplorer(ipw.VBox):
    """A prompt box, a temperature slider and an image picker over CLIP's test embeddings.

    model: a trained `clip.CLIP`; images (N, 3, H, W) in [-1, 1] with their captions.
    """

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
        self.model, self.images, self.captions, self.top_k = model, images, captions, top_k
        self.image_emb = clip.embed_images(model, images)  # (N, D), once
        self.all_captions = data.all_captions()[0]
        self.caption_emb = clip.embed_texts(model, self.all_captions)  # (300, D), once
        self._text_cache: dict[str, torch.Tensor] = {}
        self._frames: dict[tuple, bytes] = {}
        self.frame = frames.new_frame("png")
        self.status = frames.new_status()
        learned = 1.0 / model.logit_scale.item()
        self.controls = {
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
            "image": ipw.IntSlider(value=0, min=0, max=len(images) - 1, description="test image"),
        }
        redraw = frames.shows_errors(self.status)(self._redraw)
        for control in self.controls.values():
            control.observe(redraw, "value")
        self._redraw()
        super().__init__([ipw.HBox(list(self.controls.values())), self.frame, self.status])

    def text_embedding(self, prompt: str) -> torch.Tensor:
        """(D,) embedding of a prompt: one text-encoder call, cached."""
        if prompt not in self._text_cache:
            self._text_cache[prompt] = clip.embed_texts(self.model, [prompt], unknown="ignore")[0]
        return self._text_cache[prompt]

    def compose(self, prompt: str, temperature: float, picked: int) -> np.ndarray:
        """The frame for one setting of the controls (pure apart from the embedding cache)."""
        scores = self.image_emb @ self.text_embedding(prompt)  # (N,) cosines
        ranking = softmax_ranking(scores, temperature, self.top_k)
        caption_scores = self.caption_emb @ self.image_emb[picked]  # (300,)
        closest = softmax_ranking(caption_scores, temperature, 5)
        return draw_frame(
            self.images,
            prompt,
            ranking,
            picked,
            closest,
            self.all_captions,
            self.captions[picked],
            temperature,
        )

    def _redraw(self, _=None) -> None:
        prompt = self.controls["prompt"].value.strip()
        temperature = self.controls["temperature"].value
        picked = self.controls["image"].value
        unknown = self.model.tokenizer.unknown_words(prompt)
        self.model.tokenizer.encode([prompt], unknown="ignore")  # empty or too long: clear error
        key = (prompt, round(temperature, 6), picked)
        if key not in self._frames:
            self._frames[key] = frames.encode(self.compose(prompt, temperature, picked))
        self.frame.value = self._frames[key]
        note = f"; unknown words became &lt;unk&gt;: <b>{', '.join(unknown)}</b>" if unknown else ""
        self.status.value = (
            f"learned temperature 1/{self.model.logit_scale.item():.1f} = "
            f"{1 / self.model.logit_scale.item():.3f}{note}"
        )

    def static(
        self, prompts: tuple[str, ...] = ("a large red seven", "a small blue two in the top right")
    ):
        """A matplotlib figure: the frames for a few prompts at the learned temperature."""
        import matplotlib.pyplot as plt

        temperature = 1.0 / self.model.logit_scale.item()
        shown = [
            self.compose(p, temperature, i * 97 % len(self.images)) for i, p in enumerate(prompts)
        ]
        fig, axes = plt.subplots(len(shown), 1, figsize=(9, 4.2 * len(shown)))
        for ax, frame in zip(np.atleast_1d(axes), shown, strict=True):
            ax.imshow(frame)
            ax.axis("off")
        fig.tight_layout()
        return fig

    @classmethod
    def demo(cls) -> SimilarityExplorer:
        """The shipped clip-digits model over the 1,000 captioned test digits."""
        from course_lib import checkpoints

        images, captions, _ = data.captioned_digits("test")
        return cls(checkpoints.load_pretrained("clip-digits"), images, captions)
