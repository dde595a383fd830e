"""Classifier-free guidance: cfg, guided sampling, condition dropout, the guided pipeline."""

import pytest
import torch

from course_lib import diffusion, train
from course_lib.pipelines import GuidedPipeline
from course_lib.recipes import cfg_digits
from course_lib.unet import UNet, UNetConfig

NULL = 10


class LabelModel:
    """eps(x, t, label) = label / 10 everywhere, and a record of every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, t, cond):
        self.calls.append((len(x), None if cond is None else cond.clone()))
        return cond.float().reshape(-1, 1, 1, 1).expand_as(x) / 10


def test_cfg_at_zero_one_and_beyond():
    e_u, e_c = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    assert torch.equal(diffusion.cfg(e_u, e_c, 0.0), e_u)
    assert torch.allclose(diffusion.cfg(e_u, e_c, 1.0), e_c, atol=1e-6)
    assert torch.allclose(diffusion.cfg(e_u, e_c, 3.0), 3 * e_c - 2 * e_u, atol=1e-5)
    with pytest.raises(ValueError, match="shapes must match"):
        diffusion.cfg(e_u, e_c[:1], 2.0)


def test_one_batched_pass_with_the_null_label_first():
    model, x = LabelModel(), torch.randn(3, 1, 4, 4)
    labels = torch.tensor([1, 5, 9])
    eps = diffusion.predict_noise(model, x, 7, labels, 3.0, torch.full_like(labels, NULL))
    assert len(model.calls) == 1  # one forward per step
    batch, cond = model.calls[0]
    assert batch == 6 and cond.tolist() == [NULL] * 3 + [1, 5, 9]
    expected = (1.0 + 3.0 * (labels - 10) / 10).reshape(-1, 1, 1, 1).expand_as(x)
    assert torch.allclose(eps, expected, atol=1e-6)


def test_scale_one_is_the_conditional_pass_only():
    model, x = LabelModel(), torch.randn(2, 1, 4, 4)
    labels = torch.tensor([2, 4])
    eps = diffusion.predict_noise(model, x, 0, labels, 1.0, torch.full_like(labels, NULL))
    assert [(b, c.tolist()) for b, c in model.calls] == [(2, [2, 4])]
    assert torch.equal(eps, model(x, None, labels))


def test_guided_sampling_by_hand():
    """One DDIM step from x_T straight to x_0: x0 = (x_T - sqrt(1 - ab) eps) / sqrt(ab)."""
    schedule = diffusion.NoiseSchedule.linear(100)
    labels = torch.tensor([0, 3])
    out = diffusion.sample(
        LabelModel(),
        schedule,
        (2, 1, 4, 4),
        steps=1,
        cond=labels,
        guidance_scale=2.0,
        null_cond=torch.full_like(labels, NULL),
        generator=torch.Generator().manual_seed(0),
        clip_x0=False,
        progress=False,
    )
    x_T = torch.randn((2, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    eps = (1.0 + 2.0 * (labels.float() - 10) / 10).reshape(-1, 1, 1, 1)  # cfg by hand
    ab = schedule.alpha_bar[99].item()
    x0 = (x_T - (1 - ab) ** 0.5 * eps) / ab**0.5  # clip_x0=False: nothing clamped
    assert torch.allclose(out, x0, atol=1e-5)


def test_bad_guidance_inputs():
    schedule = diffusion.NoiseSchedule.linear(10)
    labels = torch.tensor([1, 2])
    kwargs = dict(steps=2, cond=labels, null_cond=torch.full_like(labels, NULL), progress=False)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="guidance_scale"):
            diffusion.sample(LabelModel(), schedule, (2, 1, 4, 4), guidance_scale=bad, **kwargs)
    with pytest.raises(TypeError, match="guidance_scale"):
        diffusion.sample(LabelModel(), schedule, (2, 1, 4, 4), guidance_scale="3", **kwargs)
    with pytest.raises(ValueError, match="one label per image"):
        diffusion.sample(LabelModel(), schedule, (3, 1, 4, 4), guidance_scale=2.0, **kwargs)
    with pytest.raises(ValueError, match="cond=labels"):
        diffusion.sample(LabelModel(), schedule, (2, 1, 4, 4), guidance_scale=2.0, steps=2)
    with pytest.raises(ValueError, match="null_cond"):
        diffusion.predict_noise(LabelModel(), torch.zeros(2, 1, 4, 4), 0, labels, 2.0)


def test_condition_dropout_rate_is_the_configured_one():
    rate = cfg_digits.TRAINING.cond_dropout
    assert 0.10 <= rate <= 0.20
    labels = torch.randint(0, 10, (20_000,), generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    dropped = diffusion.drop_condition(labels, rate, NULL, g)
    nulls = dropped == NULL
    assert abs(nulls.float().mean().item() - rate) < 0.01
    assert torch.equal(dropped[~nulls], labels[~nulls])  # the rest are kept as they were
    assert torch.equal(diffusion.drop_condition(labels, 0.0, NULL), labels)
    assert bool((diffusion.drop_condition(labels, 1.0, NULL) == NULL).all())
    with pytest.raises(ValueError, match="dropout p"):
        diffusion.drop_condition(labels, 1.5, NULL)


def test_training_loss_drops_labels_at_the_recipe_rate():
    class Spy(LabelModel):
        def __call__(self, x, t, cond):
            super().__call__(x, t, cond)
            return torch.zeros_like(x)

    spy, n, hp = Spy(), 20_000, cfg_digits.TRAINING
    batch = (torch.zeros(n, 1, 4, 4), torch.randint(0, 10, (n,)))
    schedule = diffusion.NoiseSchedule.cosine(50)
    g = torch.Generator().manual_seed(0)
    train.denoiser_loss(spy, schedule, batch, hp, generator=g, cond_null=NULL)
    ((_, cond),) = spy.calls
    assert abs((cond == NULL).float().mean().item() - hp.cond_dropout) < 0.01


@pytest.fixture(scope="module")
def pipe():
    config = UNetConfig(image_size=8, widths=(8, 16), attention_levels=(1,), num_classes=10)
    model = UNet(config).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # random weights everywhere, so the label changes the output
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return GuidedPipeline(model, diffusion.NoiseSchedule.cosine(100), name="tiny-cfg")


def test_pipeline_images_labels_and_determinism(pipe):
    images = pipe(
        [0, 3, 9],
        guidance_scale=3.0,
        num_inference_steps=5,
        generator=torch.Generator().manual_seed(0),
    )
    assert images.shape == (3, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    again = pipe(
        torch.tensor([0, 3, 9]),
        guidance_scale=3.0,
        num_inference_steps=5,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(images, again)  # list or tensor, same seed: same images
    other = pipe(
        [0, 3, 9],
        guidance_scale=0.0,
        num_inference_steps=5,
        generator=torch.Generator().manual_seed(0),
    )
    assert not torch.equal(images, other)
    images, trajectory = pipe([1, 2], num_inference_steps=4, return_trajectory=True)
    assert trajectory.xs.shape == (5, 2, 1, 8, 8)


def test_pipeline_bad_inputs(pipe):
    with pytest.raises(ValueError, match="0..9"):
        pipe([3, 10])
    with pytest.raises(ValueError, match="0..9"):
        pipe(torch.tensor([-1]))
    with pytest.raises(ValueError, match="guidance_scale"):
        pipe([3], guidance_scale=-0.5)
    with pytest.raises(ValueError, match="at least one label"):
        pipe([])
    with pytest.raises(TypeError, match="list or"):
        pipe(4)
    with pytest.raises(ValueError, match="integer tensor"):
        pipe(torch.tensor([1.0, 2.0]))
