"""Notebook 07's checks: the reference is Correct, a stub Not yet, and plausible wrong answers
Not right with the hint that names the slip."""

import pytest
import tiny
import torch
from einops import rearrange
from verdicts import assert_verdicts, stub

from course_lib import autoencoder, unet
from course_lib.exercises import nb07

# 1. the KL term


def kl_summed(mean, logvar):
    return autoencoder.kl_divergence(mean, logvar).sum()


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda m, lv: m**2 + lv.exp() - 1 - lv, "1/2 in front is missing"),
        (lambda m, lv: 0.5 * (m**2 + (0.5 * lv).exp() - 1 - lv), "standard deviation sigma"),
        (lambda m, lv: 0.5 * (m**2 + lv**2 - 1 - torch.log(lv**2)), "not sigma"),
        (lambda m, lv: 0.5 * (m**2 + lv.exp() - 1 + lv), "minus sign"),
        (lambda m, lv: 0.5 * (m**2 + lv.exp() - lv), "-1 is missing"),
        (lambda m, lv: 0.5 * (m + lv.exp() - 1 - lv), "squared"),
        (kl_summed, "shaped like mean"),
    ],
)
def test_kl(wrong, hint):
    right = lambda m, lv: 0.5 * (m**2 + lv.exp() - 1 - lv)  # noqa: E731
    assert_verdicts(nb07.check_kl, right, wrong, hint)


def test_kl_reference_is_the_closed_form_of_torch_distributions():
    mean, logvar = nb07.kl_cases()[0]
    normal = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    expected = torch.distributions.kl_divergence(normal, torch.distributions.Normal(0.0, 1.0))
    assert torch.allclose(autoencoder.kl_divergence(mean, logvar), expected, atol=1e-5)


# 2. the reparameterisation trick (find the bug)


def right_sample(mean, logvar, generator):
    eps = torch.randn(mean.shape, generator=generator, device=mean.device)
    return mean + torch.exp(logvar / 2) * eps


def sample_with(z_of):
    """A sampler that draws eps from the generator and combines it by z_of(mean, logvar, eps)."""

    def sample(mean, logvar, generator):
        return z_of(mean, logvar, torch.randn(mean.shape, generator=generator))

    return sample


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (sample_with(lambda m, lv, e: m + 0.5 * lv.exp() * e), "half the variance"),
        (sample_with(lambda m, lv, e: m + lv / 2 * e), "take its exp"),
        (sample_with(lambda m, lv, e: torch.exp(lv / 2) * e), "add the mean"),
        (sample_with(lambda m, lv, e: m + torch.exp(lv / 2)), "noise is missing"),
        (lambda m, lv, g: m + torch.exp(lv / 2) * torch.randn_like(m), "generator"),
    ],
)
def test_sample_latent(wrong, hint):
    assert_verdicts(nb07.check_sample_latent, right_sample, wrong, hint)


def test_sample_latent_planted_bug_is_not_yet_and_a_half_fix_is_not_right():
    planted = nb07.check_sample_latent(nb07.planted_sample_latent)
    assert planted.status == "Not yet" and "planted bug" in planted.message
    assert nb07.check_sample_latent(autoencoder.sample_latent).passed
    variance = nb07.check_sample_latent(sample_with(lambda m, lv, e: m + lv.exp() * e * 1.0001))
    assert variance.status == "Not right"


# 3. cross-attention


def right_attention(q, k, v, heads, keep):
    q, k, v = (rearrange(a, "b n (h d) -> b h n d", h=heads) for a in (q, k, v))
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    weights = scores.masked_fill(~keep[:, None, None, :], float("-inf")).softmax(-1)
    return rearrange(weights @ v, "b h n d -> b n (h d)"), weights


def slipped(**slip):
    return lambda q, k, v, heads, keep: nb07.attention_variant(q, k, v, heads, keep, **slip)


def one_head(q, k, v, heads, keep):
    scores = q @ k.transpose(-1, -2) / (q.shape[-1] / heads) ** 0.5
    weights = scores.masked_fill(~keep[:, None, :], float("-inf")).softmax(-1)
    return weights @ v, weights


def heads_merged_wrong(q, k, v, heads, keep):
    out, weights = right_attention(q, k, v, heads, keep)
    split = rearrange(out, "b n (h d) -> b n h d", h=heads)
    return rearrange(split, "b n h d -> b n (d h)"), weights


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (slipped(axis=-2), "wrong axis"),
        (slipped(hide="nothing"), "padding tokens get weight"),
        (slipped(hide="words"), "inverted"),
        (slipped(fill=0.0), "-inf, not 0"),
        (slipped(scale="none"), "not scaled"),
        (slipped(scale="width"), "width of one head"),
        (slipped(swap=True), "swapped"),
        (one_head, "split the channels into heads"),
        (heads_merged_wrong, "your weights are right"),
        (lambda q, k, v, heads, keep: right_attention(q, k, v, heads, keep)[0], "two things"),
    ],
)
def test_cross_attention(wrong, hint):
    assert_verdicts(nb07.check_cross_attention, right_attention, wrong, hint)


def test_first_layer_reading_is_what_the_layer_computed():
    pipe = tiny.text_to_image()
    reading = nb07.first_layer_reading(pipe, "a small red seven in the top left")
    assert reading.words[:3] == ["a", "small", "red"] and reading.keep.sum() == 9
    out, weights = unet.attention_with_weights(
        reading.q, reading.k, reading.v, reading.heads, reading.keep
    )
    assert torch.allclose(weights, reading.weights, atol=1e-6)
    assert (weights[..., ~reading.keep[0]] == 0).all()
    assert out.shape == reading.q.shape


# 4. the empty prompt


def test_empty_prompt_prediction(capsys):
    pipe = tiny.text_to_image()
    assert nb07.check_empty_prompt(1.0, pipe).passed
    assert nb07.check_empty_prompt(None, pipe).status == "Not yet"
    assert nb07.check_empty_prompt(1 / 12, pipe).status == "Not right"  # the mask ignored
    assert nb07.check_empty_prompt(0.0, pipe).status == "Not right"  # <end> taken as padding
    assert "one key is left" in capsys.readouterr().out


def test_stub_is_not_yet_everywhere():
    for check in (nb07.check_kl, nb07.check_sample_latent, nb07.check_cross_attention):
        assert check(stub).status == "Not yet"
