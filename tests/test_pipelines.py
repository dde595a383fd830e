import pytest
import torch

from course_lib import diffusion, pipelines
from course_lib.pipelines import DiffusionPipeline
from course_lib.unet import UNet, UNetConfig


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    model = UNet(UNetConfig(image_size=8, widths=(8, 16), attention_levels=(1,))).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return DiffusionPipeline(model, diffusion.NoiseSchedule.cosine(30))


def test_returns_images_in_unit_range_on_cpu_and_seeds_repeat(pipe):
    images = pipe(3, num_inference_steps=5, generator=torch.Generator().manual_seed(0))
    assert images.shape == (3, 1, 8, 8) and images.device.type == "cpu"
    assert images.min() >= 0 and images.max() <= 1
    torch.testing.assert_close(
        images, pipe(3, num_inference_steps=5, generator=torch.Generator().manual_seed(0))
    )
    assert not torch.allclose(
        images, pipe(3, num_inference_steps=5, generator=torch.Generator().manual_seed(1))
    )
    ddpm = pipe(2, sampler="ddpm", generator=torch.Generator().manual_seed(0))
    assert ddpm.shape == (2, 1, 8, 8)


def test_trajectory_is_mapped_to_unit_range_too(pipe):
    images, trajectory = pipe(
        2, num_inference_steps=4, generator=torch.Generator().manual_seed(0), return_trajectory=True
    )
    assert trajectory.xs.shape == (5, 2, 1, 8, 8) and trajectory.x0s.shape == (4, 2, 1, 8, 8)
    torch.testing.assert_close(images, trajectory.images.clamp(0, 1))
    torch.testing.assert_close(
        images, pipe(2, num_inference_steps=4, generator=torch.Generator().manual_seed(0))
    )


def test_bad_calls_say_what_to_pass(pipe):
    with pytest.raises(ValueError, match="number of images"):
        pipe([1, 2])
    with pytest.raises(ValueError, match="number of images"):
        pipe(0)
    with pytest.raises(ValueError, match="guidance_scale=None"):
        pipe(2, guidance_scale=3.0)
    with pytest.raises(TypeError, match=r"torch.Generator\(\).manual_seed\(0\)"):
        pipe(2, generator=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        pipe(2, seed=0)  # the diffusers way: generator=
    with pytest.raises(ValueError, match="every one of the T=30 steps"):
        pipe(2, num_inference_steps=10, sampler="ddpm")  # refused, not silently ignored
    with pytest.raises(ValueError, match=r"1\.\.30"):
        pipe(2, num_inference_steps=0)
    with pytest.raises(TypeError, match="num_inference_steps must be an int"):
        pipe(2, num_inference_steps=5.0)
    with pytest.raises(ValueError, match="eta must be a finite number"):
        pipe(2, eta=float("nan"))
    with pytest.raises(ValueError, match="unknown checkpoint"):
        pipelines.load("ddpm-faces")
    with pytest.raises(ValueError, match="records no pipeline"):
        pipelines.load("vit-digits")


def test_generator_none_is_fresh_randomness_and_a_seed_repeats(pipe):
    torch.manual_seed(0)
    a, b = pipe(2, num_inference_steps=3), pipe(2, num_inference_steps=3)
    assert not torch.equal(a, b)
    seeded = [pipe(2, 3, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(*seeded)


def test_load_builds_the_class_the_checkpoint_records():
    for name, kind in [
        ("ddpm-digits", pipelines.DiffusionPipeline),
        ("cfg-digits", pipelines.GuidedPipeline),
        ("ldm-digits", pipelines.TextToImagePipeline),
    ]:
        assert type(pipelines.load(name)) is kind


def test_the_shipped_pipeline_loads_and_samples():
    pipe = pipelines.load("ddpm-digits")
    images = pipe(2, num_inference_steps=3, generator=torch.Generator().manual_seed(0))
    assert images.shape == (2, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert pipe.schedule.name == "cosine" and pipe.schedule.T == 1000
