"""tools/unet_speed.py: diffusers' twin has the course U-Net's shape, and the side-by-side
timing runs and reports a ratio of the two medians."""

import torch

from course_lib.recipes import ddpm_digits
from course_lib.unet import UNet, UNetConfig
from tools import unet_speed

SMALL = UNetConfig(
    image_size=8, widths=(8, 16), blocks_per_level=1, attention_levels=(1,), groups=4
)


def test_the_twin_has_the_same_widths_levels_and_output():
    twin = unet_speed.diffusers_twin(SMALL)
    assert tuple(twin.config.block_out_channels) == SMALL.widths
    assert twin.config.down_block_types == ("DownBlock2D", "AttnDownBlock2D")
    assert twin.config.up_block_types == ("AttnUpBlock2D", "UpBlock2D")
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 700])
    assert twin(x, t).sample.shape == UNet(SMALL)(x, t).shape == x.shape


def test_the_shipped_layout_has_parameter_counts_within_a_fifth():
    course = sum(p.numel() for p in UNet(ddpm_digits.MODEL).parameters())
    twin = sum(p.numel() for p in unet_speed.diffusers_twin(ddpm_digits.MODEL).parameters())
    assert 0.8 < twin / course < 1.2  # same widths: the two differ in their time MLPs


def test_compare_reports_both_medians_and_their_ratio(monkeypatch):
    monkeypatch.setattr(unet_speed.ddpm_digits, "MODEL", SMALL)
    monkeypatch.setattr(unet_speed, "STEPS", 1)
    result = unet_speed.compare(batch=2, rounds=1)
    seconds = result["seconds per step"]
    assert set(seconds) == {"course U-Net", "diffusers UNet2DModel"}
    assert result["ratio"] == seconds["diffusers UNet2DModel"] / seconds["course U-Net"]
