"""Rectified-flow maths against closed forms: the interpolation's endpoints, the exact velocity
of a point mass and of a Gaussian, Euler's exactness on straight lines, guidance on velocities."""

import math

import pytest
import torch

from course_lib import diffusion, flow


def test_interpolation_endpoints_and_midpoint():
    x0, noise = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    assert torch.equal(flow.interpolate(x0, noise, 0.0), x0)
    assert torch.equal(flow.interpolate(x0, noise, 1.0), noise)
    torch.testing.assert_close(flow.interpolate(x0, noise, 0.5), (x0 + noise) / 2)
    t = torch.tensor([0.0, 0.25, 1.0])
    mixed = flow.interpolate(x0, noise, t)  # one t per image
    torch.testing.assert_close(mixed[1], 0.75 * x0[1] + 0.25 * noise[1])
    assert torch.equal(mixed[0], x0[0]) and torch.equal(mixed[2], noise[2])


def test_velocity_is_the_time_derivative_of_the_interpolation():
    x0, noise = torch.randn(2, 3), torch.randn(2, 3)
    h = 1e-3
    finite = (flow.interpolate(x0, noise, 0.4 + h) - flow.interpolate(x0, noise, 0.4 - h)) / (2 * h)
    torch.testing.assert_close(finite, flow.velocity_target(x0, noise), atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(flow.velocity_target(x0, noise), noise - x0)


def test_euler_with_the_true_velocity_of_one_point_is_exact_in_one_step():
    point = torch.tensor([[2.0, -1.0]])  # the data distribution: a single point
    noise = torch.randn(5, 2)

    def velocity(x_t, t, cond=None):  # exact for a point mass: v = (x_t - x_0) / t
        return (x_t - point) / t.reshape(-1, 1)

    x_t = noise
    v = velocity(x_t, torch.ones(5))
    torch.testing.assert_close(flow.euler_step(x_t, v, 1.0, 0.0), point.expand(5, 2))
    torch.testing.assert_close(flow.predict_x0(x_t, v, 1.0), point.expand(5, 2))
    out = flow.sample(velocity, (5, 2), steps=1, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, point.expand(5, 2))


def gaussian_velocity(x_t, t, mu, s):
    """E[eps - x_0 | x_t] for x_0 ~ N(mu, s^2 I), written from the joint Gaussian."""
    t = t.reshape(-1, *([1] * (x_t.ndim - 1)))
    var = (1 - t) ** 2 * s**2 + t**2  # Var x_t
    x0_hat = mu + (1 - t) * s**2 / var * (x_t - (1 - t) * mu)
    eps_hat = t / var * (x_t - (1 - t) * mu)
    return eps_hat - x0_hat


def test_gaussian_data_exact_velocity_maps_noise_to_the_right_distribution():
    mu, s = 3.0, 0.5
    model = lambda x, t, cond=None: gaussian_velocity(x, t, mu, s)  # noqa: E731
    out = flow.sample(model, (20000, 1), steps=200, generator=torch.Generator().manual_seed(0))
    assert abs(out.mean().item() - mu) < 0.02
    assert abs(out.std().item() - s) < 0.02


def test_the_exact_gaussian_velocity_is_what_the_loss_is_minimised_by():
    """E[v_target | x_t] equals the closed form: regress the target on x_t by least squares."""
    mu, s, t = 1.0, 0.7, 0.3
    g = torch.Generator().manual_seed(0)
    x0 = mu + s * torch.randn(200_000, 1, generator=g, dtype=torch.float64)
    noise = torch.randn(200_000, 1, generator=g, dtype=torch.float64)
    x_t, target = flow.interpolate(x0, noise, t), flow.velocity_target(x0, noise)
    design = torch.cat([x_t, torch.ones_like(x_t)], 1)  # the exact field is affine in x_t
    coef = torch.linalg.lstsq(design, target).solution
    probe = torch.tensor([[-1.0], [0.5], [2.0]], dtype=torch.float64)
    fitted = torch.cat([probe, torch.ones_like(probe)], 1) @ coef
    exact = gaussian_velocity(probe, torch.full((3,), t, dtype=torch.float64), mu, s)
    torch.testing.assert_close(fitted, exact, atol=0.01, rtol=0.01)


def test_time_grid_runs_from_noise_to_data():
    assert flow.time_grid(4) == [1.0, 0.75, 0.5, 0.25, 0.0]
    shifted = flow.time_grid(4, shift=3.0)
    assert shifted[0] == 1.0 and shifted[-1] == 0.0
    assert all(a > b for a, b in zip(shifted, shifted[1:], strict=False))
    assert shifted[2] > 0.5  # shift > 1 keeps more steps near the noise end
    with pytest.raises((TypeError, ValueError)):
        flow.time_grid(0)


def test_cfg_on_velocities_scale_one_is_conditional_and_zero_unconditional():
    def model(x, t, cond):  # the velocity depends on the condition
        return x * 0 + cond.reshape(-1, 1).float()

    x = torch.zeros(2, 3)
    cond, null = torch.tensor([5, 5]), torch.tensor([1, 1])
    one = flow.predict_velocity(model, x, 0.5, cond, 1.0, null)
    zero = flow.predict_velocity(model, x, 0.5, cond, 0.0, null)
    three = flow.predict_velocity(model, x, 0.5, cond, 3.0, null)
    torch.testing.assert_close(one, torch.full((2, 3), 5.0))
    torch.testing.assert_close(zero, torch.full((2, 3), 1.0))
    torch.testing.assert_close(three, diffusion.cfg(zero, one, 3.0))


def test_model_sees_float_times_in_zero_one():
    seen = []

    def model(x, t, cond=None):
        seen.append(t)
        return torch.zeros_like(x)

    flow.sample(model, (2, 1), steps=3, generator=torch.Generator().manual_seed(0))
    assert [s.dtype for s in seen] == [torch.float32] * 3
    assert [round(float(s[0]), 4) for s in seen] == [1.0, 0.6667, 0.3333]


def test_sampling_is_deterministic_and_trajectory_has_every_step():
    model = lambda x, t, cond=None: 0.5 * x  # noqa: E731
    a = flow.sample(model, (2, 3), steps=5, generator=torch.Generator().manual_seed(1))
    traj = flow.sample(
        model, (2, 3), steps=5, generator=torch.Generator().manual_seed(1), return_trajectory=True
    )
    assert torch.equal(a, traj.images)
    assert traj.xs.shape == (6, 2, 3) and traj.x0s.shape == (5, 2, 3)
    assert traj.timesteps == flow.time_grid(5)[:-1]


def test_loss_is_zero_for_the_exact_velocity_of_a_point_and_positive_otherwise():
    x0 = torch.full((64, 2), 1.5)

    def exact(x_t, t, cond=None):
        return (x_t - x0) / t.reshape(-1, 1)

    g = torch.Generator().manual_seed(0)
    assert flow.flow_loss(exact, x0, generator=g).item() < 1e-8
    assert flow.flow_loss(lambda x, t, c=None: torch.zeros_like(x), x0, generator=g) > 1.0


def test_t_sampling_stays_inside_zero_one():
    g = torch.Generator().manual_seed(0)
    for kind in flow.T_SAMPLING:
        t = flow.sample_t(10_000, kind, g)
        assert 0 < t.min() and t.max() < 1
    logit = flow.sample_t(10_000, "logit_normal", g)
    assert abs(logit.mean().item() - 0.5) < 0.01 and logit.std() < 1 / math.sqrt(12)
    with pytest.raises(ValueError, match="uniform"):
        flow.sample_t(4, "cosine")


def test_straightness_of_a_line_is_one_and_of_a_detour_more():
    line = torch.linspace(0, 1, 11)[:, None, None] * torch.tensor([[3.0, 4.0]])  # (11, 1, 2)
    assert torch.allclose(flow.path_straightness(line), torch.tensor([1.0], dtype=torch.float64))
    corner = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 1.0]]])
    assert math.isclose(float(flow.path_straightness(corner)), 2 / math.sqrt(2), rel_tol=1e-6)


def test_bad_inputs_are_refused():
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="B=2"):
        flow.interpolate(x, x, torch.rand(3))
    with pytest.raises(TypeError):
        flow.velocity_target(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="condition"):
        flow.sample(lambda x, t, c: x, (2, 3), steps=2, guidance_scale=3.0)
