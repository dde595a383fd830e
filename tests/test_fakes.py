import numpy as np
import torch

from course_lib import fakes
from course_lib.autoencoder import VAE, VAEConfig


def test_a_threshold_separates_separable_scores_and_not_identical_ones():
    rng = np.random.default_rng(0)
    assert fakes.threshold_accuracy(rng.random(200), rng.random(200) + 2) == 1.0
    assert fakes.threshold_accuracy(rng.random(200) + 2, rng.random(200)) == 1.0  # either way
    same = fakes.threshold_accuracy(rng.random(400), rng.random(400))
    assert 0.4 < same < 0.6


def test_the_probe_finds_a_difference_in_the_features_and_none_where_there_is_none():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(100, 4, generator=g)
    assert fakes.probe_accuracy(real, torch.randn(100, 4, generator=g) + 3) > 0.95
    assert fakes.probe_accuracy(real, torch.randn(100, 4, generator=g)) < 0.7


def test_round_trip_keeps_the_shape_and_range():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(width=8)).eval()
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    out = fakes.round_trip(vae, images, batch_size=2)
    assert out.shape == images.shape and out.abs().max() <= 1


def test_compare_reports_every_number():
    torch.manual_seed(0)
    from course_lib import data

    images, _, _ = data.captioned_digits("test")
    result = fakes.compare(images[:40], VAE(VAEConfig(width=8)).eval())
    assert result.confidence_real.shape == result.confidence_fake.shape == (40,)
    assert 0 <= result.read_same <= 1 and result.pixel_rms > 0
    assert "detectors" in str(result)
