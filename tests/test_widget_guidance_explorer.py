import numpy as np
import pytest
import torch

from course_lib import diffusion
from course_lib.pipelines import GuidedPipeline
from course_lib.unet import UNet, UNetConfig
from widgets import GuidanceExplorer, frames
from widgets.guidance_explorer import grid_pixels


@pytest.fixture(scope="module")
def explorer():
    config = UNetConfig(image_size=8, widths=(8, 16), attention_levels=(1,), num_classes=10)
    model = UNet(config).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # random weights everywhere, so label and guidance change the output
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    pipe = GuidedPipeline(model, diffusion.NoiseSchedule.cosine(50))
    return GuidanceExplorer(pipe, scales=(0.0, 1.0, 3.0), seeds=(0, 1), images=4, steps=3, digit=2)


def test_frame_changes_with_scale_and_digit_and_shows_the_right_grid(explorer):
    c = explorer.controls
    moves = [("guidance", "0"), ("guidance", "3"), ("digit", 7), ("guidance", "1"), ("seed", 1)]
    for name, value in moves:
        before = explorer.frame.value
        c[name].value = value
        assert explorer.frame.value != before, f"moving {name} did not change the frame"
    grids = explorer.grids((7, 1))  # cached: (S, N, C, H, W)
    assert grids.shape == (3, 4, 1, 8, 8)
    expected = explorer.pipe(
        [7] * 4,
        guidance_scale=1.0,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.allclose(grids[1], expected)
    shown = frames.decode(explorer.frame.value)
    assert np.array_equal(shown, grid_pixels(expected, explorer.columns, explorer.scale))
    assert "digit 7" in explorer.status.value and "<pre" not in explorer.status.value


def test_slider_only_swaps_cached_bytes(explorer):
    explorer.controls["digit"].value = 2
    explorer.controls["seed"].value = 0
    cached = explorer.caches["sweeps"].keys()
    for label in ("0", "3", "1"):
        explorer.controls["guidance"].value = label
    assert explorer.caches["sweeps"].keys() == cached  # nothing new was sampled


def test_bad_inputs_and_static(explorer):
    with pytest.raises(ValueError, match="at least one seed"):
        GuidanceExplorer(explorer.pipe, seeds=())
    with pytest.raises(ValueError, match="scales"):
        GuidanceExplorer(explorer.pipe, scales=(-1.0, 1.0))
    fig = explorer.static()
    assert len(fig.axes) == 3  # w = 0, 1, 3 of the (0, 1, 3) sweep
