import pytest
import torch

from course_lib import config


def test_fast_mode_follows_environment(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("COURSE_FAST", "1")
    assert config.fast_mode()
    monkeypatch.setenv("COURSE_FAST", "0")
    assert not config.fast_mode()
    monkeypatch.delenv("COURSE_FAST")
    monkeypatch.setenv("CI", "true")
    assert config.fast_mode()
    monkeypatch.delenv("CI")
    assert not config.fast_mode()


def test_device_override_and_bad_value(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "warp-drive")
    with pytest.raises(ValueError, match="COURSE_DEVICE"):
        config.get_device()


def test_seed_everything_repeats_numbers():
    g1 = config.seed_everything(3)
    a = torch.randn(4), torch.randn(4, generator=g1)
    g2 = config.seed_everything(3)
    b = torch.randn(4), torch.randn(4, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="non-negative int"):
        config.seed_everything(-1)
