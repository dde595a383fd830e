import pytest
import torch

from course_lib.unet import UNet, UNetConfig, timestep_embedding

SMALL = UNetConfig(image_size=8, widths=(8, 16), attention_levels=(1,), time_dim=16)


def shaken(config: UNetConfig) -> UNet:
    """A small U-Net with random weights everywhere (the zero-initialised layers too)."""
    torch.manual_seed(0)
    model = UNet(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize(
    "config",
    [
        SMALL,
        UNetConfig(image_size=28, widths=(8, 16, 16), blocks_per_level=1, attention_levels=(2,)),
        UNetConfig(image_size=8, channels=4, widths=(8, 16), attention_levels=(0, 1), heads=2),
    ],
)
def test_output_has_the_input_shape(config):
    model = UNet(config)
    x = torch.randn(3, config.channels, config.image_size, config.image_size)
    assert model(x, torch.tensor([0, 10, 999])).shape == x.shape
    assert model(x, 5).shape == x.shape  # one int t for the whole batch


def test_starts_by_predicting_zero_noise_and_t_matters():
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(UNet(SMALL)(x, 3), torch.zeros_like(x))
    model = shaken(SMALL)
    assert not torch.allclose(model(x, 3), model(x, 700))
    torch.testing.assert_close(model(x, 3), model(x, 3))


def test_time_embedding_is_sines_and_cosines():
    emb = timestep_embedding(torch.tensor([0, 1, 500]), 16)
    assert emb.shape == (3, 16)
    torch.testing.assert_close(emb[0, :8], torch.ones(8))  # cos(0) = 1
    torch.testing.assert_close(emb[0, 8:], torch.zeros(8))  # sin(0) = 0
    torch.testing.assert_close(emb[1, 0], torch.cos(torch.tensor(1.0)))  # w_0 = 1


def test_class_labels_condition_and_none_means_the_null_label():
    model = shaken(UNetConfig(**{**SMALL.__dict__, "num_classes": 10}))
    x = torch.randn(2, 1, 8, 8)
    a, b = model(x, 5, torch.tensor([1, 1])), model(x, 5, torch.tensor([7, 7]))
    assert not torch.allclose(a, b)
    torch.testing.assert_close(model(x, 5, None), model(x, 5, torch.tensor([10, 10])))
    with pytest.raises(ValueError, match="int64 labels"):
        model(x, 5, torch.tensor([1.0, 2.0]))


def test_token_embeddings_condition_through_cross_attention():
    model = shaken(UNetConfig(**{**SMALL.__dict__, "cond_dim": 12}))
    x, tokens = torch.randn(2, 1, 8, 8), torch.randn(2, 5, 12)
    assert not torch.allclose(model(x, 5, tokens), model(x, 5, torch.randn(2, 5, 12)))
    mask = torch.tensor([[True, True, False, False, False]] * 2)
    changed = tokens.clone()
    changed[:, 2:] = 9.0  # masked-out tokens must not matter
    torch.testing.assert_close(model(x, 5, tokens, mask), model(x, 5, changed, mask))
    with pytest.raises(ValueError, match="token embeddings"):
        model(x, 5, torch.randn(2, 5, 7))


def test_bad_inputs_and_configs_raise_clear_errors():
    model = UNet(SMALL)
    with pytest.raises(ValueError, match=r"takes noisy images x_t of shape \(B, 1, 8, 8\)"):
        model(torch.randn(2, 1, 9, 9), 3)
    with pytest.raises(ValueError, match="t must be"):
        model(torch.randn(2, 1, 8, 8), torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="unconditional"):
        model(torch.randn(2, 1, 8, 8), 3, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="halved"):
        UNetConfig(image_size=28, widths=(8, 16, 16, 16))
    with pytest.raises(ValueError, match="divisible"):
        UNetConfig(widths=(12, 24))
