import numpy as np
import pytest
import tiny
import torch

from course_lib.latent_diffusion import TextConditioned
from widgets import LatentExplorer, frames
from widgets.latent_explorer import (
    GAP,
    TITLE,
    channel_colors,
    interpolation_pixels,
    latents_pixels,
)

SCALE = 2


class Counting:
    """A pipeline that counts how often it is asked to sample."""

    def __init__(self, pipe):
        self.pipe, self.vae, self.calls = pipe, pipe.vae, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.pipe(*args, **kwargs)


class TowardsPrompt(TextConditioned):
    """A denoiser whose noise prediction is exact for one clean latent per prompt (the
    untrained U-Net's answer to a blank latent, at unit scale). An untrained U-Net's x0
    prediction explodes at t = T, so every decoded step after the first would saturate alike;
    this one walks smoothly from noise to a latent that depends on the prompt."""

    def __init__(self, unet, text_encoder, schedule):
        super().__init__(unet, text_encoder)
        self.alpha_bar = schedule.alpha_bar

    def forward(self, z, t, token_ids):
        target = super().forward(torch.zeros_like(z), torch.zeros_like(t), token_ids)
        target = target / target.flatten(1).std(dim=1).view(-1, 1, 1, 1)  # (B, Z, h, w)
        alpha_bar = self.alpha_bar.to(z)[t].view(-1, 1, 1, 1)
        return (z - alpha_bar.sqrt() * target) / (1 - alpha_bar).sqrt()


@pytest.fixture(scope="module")
def pipe():
    return tiny.text_to_image(TowardsPrompt)


@pytest.fixture(scope="module")
def test_images():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    return images, ["a large red seven", "a small blue two in the top left", "a b", "c d"]


def build(pipe, test_images, **options):
    images, captions = test_images
    return LatentExplorer(
        Counting(pipe), images, captions, images_per_prompt=2, steps=5, scale=SCALE, **options
    )


def test_latents_view_shows_the_image_its_reconstruction_and_its_channels(pipe, test_images):
    explorer = build(pipe, test_images)
    before = explorer.frame.value
    explorer.controls["image"].value = 2
    assert explorer.frame.value != before
    images, _ = test_images
    with torch.no_grad():
        mean, _ = pipe.vae.encode(images[2:3])
        recon = pipe.vae.decode(mean)
    expected = latents_pixels(images[2], recon[0], mean[0], SCALE, explorer.labels)
    assert np.array_equal(frames.decode(explorer.frame.value), expected)
    assert explorer.frame.format == "png"
    assert "MSE" in explorer.status.value and "<pre" not in explorer.status.value


def test_channel_colors_are_white_at_zero_blue_below_red_above():
    pixels = channel_colors(torch.tensor([[0.0, -3.0, 3.0, 10.0]]))
    assert tuple(pixels[0, 0]) == (247, 247, 247)
    assert pixels[0, 1, 2] > pixels[0, 1, 0] and pixels[0, 2, 0] > pixels[0, 2, 2]
    assert np.array_equal(pixels[0, 2], pixels[0, 3])  # clipped at +3


def test_interpolation_decodes_the_arc_live(pipe, test_images):
    explorer = build(pipe, test_images, view="interpolate")
    c = explorer.controls
    for name, value in [("t", 0.25), ("t", 1.0), ("image_b", 3), ("image", 1), ("t", 0.0)]:
        before = explorer.frame.value
        c[name].value = value
        assert explorer.frame.value != before, f"moving {name} did not change the frame"
    shown = frames.decode(explorer.frame.value)
    a, b = explorer.latents[1], explorer.latents[3]
    assert np.array_equal(shown, interpolation_pixels(pipe.vae, a, b, 0.0, SCALE, explorer.labels))
    side = 32 * SCALE  # the middle tile at t = 0 is image A's latent, decoded
    middle = shown[TITLE:, side + GAP : 2 * side + GAP].astype(int)
    with torch.no_grad():
        decoded_a = pipe.vae.decode(a[None])[0]
    expected = frames.upscale(frames.to_pixels(decoded_a), SCALE).astype(int)
    assert np.abs(middle - expected).max() <= 1
    assert "slerp at t = 0.00" in explorer.status.value


def test_generation_is_sampled_once_then_the_step_slider_indexes_it(pipe, test_images):
    explorer = build(pipe, test_images)
    assert explorer.pipe.calls == 0  # the latents view samples nothing
    c = explorer.controls
    c["view"].value = "generate"
    assert explorer.pipe.calls == 1 and explorer.progress.value == 5
    assert explorer.frame.format == "jpeg" and c["step"].value == c["step"].max == 5
    for step in (0, 3, 5, 1):
        before = explorer.frame.value
        c["step"].value = step
        assert explorer.frame.value != before
    c["guidance"].value = 1.0
    c["view"].value = "latents"
    c["guidance"].value = 3.0
    c["view"].value = "generate"
    assert explorer.pipe.calls == 2  # guidance 1 once; guidance 3 came from the cache
    trajectory, unknown = explorer.generation(("a large red seven", 3.0, 0))
    assert unknown == [] and explorer.pipe.calls == 2
    _, again = pipe(
        ["a large red seven"] * 2,
        guidance_scale=3.0,
        num_inference_steps=5,
        generator=torch.Generator().manual_seed(0),
        return_trajectory=True,
    )
    assert torch.equal(trajectory.xs, frames.compact(again).xs)  # kept as uint8 pixels
    shown = frames.decode(explorer.frame.value).astype(int)  # JPEG: nearest to the right frame
    right = frames.trajectory_frame(trajectory, 1, SCALE).astype(int)
    wrong = frames.trajectory_frame(trajectory, 4, SCALE).astype(int)
    assert shown.shape == right.shape
    assert np.abs(shown - right).mean() < np.abs(shown - wrong).mean()
    assert 'prompt "a large red seven"' in explorer.status.value


def test_unknown_words_and_the_empty_prompt_are_reported(pipe, test_images):
    explorer = build(pipe, test_images, view="generate")
    explorer.controls["prompt"].value = "a large purple seven"
    assert "purple" in explorer.status.value and "<pre" not in explorer.status.value
    explorer.controls["prompt"].value = ""
    assert "unconditional" in explorer.status.value and "<pre" not in explorer.status.value


def test_bad_input_is_shown_not_raised(pipe, test_images):
    explorer = build(pipe, test_images, view="generate")
    explorer.controls["prompt"].value = "a large red seven " * 4
    assert "<pre" in explorer.status.value and "at most" in explorer.status.value
    explorer.controls["prompt"].value = "!!!"
    assert "no words" in explorer.status.value
    images, captions = test_images
    with pytest.raises(ValueError, match="at least two"):
        LatentExplorer(pipe, images[:1], captions[:1])
    with pytest.raises(ValueError, match="one caption per image"):
        LatentExplorer(pipe, images, captions[:2])
    with pytest.raises(ValueError, match="view must be"):
        LatentExplorer(pipe, images, captions, view="pixels")
    with pytest.raises(ValueError, match="image_b must be an index from 0 to 3"):
        LatentExplorer(pipe, images, captions, image_b=4)  # a slider would clip it silently


def test_static_shows_the_three_views(pipe, test_images):
    fig = build(pipe, test_images).static()
    assert len(fig.axes) == 1 + 6 + 6


def test_words_view_draws_the_chosen_words_map_per_step():
    from tests import tiny

    explorer = tiny.explorer("LatentExplorer")
    c = explorer.controls
    c["prompt"].value = "a red seven"
    c["view"].value = "words"
    c["word"].value = "seven"
    c["step"].value = 1
    first = explorer.frame.value
    c["step"].value = 2
    assert explorer.frame.value != first
    assert "seven" in explorer.status.value
    c["word"].value = "purple"
    assert "pick a word of the prompt" in explorer.status.value
    c["guidance"].value = 0.0  # the prompt is not read: said, not an error
    assert "w = 0 the prompt is not read" in explorer.status.value
    assert "<pre" not in explorer.status.value
