"""Issue 15's library parts: U-Net skips cut, cross-attention recorded and mapped, image to
image (SDEdit), negative prompts, the x_0 error, partial DDIM timesteps."""

import dataclasses

import pytest
import torch

from course_lib import diffusion, pipelines, unet
from course_lib.latent_diffusion import TextConditioned
from tests import tiny


def small_unet(**changes) -> unet.UNet:
    torch.manual_seed(0)
    config = unet.UNetConfig(image_size=8, widths=(8, 16), attention_levels=(1,), **changes)
    model = unet.UNet(config).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    return model


def test_cut_skips_are_zeros_in_the_same_network():
    full = small_unet()
    cut = unet.UNet(dataclasses.replace(full.config, skips=False)).eval()
    cut.load_state_dict(full.state_dict())  # same parameters: the skips only change the input
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([10, 500])
    with torch.no_grad():
        assert not torch.allclose(full(x, t), cut(x, t))
    assert unet.UNetConfig().skips is True


def test_kept_cross_attention_rows_sum_to_one_and_change_nothing():
    model = small_unet(cond_dim=6)
    layer = next(m for m in model.modules() if isinstance(m, unet.Attention) and m.cross)
    x, t, tokens = torch.randn(2, 1, 8, 8), torch.tensor([3, 900]), torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    with torch.no_grad():
        plain = model(x, t, tokens, mask=mask)
        layer.keep_cross_attention = True
        kept = model(x, t, tokens, mask=mask)
    weights = layer.cross_attention  # (B, heads, H*W, L)
    assert torch.allclose(plain, kept, atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-5)
    assert float(weights[1, :, :, 3:].abs().max()) == 0.0  # padding gets no attention


def test_x0_error_is_zero_for_a_model_that_knows_the_noise():
    schedule = diffusion.NoiseSchedule.cosine(100)
    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    ts = [5, 50, 95]

    def oracle_noise():  # the noise x0_errors will draw, drawn again from the same seed
        g = torch.Generator().manual_seed(0)
        return [torch.randn(x0.shape, generator=g) for _ in ts]

    noises = iter(oracle_noise())
    errors = diffusion.x0_errors(
        lambda x, t, c: next(noises), schedule, x0, ts, generator=torch.Generator().manual_seed(0)
    )
    assert max(errors) < 1e-8


def test_ddim_timesteps_can_start_part_way():
    assert diffusion.ddim_timesteps(1000, 4, start=599) == [599, 399, 200, 0]
    assert diffusion.ddim_timesteps(1000, 4) == [999, 666, 333, 0]
    with pytest.raises(ValueError, match="between 1 and 11"):
        diffusion.ddim_timesteps(1000, 20, start=10)


class Recording(TextConditioned):
    """The tiny denoiser, remembering what it was called with."""

    def __init__(self, *args):
        super().__init__(*args)
        self.calls = []

    def forward(self, z, t, token_ids):
        self.calls.append((z.clone(), t.clone()))
        return super().forward(z, t, token_ids)


def recording_pipe():
    return tiny.text_to_image(lambda unet, text, schedule: Recording(unet, text))


@pytest.mark.parametrize("strength", [0.3, 0.75, 1.0])
def test_sdedit_starts_from_q_sample_at_round_s_T_minus_1(strength):
    pipe = recording_pipe()
    image = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    pipe(
        ["a red seven", "a blue one"],
        10,
        image=image,
        strength=strength,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    t_start = round(strength * 1000) - 1
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        latent, _ = pipe.vae.encode(image * 2 - 1)
    expected = pipe.schedule.q_sample(latent, t_start, noise)
    z, t = pipe.model.calls[0]
    assert torch.allclose(z[:2], expected, atol=1e-6)  # the unconditional half of the batch
    assert set(t.tolist()) == {t_start}
    assert len(pipe.model.calls) == max(1, round(10 * strength))


def test_empty_negative_prompt_is_bitwise_the_default_and_another_one_changes_the_image():
    pipe = tiny.text_to_image()
    kwargs = dict(num_inference_steps=3, progress=False)
    a = pipe(["a red seven"], generator=torch.Generator().manual_seed(0), **kwargs)
    b = pipe(
        ["a red seven"], generator=torch.Generator().manual_seed(0), negative_prompt="", **kwargs
    )
    c = pipe(
        ["a red seven"], generator=torch.Generator().manual_seed(0), negative_prompt="red", **kwargs
    )
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_image_to_image_refuses_what_it_cannot_use():
    pipe = tiny.text_to_image()
    image = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match=r"strength must be in \(0, 1\]"):
        pipe(["a red seven"], image=image, strength=0.0)
    with pytest.raises(ValueError, match="both image= and strength="):
        pipe(["a red seven"], image=image)
    with pytest.raises(ValueError, match=r"\(1, 3, 32, 32\)"):
        pipe(["a red seven"], image=torch.rand(2, 3, 32, 32), strength=0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        pipe(["a red seven"], image=image * 2 - 1, strength=0.5)
    with pytest.raises(TypeError, match="negative_prompt must be a string"):
        pipe(["a red seven"], negative_prompt=["red"])
    base = pipelines.DiffusionPipeline(small_unet(), diffusion.NoiseSchedule.cosine(20))
    with pytest.raises(ValueError, match="takes no negative_prompt"):
        base(1, 2, negative_prompt="red", progress=False)


def test_cross_attention_maps_sum_to_one_over_the_tokens():
    pipe = tiny.text_to_image()
    result = pipe.cross_attention("a red seven", 3, generator=torch.Generator().manual_seed(0))
    assert result.words == ["a", "red", "seven", "<end>"]
    assert result.image.shape == (3, 32, 32)
    assert result.maps.shape == (4, 32, 32) and result.per_step.shape == (3, 4, 32, 32)
    assert torch.allclose(result.maps.sum(0), torch.ones(32, 32), atol=1e-5)
    assert float(result.maps.min()) >= 0 and float(result.maps.max()) <= 1
    assert result.word("seven").shape == (32, 32)
    assert all(not m.keep_cross_attention for m in pipe.cross_attention_layers())
    with pytest.raises(ValueError, match="never reads the prompt"):
        pipe.cross_attention("a red seven", 3, 0.0)


def test_stored_ablation_results_load_and_show_the_cut_skips_hurt():
    from course_lib import ablation

    results = ablation.load_results()
    assert list(results["x0_error"]) == ["with skips", "skips cut"]
    assert results["samples"]["skips cut"].dtype == torch.uint8
    cut, full = results["x0_error"]["skips cut"], results["x0_error"]["with skips"]
    assert all(c > f for c, f in zip(cut[1:], full[1:], strict=True))


def test_fresh_ablation_results_take_the_stored_form_and_survive_a_round_trip(tmp_path):
    """Full mode shows `ablation.run`'s results, fast mode `load_results`': one form."""
    import dataclasses
    import json

    from course_lib import ablation, checkpoints
    from course_lib.unet import UNet

    torch.manual_seed(0)
    models = {
        name: UNet(dataclasses.replace(ablation.MODEL, skips=skips)).eval()
        for name, skips in ablation.VARIANTS.items()
    }
    fresh = ablation.measure(models, count=4, samples=2)
    for name in ablation.VARIANTS:
        assert fresh["samples"][name].dtype == torch.uint8
        assert fresh["samples"][name].shape == (2, 16, 16)
        assert len(fresh["x0_error"][name]) == len(ablation.TIMESTEPS)
    (tmp_path / checkpoints.MANIFEST).write_text(json.dumps({ablation.OWNER: {"files": {}}}))
    ablation.save_results(fresh, tmp_path)
    stored = ablation.load_results(tmp_path)
    assert stored["x0_error"] == fresh["x0_error"]
    for name in ablation.VARIANTS:
        assert torch.equal(stored["samples"][name], fresh["samples"][name])


def test_ablation_results_are_pinned_in_the_manifest_and_not_replaced_without_force(tmp_path):
    import json

    from course_lib import ablation, checkpoints

    (tmp_path / checkpoints.MANIFEST).write_text(json.dumps({ablation.OWNER: {"files": {}}}))
    ablation.save_results({"x0_error": {"skips cut": [1.0]}, "samples": {}}, tmp_path)
    assert ablation.load_results(tmp_path)["x0_error"] == {"skips cut": [1.0]}
    with pytest.raises(FileExistsError, match="--force"):
        ablation.save_results({}, tmp_path)
    ablation.results_path(tmp_path).write_text('{"x0_error": {"skips cut": [0.5]}, "samples": {}}')
    with pytest.raises(ValueError, match="sha256"):
        ablation.load_results(tmp_path)  # edited by hand: refused
    ablation.save_results({"x0_error": {}, "samples": {}}, tmp_path, force=True)
    assert ablation.load_results(tmp_path)["x0_error"] == {}


def test_attention_quadrant_is_the_quadrant_with_the_most_mass():
    from course_lib import caption_judge, data

    word_map = torch.zeros(32, 32)
    word_map[20:30, 18:28] = 1.0  # bottom right
    word_map[0, 0] = 5.0  # a single bright pixel does not outweigh the mass
    assert data.LAYOUTS[caption_judge.attention_quadrant(word_map)] == "bottom right"
