import numpy as np
import pytest
import torch

from widgets import PatchExplorer, frames
from widgets.patch_explorer import compose, patch_sizes, patch_vector


@pytest.fixture
def explorer():
    digit = torch.linspace(-1, 1, 28 * 28).reshape(1, 28, 28)
    photo = torch.rand(3, 32, 32) * 2 - 1
    return PatchExplorer({"digit": digit, "photo": photo}, scale=4)


def test_only_sizes_that_tile_the_image_are_offered(explorer):
    assert patch_sizes(28) == [2, 4, 7, 14]
    assert list(explorer.controls["patch_size"].options) == [2, 4, 7, 14]


def test_each_control_changes_the_frame_to_the_pure_function_output(explorer):
    c = explorer.controls
    for name, value in [("patch", 3), ("patch_size", 4), ("patch", 40), ("image", "photo")]:
        before = explorer.frame.value
        c[name].value = value
        assert explorer.frame.value != before, f"moving {name} did not change the frame"
        image = explorer.images[c["image"].value]
        expected = compose(image, c["patch_size"].value, c["patch"].value, 4)
        assert np.array_equal(frames.decode(explorer.frame.value), expected)
    assert "error" not in explorer.status.value.lower()


def test_patch_slider_range_follows_patch_size(explorer):
    c = explorer.controls
    c["patch_size"].value = 14
    assert c["patch"].max == 3
    c["patch_size"].value = 2
    assert c["patch"].max == 195


def test_readout_names_the_token_and_vector(explorer):
    c = explorer.controls
    c["patch_size"].value = 7
    c["patch"].value = 5
    assert "16 patches" in explorer.status.value and "49 numbers" in explorer.status.value
    assert "token 6 of 17" in explorer.status.value
    vector = patch_vector(explorer.images["digit"], 7, 5)
    assert vector.shape == (49,)


def test_bad_images_are_refused_and_static_draws():
    with pytest.raises(ValueError, match="square"):
        PatchExplorer({"wide": torch.zeros(1, 28, 30)})
    with pytest.raises(ValueError, match="at least one image"):
        PatchExplorer({})
    fig = PatchExplorer({"d": torch.zeros(1, 28, 28)}).static()
    assert len(fig.axes) == 2
