"""The 2-D toy's exact denoiser, against sampling and against the one-component closed form."""

import torch

from course_lib import flow, toy_flows


def test_posterior_mean_of_one_component_is_the_gaussian_formula():
    means, s = torch.tensor([[1.0, -1.0]], dtype=torch.float64), 0.5
    x = torch.randn(4, 2, dtype=torch.float64)
    a, b = 0.6, 0.8
    expected = means + a * s**2 / (a**2 * s**2 + b**2) * (x - a * means)
    torch.testing.assert_close(toy_flows.posterior_mean(x, a, b, means, s), expected)


def test_both_exact_samplers_land_on_the_mixture():
    means = toy_flows.mixture_means(4, 3.0)
    noise = torch.randn(300, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for path in (toy_flows.flow_path, toy_flows.ddim_path):
        end = path(noise, 100, means, 0.2)[-1]
        nearest = ((end[:, None] - means[None]) ** 2).sum(-1).min(1).values.sqrt()
        assert nearest.mean() < 0.35  # about the components' spread, sqrt(2) * 0.2
        assert path(noise, 4, means, 0.2).shape == (5, 300, 2)


def test_a_single_point_flow_path_is_straight_and_the_ddim_path_bends():
    point = torch.tensor([[3.0, 0.0]], dtype=torch.float64)
    noise = torch.randn(50, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    straight = flow.path_straightness(toy_flows.flow_path(noise, 50, point, 1e-3))
    bent = flow.path_straightness(toy_flows.ddim_path(noise, 50, point, 1e-3))
    assert torch.allclose(straight, torch.ones_like(straight), atol=1e-6)
    assert bent.mean() > 1.02


def test_step_errors_fall_with_more_steps():
    noise = torch.randn(100, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    errors = toy_flows.step_errors(noise, toy_flows.mixture_means(), 0.3, (2, 8, 50), reference=200)
    for name in ("ddim", "flow"):
        assert errors[name][0] > errors[name][1] > errors[name][2]
    assert errors["flow"][0] < errors["ddim"][0]  # two Euler steps beat two DDIM steps here
