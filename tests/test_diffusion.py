"""Diffusion maths against independent re-derivations of the papers' equations.

The references below are written from the papers (Ho et al. 2020; Song et al. 2021;
Nichol & Dhariwal 2021) in plain numpy float64, not with the library's helpers.
"""

import math

import numpy as np
import pytest
import torch

from course_lib import diffusion
from course_lib.diffusion import NoiseSchedule, ddim_step, ddim_timesteps, ddpm_step


@pytest.fixture(scope="module")
def linear():
    return NoiseSchedule.linear(1000)


@pytest.fixture(scope="module")
def cosine():
    return NoiseSchedule.cosine(1000)


def test_schedules_decrease_from_about_one_to_about_zero(linear, cosine):
    for schedule in (linear, cosine):
        a = schedule.alpha_bar
        assert a.shape == (1000,) and schedule.betas.shape == schedule.alphas.shape == (1000,)
        assert bool((a[1:] < a[:-1]).all()), "alpha_bar must be strictly decreasing"
        assert a[0] > 0.999 and a[-1] < 1e-4
    assert float(cosine.betas.max()) <= 0.999
    assert math.isclose(float(cosine.betas[-1]), 0.999)  # the cap is reached at the very end


def test_schedules_match_the_papers_formulas(linear, cosine):
    betas = np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_allclose(linear.alpha_bar.numpy(), np.cumprod(1 - betas), rtol=1e-12)
    # Nichol & Dhariwal eq. 17: alpha_bar(t) = f(t) / f(0), f(t) = cos^2((t/T + s)/(1 + s) pi/2)
    s, T = 0.008, 1000
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in range(T + 1)]
    alpha_bar = np.array([f[t] / f[0] for t in range(1, T + 1)])
    np.testing.assert_allclose(cosine.alpha_bar.numpy()[:-1], alpha_bar[:-1], rtol=1e-10)
    np.testing.assert_allclose(cosine.snr.numpy(), cosine.alpha_bar / (1 - cosine.alpha_bar))


def test_q_sample_is_the_closed_form(cosine):
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(3, 1, 4, 4, generator=g), torch.randn(3, 1, 4, 4, generator=g)
    t = torch.tensor([0, 500, 999])
    out = cosine.q_sample(x0, t, noise)
    for i, ti in enumerate(t.tolist()):
        a = float(cosine.alpha_bar[ti])
        expected = math.sqrt(a) * x0[i] + math.sqrt(1 - a) * noise[i]
        torch.testing.assert_close(out[i], expected)
    torch.testing.assert_close(cosine.q_sample(x0, 500, noise)[1], out[1])


def test_many_small_steps_give_the_one_shot_distribution():
    schedule = NoiseSchedule.linear(200, beta_end=0.04)
    g = torch.Generator().manual_seed(1)
    x = torch.full((20_000,), 0.7, dtype=torch.float64)
    for beta in schedule.betas:  # x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(x.shape, generator=g, dtype=x.dtype)
    a = float(schedule.alpha_bar[-1])
    assert abs(x.mean().item() - math.sqrt(a) * 0.7) < 0.02
    assert abs(x.var().item() - (1 - a)) < 0.03


def ho_ddpm_step(betas, x_t, eps, t, z):
    """Ho et al. 2020, Algorithm 2, 0-based t, sigma_t^2 = beta_tilde_t, in numpy."""
    alphas = 1 - betas
    alpha_bar = np.cumprod(alphas)
    alpha_bar_prev = alpha_bar[t - 1] if t > 0 else 1.0
    beta_tilde = (1 - alpha_bar_prev) / (1 - alpha_bar[t]) * betas[t]
    mean = (x_t - betas[t] / np.sqrt(1 - alpha_bar[t]) * eps) / np.sqrt(alphas[t])
    return mean + np.sqrt(beta_tilde) * z


def ho_posterior(betas, x0, x_t, t):
    """Ho et al. eq. 7: the mean and variance of q(x_{t-1} | x_t, x_0)."""
    alpha_bar = np.cumprod(1 - betas)
    prev = alpha_bar[t - 1]
    coef0 = np.sqrt(prev) * betas[t] / (1 - alpha_bar[t])
    coef_t = np.sqrt(1 - betas[t]) * (1 - prev) / (1 - alpha_bar[t])
    return coef0 * x0 + coef_t * x_t, (1 - prev) / (1 - alpha_bar[t]) * betas[t]


def test_ddpm_step_matches_algorithm_2_and_the_posterior(linear):
    g = torch.Generator().manual_seed(2)
    betas = linear.betas.numpy()
    x0 = torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    z = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    for t in (1, 10, 500, 999):
        x_t = linear.q_sample(x0, t, eps)
        out = ddpm_step(linear, x_t, eps, t, noise=z)
        ref = ho_ddpm_step(betas, x_t.numpy(), eps.numpy(), t, z.numpy())
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)
        # with the true noise the mean is the posterior mean of q(x_{t-1} | x_t, x_0)
        mean, var = ho_posterior(betas, x0.numpy(), x_t.numpy(), t)
        no_noise = ddpm_step(linear, x_t, eps, t, noise=torch.zeros_like(z))
        np.testing.assert_allclose(no_noise.numpy(), mean, rtol=1e-8, atol=1e-10)
        assert math.isclose(float(linear.posterior_variance[t]), var, rel_tol=1e-10)
    # at t = 0 there is no noise to add, and none is needed
    x_0 = ddpm_step(linear, x0, eps, 0)
    np.testing.assert_allclose(x_0.numpy(), ho_ddpm_step(betas, x0.numpy(), eps.numpy(), 0, 0))


def song_ddim_step(x_t, eps, a_t, a_prev, eta, z):
    """Song et al. 2021, eq. 12 with sigma from eq. 16, in numpy."""
    x0 = (x_t - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
    sigma = eta * np.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
    return np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev - sigma**2) * eps + sigma * z


def test_ddim_step_matches_equation_12():
    g = torch.Generator().manual_seed(3)
    x_t, eps, z = (torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64) for _ in range(3))
    for a_t, a_prev, eta in [(0.1, 0.4, 0.0), (0.1, 0.4, 1.0), (0.5, 0.9, 0.3), (0.2, 1.0, 1.0)]:
        out = ddim_step(x_t, eps, a_t, a_prev, eta, noise=z if eta else None)
        ref = song_ddim_step(x_t.numpy(), eps.numpy(), a_t, a_prev, eta, z.numpy())
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)


def test_ddim_eta_one_has_the_ddpm_posterior_variance(linear):
    for t in (1, 100, 999):
        sigma = diffusion.ddim_sigma(linear.alpha_bar[t], linear.alpha_bar[t - 1], 1.0)
        assert math.isclose(float(sigma**2), float(linear.posterior_variance[t]), rel_tol=1e-10)
    # and with eta = 1 between neighbours, one DDIM step is one DDPM step
    g = torch.Generator().manual_seed(4)
    x_t, eps, z = (torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64) for _ in range(3))
    t = 300
    ddim = ddim_step(x_t, eps, linear.alpha_bar[t], linear.alpha_bar[t - 1], 1.0, noise=z)
    torch.testing.assert_close(ddim, ddpm_step(linear, x_t, eps, t, noise=z))


class ExactDenoiser:
    """A dummy analytic noise predictor for data that is always the image x0_true: given x_t
    at t, the noise is exactly (x_t - sqrt(alpha_bar_t) x0) / sqrt(1 - alpha_bar_t)."""

    def __init__(self, schedule, x0_true):
        self.schedule, self.x0_true, self.calls = schedule, x0_true, []

    def __call__(self, x, t, cond=None):
        self.calls.append(int(t[0]))
        a = self.schedule.alpha_bar[t].to(x.dtype).view(-1, 1, 1, 1)
        return (x - a.sqrt() * self.x0_true) / (1 - a).sqrt()


SAMPLERS = [  # each sampler's options, and the number of steps it takes with them
    ({"sampler": "ddim", "steps": 10, "eta": 0.0}, 10),
    ({"sampler": "ddim", "steps": 20, "eta": 1.0}, 20),
    ({"sampler": "ddpm", "steps": None}, 1000),  # DDPM takes every one of the T steps
]


@pytest.mark.parametrize("options, n", SAMPLERS)
def test_sampler_with_an_exact_denoiser_lands_on_the_data(cosine, options, n):
    x0_true = torch.linspace(-0.9, 0.9, 16).reshape(1, 1, 4, 4)
    model = ExactDenoiser(cosine, x0_true)
    g = torch.Generator().manual_seed(5)
    traj = diffusion.sample(
        model, cosine, (3, 1, 4, 4), generator=g, return_trajectory=True, progress=False, **options
    )
    assert traj.xs.shape == (n + 1, 3, 1, 4, 4) and traj.x0s.shape == (n, 3, 1, 4, 4)
    assert model.calls == traj.timesteps and traj.timesteps[0] == 999 and traj.timesteps[-1] == 0
    # at t = 999, alpha_bar ~ 4e-5: dividing by its square root magnifies float32 rounding
    torch.testing.assert_close(traj.x0s[0], x0_true.expand(3, -1, -1, -1), atol=1e-2, rtol=0)
    torch.testing.assert_close(traj.x0s[1:], x0_true.expand_as(traj.x0s[1:]), atol=1e-4, rtol=0)
    torch.testing.assert_close(traj.images, x0_true.expand(3, -1, -1, -1), atol=1e-4, rtol=0)
    # the path is checkable: with eta = 0, x_t stays on the line sqrt(a) x0 + sqrt(1-a) eps_T
    if options == SAMPLERS[0][0]:  # DDIM with eta = 0
        a = cosine.alpha_bar[999].float()
        eps_T = (traj.xs[0] - a.sqrt() * x0_true) / (1 - a).sqrt()  # the noise x_T implies
        for x, t in zip(traj.xs[1:-1], traj.timesteps[1:], strict=True):
            torch.testing.assert_close(
                x, cosine.q_sample(x0_true.expand_as(x), t, eps_T), atol=1e-3, rtol=0
            )


def test_ddim_eta_zero_is_deterministic_and_seeds_matter(cosine):
    model = ExactDenoiser(cosine, torch.zeros(1, 1, 4, 4))
    noisy = lambda x, t, c: model(x, t) + 0.3 * torch.sin(3 * x)  # noqa: E731 an imperfect model

    def run(seed, eta=0.0):
        g = torch.Generator().manual_seed(seed)
        return diffusion.sample(
            noisy, cosine, (2, 1, 4, 4), steps=10, eta=eta, generator=g, progress=False
        )

    torch.testing.assert_close(run(0), run(0))
    assert not torch.allclose(run(0), run(1))
    torch.testing.assert_close(run(7, eta=1.0), run(7, eta=1.0))


def test_timesteps_spread_evenly():
    assert ddim_timesteps(1000, 4) == [999, 666, 333, 0]
    assert ddim_timesteps(10, 10) == list(range(9, -1, -1))
    assert len(set(ddim_timesteps(1000, 999))) == 999


def test_bad_inputs_raise_clear_errors(cosine):
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match="out of range"):
        cosine.q_sample(x, 1000, x)
    with pytest.raises(ValueError, match="out of range"):
        cosine.q_sample(x, torch.tensor([0, -1]), x)
    with pytest.raises(TypeError, match="integers"):
        cosine.q_sample(x, torch.tensor([0.5, 1.0]), x)
    with pytest.raises(ValueError, match="shapes must match"):
        cosine.q_sample(x, 3, torch.zeros(2, 1, 4, 5))
    with pytest.raises(ValueError, match="shapes must match"):
        ddpm_step(cosine, x, torch.zeros(1, 1, 4, 4), 5, noise=x)
    with pytest.raises(ValueError, match="pass noise"):
        ddpm_step(cosine, x, x, 5)
    with pytest.raises(ValueError, match="eta must be"):
        ddim_step(x, x, 0.5, 0.6, eta=-0.1)
    with pytest.raises(ValueError, match="pass noise"):
        ddim_step(x, x, 0.5, 0.6, eta=1.0)
    with pytest.raises(ValueError, match="alpha_bar_prev"):
        ddim_step(x, x, 0.5, 0.4)
    with pytest.raises(ValueError, match="steps must be"):
        ddim_timesteps(1000, 1001)
    with pytest.raises(ValueError, match="steps must be"):
        diffusion.sample(lambda x, t, c: x, cosine, (1, 1, 4, 4), steps=2000, progress=False)
    with pytest.raises(ValueError, match="DDPM takes every"):
        diffusion.sample(lambda x, t, c: x, cosine, (1, 1, 4, 4), sampler="ddpm", steps=50)
    with pytest.raises(ValueError, match="eta must be"):
        diffusion.sample(lambda x, t, c: x, cosine, (1, 1, 4, 4), eta=-1, progress=False)
    with pytest.raises(ValueError, match="unknown sampler"):
        diffusion.sample(lambda x, t, c: x, cosine, (1, 1, 4, 4), sampler="euler")
    with pytest.raises(ValueError, match="T"):
        NoiseSchedule.linear(0)
    with pytest.raises(ValueError, match="beta_start"):
        NoiseSchedule.linear(10, beta_start=0.5, beta_end=0.1)


def test_loss_is_the_simple_mse_and_min_snr_only_lowers_it(cosine):
    x0 = torch.zeros(8, 1, 4, 4)
    zero_model = lambda x, t, c: torch.zeros_like(x)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    simple = diffusion.diffusion_loss(zero_model, cosine, x0, generator=g)
    g = torch.Generator().manual_seed(0)
    weighted = diffusion.diffusion_loss(zero_model, cosine, x0, generator=g, min_snr_gamma=5.0)
    g = torch.Generator().manual_seed(0)
    torch.randint(0, 1000, (8,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    torch.testing.assert_close(simple, (noise**2).mean())
    assert weighted <= simple


def test_schedule_from_spec_rebuilds_each_kind_with_its_arguments():
    cosine = NoiseSchedule.from_spec({"kind": "cosine", "T": 50})
    assert torch.equal(cosine.betas, NoiseSchedule.cosine(50).betas)
    linear = NoiseSchedule.from_spec({"kind": "linear", "T": 20, "beta_end": 0.04})
    assert torch.equal(linear.betas, NoiseSchedule.linear(20, beta_end=0.04).betas)
    with pytest.raises(ValueError, match="'linear' or 'cosine'"):
        NoiseSchedule.from_spec({"kind": "sigmoid", "T": 10})
    with pytest.raises(ValueError, match="'kind'"):
        NoiseSchedule.from_spec("cosine")
