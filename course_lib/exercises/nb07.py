"""Checks for notebook 07 (latent diffusion): the VAE's KL term in closed form, a planted bug
in the reparameterisation trick, cross-attention from latent pixels to word tokens with the
padding mask, and a prediction of what the empty prompt's pixels read. Each prints one line:
Correct, Not yet or Not right (with a hint), and returns a `Result`.

    check_kl(my_kl)                          KL(N(mean, exp(logvar)) || N(0, 1)) per number
    check_sample_latent(my_sample_latent)    find the bug: z = mean + sigma * eps
    check_cross_attention(my_cross_attention)  queries from pixels, keys and values from words
    check_empty_prompt(prediction, pipe)     predict-then-measure: the empty prompt's <end>
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from einops import rearrange
from torch import Tensor

from course_lib import autoencoder, exercises, unet
from course_lib.exercises import Result, close
from course_lib.latent_diffusion import prompt_token_ids

# ---------------------------------------------------------------------------------------
# 1. The KL term in closed form

KL_SLIPS = {  # hint -> the wrong formula that earns it, (mean, logvar) -> KL per number
    "the 1/2 in front is missing": lambda m, lv: m**2 + lv.exp() - 1 - lv,
    "exp(logvar / 2) is the standard deviation sigma; the variance in the formula is "
    "exp(logvar)": lambda m, lv: 0.5 * (m**2 + (0.5 * lv).exp() - 1 - lv),
    "logvar is the log of the variance, not sigma: var = exp(logvar) and log var = logvar": (
        lambda m, lv: 0.5 * (m**2 + lv**2 - 1 - (lv**2).log())
    ),
    "the log-variance enters with a minus sign: ... - 1 - logvar": (
        lambda m, lv: 0.5 * (m**2 + lv.exp() - 1 + lv)
    ),
    "the -1 is missing: a posterior equal to N(0, 1) (mean 0, logvar 0) must cost nothing": (
        lambda m, lv: 0.5 * (m**2 + lv.exp() - lv)
    ),
    "the mean enters squared (mean^2: how far the centre sits from 0)": (
        lambda m, lv: 0.5 * (m + lv.exp() - 1 - lv)
    ),
}


def _diagnose_kl(got, expected, case) -> str | None:
    if isinstance(got, Tensor) and got.shape != expected.shape:
        return (
            "one KL per latent number, a tensor shaped like mean: the loss sums or averages "
            "it later"
        )
    for hint, wrong in KL_SLIPS.items():
        if close(got, wrong(*case), atol=1e-4):
            return hint
    return None


def kl_cases() -> list[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(7)
    wide = (torch.randn(4, 4, 8, 8, generator=g), torch.randn(4, 4, 8, 8, generator=g))
    prior = (torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 8, 8))
    narrow = (3 * torch.randn(2, 4, 8, 8, generator=g), -6 + torch.randn(2, 4, 8, 8, generator=g))
    return [wide, prior, narrow]


def check_kl(my_kl) -> Result:
    """Exercise 1: my_kl(mean, logvar) against autoencoder.kl_divergence, per number."""
    return exercises.compare(
        my_kl,
        autoencoder.kl_divergence,
        kl_cases(),
        name="your KL",
        labels=[
            "random posteriors (4, 4, 8, 8)",
            "the prior itself (mean 0, logvar 0)",
            "narrow posteriors far from 0 (logvar about -6, mean about +-3)",
        ],
        diagnose=_diagnose_kl,
        atol=1e-4,
    )


# ---------------------------------------------------------------------------------------
# 2. Find the bug: the reparameterisation trick


def planted_sample_latent(mean: Tensor, logvar: Tensor, generator=None) -> Tensor:
    """The sampler as handed out: it scales the noise by the variance, not by sigma."""
    eps = torch.randn(mean.shape, generator=generator, device=mean.device)
    std = logvar.exp()
    return mean + std * eps


SAMPLE_SLIPS = {  # hint -> the wrong sample, (mean, logvar, eps) -> z
    "exp(logvar) is the variance; the noise is scaled by the standard deviation, "
    "sigma = exp(logvar / 2)": lambda m, lv, e: m + lv.exp() * e,
    "half the variance is not sigma: sigma = exp(logvar / 2), the square root of exp(logvar)": (
        lambda m, lv, e: m + 0.5 * lv.exp() * e
    ),
    "logvar / 2 is log sigma: take its exp": lambda m, lv, e: m + 0.5 * lv * e,
    "the sample is centred on mean: add the mean to sigma * eps": (
        lambda m, lv, e: (0.5 * lv).exp() * e
    ),
    "the noise is missing: every sample would be the same point; multiply sigma by eps": (
        lambda m, lv, e: m + (0.5 * lv).exp()
    ),
}


def _seeded(sample):
    """sample(mean, logvar, generator), run with a fresh generator of the case's seed."""
    return lambda mean, logvar, seed: sample(mean, logvar, torch.Generator().manual_seed(seed))


def _diagnose_sample(got, expected, case) -> str | None:
    mean, logvar, seed = case
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(seed))
    for hint, wrong in SAMPLE_SLIPS.items():
        if close(got, wrong(mean, logvar, eps), atol=1e-4):
            return hint
    if isinstance(got, Tensor) and got.shape == mean.shape:
        own_eps = (got - mean) / (0.5 * logvar).exp()
        if 0.7 < float(own_eps.std()) < 1.3:
            return (
                "your noise is not the generator's: draw it with torch.randn(mean.shape, "
                "generator=generator, device=mean.device), so the check can repeat the draw"
            )
    return None


def sample_cases() -> list[tuple[Tensor, Tensor, int]]:
    g = torch.Generator().manual_seed(8)
    wide = (torch.randn(2, 4, 8, 8, generator=g), -4 + 5 * torch.rand(2, 4, 8, 8, generator=g))
    narrow = (2 * torch.randn(3, 4, 8, 8, generator=g), torch.full((3, 4, 8, 8), -8.0))
    prior = (torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 8, 8))
    return [(*wide, 1), (*narrow, 2), (*prior, 3)]


def check_sample_latent(my_sample_latent) -> Result:
    """Exercise 2 (find the bug): my_sample_latent(mean, logvar, generator) against
    autoencoder.sample_latent, both with a fresh generator of the same seed (the same eps)."""
    return exercises.compare(
        _seeded(my_sample_latent),
        _seeded(autoencoder.sample_latent),
        sample_cases(),
        name="your sampler",
        labels=[
            "posteriors with logvar between -4 and 1",
            "narrow posteriors (logvar -8)",
            "the prior (mean 0, logvar 0)",
        ],
        diagnose=_diagnose_sample,
        atol=1e-5,
        planted=_seeded(planted_sample_latent),
    )


# ---------------------------------------------------------------------------------------
# 3. Cross-attention: queries from latent pixels, keys and values from word tokens


def attention_variant(
    q, k, v, heads, keep, *, axis=-1, fill=float("-inf"), hide="padding", scale="head", swap=False
):
    """unet.attention_with_weights written out with one typical slip switched on: the softmax
    over `axis`, masked scores set to `fill`, hide "padding", "words" (inverted) or "nothing",
    the scores scaled by one head's width, all C channels' ("width") or not at all ("none"),
    keys and values swapped."""
    if swap:
        k, v = v, k
    q, k, v = (rearrange(a, "b n (h d) -> b h n d", h=heads) for a in (q, k, v))
    d = q.shape[-1]
    factor = {"head": d**-0.5, "width": (heads * d) ** -0.5, "none": 1.0}[scale]
    scores = q @ k.transpose(-1, -2) * factor  # (B, heads, N, L)
    hidden = {"padding": ~keep, "words": keep, "nothing": torch.zeros_like(keep)}[hide]
    scores = scores.masked_fill(hidden[:, None, None, :], fill)
    weights = scores.softmax(dim=axis)
    return rearrange(weights @ v, "b h n d -> b n (h d)"), weights


ATTENTION_SLIPS = {  # hint -> the slip, as attention_variant's switches
    "the softmax runs over the wrong axis: over the tokens (the last axis), so that each "
    "pixel's weights sum to 1; yours sum to 1 over the pixels": dict(axis=-2),
    "the padding tokens get weight: before the softmax, set the scores of the keys where "
    "keep is False to -inf": dict(hide="nothing"),
    "the mask is inverted: keep is True at the real tokens, so fill the scores where keep is "
    "False (~keep)": dict(hide="words"),
    "a masked score must be -inf, not 0: exp(0) still gives the padding weight": dict(fill=0.0),
    "the scores are not scaled: multiply Q K^T by 1 / sqrt(d), d = C / heads the width of one "
    "head": dict(scale="none"),
    "scale by the width of one head, 1 / sqrt(C / heads), not of all C channels": dict(
        scale="width"
    ),
    "keys and values are swapped: the keys decide the weights (q @ k^T), the values are what "
    "the weights average": dict(swap=True),
}


def _same(got: Tensor, wrong: Tensor) -> bool:
    """Equal up to 1e-4, NaN matching NaN (a fully masked softmax gives NaN)."""
    return close(got.nan_to_num(7.0), wrong.nan_to_num(7.0), atol=1e-4)


def _diagnose_attention(got, expected, case) -> str | None:
    q, k, v, heads, keep = case
    if not isinstance(got, tuple | list) or len(got) != 2:
        return "return two things: out (B, N, C) and weights (B, heads, N, L)"
    out, weights = got
    if not isinstance(weights, Tensor) or weights.shape != expected[1].shape:
        return "split the channels into heads first: weights are (B, heads, N, L), one per head"
    for hint, slip in ATTENTION_SLIPS.items():
        _, wrong_weights = attention_variant(q, k, v, heads, keep, **slip)
        if _same(weights, wrong_weights):
            return hint
    if close(weights, expected[1]):
        return (
            "your weights are right; out is weights @ v in each head, the heads merged back "
            "in order: rearrange(..., 'b h n d -> b n (h d)'), (B, N, C)"
        )
    return None


def attention_cases() -> list[tuple]:
    """(q, k, v, heads, keep): pixels' queries (B, N, C), tokens' keys and values (B, L, C),
    keep (B, L) True at the real tokens (a prompt's words and <end>), False at <pad>."""
    g = torch.Generator().manual_seed(9)
    cases = []
    for batch, pixels, tokens, width, heads, lengths in [
        (2, 16, 12, 32, 4, [5, 9]),
        (1, 64, 12, 64, 2, [1]),
        (3, 4, 6, 8, 1, [6, 2, 3]),
    ]:
        q = torch.randn(batch, pixels, width, generator=g)
        k, v = (torch.randn(batch, tokens, width, generator=g) for _ in range(2))
        keep = torch.arange(tokens)[None] < torch.tensor(lengths)[:, None]  # (B, L)
        cases.append((q, k, v, heads, keep))
    return cases


def check_cross_attention(my_cross_attention) -> Result:
    """Exercise 3: my_cross_attention(q, k, v, heads, keep) -> (out, weights) against
    unet.attention_with_weights, the U-Net's own cross-attention."""
    return exercises.compare(
        my_cross_attention,
        unet.attention_with_weights,
        attention_cases(),
        name="your cross-attention",
        labels=[
            "2 prompts of 5 and 9 tokens (of 12), 4x4 pixels, 4 heads",
            "the empty prompt (<end> only), 8x8 pixels, 2 heads",
            "3 prompts, one without padding, 2x2 pixels, 1 head",
        ],
        diagnose=_diagnose_attention,
        atol=1e-5,
    )


class Reading(NamedTuple):
    """What one cross-attention layer of the U-Net computed for a prompt."""

    q: Tensor  # (1, N, C): one query per latent pixel of the layer's feature map
    k: Tensor  # (1, L, C): one key per token
    v: Tensor  # (1, L, C): one value per token
    heads: int
    keep: Tensor  # (1, L) bool: True at the prompt's words and <end>, False at <pad>
    weights: Tensor  # (1, heads, N, L): the weights the layer itself computed
    words: list[str]  # the L tokens


@torch.no_grad()
def first_layer_reading(pipe, prompt: str, t: int = 500, seed: int = 0) -> Reading:
    """Run pipe's U-Net once on a noise latent at timestep t with `prompt`, and return what
    its first cross-attention layer read: its queries, keys, values, mask and weights."""
    layer = pipe.cross_attention_layers()[0]
    text_encoder, device = pipe.model.text_encoder, next(pipe.model.parameters()).device
    ids = prompt_token_ids(text_encoder, [prompt])  # (1, L)
    z = torch.randn(1, *pipe.vae.config.latent_shape, generator=torch.Generator().manual_seed(seed))
    seen = {}
    hook = layer.cross_norm.register_forward_pre_hook(lambda _, args: seen.update(x=args[0]))
    layer.keep_cross_attention = True
    try:
        pipe.model(z.to(device), torch.tensor([t], device=device), ids)
        weights = layer.cross_attention
    finally:
        hook.remove()
        layer.keep_cross_attention, layer.cross_attention = False, None
    states, padding = text_encoder.hidden_states(ids)  # (1, L, D), (1, L): True at <pad>
    q, k, v = layer.cross_qkv(seen["x"], states)
    words = [text_encoder.tokenizer.vocab[i] for i in ids[0].tolist()]
    return Reading(q, k, v, layer.heads, ~padding, weights, words)


# ---------------------------------------------------------------------------------------
# 4. Predict, then measure: what the empty prompt's pixels read


def check_empty_prompt(prediction, pipe) -> Result:
    """The share of each pixel's cross-attention the empty prompt gives its <end> token,
    measured over every cross-attention layer and head of pipe's U-Net, over 10 steps."""
    maps = pipe.cross_attention("", 10, generator=torch.Generator().manual_seed(0))
    measured = float(maps.word("<end>").mean())
    return exercises.prediction(
        prediction,
        measured,
        tolerance=0.02,
        explanation=(
            "The empty prompt is <end> followed by <pad>s, and the mask takes the pads out of "
            "the softmax: one key is left, so it gets weight 1 at every pixel, whatever the "
            "query asks. Cross-attention then adds the same vector (<end>'s value) everywhere: "
            "the unconditional guess guidance needs reads no words at all."
        ),
    )
