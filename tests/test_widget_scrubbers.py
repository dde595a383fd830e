import numpy as np
import pytest
import torch

from course_lib import diffusion
from course_lib.pipelines import DiffusionPipeline
from course_lib.unet import UNet, UNetConfig
from widgets import DenoisingScrubber, NoisingScrubber, frames
from widgets.base import nbytes
from widgets.noising_scrubber import noising_pixels


@pytest.fixture
def noising():
    digit = torch.linspace(-1, 1, 8 * 8).reshape(1, 8, 8)
    photo = torch.rand(3, 8, 8) * 2 - 1
    return NoisingScrubber({"digit": digit, "photo": photo}, T=50, scale=2)


def test_noising_frames_are_the_closed_form(noising):
    c = noising.controls
    for name, value in [("t", 10), ("t", 49), ("schedule", "linear"), ("image", "photo"), ("t", 0)]:
        before = noising.frame.value
        c[name].value = value
        assert noising.frame.value != before, f"moving {name} did not change the frame"
    image, schedule, t = c["image"].value, c["schedule"].value, c["t"].value
    x_t = noising.schedules[schedule].q_sample(noising.images[image], t, noising.noise[image])
    stored = noising.pixels(image, schedule, [t])[0]
    assert np.array_equal(stored, frames.to_pixels(x_t))
    shown = frames.decode(noising.frame.value).astype(int)  # JPEG: nearest to the right frame
    expected = noising.frame_pixels(image, schedule, t).astype(int)
    other = noising.frame_pixels(image, schedule, 25).astype(int)
    assert shown.shape == expected.shape
    assert np.abs(shown - expected).mean() < np.abs(shown - other).mean()
    assert "alpha_bar" in noising.status.value and "<pre" not in noising.status.value


def test_noising_pixels_go_from_the_image_to_noise():
    image = torch.zeros(1, 4, 4)
    schedule = diffusion.NoiseSchedule.cosine(100)
    pixels = noising_pixels(image, schedule, torch.ones(1, 4, 4))
    assert pixels.shape == (100, 4, 4)
    assert 127 <= pixels[0, 0, 0] < 135  # x_0 = 0 plus a little noise -> mid grey
    assert pixels[-1, 0, 0] == 255  # x_T ~ eps = 1 -> white
    assert np.all(np.diff(pixels[:, 0, 0].astype(int)) >= 0)
    some = noising_pixels(image, schedule, torch.ones(1, 4, 4), ts=[99, 0, 50])
    assert np.array_equal(some, pixels[[99, 0, 50]])  # any t, in any order, the same pixels


def test_noising_bad_inputs_and_static():
    with pytest.raises(ValueError, match="at least one image"):
        NoisingScrubber({})
    with pytest.raises(ValueError, match="must be a"):
        NoisingScrubber({"bad": torch.zeros(2, 8, 8)})
    fig = NoisingScrubber({"d": torch.zeros(1, 8, 8)}, T=20).static()
    assert len(fig.axes) == 12


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    model = UNet(UNetConfig(image_size=8, widths=(8, 16), attention_levels=(1,))).eval()
    with torch.no_grad():  # an untrained U-Net predicts eps = 0; shake it so outputs vary
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return DiffusionPipeline(model, diffusion.NoiseSchedule.cosine(20))


def test_denoising_scrubber_steps_through_the_stored_trajectory(pipe):
    scrubber = DenoisingScrubber(pipe, seeds=(0, 1), images=2, steps=5)
    c = scrubber.controls
    assert c["step"].max == 5 and scrubber.progress.value == 5
    for name, value in [("step", 3), ("step", 5), ("seed", 1), ("steps", 10), ("step", 0)]:
        before = scrubber.frame.value
        c[name].value = value
        assert scrubber.frame.value != before, f"moving {name} did not change the frame"
    assert c["step"].max == 10
    trajectory = scrubber.trajectory()
    _, again = pipe(
        2,
        num_inference_steps=10,
        generator=torch.Generator().manual_seed(1),
        return_trajectory=True,
    )
    # the cached trajectory is the pipeline's, as uint8 pixels
    assert trajectory.xs.dtype == torch.uint8
    assert torch.equal(trajectory.xs, frames.compact(again).xs)
    shown = frames.decode(scrubber.frame.value)
    expected = frames.trajectory_frame(trajectory, 0, scrubber.scale)
    assert shown.shape == expected.shape
    c["sampler"].value = "DDPM (all T steps)"
    assert c["step"].max == 20 and len(scrubber.caches["trajectories"]) == 4
    assert "<pre" not in scrubber.status.value
    assert len(scrubber.static().axes) == 12


def test_a_compact_trajectory_draws_the_same_frames_in_a_quarter_of_the_bytes(pipe):
    _, trajectory = pipe(3, num_inference_steps=4, return_trajectory=True)
    small = frames.compact(trajectory)
    assert small.timesteps == trajectory.timesteps
    assert nbytes(small) * 4 == nbytes(trajectory)
    for step in range(5):
        assert np.array_equal(
            frames.trajectory_frame(small, step, 2), frames.trajectory_frame(trajectory, step, 2)
        )
    assert (frames.unit(small.xs) - trajectory.xs.clamp(0, 1)).abs().max() <= 0.5 / 255 + 1e-6
    assert frames.unit(trajectory.xs) is trajectory.xs  # floats pass through


def test_trajectory_frame_checks_the_step(pipe):
    _, trajectory = pipe(1, num_inference_steps=3, return_trajectory=True)
    with pytest.raises(ValueError, match="step must be"):
        frames.trajectory_frame(trajectory, 4, 2)
    with pytest.raises(ValueError, match="at least one seed"):
        DenoisingScrubber(pipe, seeds=())
