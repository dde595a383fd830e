"""The pixel-by-pixel model: causal (pixel i's logit ignores pixels >= i), one call per pixel."""

import pytest
import torch

from course_lib import autoregressive as ar


def tiny(seed: int = 0) -> ar.PixelAR:
    torch.manual_seed(seed)
    return ar.PixelAR(ar.PixelARConfig(image_size=6, dim=16, depth=2, heads=2, mlp_dim=32)).eval()


def test_logit_i_depends_only_on_pixels_before_i():
    model = tiny()
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 2, (3, 36), generator=g)
    j = 17
    flipped = pixels.clone()
    flipped[:, j:] = 1 - flipped[:, j:]  # change pixel j and everything after it
    with torch.no_grad():
        a, b = model(pixels), model(flipped)
    assert torch.equal(a[:, : j + 1], b[:, : j + 1])  # logits 0..j read pixels < j+1 only
    assert not torch.allclose(a[:, j + 1 :], b[:, j + 1 :])


def test_sampling_one_call_per_pixel_matches_the_parallel_forward_and_keeps_given_pixels():
    model = tiny()
    given = torch.full((2, 36), -1)
    given[:, 3] = 1  # a pixel forced early
    pixels, calls = ar.sample(model, 2, given=given, generator=torch.Generator().manual_seed(0))
    assert calls == 36 and pixels.shape == (2, 36)
    assert bool((pixels[:, 3] == 1).all()) and set(pixels.unique().tolist()) <= {0, 1}
    again, _ = ar.sample(model, 2, given=given, generator=torch.Generator().manual_seed(0))
    assert torch.equal(pixels, again)


def test_bits_per_pixel_of_an_untrained_model_is_about_one_bit():
    pixels = torch.randint(0, 2, (4, 36), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        bits = ar.bits_per_pixel(tiny(), pixels)
    assert bits.shape == (4,) and 0.8 < float(bits.mean()) < 1.3


def test_bad_pixels_are_refused():
    model = tiny()
    with pytest.raises(ValueError, match="raster order"):
        model(torch.zeros(2, 35, dtype=torch.long))
    with pytest.raises(ValueError, match="zeros and ones"):
        model(torch.full((2, 36), 2))
    with pytest.raises(ValueError, match="given must be"):
        ar.sample(model, 2, given=torch.full((3, 36), -1))
