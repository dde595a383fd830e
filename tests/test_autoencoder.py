import math

import pytest
import torch

from course_lib import autoencoder
from course_lib.autoencoder import VAE, VAEConfig

SMALL = VAEConfig(width=16)


def test_shapes_and_range():
    model = VAE(SMALL)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    mean, logvar = model.encode(x)
    assert mean.shape == logvar.shape == (2, 4, 8, 8) == (2, *SMALL.latent_shape)
    recon = model.decode(mean)
    assert recon.shape == x.shape and recon.abs().max() <= 1


def test_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mean, logvar = torch.randn(5, 4, 8, 8), torch.randn(5, 4, 8, 8)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(q, p)
    assert torch.allclose(autoencoder.kl_divergence(mean, logvar), expected, atol=1e-5)
    assert autoencoder.kl_divergence(torch.zeros(3), torch.zeros(3)).abs().max() == 0


def test_scaling_factor_applied_on_encode_and_undone_on_decode():
    torch.manual_seed(0)
    base = VAE(SMALL).eval()
    scaled = VAE(VAEConfig(width=16, scaling_factor=0.25)).eval()
    scaled.load_state_dict(base.state_dict())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    mean, logvar = base.encode(x)
    mean_s, logvar_s = scaled.encode(x)
    assert torch.allclose(mean_s, 0.25 * mean, atol=1e-6)
    assert torch.allclose(logvar_s, logvar + 2 * math.log(0.25), atol=1e-5)
    assert torch.allclose(scaled.decode(mean_s), base.decode(mean), atol=1e-5)


def test_measured_scaling_factor_gives_unit_std_latents():
    torch.manual_seed(0)
    model = VAE(SMALL).eval()
    x = torch.rand(64, 3, 32, 32) * 2 - 1
    factor = autoencoder.measure_scaling_factor(model, x)
    rescaled = VAE(VAEConfig(width=16, scaling_factor=factor)).eval()
    rescaled.load_state_dict(model.state_dict())
    assert rescaled.encode(x)[0].std().item() == pytest.approx(1.0, rel=1e-4)


def test_reparameterisation_is_seeded_and_has_the_right_spread():
    mean, logvar = torch.full((20000,), 2.0), torch.full((20000,), math.log(0.09))
    a = autoencoder.sample_latent(mean, logvar, torch.Generator().manual_seed(1))
    b = autoencoder.sample_latent(mean, logvar, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.mean().item() == pytest.approx(2.0, abs=0.01)
    assert a.std().item() == pytest.approx(0.3, abs=0.01)


def test_slerp_endpoints_norm_and_errors():
    torch.manual_seed(0)
    a, b = torch.randn(4, 8, 8), torch.randn(4, 8, 8)
    assert torch.allclose(autoencoder.slerp(a, b, 0.0), a, atol=1e-5)
    assert torch.allclose(autoencoder.slerp(a, b, 1.0), b, atol=1e-5)
    mid = autoencoder.slerp(a, a * 2, 0.5)  # parallel: falls back to the line
    assert torch.allclose(mid, 1.5 * a)
    unit_a, unit_b = a / a.norm(), b / b.norm()
    assert autoencoder.slerp(unit_a, unit_b, 0.3).norm().item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        autoencoder.slerp(a, b[:2], 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        autoencoder.slerp(a, b, 1.5)


def test_bad_shapes_say_what_to_pass():
    model = VAE(SMALL)
    with pytest.raises(ValueError, match=r"decoder takes latents of shape \(B, 4, 8, 8\)"):
        model.decode(torch.zeros(1, 4, 16, 16))
    with pytest.raises(ValueError, match=r"encoder takes images of shape \(B, 3, 32, 32\)"):
        model.encode(torch.zeros(1, 1, 28, 28))
    with pytest.raises(ValueError, match="divisible by 4"):
        VAEConfig(image_size=30)


def test_a_few_steps_lower_the_loss():
    torch.manual_seed(0)
    model = VAE(SMALL)
    x = torch.rand(16, 3, 32, 32) * 2 - 1
    optimizer = torch.optim.Adam(model.parameters(), 2e-3)
    first = autoencoder.vae_loss(model, x)["loss"].item()
    for _ in range(15):
        loss = autoencoder.vae_loss(model, x)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first
