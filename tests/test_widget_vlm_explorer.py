"""VLMExplorer, headless, on tiny untrained models: every control changes the frame to the
frame of its new setting, and the caches stay bounded."""

import numpy as np
import pytest
import tiny
import torch

from widgets import VLMExplorer, frames
from widgets.vlm_explorer import draw_frame, heat_overlay


@pytest.fixture(scope="module")
def explorer():
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return VLMExplorer(tiny.vlm(), images, tiny.text_to_image(), steps=2)


def shown(explorer) -> np.ndarray:
    return frames.decode(explorer.frame.value)


def expected(explorer) -> np.ndarray:
    c = explorer.controls
    return explorer.compose(explorer._source, c["question"].value, c["resolution"].value)


@pytest.mark.parametrize(
    "name, value",
    [
        ("image", 3),
        ("question", "describe the image."),
        ("resolution", 8),
        ("prompt", "a small red seven in the top left"),
        ("image", 1),
    ],
)
def test_each_control_changes_the_frame_to_its_setting(explorer, name, value):
    before = explorer.frame.value
    explorer.controls[name].value = value
    assert explorer.frame.value != before, f"moving {name} did not change the frame"
    assert np.array_equal(shown(explorer), expected(explorer))
    assert "Error" not in explorer.status.value


def test_a_typed_prompt_is_drawn_once_and_the_slider_returns_to_test_images(explorer):
    explorer.controls["prompt"].value = "a large blue two"
    assert explorer._source == ("prompt", "a large blue two")
    drawn = len(explorer.caches["drawn"])
    explorer.controls["question"].value = "what digit is this?"
    assert len(explorer.caches["drawn"]) == drawn, "the same prompt must not be drawn again"
    explorer.controls["image"].value = 2
    assert explorer._source == ("test", 2)


def test_the_frame_shows_the_degraded_image_and_one_tile_per_word(explorer):
    explorer.controls["resolution"].value = 4
    frame = shown(explorer)
    image = explorer.image(explorer._source)
    from course_lib import vlm

    seen = frames.to_pixels(vlm.degrade(image[None], 4)[0])
    reading = vlm.word_by_word(
        explorer.pipe.model, vlm.degrade(image[None], 4), "what digit is this?"
    )[0]
    again = draw_frame(seen, "what digit is this?", reading, "x")
    assert frame.shape[1] == again.shape[1], "one tile per answer word"


def test_errors_are_shown_and_caches_are_bounded(explorer):
    explorer.controls["prompt"].value = "a large " + "red " * 20
    assert "words" in explorer.status.value  # the tokenizer's "at most ... fit" message
    explorer.controls["prompt"].value = ""
    assert explorer.caches["frames"].limit == 256 and explorer.caches["drawn"].limit == 16


def test_heat_overlay_puts_the_colour_where_the_attention_is():
    pixels = np.zeros((32, 32, 3), dtype=np.uint8)
    attention = np.zeros((4, 4))
    attention[0, 0] = 1.0
    tile = heat_overlay(pixels, attention, 96)
    assert tile.shape == (96, 96, 3)
    assert tile[5, 5, 0] > 100 and tile[90, 90, 0] == 0


def test_static_and_bad_inputs(explorer):
    fig = explorer.static()
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="at least one image"):
        VLMExplorer(explorer.pipe, torch.empty(0, 3, 32, 32))
