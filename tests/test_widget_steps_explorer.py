"""StepsExplorer, headless, with tiny untrained pipelines: every control changes the frame to
what the pure functions draw for its new value; trajectories are sampled once and cached."""

import numpy as np
import pytest
import tiny
import torch

from widgets import StepsExplorer, frames
from widgets.steps_explorer import latents_pixels, shown_steps, toy_pixels, trajectories

PROMPTS = ["a large red seven", "a small blue two in the top left"]


class Counting:
    """A pipeline that counts how often it is asked to sample."""

    def __init__(self, pipe):
        self.pipe, self.calls = pipe, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.pipe(*args, **kwargs)


@pytest.fixture(scope="module")
def pipes():
    return tiny.text_to_image(), tiny.flow_text_to_image()


def build(pipes, **options):
    ddim, euler = pipes
    return StepsExplorer(Counting(ddim), Counting(euler), PROMPTS, steps=3, scale=1, **options)


def frame(explorer) -> np.ndarray:
    return frames.decode(explorer.frame.value)


def test_the_first_frame_is_both_samplers_from_the_same_seed(pipes):
    explorer = build(pipes)
    expected = latents_pixels(trajectories(*pipes, PROMPTS[0], 3, 0, 3.0), 1, explorer.labels)
    assert np.array_equal(frame(explorer), expected)
    assert expected.shape[0] == 2 * (32 + 16)  # a row per sampler: title band + image
    assert "DDIM-3" in explorer.status.value and "Euler-3" in explorer.status.value


def test_steps_slider_resamples_once_and_then_reads_the_cache(pipes):
    explorer = build(pipes)
    before = frame(explorer)
    explorer.controls["steps"].value = 5
    after = frame(explorer)
    assert not np.array_equal(before, after)
    assert np.array_equal(
        after, latents_pixels(trajectories(*pipes, PROMPTS[0], 5, 0, 3.0), 1, explorer.labels)
    )
    calls = explorer.ddim_pipe.calls, explorer.flow_pipe.calls
    explorer.controls["steps"].value = 3
    explorer.controls["steps"].value = 5
    assert (explorer.ddim_pipe.calls, explorer.flow_pipe.calls) == calls  # cached
    assert np.array_equal(frame(explorer), after)


def test_prompt_changes_the_frame(pipes):
    explorer = build(pipes)
    before = frame(explorer)
    explorer.controls["prompt"].value = PROMPTS[1]
    assert not np.array_equal(before, frame(explorer))
    assert PROMPTS[1] in explorer.status.value


def test_toy_view_draws_the_paths_for_the_step_count(pipes):
    explorer = build(pipes)
    explorer.controls["view"].value = "toy"
    expected = toy_pixels(
        3, explorer.toy_noise, explorer.toy_means, explorer.toy_std, explorer.labels
    )
    assert np.array_equal(frame(explorer), expected)
    assert explorer.controls["prompt"].disabled
    explorer.controls["steps"].value = 1
    assert not np.array_equal(frame(explorer), expected)
    explorer.controls["view"].value = "latents"
    assert not explorer.controls["prompt"].disabled and frame(explorer).shape[0] == 96


def test_shown_steps_cover_first_and_last():
    assert shown_steps(1) == [0]
    assert shown_steps(50) == [0, 12, 24, 37, 49]
    assert shown_steps(3) == [0, 1, 2]


def test_static_figure_and_bad_arguments(pipes):
    import matplotlib.pyplot as plt

    fig = build(pipes).static(step_counts=(1, 2))
    assert len(fig.axes) == 3
    plt.close(fig)
    with pytest.raises(ValueError, match="1..50"):
        build_with_steps(pipes, 0)
    with pytest.raises(ValueError, match="view"):
        build(pipes, view="pixels")


def build_with_steps(pipes, steps):
    return StepsExplorer(*pipes, PROMPTS, steps=steps)


def test_trajectory_cache_is_bounded(pipes):
    explorer = build(pipes)
    explorer.caches["trajectories"].limit = 2
    for steps in (1, 2, 4):
        explorer.controls["steps"].value = steps
    assert len(explorer.caches["trajectories"]) == 2
    assert torch.is_tensor(explorer.trajectories(PROMPTS[0], 4)["Euler"].x0s)
