"""FlowTextToImagePipeline: the ldm-digits call, with a DiT and Euler steps on a flow."""

import pytest
import torch

from course_lib import checkpoints, pipelines
from tests.tiny import flow_text_to_image

PROMPTS = ["a large red seven", "a small blue two in the top left"]


@pytest.fixture(scope="module")
def pipe():
    return flow_text_to_image()


def test_images_in_unit_range_and_a_seed_repeats(pipe):
    a = pipe(PROMPTS, num_inference_steps=4, generator=torch.Generator().manual_seed(0))
    b = pipe(PROMPTS, num_inference_steps=4, generator=torch.Generator().manual_seed(0))
    assert a.shape == (2, 3, 32, 32) and a.device.type == "cpu"
    assert 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b)


def test_trajectory_has_every_euler_step_and_callback_counts_them(pipe):
    calls = []
    images, traj = pipe(
        PROMPTS,
        num_inference_steps=3,
        guidance_scale=3.0,
        generator=torch.Generator().manual_seed(0),
        return_trajectory=True,
        callback=lambda i, n: calls.append((i, n)),
    )
    assert traj.xs.shape == (4, 2, 3, 32, 32) and traj.x0s.shape == (3, 2, 3, 32, 32)
    assert traj.timesteps == pytest.approx([1.0, 2 / 3, 1 / 3])
    assert torch.equal(images, traj.images)
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_guidance_changes_the_images(pipe):
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    one = pipe(PROMPTS, num_inference_steps=2, guidance_scale=1.0, generator=g())
    five = pipe(PROMPTS, num_inference_steps=2, guidance_scale=5.0, generator=g())
    assert not torch.allclose(one, five)


def test_bad_calls_say_what_to_pass(pipe):
    with pytest.raises(ValueError, match="positive int"):
        pipe(PROMPTS, num_inference_steps=0)
    with pytest.raises(TypeError, match="int"):
        pipe(PROMPTS, num_inference_steps=2.5)
    with pytest.raises(ValueError, match="euler"):
        pipe(PROMPTS, sampler="ddpm")
    with pytest.raises(ValueError, match="eta"):
        pipe(PROMPTS, num_inference_steps=2, eta=1.0)
    with pytest.raises(TypeError, match="list"):
        pipe("a large red seven")


@pytest.mark.skipif("dit-digits" not in checkpoints.read_manifest(), reason="not shipped yet")
def test_the_shipped_dit_loads_as_a_flow_pipeline_and_samples():
    pipe = pipelines.load("dit-digits")
    assert isinstance(pipe, pipelines.FlowTextToImagePipeline)
    images = pipe(
        PROMPTS,
        num_inference_steps=8,
        guidance_scale=3.0,
        generator=torch.Generator().manual_seed(0),
        return_trajectory=False,
        callback=None,
    )
    assert images.shape == (2, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
