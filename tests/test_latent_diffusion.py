import warnings

import numpy as np
import pytest
import tiny
import torch

from course_lib import caption_judge, data, diffusion
from course_lib.latent_diffusion import (
    TextConditioned,
    activation_numbers,
    null_token_ids,
    prompt_token_ids,
    step_costs,
    training_latents,
)
from course_lib.tokenizer import UnknownWordWarning
from course_lib.unet import UNet, UNetConfig


@pytest.fixture(scope="module")
def pipe():
    return tiny.text_to_image()


def test_prompt_ids_empty_prompt_is_the_null_condition(pipe):
    text = pipe.model.text_encoder
    ids = prompt_token_ids(text, ["", "a large red seven"])
    assert torch.equal(ids[0], null_token_ids(text, 1)[0])
    assert ids[0, 0] == text.tokenizer.end_id and (ids[0, 1:] == text.tokenizer.pad_id).all()
    assert torch.equal(ids[1], text.tokenize(["a large red seven"])[0])


def test_bad_prompts_raise_or_warn_clearly(pipe):
    text = pipe.model.text_encoder
    with pytest.raises(ValueError, match="non-empty list"):
        prompt_token_ids(text, [])
    with pytest.raises(TypeError, match="list of prompts"):
        prompt_token_ids(text, "a large red seven")
    with pytest.raises(ValueError, match="at most"):
        prompt_token_ids(text, ["a large red seven " * 4])
    with pytest.warns(UnknownWordWarning, match="purple"):
        prompt_token_ids(text, ["a large purple seven"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownWordWarning)  # how to make unknown words an error
        with pytest.raises(UnknownWordWarning, match="purple"):
            pipe(["a large purple seven"], num_inference_steps=2)
    with pytest.raises(ValueError, match=">= 0"):
        pipe(["a large red seven"], guidance_scale=-1.0, num_inference_steps=2)
    with pytest.raises(ValueError, match=r"decoder takes latents of shape \(B, 4, 8, 8\)"):
        pipe.vae.decode(torch.zeros(1, 4, 4, 4))


def test_cross_attention_shape_and_prompt_changes_the_prediction(pipe):
    denoiser = pipe.model
    z = torch.randn(2, 4, 8, 8)
    t = torch.tensor([500, 500])
    a = denoiser(z, t, prompt_token_ids(denoiser.text_encoder, ["a large red seven"] * 2))
    b = denoiser(
        z, t, prompt_token_ids(denoiser.text_encoder, ["a small blue one in the top left"] * 2)
    )
    assert a.shape == z.shape
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="cond_dim=32"):
        TextConditioned(
            UNet(
                UNetConfig(
                    image_size=8, channels=4, widths=(16,), cond_dim=64, attention_levels=(0,)
                )
            ),
            denoiser.text_encoder,
        )


def test_pipeline_is_deterministic_for_a_seed_and_decodes_the_trajectory(pipe):
    a = pipe(
        ["a large red seven", ""], num_inference_steps=3, generator=torch.Generator().manual_seed(4)
    )
    b = pipe(
        ["a large red seven", ""], num_inference_steps=3, generator=torch.Generator().manual_seed(4)
    )
    c = pipe(
        ["a large red seven", ""], num_inference_steps=3, generator=torch.Generator().manual_seed(5)
    )
    assert a.shape == (2, 3, 32, 32) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    images, trajectory = pipe(
        ["a large red seven"],
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(4),
        return_trajectory=True,
    )
    assert trajectory.xs.shape == (4, 1, 3, 32, 32) and trajectory.x0s.shape == (3, 1, 3, 32, 32)
    assert torch.allclose(images, a[:1], atol=1e-6)


def test_guidance_one_equals_the_plain_conditional_sampler(pipe):
    guided = pipe(
        ["a large red seven"],
        guidance_scale=1.0,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(1),
    )
    ids = prompt_token_ids(pipe.model.text_encoder, ["a large red seven"])
    z = diffusion.sample(
        pipe.model,
        pipe.schedule,
        (1, 4, 8, 8),
        steps=3,
        cond=ids,
        generator=torch.Generator().manual_seed(1),
        x0_range=pipe.latent_range,  # the pipeline keeps predicted latents in this range
        progress=False,
    )
    assert torch.allclose(guided, ((pipe.vae.decode(z) + 1) / 2).clamp(0, 1), atol=1e-5)


def test_prompt_dropout_rate():
    ids = torch.arange(12).repeat(20000, 1)
    null = torch.zeros(20000, 12, dtype=torch.long)
    dropped = diffusion.drop_condition(ids, 0.15, null, torch.Generator().manual_seed(0))
    rate = (dropped == 0).all(dim=1).float().mean().item()
    assert rate == pytest.approx(0.15, abs=0.01)


def test_activation_count_matches_a_hand_count():
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    assert activation_numbers(model, torch.zeros(4, 3)) == 4 * (5 + 5 + 2)


def test_training_latents_are_the_posterior_means_in_chunks(pipe):
    images = torch.rand(600, 3, 32, 32) * 2 - 1  # more than one chunk of 500
    means, logvars = training_latents(pipe.vae, images)
    assert means.shape == logvars.shape == (600, 4, 8, 8)
    with torch.no_grad():
        mean, logvar = pipe.vae.encode(images[550:])
    torch.testing.assert_close(means[550:], mean)
    torch.testing.assert_close(logvars[550:], logvar)


def test_step_costs_compare_the_same_widths_on_latents_and_pixels():
    config = UNetConfig(
        image_size=8, channels=4, widths=(8, 16), attention_levels=(1,), cond_dim=8, heads=2
    )
    costs = step_costs(config, pixel_size=16, batch=2, tokens=3, repeats=1)
    assert [costs["latent"]["shape"], costs["pixel"]["shape"]] == ["8x8x4", "16x16x3"]
    assert costs["pixel"]["MB"] > 2 * costs["latent"]["MB"] > 0  # 4x the positions
    assert costs["latent"]["ms"] > 0


def test_evaluation_prompts_cover_the_seen_or_the_held_out_pairs():
    held = {(d, data.COLOR_NAMES.index(c)) for d, c in data.HELD_OUT_PAIRS}
    for held_out, count in ((False, 120), (True, 12)):
        prompts, attributes = caption_judge.evaluation_prompts(held_out, count=count)
        pairs = set(zip(attributes["digit"].tolist(), attributes["color"].tolist(), strict=True))
        assert len(prompts) == count and all(((d, c) in held) == held_out for d, c in pairs)
        assert prompts[0] == data.caption(
            *(int(attributes[k][0]) for k in ("digit", "color", "layout"))
        )
    assert len(pairs) == len(held)  # 12 held-out prompts visit all 6 held-out pairs
    again, _ = caption_judge.evaluation_prompts(True, count=12)
    assert again == prompts  # seeded


def test_caption_judge_reads_the_real_test_images():
    images, _, attributes = data.captioned_digits("test")
    subset = slice(0, 1000, 5)  # 200 images across all classes
    reading = caption_judge.read((images[subset] + 1) / 2)
    right = reading.agreement({k: np.asarray(v)[subset] for k, v in attributes.items()})
    assert right["color"] == 1.0 and right["layout"] == 1.0
    assert right["digit"] >= 0.93


def test_caption_judge_bad_input():
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        caption_judge.read(torch.zeros(2, 1, 28, 28))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert caption_judge.read_layout(torch.zeros(1, 3, 32, 32)).item() == 0  # blank: large
