"""Checks for notebook 06 (classifier-free guidance): condition dropout, the paper's w,
a planted bug in one guided sampling step, and the guidance combination."""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib import diffusion, unet
from course_lib.exercises import close, compare, prediction


def _dropped(cond, p, null, seed, *, keep=False, one_draw=False):
    """drop_condition written out, with one of the typical slips switched on."""
    draws = torch.rand(len(cond), generator=torch.Generator().manual_seed(seed))
    if one_draw:
        draws = draws[:1].expand(len(cond))
    drop = (draws >= p) if keep else (draws < p)
    drop = drop.reshape(-1, *([1] * (cond.ndim - 1)))
    return torch.where(drop, torch.as_tensor(null, dtype=cond.dtype), cond)


def diagnose_drop(got, expected, case) -> str | None:
    cond, p, null, seed = case
    slips = {
        "the comparison is the wrong way round: a row is dropped when its draw is below p, so "
        "that a share p of the rows loses its condition": dict(keep=True),
        "one draw for the whole batch drops all rows or none: draw one number per row, "
        "torch.rand(len(cond), generator=generator)": dict(one_draw=True),
    }
    for hint, slip in slips.items():
        if close(got, _dropped(cond, p, null, seed, **slip)):
            return hint
    if isinstance(got, Tensor) and got.shape == expected.shape and bool((got == cond).all()):
        return "nothing was dropped: replace the chosen rows by `null` with torch.where"
    return None


def check_drop_condition(mine) -> object:
    """Exercise 1: my_drop_condition(cond, p, null, generator) against diffusion.drop_condition;
    both get a fresh generator with the same seed, so they see the same draws."""
    labels = torch.arange(40) % 10
    tokens = torch.randint(1, 50, (12, 6), generator=torch.Generator().manual_seed(1))
    cases = [(labels, 0.15, 10, 3), (labels, 0.5, 10, 0), (tokens, 0.3, torch.zeros(6), 2)]
    cases = [(c, p, torch.as_tensor(n, dtype=c.dtype), s) for c, p, n, s in cases]

    def seeded(fn):
        return lambda c, p, n, s: fn(c, p, n, torch.Generator().manual_seed(s))

    return compare(
        seeded(mine),
        seeded(diffusion.drop_condition),
        cases,
        name="your condition dropout",
        labels=[
            "40 labels, p = 0.15",
            "40 labels, p = 0.5",
            "12 token rows, null = zeros, p = 0.3",
        ],
        diagnose=diagnose_drop,
        shape_hint="the decision is (B,), one per row; for rows of tokens (B, L) reshape it "
        "to (B, 1) so that it covers a whole row",
    )


def check_paper_w(answer) -> object:
    """Exercise 2 (predict): Stable Diffusion's guidance scale 7.5 in Ho & Salimans' w."""
    generator = torch.Generator().manual_seed(0)
    e_u, e_c = torch.randn(2, 4, 8, 8, generator=generator)
    ours = diffusion.cfg(e_u, e_c, 7.5)
    measured = 6.5  # (1 + w) e_c - w e_u equals ours exactly at w = 7.5 - 1
    assert torch.allclose((1 + measured) * e_c - measured * e_u, ours, atol=1e-5)
    return prediction(
        answer,
        measured,
        tolerance=0.01,
        explanation="(1 + w) eps_c - w eps_u = eps_u + (1 + w)(eps_c - eps_u), so the paper's "
        "w is our scale minus 1: SD's 7.5 is the paper's 6.5, and the paper's w = 0 is our 1, "
        "the plain conditional model.",
    )


def tiny_guided_unet() -> unet.UNet:
    """A small class-conditional U-Net with random weights (also in the layers that start at
    zero), so that eps_cond and eps_uncond differ."""
    torch.manual_seed(6)
    config = unet.UNetConfig(
        widths=(8, 16),
        blocks_per_level=1,
        attention_levels=(1,),
        heads=2,
        time_dim=16,
        groups=4,
        num_classes=10,
    )
    model = unet.UNet(config)
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():  # zero-initialised layers would hide the label's effect
                parameter.normal_(std=0.2)
    return model.eval()


def guided_variant(
    net,
    x,
    t,
    labels,
    null,
    w,
    alpha_bar_t,
    alpha_bar_prev,
    *,
    swap=False,
    scale_shift=0.0,
    unguided=False,
):
    """One guided DDIM step (eta = 0) written out, with one of the typical slips switched on."""
    both = net(torch.cat([x, x]), torch.full((2 * len(x),), t), torch.cat([null, labels]))
    eps_uncond, eps_cond = both.chunk(2)
    if swap:
        eps_uncond, eps_cond = eps_cond, eps_uncond
    eps = eps_cond if unguided else diffusion.cfg(eps_uncond, eps_cond, w + scale_shift)
    return diffusion.ddim_step(x, eps, alpha_bar_t, alpha_bar_prev)


def planted_guided_step(net, x, t, labels, null, w, alpha_bar_t, alpha_bar_prev):
    """The handed-out step: the two halves of the batched answer are unpacked the wrong way."""
    return guided_variant(net, x, t, labels, null, w, alpha_bar_t, alpha_bar_prev, swap=True)


def diagnose_guided(got, expected, case) -> str | None:
    slips = {
        "the scale is off by one: that is Ho & Salimans' (1 + w) eps_c - w eps_u with our w; "
        "diffusion.cfg(eps_uncond, eps_cond, w) takes our scale as it is": dict(scale_shift=1.0),
        "no guidance: the step uses eps_cond alone, combine both guesses": dict(unguided=True),
        "the halves are unpacked the wrong way round: the first half of the batch was run with "
        "the null label": dict(swap=True),
    }
    with torch.no_grad():
        for hint, slip in slips.items():
            if close(got, guided_variant(*case, **slip), atol=1e-4):
                return hint
    return None


def check_guided_step(mine) -> object:
    """Exercise 3 (find the bug): my_guided_step(net, x, t, labels, null, w, alpha_bar_t,
    alpha_bar_prev) against one guided DDIM step with diffusion.cfg, on a small random U-Net."""
    net, alpha_bar = tiny_guided_unet(), diffusion.NoiseSchedule.cosine(1000).alpha_bar
    generator = torch.Generator().manual_seed(9)
    cases = []
    for t, prev, w, digits in [
        (800, 750, 3.0, [7, 1, 3]),
        (300, 250, 7.5, [0, 5]),
        (50, 0, 2.0, [9]),
    ]:
        x = torch.randn(len(digits), 1, 28, 28, generator=generator)
        labels = torch.tensor(digits)
        null = torch.full_like(labels, 10)
        cases.append((net, x, t, labels, null, w, float(alpha_bar[t]), float(alpha_bar[prev])))
    with torch.no_grad():
        return compare(
            mine,
            guided_variant,
            cases,
            name="your guided step",
            labels=[
                "t 800, w = 3, digits 7 1 3",
                "t 300, w = 7.5, digits 0 5",
                "t 50, w = 2, digit 9",
            ],
            diagnose=diagnose_guided,
            atol=1e-4,
            planted=planted_guided_step,
        )


def reference_guide(eps_uncond: Tensor, eps_cond: Tensor, w: float) -> Tensor:
    return diffusion.cfg(eps_uncond, eps_cond, w)


def diagnose_guide(got, expected, case) -> str | None:
    e_u, e_c, w = case
    slips = {
        "that is Ho & Salimans' (1 + w) eps_c - w eps_u: with our w, w = 1 must give eps_cond "
        "exactly": (1 + w) * e_c - w * e_u,
        "the guesses are swapped: start from eps_uncond and walk w times towards eps_cond": e_c
        + w * (e_u - e_c),
        "the difference is missing: walk along eps_cond - eps_uncond, not along eps_cond": e_u
        + w * e_c,
        "the direction is reversed: eps_cond - eps_uncond points towards the label; walk along "
        "it, not away from it": e_u + w * (e_u - e_c),
    }
    for hint, wrong in slips.items():
        if close(got, wrong, atol=1e-4):
            return hint
    return None


def check_guide(mine) -> object:
    """Exercise 4: guide(eps_uncond, eps_cond, w) against diffusion.cfg at w = 0, 1, 3, 7.5."""
    generator = torch.Generator().manual_seed(4)
    e_u, e_c = torch.randn(2, 4, 1, 28, 28, generator=generator)
    cases = [(e_u, e_c, w) for w in (3.0, 7.5, 1.0, 0.0)]
    return compare(
        mine,
        reference_guide,
        cases,
        name="your guidance",
        labels=["w = 3", "w = 7.5", "w = 1 (the conditional guess)", "w = 0 (the unconditional)"],
        diagnose=diagnose_guide,
    )
