"""VLMExplorer: ask the tiny VLM about an image and see where each answer word looks.

Pick a test image (slider) or type a prompt and let a text-to-image pipeline draw one; pick
a question; the frame shows the image as the model sees it (with its patch grid) and the
answer word by word, each word's attention over the patches beside its confidence. The
resolution slider throws detail away first (`vlm.degrade`), to watch the answers break
while the confidence stays high.
"""

from __future__ import annotations

import ipywidgets as ipw
import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw

from course_lib import checks, pipelines, vlm
from widgets import frames
from widgets.base import Explorer, Move, check_count

SCALE = 4  # the 32x32 image at 4x
TILE = 96  # one answer word's attention map (a multiple of 32 and of every patch grid)
RESOLUTIONS = (32, 16, 12, 8, 6, 4)
WHITE, INK, GRID = (255, 255, 255), (30, 30, 30), (90, 90, 90)


def heat_overlay(pixels: np.ndarray, attention: np.ndarray, size: int) -> np.ndarray:
    """The image (H, W, 3) uint8 dimmed, with an (h, w) attention map in orange on top,
    scaled to (size, size, 3) uint8; the map is shown relative to its own maximum."""
    heat = attention / max(float(attention.max()), 1e-8)  # (h, w) in [0, 1]
    heat = frames.upscale(heat, size // heat.shape[0])[..., None]  # (size, size, 1)
    image = frames.upscale(pixels, size // pixels.shape[0]).astype(np.float32)
    orange = np.array([255.0, 150.0, 0.0])
    return (0.35 * image + heat * 0.65 * orange).clip(0, 255).astype(np.uint8)


def draw_frame(pixels: np.ndarray, question: str, reading: vlm.Reading, note: str) -> np.ndarray:
    """The frame (H, W, 3) uint8: the image with its patch grid, then one tile per word."""
    side = reading.attention.shape[-1]
    big = frames.upscale(pixels, SCALE).copy()  # (128, 128, 3)
    step = big.shape[0] // side
    big[::step, :] = GRID
    big[:, ::step] = GRID
    count = max(len(reading.words), 1)
    width = max(big.shape[1] + 20 + count * (TILE + 8), 560)
    canvas = PILImage.new("RGB", (width, big.shape[0] + 64), WHITE)
    draw = ImageDraw.Draw(canvas)
    answer = " ".join(reading.words) or "(no words)"
    draw.text((10, 4), f"Q: {question}   A: {answer}", fill=INK)
    canvas.paste(PILImage.fromarray(big), (10, 22))
    draw.text((10, 26 + big.shape[0]), note, fill=INK)
    for i, (word, p, attention) in enumerate(
        zip(reading.words, reading.confidence, reading.attention, strict=True)
    ):
        x = big.shape[1] + 20 + i * (TILE + 8)
        tile = heat_overlay(pixels, attention.numpy(), TILE)
        canvas.paste(PILImage.fromarray(tile), (x, 22))
        draw.text((x, 26 + TILE), word, fill=INK)
        draw.text((x, 40 + TILE), f"p {p:.2f}", fill=INK)
    return np.asarray(canvas)


class VLMExplorer(Explorer):
    """A test-image slider, a prompt box, a question menu and a resolution slider over a
    `pipelines.VLMPipeline`; `image_pipe` (a text-to-image pipeline) draws typed prompts.

    images: (N, 3, 32, 32) in [-1, 1]. steps: the denoising steps for a drawn prompt.
    """

    rows = (("image", "prompt"), ("question", "resolution"))
    cache_limits = {"frames": 256, "drawn": 16}  # frames by setting; images drawn by prompt
    bench_moves = (
        Move("test image slider", "image", values=range(20)),
        Move("resolution slider", "resolution"),
        Move("question menu", "question"),
    )

    def __init__(self, pipe, images: torch.Tensor, image_pipe=None, steps: int = 50):
        if not isinstance(pipe, pipelines.VLMPipeline):
            raise TypeError(
                f"pipe must be a VLMPipeline, e.g. pipelines.load('vlm-digits'), got {pipe!r}"
            )
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or len(images) == 0:
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
            raise ValueError(f"give at least one image (N, 3, 32, 32) in [-1, 1], got {got}")
        checks.floating(images, "images")
        if image_pipe is not None and not isinstance(image_pipe, pipelines.TextToImagePipeline):
            raise TypeError(
                "image_pipe must be a text-to-image pipeline, e.g. pipelines.load('ldm-digits'), "
                f"or None, got {image_pipe!r}"
            )
        check_count(steps, "steps", 1000)
        self.pipe, self.images, self.image_pipe, self.steps = pipe, images, image_pipe, steps
        self._source: tuple = ("test", 0)
        controls = {
            "image": ipw.IntSlider(value=0, min=0, max=len(images) - 1, description="test image"),
            "prompt": ipw.Text(
                value="",
                description="or draw",
                placeholder="a large red seven",
                continuous_update=False,
                disabled=image_pipe is None,
            ),
            "question": ipw.Dropdown(options=list(vlm.QUESTIONS.values()), description="question"),
            "resolution": ipw.SelectionSlider(options=RESOLUTIONS, value=32, description="pixels"),
        }
        super().__init__(controls)

    def changed(self, name: str | None) -> None:
        """The slider picks a test image; a typed prompt (empty: back to the slider) a drawing."""
        prompt = self.controls["prompt"].value.strip()
        if name == "image" or (name == "prompt" and not prompt):
            self._source = ("test", self.controls["image"].value)
        elif name == "prompt":
            self._source = ("prompt", prompt)
        self.draw()

    def image(self, source: tuple) -> torch.Tensor:
        """(3, 32, 32) in [-1, 1]: a test image, or the one `image_pipe` draws for a prompt."""
        kind, what = source
        if kind == "test":
            return self.images[what]
        gen = torch.Generator().manual_seed(0)
        draw = lambda: self.image_pipe([what], self.steps, generator=gen, progress=False)[0]  # noqa: E731
        return self.cached(what, draw, cache="drawn") * 2 - 1

    def compose(self, source: tuple, question: str, resolution: int) -> np.ndarray:
        """The frame for one setting of the controls, as (H, W, 3) uint8."""
        seen = vlm.degrade(self.image(source)[None], resolution)  # (1, 3, 32, 32)
        reading = vlm.word_by_word(self.pipe.model, seen, question)[0]
        pixels = frames.to_pixels(seen[0])
        where = f"test image {source[1]}" if source[0] == "test" else f'drawn: "{source[1]}"'
        return draw_frame(
            pixels, question, reading, f"{where}, seen at {resolution} x {resolution}"
        )

    def draw(self) -> None:
        question = self.controls["question"].value
        resolution = self.controls["resolution"].value
        key = (self._source, question, resolution)
        self.show(self.cached(key, lambda: frames.encode(self.compose(*key))))
        self.status.value = f"{self.pipe.model.config.num_image_tokens} image tokens; {key[0][0]}"

    def static(self):
        """A matplotlib figure: one image asked three ways, then seen at 8 x 8 pixels."""
        settings = [
            (vlm.QUESTIONS["color"], 32),
            (vlm.QUESTIONS["caption"], 32),
            (vlm.QUESTIONS["digit"], 32),
            (vlm.QUESTIONS["digit"], 8),
        ]
        shown = [self.compose(("test", 1), q, r) for q, r in settings]
        return frames.column_figure(shown, width=9, row_height=2.4)

    @classmethod
    def demo(cls) -> VLMExplorer:
        """The shipped vlm-digits over the 1,000 test digits, ldm-digits drawing prompts."""
        from course_lib import data, pipelines

        images, _, _ = data.captioned_digits("test")
        return cls(pipelines.load("vlm-digits"), images, pipelines.load("ldm-digits"))
