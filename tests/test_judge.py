import pytest
import torch

from course_lib import data, judge


def test_frechet_distance_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 4, generator=g, dtype=torch.float64)
    assert judge.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([3.0, 0.0, 0.0, 4.0], dtype=torch.float64)
    assert judge.frechet_distance(a, a + shift) == pytest.approx(25.0, rel=1e-6)
    # (m, C) against (2m, 4C): |m|^2 + Tr(C + 4C - 2 (4 C^2)^(1/2)) = |m|^2 + Tr(C)
    expected = (a.mean(0) ** 2).sum().item() + torch.cov(a.T).trace().item()
    assert judge.frechet_distance(a, 2 * a) == pytest.approx(expected, rel=1e-6)


def test_the_judge_reads_real_test_digits():
    images, labels = data.mnist_tensors("test")
    verdict = judge.judge(images[:300])
    assert (verdict.labels == labels[:300]).float().mean() > 0.95
    assert verdict.confident_fraction() > 0.9
    assert verdict.features.shape == (300, 64)
    padded, _ = data.mnist_tensors("test", size=32)  # 32x32 digits are centre-cropped
    torch.testing.assert_close(judge.judge(padded[:20]).labels, verdict.labels[:20])
    unit = judge.judge((images[:20] + 1) / 2, scale="zero_one")
    torch.testing.assert_close(unit.confidence, verdict.confidence[:20])
    with pytest.raises(ValueError, match="28, 28"):
        judge.judge(torch.zeros(2, 3, 28, 28))


def test_diversity_is_the_mean_pairwise_rms_distance():
    images = torch.zeros(3, 1, 4, 4)
    images[1] += 0.5  # 0.5 from image 0 at every pixel, and from image 2
    images[2] += 1.0  # 1.0 from image 0
    # mean over the 6 ordered pairs of the per-pixel RMS distance: (0.5 + 1.0 + 0.5) * 2 / 6
    assert judge.mean_pairwise_distance(images) == pytest.approx(2 / 3)
    assert judge.mean_pairwise_distance(torch.ones(5, 1, 4, 4)) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        judge.mean_pairwise_distance(torch.zeros(1, 1, 4, 4))
