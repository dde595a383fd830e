"""LatentExplorer: a tiny Stable Diffusion from the inside, in five views.

- "latents": a test image, its reconstruction by the VAE, and the four 8x8 channels of its
  latent (red positive, blue negative, as in notebook 07's figure);
- "interpolate": the arc (spherical interpolation) between the latents of two test images;
  every slider position is decoded live (one decode of a 4x8x8 latent takes milliseconds);
- "generate": the reverse process for a prompt at a guidance scale, every step's latent
  decoded (top) with the decoded clean latent the model predicts at that step (bottom).
  Each (prompt, guidance, seed) is sampled once, with a progress bar, then cached;
- "words": where one word of the prompt is read (its cross-attention map over the image),
  at the step on the step slider, and averaged over all steps (`pipe.cross_attention`).
- "originality": the same generation's samples, each beside its nearest training images
  (`course_lib.provenance`) with their distances, in pixel space or clip-digits' image
  embedding, against the typical train-to-train distance: check a sample's originality.

One `ipywidgets.Image` shows whichever view is picked; only that view's controls are shown.
"""

from __future__ import annotations

import html
import warnings

import ipywidgets as ipw
import numpy as np
import torch
from PIL import Image as PILImage

from course_lib import diffusion, provenance, tokenizer
from course_lib.autoencoder import slerp
from widgets import frames
from widgets.base import (
    Explorer,
    Move,
    check_count,
    check_prompt,
    check_scale,
    check_seeds,
    play_for,
)

VIEWS = ("latents", "interpolate", "generate", "words", "originality")
SPACES = ("pixel", "clip")  # where the originality view measures distances
LATENT_LIMIT = 3.0  # channel values are drawn from -3 (dark blue) to +3 (dark red); unit std
# RdBu_r (ColorBrewer), from -LATENT_LIMIT to +LATENT_LIMIT: the colormap of notebook 07
DIVERGING = np.array(
    [
        (5, 48, 97),
        (33, 102, 172),
        (67, 147, 195),
        (146, 197, 222),
        (209, 229, 240),
        (247, 247, 247),
        (253, 219, 199),
        (244, 165, 130),
        (214, 96, 77),
        (178, 24, 43),
        (103, 0, 31),
    ],
    dtype=np.float64,
)
TITLE = 18  # pixels of the title band above each tile
GAP = 8  # white pixels between tiles


def escape(text: str) -> str:
    """Text for the HTML status line; quotes stay quotes."""
    return html.escape(text, quote=False)


def dims(x: torch.Tensor) -> str:
    return "x".join(map(str, x.shape))


def channel_colors(channel: torch.Tensor, limit: float = LATENT_LIMIT) -> np.ndarray:
    """One latent channel (h, w) -> (h, w, 3) uint8, diverging: blue < 0 < red, clipped."""
    values = channel.detach().float().cpu().clamp(-limit, limit).numpy()
    where = (values + limit) / (2 * limit) * (len(DIVERGING) - 1)  # position among the anchors
    anchors = np.arange(len(DIVERGING))
    rgb = [np.interp(where, anchors, DIVERGING[:, k]) for k in range(3)]
    return np.stack(rgb, axis=-1).round().astype(np.uint8)


def labelled_row(tiles: list[np.ndarray], titles: list[str], labels: frames.Labels) -> np.ndarray:
    """Equal-height RGB tiles side by side, GAP apart, each under its title: one uint8 image."""
    height = tiles[0].shape[0]
    width = sum(t.shape[1] for t in tiles) + GAP * (len(tiles) - 1)
    canvas = PILImage.new("RGB", (width, TITLE + height), frames.WHITE)
    left = 0
    for tile, title in zip(tiles, titles, strict=True):
        canvas.paste(labels(title), (left, 0))
        canvas.paste(PILImage.fromarray(np.ascontiguousarray(tile)), (left, TITLE))
        left += tile.shape[1] + GAP
    return np.asarray(canvas)


@torch.no_grad()
def encode_images(vae, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, H, W) in [-1, 1] -> (latent means (N, Z, h, w), reconstructions (N, 3, H, W)).

    The mean of q(z given x), in the VAE's scaled (diffusion) space, is the image's latent;
    the reconstruction is its decode.
    """
    device = next(vae.parameters()).device
    means, _ = vae.encode(images.to(device))  # (N, Z, h, w)
    return means, vae.decode(means)


def latents_pixels(
    image: torch.Tensor, reconstruction: torch.Tensor, latent: torch.Tensor, scale: int, labels
) -> np.ndarray:
    """Original, reconstruction and the Z latent channels of one image, in a labelled row.

    image, reconstruction: (3, H, W) in [-1, 1]; latent: (Z, h, w), drawn with `channel_colors`
    and enlarged to the images' size, so one latent cell covers the pixels it summarises.
    """
    size = image.shape[-1] * scale
    cell = size // latent.shape[-1]  # 8x8 -> 32x32 at scale 1: each latent cell is 4x4 pixels
    tiles = [frames.tile(image, scale), frames.tile(reconstruction, scale)]
    tiles += [frames.upscale(channel_colors(c), cell) for c in latent]
    titles = ["original", "reconstruction"] + [f"latent channel {k}" for k in range(len(latent))]
    return labelled_row(tiles, titles, labels)


@torch.no_grad()
def interpolation_pixels(
    vae, latent_a: torch.Tensor, latent_b: torch.Tensor, t: float, scale: int, labels
) -> np.ndarray:
    """Decoded latent A, the decoded slerp(A, B, t), decoded latent B: one labelled row.

    latent_a, latent_b: (Z, h, w) in the VAE's scaled space; one batched decode of three.
    """
    z = torch.stack([latent_a, slerp(latent_a, latent_b, t), latent_b])  # (3, Z, h, w)
    decoded = vae.decode(z)  # (3, 3, H, W) in [-1, 1]
    tiles = [frames.tile(x, scale) for x in decoded]
    return labelled_row(tiles, ["A  (t = 0)", f"slerp, t = {t:.2f}", "B  (t = 1)"], labels)


def heat_over(image: torch.Tensor, word_map: torch.Tensor, scale: int) -> np.ndarray:
    """A (H, W) attention map stretched from its minimum (0) to its maximum (1), drawn in
    red over the dimmed image (3, H, W) in [-1, 1]: (H*scale, W*scale, 3) uint8."""
    base = frames.tile(image, scale).astype(np.float64) * 0.4  # (H', W', 3), dimmed
    low, high = word_map.min(), word_map.max()
    heat = ((word_map - low) / (high - low).clamp_min(1e-8)).cpu().numpy()  # (H, W) in [0, 1]
    heat = frames.upscale(heat[..., None], scale)  # (H', W', 1)
    red = np.array([255.0, 40.0, 20.0])
    return (base * (1 - heat) + red * heat).round().clip(0, 255).astype(np.uint8)


def generate(
    pipe,
    prompt: str,
    guidance_scale: float,
    seed: int,
    images: int = 4,
    steps: int = 50,
    callback=None,
) -> tuple[diffusion.Trajectory, list[str]]:
    """`images` samples of one prompt from seed `seed`, with every step decoded.

    Returns (trajectory in [0, 1]: xs (S+1, B, 3, H, W), x0s (S, B, 3, H, W); the messages of
    any unknown-word warnings the tokenizer raised). "" is the unconditional prompt.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", tokenizer.UnknownWordWarning)
        _, trajectory = pipe(
            [prompt] * images,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            generator=torch.Generator().manual_seed(seed),
            return_trajectory=True,
            callback=callback,
            progress=False,  # the widget shows its own progress bar
        )
    unknown = []
    for w in caught:
        if issubclass(w.category, tokenizer.UnknownWordWarning):
            unknown.append(str(w.message))
        else:  # not ours to swallow
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return trajectory, unknown


def originality_pixels(
    samples: torch.Tensor, found, training_images: torch.Tensor, scale: int, labels
) -> np.ndarray:
    """Each sample beside its nearest training images, one labelled row per sample, stacked.

    samples: (B, 3, H, W) in [-1, 1]; found: their `provenance.Neighbours` (indices and
    distances (B, k)); training_images: the (M, 3, H, W) the indices point into."""
    rows = []
    for b, sample in enumerate(samples):
        nearest = zip(found.indices[b].tolist(), found.distances[b].tolist(), strict=True)
        tiles, titles = [frames.tile(sample, scale)], [f"sample {b}"]
        for i, d in nearest:
            tiles.append(frames.tile(provenance.as_float(training_images[i]), scale))
            titles.append(f"#{i}: {d:.2f}")
        rows.append(labelled_row(tiles, titles, labels))
    gap = np.full((GAP, rows[0].shape[1], 3), 255, dtype=np.uint8)
    stacked = [part for row in rows for part in (row, gap)][:-1]
    return np.concatenate(stacked)


def check_sampling(pipe, prompt, steps, guidance_scale, scale) -> None:
    """What LatentExplorer samples with: a latent pipeline (it has a VAE) and its settings."""
    if not hasattr(pipe, "vae"):
        raise TypeError(
            "pipe must be a latent text-to-image pipeline, e.g. pipelines.load('ldm-digits'), "
            f"got {type(pipe).__name__}"
        )
    check_prompt(prompt)
    check_count(steps, "steps", 1000)
    diffusion.check_guidance_scale(guidance_scale)
    check_scale(scale)


def check_inputs(images, captions, seeds, view, images_per_prompt, indices: dict) -> None:
    """LatentExplorer's arguments, refused with what to pass instead (a slider would clip a
    bad index silently)."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or len(images) < 2:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
        raise ValueError(f"pass at least two test images (N, 3, H, W) in [-1, 1], got {got}")
    if len(captions) != len(images):
        raise ValueError(f"pass one caption per image: {len(images)} images, {len(captions)}")
    check_seeds(seeds)
    for name, index in indices.items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(images):
            last = len(images) - 1
            raise ValueError(f"{name} must be an index from 0 to {last}, got {index!r}")
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    check_count(images_per_prompt, "images_per_prompt", 8)


class LatentExplorer(Explorer):
    """Five views of a text-to-image latent diffusion pipeline, one frame.

    pipe: a `pipelines.TextToImagePipeline` (its `.vae` encodes and decodes); images: test
    images (N, 3, H, W) in [-1, 1] with their `captions` (N strings), to encode and
    interpolate; images_per_prompt samples per generation, `steps` DDIM steps each.
    """

    samples = True
    # a generation keeps x_t and x0 of 4 samples (3x32x32) at 51 steps as uint8
    # (`frames.compact`), 1.2 MB, and takes seconds to sample; frames are 10-20 KB
    # (interpolation frames are decoded live, not kept)
    cache_limits = {"generations": 8, "frames": 512, "neighbours": 16}
    cache_megabytes = {"generations": 10}  # all 8 generations
    slow_text = ("prompt",)  # a new prompt samples a generation
    bench_moves = (
        Move(
            "interpolation t slider, live decode",
            "t",
            [round(0.05 * k, 2) for k in range(21)],
            before={"view": "interpolate"},
        ),
        Move("generate view: first generation (4 samples, DDIM-50)", "view", ["generate"], 1),
        # the last steps can differ by less than a grey level: stop short
        Move("generate step slider, first visit", "step", range(41), moves=41),
        Move("generate step slider, cached", "step", range(41)),
    )

    def __init__(
        self,
        pipe,
        images: torch.Tensor,
        captions: list[str],
        prompt: str = "a large red seven",
        guidance_scale: float = 3.0,
        seeds=(0, 1, 2),
        images_per_prompt: int = 4,
        steps: int = 50,
        scale: int = 4,
        view: str = "latents",
        image: int = 0,
        image_b: int = 1,
        training: dict | None = None,
    ):
        indices = {"image": image, "image_b": image_b}
        check_inputs(images, captions, seeds, view, images_per_prompt, indices)
        check_sampling(pipe, prompt, steps, guidance_scale, scale)
        self.pipe, self.vae = pipe, pipe.vae
        self.images, self.captions = images, list(captions)
        self.images_per_prompt, self.steps, self.scale = images_per_prompt, steps, scale
        self.latents, self.reconstructions = encode_images(self.vae, images)  # once
        self.training = dict(training or {})  # space -> provenance.TrainingIndex, else built
        self.labels = frames.Labels()
        last = len(images) - 1
        scales = sorted({*diffusion.GUIDANCE_SCALES, float(guidance_scale)})
        step = ipw.IntSlider(min=0, max=steps, value=steps, description="step")
        super().__init__(
            {
                "view": ipw.ToggleButtons(options=list(VIEWS), value=view, description="view"),
                # sliders over the test images (the caption is in the line under the frame)
                "image": ipw.IntSlider(min=0, max=last, value=image, description="image"),
                "image_b": ipw.IntSlider(min=0, max=last, value=image_b, description="image B"),
                "t": ipw.FloatSlider(min=0.0, max=1.0, step=0.05, value=0.5, description="t"),
                "prompt": ipw.Text(value=prompt, description="prompt", continuous_update=False),
                "generate": ipw.Button(description="Generate"),
                "guidance": ipw.SelectionSlider(
                    options=[(f"{s:g}", s) for s in scales],
                    value=float(guidance_scale),
                    description="guidance w",
                    continuous_update=False,  # each new scale samples: only on release
                ),
                "seed": ipw.Dropdown(options=list(seeds), description="seed"),
                "step": step,
                "play": play_for(step, interval=100),
                "word": ipw.Text(
                    value=prompt.split()[-1], description="word", continuous_update=False
                ),
                "space": ipw.Dropdown(  # a dropdown: the toggle buttons above pick views
                    options=list(self.training or SPACES), description="distance in"
                ),
            }
        )

    def slow_settings(self) -> list[dict]:
        """For the prompt typed, every (guidance, seed): its generation, its words' maps (w > 0:
        at w = 0 the prompt is not read) and its nearest training images in each space."""
        settings = []
        for seed in self.nearest_first("seed"):
            for guidance in self.nearest_first("guidance"):
                setting = {"guidance": guidance, "seed": seed}
                settings.append({"view": "generate", **setting})
                if guidance > 0:
                    settings.append({"view": "words", **setting})
                settings += [
                    {"view": "originality", **setting, "space": s}
                    for s in self.controls["space"].options
                ]
        return settings

    def arrange(self) -> list[ipw.Widget]:
        """The view buttons, each view's controls (only the picked view's are shown), the
        frame, the progress bar and the status line."""
        c = self.controls
        generate_rows = ipw.VBox(
            [ipw.HBox([c["prompt"], c["generate"]]), ipw.HBox([c["guidance"], c["seed"]])]
        )
        steps_row = ipw.HBox([c["play"], c["step"]])  # originality shows the final samples
        self._shown_in = [  # (widget, the views that show it)
            (c["image"], ("latents", "interpolate")),
            (c["image_b"], ("interpolate",)),
            (c["t"], ("interpolate",)),
            (generate_rows, ("generate", "words", "originality")),
            (steps_row, ("generate", "words")),
            (c["word"], ("words",)),
            (self.progress, ("generate", "originality")),
            (c["space"], ("originality",)),
        ]
        images = ipw.HBox([c["image"], c["image_b"], c["t"]])
        rows = [c["view"], images, generate_rows, steps_row, c["word"], c["space"]]
        return [*rows, self.frame, self.progress, self.status]

    # -- the views -------------------------------------------------------------------------

    def draw(self) -> None:
        """Show the picked view's controls, then draw that view."""
        view = self.controls["view"].value
        for widget, views in self._shown_in:
            widget.layout.display = None if view in views else "none"
        self.controls["image"].description = "image A" if view == "interpolate" else "image"
        views = {
            "latents": self.draw_latents,
            "interpolate": self.draw_interpolation,
            "generate": self.draw_generation,
            "words": self.draw_words,
            "originality": self.draw_originality,
        }
        views[view]()

    def draw_latents(self) -> None:
        i = self.controls["image"].value
        self.show(self.latents_frame(i), "png")
        self.status.value = self.latents_status(i)

    def draw_interpolation(self) -> None:
        c = self.controls
        a, b, t = c["image"].value, c["image_b"].value, c["t"].value
        self.show(self.interpolation_frame(a, b, t), "png")
        za, zb = self.latents[a], self.latents[b]
        arc, line = slerp(za, zb, t).norm().item(), ((1 - t) * za + t * zb).norm().item()
        self.status.value = escape(
            f'A "{self.captions[a]}" -> B "{self.captions[b]}": slerp at t = {t:.2f} has '
            f"|z| = {arc:.1f} (A {za.norm().item():.1f}, B {zb.norm().item():.1f}); "
            f"the straight line would pass |z| = {line:.1f}."
        )

    def draw_generation(self) -> None:
        key, step = self.generation_key(), self.controls["step"].value
        self.show(self.generation_frame(key, step), "jpeg")
        trajectory, unknown = self.generation(key)
        self.status.value = self.generation_status(key, step, trajectory, unknown)

    # -- the "words" view: one word's cross-attention map --------------------------------

    def word_maps(self, key: tuple):
        """`CrossAttentionMaps` of the first image of (prompt, guidance, seed): sampled once."""

        def record():
            prompt, guidance_scale, seed = key
            generator = torch.Generator().manual_seed(seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", tokenizer.UnknownWordWarning)  # generate says
                return self.pipe.cross_attention(
                    prompt, self.steps, guidance_scale, generator=generator
                )

        return self.cached(("words", key), record, "generations")

    def words_frame(self, key: tuple, word: str, step: int) -> bytes:
        """PNG: the image, the word's map at `step` (0 shows step 1) over it, and the map
        averaged over steps; each map stretched between its own minimum and maximum."""
        maps = self.word_maps(key)

        def draw() -> bytes:
            image = maps.image * 2 - 1  # (3, H, W) in [-1, 1]
            now = maps.word(word, per_step=True)[max(step, 1) - 1]
            tiles = [frames.tile(image, self.scale)]
            tiles += [heat_over(image, m, self.scale) for m in (now, maps.word(word))]
            titles = ["image", f'"{word}" at step {max(step, 1)}', f'"{word}", all steps']
            return frames.encode(labelled_row(tiles, titles, self.labels), "png")

        return self.cached(("words", key, word, step), draw)

    def draw_words(self) -> None:
        key, step = self.generation_key(), self.controls["step"].value
        word = self.controls["word"].value.strip().lower()
        if key[1] == 0:  # the pipeline refuses to record maps of a prompt it does not read
            self.status.value = "at w = 0 the prompt is not read: pick w = 1 or more"
            return
        maps = self.word_maps(key)
        if word not in maps.words:
            self.status.value = escape(f"pick a word of the prompt: {', '.join(maps.words)}")
            return
        self.show(self.words_frame(key, word, step), "png")
        share = float(maps.word(word).mean())
        self.status.value = escape(
            f'"{word}" gets {share:.0%} of the attention on average (all {len(maps.words)} '
            "tokens share 100% at every pixel); red where the word is read most, black least."
        )

    def draw_originality(self) -> None:
        key, space = self.generation_key(), self.controls["space"].value
        self.show(self.originality_frame(key, space), "png")
        self.status.value = self.originality_status(key, space)

    # -- frames, drawn once and cached (interpolation decodes live) ---------------------

    def latents_frame(self, index: int) -> bytes:
        """PNG of the "latents" view for test image `index`, drawn once then cached."""

        def draw() -> bytes:
            image, latent = self.images[index], self.latents[index]
            reconstruction = self.reconstructions[index]
            pixels = latents_pixels(image, reconstruction, latent, self.scale, self.labels)
            return frames.encode(pixels, "png")

        return self.cached(("latents", index), draw)

    def interpolation_frame(self, a: int, b: int, t: float) -> bytes:
        """PNG of the "interpolate" view: decoded live on every call."""
        pixels = interpolation_pixels(
            self.vae, self.latents[a], self.latents[b], t, self.scale, self.labels
        )
        return frames.encode(pixels, "png")

    def generation(self, key: tuple | None = None) -> tuple[diffusion.Trajectory, list[str]]:
        """(trajectory, unknown-word messages) for (prompt, guidance, seed): sampled once."""
        key = key or self.generation_key()

        def sample() -> tuple[diffusion.Trajectory, list[str]]:
            prompt, guidance_scale, seed = key
            self.progress.value = 0
            trajectory, unknown = generate(
                self.pipe,
                prompt,
                guidance_scale,
                seed,
                self.images_per_prompt,
                self.steps,
                self.show_progress,
            )
            return frames.compact(trajectory), unknown

        return self.cached(key, sample, "generations")

    def generation_frame(self, key: tuple, step: int) -> bytes:
        """JPEG of the "generate" view at `step` (0 = noise): x_t above, predicted x_0 below."""
        trajectory, _ = self.generation(key)
        return self.cached(
            (key, step),
            lambda: frames.encode(frames.trajectory_frame(trajectory, step, self.scale), "jpeg"),
        )

    def training_index(self, space: str):
        """The training images embedded in `space`, built on first use (a few seconds)."""
        if space not in self.training:
            built = next(iter(self.training.values()), None)
            if built is None:  # uint8: 12 MB of training images, not 49 as floats
                self.training[space] = provenance.training_index(
                    "captioned", space, dtype=torch.uint8
                )
            else:  # the same 4,000 images serve every space: one copy
                self.training[space] = provenance.TrainingIndex(
                    built.images, built.labels, space, dtype=built.images.dtype
                )
        return self.training[space]

    def nearest(self, key: tuple, space: str, k: int = 3):
        """`provenance.Neighbours` of generation `key`'s samples in `space`, found once."""
        images = frames.to_model_space(self.generation(key)[0].images)  # (B, 3, H, W)
        return self.cached(
            (key, space), lambda: self.training_index(space).nearest(images, k), "neighbours"
        )

    def originality_frame(self, key: tuple, space: str) -> bytes:
        """PNG of the "originality" view: each sample beside its nearest training images."""

        def draw() -> bytes:
            samples = frames.to_model_space(self.generation(key)[0].images)
            training = self.training_index(space).images
            found = self.nearest(key, space)
            pixels = originality_pixels(samples, found, training, self.scale, self.labels)
            return frames.encode(pixels, "png")

        return self.cached(("originality", key, space), draw)

    def generation_key(self) -> tuple[str, float, int]:
        c = self.controls
        return (c["prompt"].value.strip(), float(c["guidance"].value), c["seed"].value)

    # -- the status line ---------------------------------------------------------------

    def latents_status(self, i: int) -> str:
        image, latent = self.images[i], self.latents[i]
        error = (self.reconstructions[i].cpu() - image.cpu()).pow(2).mean().item()
        return escape(
            f'"{self.captions[i]}": {dims(image)} = {image.numel():,} numbers in, '
            f"{dims(latent)} = {latent.numel():,} in the latent "
            f"({image.numel() / latent.numel():g}x fewer); reconstruction MSE {error:.4f} on "
            f"the [-1, 1] scale. Channels: red > 0 > blue, clipped at +-{LATENT_LIMIT:g}."
        )

    def generation_status(self, key, step: int, trajectory, unknown: list[str]) -> str:
        prompt, w, seed = key
        n = len(trajectory.timesteps)
        what = f'prompt "{prompt}"' if prompt else 'empty prompt "": unconditional, w does nothing'
        where = "pure noise z_T" if step == 0 else f"after step {step} of {n}"
        text = escape(
            f"{what}; w = {w:g}, seed {seed}; {where}. Top: the latent z_t, decoded. Bottom: "
            "the clean latent the model predicts from it, decoded."
        )
        for message in unknown:
            text += f"<br><span style='color:#b35900'>{escape(message)}</span>"
        return text

    def originality_status(self, key: tuple, space: str) -> str:
        found = self.nearest(key, space)
        ratios = ", ".join(f"{r:.2f}" for r in found.ratio.tolist())
        return escape(
            f'"{key[0]}", w = {key[1]:g}, seed {key[2]}: each sample, then its nearest training '
            f"images with their {space} distance. A training image's nearest other training "
            f"image is typically {found.baseline:.2f} away; nearest / typical per sample: "
            f"{ratios} (near 0: a copy; near 1: as new as one training digit is to the next)."
        )

    def static(self, ts=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), fractions=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0)):
        """A matplotlib figure: the latents view, an interpolation strip, a generation's steps."""
        import matplotlib.pyplot as plt

        c = self.controls
        a, b = c["image"].value, c["image_b"].value
        key = self.generation_key()
        trajectory, _ = self.generation(key)
        n = len(trajectory.timesteps)
        columns = max(len(ts), len(fractions))
        fig = plt.figure(figsize=(1.6 * columns, 6.2))
        grid = fig.add_gridspec(3, columns, height_ratios=(1.2, 1, 1))
        top = fig.add_subplot(grid[0, :])
        top.imshow(frames.decode(self.latents_frame(a)))
        top.set_title(
            f'"{self.captions[a]}": the image, its reconstruction, its latent', fontsize=9
        )
        with torch.no_grad():
            z = torch.stack([slerp(self.latents[a], self.latents[b], t) for t in ts])
            decoded = self.vae.decode(z)  # (len(ts), 3, H, W)
        for col, (t, x) in enumerate(zip(ts, decoded, strict=True)):
            ax = fig.add_subplot(grid[1, col])
            ax.imshow(frames.to_pixels(x))
            ax.set_title(f"slerp t = {t:g}", fontsize=8)
        for col, f in enumerate(fractions):
            step = round(f * n)
            ax = fig.add_subplot(grid[2, col])
            ax.imshow(frames.to_pixels(frames.to_model_space(trajectory.xs[step, 0])))
            ax.set_title(f"step {step}/{n}", fontsize=8)
        prompt = f'"{key[0]}"' if key[0] else "the empty prompt (unconditional)"
        fig.text(0.5, 0.02, f"{prompt}, guidance {key[1]:g}: z_t decoded", ha="center")
        for ax in fig.axes:
            ax.axis("off")
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        return fig

    @classmethod
    def demo(cls) -> LatentExplorer:
        """The shipped ldm-digits pipeline and one test image of each digit (even digits large,
        odd ones small in a corner); interpolation from the large zero to the large two."""
        from course_lib import data, pipelines

        images, captions, attributes = data.captioned_digits("test")
        picked = []
        for d in range(10):
            layout = 0 if d % 2 == 0 else 1 + d // 2 % 4  # 0 = large, 1..4 the corners
            same = (attributes["digit"] == d) & (attributes["layout"] == layout)
            picked.append(int(np.flatnonzero(same)[0]))
        pipe = pipelines.load("ldm-digits")
        return cls(pipe, images[picked], [captions[i] for i in picked], image_b=2)
