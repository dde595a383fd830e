"""What a new or careless user tries, and what they are told: every bad input is refused at
the public boundary with a TypeError or ValueError that names the argument and says what to
pass, never a silently wrong answer or an error from deep inside torch.

Each case: a name, the call, the exception type, a phrase of the message.

What is refused elsewhere, where the fixture it needs lives:
- checkpoints (a dependency rebuilt after its user, a path outside the manifest, a missing
  folder or manifest, a corrupt manifest, a failed write keeping the old checkpoint):
  tests/test_checkpoints.py; pretrain never overwriting without --force, --out:
  tests/test_pretrain.py
- long sessions (every cache bounded over 1,000 random moves): tests/test_widget_base.py;
  the long DDPM run's progress and greyed controls: the last test here
- installs: a built wheel loading the shipped checkpoints (tests/test_install.py), the Colab
  cell failing loudly and every notebook valid nbformat 4.5 (tests/test_notebook_structure.py),
  the hub with no network failing in seconds (tests/test_data.py), plotly figures on the
  static pages (tests/test_site.py); the same seed giving the same images
  (tests/test_pipelines.py)
"""

from __future__ import annotations

import math
import warnings

import pytest
import tiny
import torch

from course_lib import (
    attention,
    autoencoder,
    autoregressive,
    checkpoints,
    checks,
    clip,
    data,
    diffusion,
    dit,
    flow,
    judge,
    pipelines,
    toy_flows,
    train,
    unet,
    vit,
    vlm,
)
from course_lib.tokenizer import Tokenizer, build_vocab
from widgets import (
    AttentionExplorer,
    DenoisingScrubber,
    GuidanceExplorer,
    LatentExplorer,
    NoisingScrubber,
    PatchExplorer,
    SimilarityExplorer,
    StepsExplorer,
    VLMExplorer,
)
from widgets.denoising_scrubber import SAMPLERS

SCHEDULE = diffusion.NoiseSchedule.cosine(50)
X = torch.zeros(2, 1, 8, 8)
EPS = torch.zeros(2, 1, 8, 8)
UINT8 = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
VIT = vit.ViT(vit.ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32))
DIGITS = torch.full((2, 1, 28, 28), -1.0)
RGB_UINT8 = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)  # captioned digits as raw bytes
RGB_255 = torch.full((2, 3, 32, 32), 255.0)  # floats, but on the 0..255 scale
VAE = autoencoder.VAE(autoencoder.VAEConfig(width=16))
UNET = unet.UNet(unet.UNetConfig(image_size=8, widths=(8, 16), attention_levels=()))
PIPE = pipelines.DiffusionPipeline(UNET, SCHEDULE)
GUIDED = pipelines.GuidedPipeline(
    unet.UNet(unet.UNetConfig(image_size=8, widths=(8, 16), attention_levels=(), num_classes=10)),
    SCHEDULE,
)
VOCAB = build_vocab(["a red seven", "a blue one"])
CLIP = clip.CLIP(clip.CLIPConfig(vocab=VOCAB, conv_channels=(8, 8, 8), embed_dim=8))
UNIT = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
NAN = math.nan
LATENTS = torch.zeros(2, 4, 8, 8)
DIT = dit.DiT(dit.DiTConfig(dim=16, depth=1, heads=2, mlp_dim=32, context_dim=None))
VLM_PIPE = tiny.vlm()
LDM = tiny.text_to_image()
FLOW = tiny.flow_text_to_image()
RGB = torch.rand(4, 3, 32, 32) * 2 - 1  # captioned-digit-sized images in [-1, 1]
CAPTIONS = ["a large red seven", "a blue one", "a large red seven", "a blue one"]
DIGIT = {"digit": torch.zeros(1, 28, 28)}

CASES = [
    # diffusion maths: integer images would silently give `noise` back
    ("q_sample uint8", lambda: SCHEDULE.q_sample(UINT8, 3, EPS), TypeError, "float in [-1, 1]"),
    ("q_sample noise int", lambda: SCHEDULE.q_sample(X, 3, UINT8), TypeError, "x.float()"),
    ("q_sample t float", lambda: SCHEDULE.q_sample(X, 3.0, EPS), TypeError, "t must be an int"),
    ("q_sample t too big", lambda: SCHEDULE.q_sample(X, 50, EPS), ValueError, "0..49"),
    ("q_sample shapes", lambda: SCHEDULE.q_sample(X, 3, EPS[:1]), ValueError, "shapes must match"),
    ("q_sample list", lambda: SCHEDULE.q_sample([0.0], 3, EPS), TypeError, "torch.Tensor"),
    (
        "schedule by name",
        lambda: diffusion.NoiseSchedule("linear"),
        TypeError,
        "NoiseSchedule.linear(T)",
    ),
    ("schedule by number", lambda: diffusion.NoiseSchedule(3), TypeError, "1-D tensor"),
    (
        "schedule betas >= 1",
        lambda: diffusion.NoiseSchedule([0.5, 1.5]),
        ValueError,
        "between 0 and 1",
    ),
    ("linear T=0", lambda: diffusion.NoiseSchedule.linear(0), ValueError, "positive int"),
    ("cosine T=True", lambda: diffusion.NoiseSchedule.cosine(True), ValueError, "positive int"),
    (
        "from_spec kind",
        lambda: diffusion.NoiseSchedule.from_spec({"kind": "sigmoid"}),
        ValueError,
        "'cosine'",
    ),
    (
        "ddim eta nan",
        lambda: diffusion.ddim_step(X, EPS, 0.5, 0.6, eta=NAN),
        ValueError,
        "eta must be a finite",
    ),
    (
        "ddim eta str",
        lambda: diffusion.ddim_step(X, EPS, 0.5, 0.6, eta="0"),
        TypeError,
        "eta must be a number",
    ),
    (
        "ddim eta < 0",
        lambda: diffusion.ddim_step(X, EPS, 0.5, 0.6, eta=-1),
        ValueError,
        "eta must be >= 0",
    ),
    (
        "ddim alpha order",
        lambda: diffusion.ddim_step(X, EPS, 0.5, 0.4),
        ValueError,
        "alpha_bar_prev",
    ),
    (
        "ddim noise needed",
        lambda: diffusion.ddim_step(X, EPS, 0.5, 0.6, eta=1.0),
        ValueError,
        "pass noise",
    ),
    ("ddim int x", lambda: diffusion.ddim_step(UINT8, UINT8, 0.5, 0.6), TypeError, "float"),
    (
        "ddpm noise needed",
        lambda: diffusion.ddpm_step(SCHEDULE, X, EPS, 5),
        ValueError,
        "pass noise",
    ),
    (
        "ddpm t tensor float",
        lambda: diffusion.ddpm_step(SCHEDULE, X, EPS, torch.tensor([1.0, 2.0])),
        TypeError,
        "integers",
    ),
    ("cfg scale nan", lambda: diffusion.cfg(EPS, EPS, NAN), ValueError, "scale must be a finite"),
    ("cfg scale str", lambda: diffusion.cfg(EPS, EPS, "3"), TypeError, "scale must be a number"),
    ("cfg shapes", lambda: diffusion.cfg(EPS, EPS[:1], 3.0), ValueError, "shapes must match"),
    ("guidance inf", lambda: diffusion.check_guidance_scale(math.inf), ValueError, "finite"),
    ("guidance < 0", lambda: diffusion.check_guidance_scale(-1), ValueError, ">= 0"),
    ("guidance bool", lambda: diffusion.check_guidance_scale(True), TypeError, "number"),
    ("drop p > 1", lambda: diffusion.drop_condition(torch.zeros(3), 1.5, 0), ValueError, "[0, 1]"),
    ("drop p nan", lambda: diffusion.drop_condition(torch.zeros(3), NAN, 0), ValueError, "[0, 1]"),
    (
        "drop scalar",
        lambda: diffusion.drop_condition(torch.tensor(1), 0.1, 0),
        TypeError,
        "one row",
    ),
    ("timesteps 0", lambda: diffusion.ddim_timesteps(50, 0), ValueError, "steps"),
    (
        "sample sampler",
        lambda: diffusion.sample(UNET, SCHEDULE, (1, 1, 8, 8), sampler="euler"),
        ValueError,
        "'ddim'",
    ),
    (
        "sample ddpm steps",
        lambda: diffusion.sample(UNET, SCHEDULE, (1, 1, 8, 8), sampler="ddpm", steps=5),
        ValueError,
        "every one",
    ),
    # patches
    ("patchify bool", lambda: vit.patchify(DIGITS, True), TypeError, "positive int"),
    ("patchify 7.0", lambda: vit.patchify(DIGITS, 7.0), TypeError, "positive int"),
    ("patchify 0", lambda: vit.patchify(DIGITS, 0), ValueError, "positive int"),
    ("patchify 5", lambda: vit.patchify(DIGITS, 5), ValueError, "divides both"),
    ("patchify 3-D", lambda: vit.patchify(DIGITS[0], 7), ValueError, "unsqueeze(0)"),
    ("patchify list", lambda: vit.patchify([[0.0]], 7), TypeError, "torch.Tensor"),
    (
        "unpatchify 0",
        lambda: vit.unpatchify(torch.zeros(1, 16, 49), 0, 28, 1),
        ValueError,
        "positive int",
    ),
    (
        "unpatchify -7",
        lambda: vit.unpatchify(torch.zeros(1, 16, 49), -7, 28, 1),
        ValueError,
        "positive int",
    ),
    (
        "unpatchify 7.0",
        lambda: vit.unpatchify(torch.zeros(1, 16, 49), 7.0, 28, 1),
        TypeError,
        "positive int",
    ),
    (
        "unpatchify shape",
        lambda: vit.unpatchify(torch.zeros(1, 16, 48), 7, 28, 1),
        ValueError,
        "expected (B, 16, 49)",
    ),
    (
        "unpatchify size",
        lambda: vit.unpatchify(torch.zeros(1, 16, 49), 7, 30, 1),
        ValueError,
        "not divisible",
    ),
    # models take float images in [-1, 1]
    ("vit uint8", lambda: VIT(DIGITS.to(torch.uint8)), TypeError, "x.float() / 127.5 - 1"),
    ("vit 0..255", lambda: VIT(DIGITS * 0 + 200.0), ValueError, "x / 127.5 - 1"),
    ("vit float64", lambda: VIT(DIGITS.double()), TypeError, "torch.float32"),
    ("vit shape", lambda: VIT(torch.zeros(2, 3, 28, 28)), ValueError, "(B, 1, 28, 28)"),
    ("vit nan", lambda: VIT(DIGITS * NAN), ValueError, "nan"),
    ("vit config", lambda: vit.ViTConfig(patch_size=5), ValueError, "not divisible"),
    ("clip image uint8", lambda: CLIP.encode_image(RGB_UINT8), TypeError, "float"),
    ("clip image 0..255", lambda: CLIP.encode_image(RGB_255), ValueError, "[-1, 1]"),
    ("clip ids float", lambda: CLIP.encode_text(torch.zeros(2, 12)), TypeError, "int64"),
    ("clip loss nan", lambda: clip.clip_loss(UNIT, UNIT, NAN), ValueError, "finite"),
    (
        "clip loss str",
        lambda: clip.clip_loss(UNIT, UNIT, "14"),
        TypeError,
        "logit_scale must be a number",
    ),
    (
        "clip loss tensor nan",
        lambda: clip.clip_loss(UNIT, UNIT, torch.tensor(NAN)),
        ValueError,
        "finite",
    ),
    (
        "clip loss unnormalised",
        lambda: clip.clip_loss(UNIT * 2, UNIT, 14.0),
        ValueError,
        "F.normalize",
    ),
    ("clip loss shapes", lambda: clip.clip_loss(UNIT, UNIT[:2], 14.0), ValueError, "same shape"),
    (
        "tokenizer unknown=",
        lambda: Tokenizer(VOCAB, 12).encode(["a red seven"], unknown="drop"),
        ValueError,
        "'warn'",
    ),
    (
        "tokenizer too long",
        lambda: Tokenizer(VOCAB, 4).encode(["a red seven a red seven"]),
        ValueError,
        "at most",
    ),
    ("vae uint8", lambda: VAE.encode(RGB_UINT8), TypeError, "float"),
    ("vae 0..255", lambda: VAE.encode(RGB_255), ValueError, "x / 127.5 - 1"),
    ("vae latents", lambda: VAE.decode(torch.zeros(1, 4, 4, 4)), ValueError, "(B, 4, 8, 8)"),
    (
        "vae float64",
        lambda: VAE.decode(torch.zeros(1, 4, 8, 8, dtype=torch.float64)),
        TypeError,
        "float32",
    ),
    ("unet int", lambda: UNET(UINT8, torch.zeros(2, dtype=torch.long)), TypeError, "float"),
    ("unet t shape", lambda: UNET(X, torch.zeros(3, dtype=torch.long)), ValueError, "(B,) tensor"),
    # pipelines
    ("pipe seed=", lambda: PIPE(2, seed=0), TypeError, "unexpected keyword"),
    (
        "pipe generator int",
        lambda: PIPE(2, generator=0),
        TypeError,
        "torch.Generator().manual_seed(0)",
    ),
    ("pipe steps float", lambda: PIPE(2, num_inference_steps=5.0), TypeError, "must be an int"),
    ("pipe steps 0", lambda: PIPE(2, num_inference_steps=0), ValueError, "1..50"),
    (
        "pipe ddpm steps",
        lambda: PIPE(2, num_inference_steps=10, sampler="ddpm"),
        ValueError,
        "every one of the T=50",
    ),
    ("pipe sampler", lambda: PIPE(2, sampler="euler"), ValueError, "unknown sampler"),
    ("pipe eta nan", lambda: PIPE(2, eta=NAN), ValueError, "eta must be a finite"),
    ("pipe labels on unconditional", lambda: PIPE([1, 2]), ValueError, "number of images"),
    (
        "pipe guidance on unconditional",
        lambda: PIPE(2, guidance_scale=3.0),
        ValueError,
        "guidance_scale=None",
    ),
    ("pipe count 0", lambda: PIPE(0), ValueError, "number of images"),
    ("guided label 10", lambda: GUIDED([3, 10]), ValueError, "0..9"),
    ("guided float labels", lambda: GUIDED(torch.tensor([1.0])), ValueError, "integer tensor"),
    ("guided count", lambda: GUIDED(4), TypeError, "list or (B,) tensor of labels"),
    ("guided bool label", lambda: GUIDED([True]), TypeError, "ints"),
    ("guided nan scale", lambda: GUIDED([1], guidance_scale=NAN), ValueError, "finite"),
    ("guided str scale", lambda: GUIDED([1], guidance_scale="3"), TypeError, "number"),
    ("load unknown", lambda: pipelines.load("ddpm-faces"), ValueError, "unknown checkpoint"),
    ("load a classifier", lambda: pipelines.load("vit-digits"), ValueError, "records no pipeline"),
    # checkpoints and data
    ("load_pretrained int", lambda: checkpoints.load_pretrained(3), TypeError, "string"),
    (
        "load_pretrained typo",
        lambda: checkpoints.load_pretrained("vit-digit"),
        ValueError,
        "vit-digits",
    ),
    ("batches of 0", lambda: data.batches(X, batch_size=0), ValueError, "int between 1 and 2"),
    ("mnist split", lambda: data.load_mnist("validation"), ValueError, "train"),
    ("mnist source", lambda: data.load_mnist("train", source="web"), ValueError, "'local'"),
    # widgets
    (
        "patch explorer 13x13",
        lambda: PatchExplorer({"odd": torch.zeros(1, 13, 13)}),
        ValueError,
        "e.g. [12",
    ),
    (
        "patch explorer 3-D",
        lambda: PatchExplorer({"x": torch.zeros(28, 28)}),
        ValueError,
        "square (C, H, W)",
    ),
    ("patch explorer empty", lambda: PatchExplorer({}), ValueError, "at least one image"),
    ("guidance digit 12", lambda: GuidanceExplorer(GUIDED, digit=12), ValueError, "from 0 to 9"),
    ("guidance digit str", lambda: GuidanceExplorer(GUIDED, digit="3"), ValueError, "from 0 to 9"),
    (
        "guidance seeds",
        lambda: GuidanceExplorer(GUIDED, seeds=(0.5,)),
        TypeError,
        "seeds must be ints",
    ),
    (
        "guidance no seeds",
        lambda: GuidanceExplorer(GUIDED, seeds=()),
        ValueError,
        "at least one seed",
    ),
    ("guidance unconditional", lambda: GuidanceExplorer(PIPE), ValueError, "class-conditional"),
    ("denoising images", lambda: DenoisingScrubber(PIPE, images=0), ValueError, "from 1 to 16"),
    # flow matching: t is a time in [0, 1]
    ("flow t 1.5", lambda: flow.interpolate(LATENTS, LATENTS, 1.5), ValueError, "<= 1"),
    ("flow t nan", lambda: flow.interpolate(LATENTS, LATENTS, NAN), ValueError, "finite"),
    ("flow t str", lambda: flow.interpolate(LATENTS, LATENTS, "0.5"), TypeError, "t must be"),
    (
        "flow t tensor > 1",
        lambda: flow.interpolate(LATENTS, LATENTS, torch.tensor([0.5, 2.0])),
        ValueError,
        "[0, 1]",
    ),
    (
        "flow t length",
        lambda: flow.interpolate(LATENTS, LATENTS, torch.zeros(3)),
        ValueError,
        "B=2",
    ),
    (
        "flow x0 uint8",
        lambda: flow.predict_x0(LATENTS.to(torch.uint8), LATENTS, 0.5),
        TypeError,
        "float",
    ),
    ("flow shift 0", lambda: flow.time_grid(4, shift=0), ValueError, "shift must be > 0"),
    ("flow steps 4.0", lambda: flow.time_grid(4.0), TypeError, "positive int"),
    ("flow sample_t batch", lambda: flow.sample_t(4.0), TypeError, "batch must be"),
    (
        "flow x0_range < 0",
        lambda: flow.sample(DIT, (1, 4, 8, 8), steps=2, x0_range=-1.0, progress=False),
        ValueError,
        "x0_range must be > 0",
    ),
    (
        "flow generator int",
        lambda: flow.sample(DIT, (1, 4, 8, 8), steps=2, generator=0, progress=False),
        TypeError,
        "manual_seed(0)",
    ),
    (
        "flow guidance without cond",
        lambda: flow.sample(DIT, (1, 4, 8, 8), steps=2, guidance_scale=3.0, progress=False),
        ValueError,
        "pass cond",
    ),
    ("dit depth 0", lambda: dit.DiTConfig(depth=0), ValueError, "DiTConfig.depth"),
    ("dit t scalar", lambda: DIT(LATENTS, 0.5), ValueError, "(B,) tensor of times"),
    ("vit heads 0", lambda: vit.ViTConfig(heads=0), ValueError, "ViTConfig.heads"),
    ("vae width 0", lambda: autoencoder.VAEConfig(width=0), ValueError, "VAEConfig.width"),
    ("clip embed 0", lambda: clip.CLIPConfig(embed_dim=0), ValueError, "CLIPConfig.embed_dim"),
    ("clip conv channels", lambda: clip.CLIPConfig(conv_channels=()), ValueError, "e.g. (32"),
    # captions, answers and their indices
    ("caption digit 10", lambda: data.caption(10, 0, 0), ValueError, "digit must be in 0..9"),
    ("caption color -1", lambda: data.caption(1, -1, 0), ValueError, "color must be in 0..5"),
    ("caption digit str", lambda: data.caption("7", 0, 0), TypeError, "int index"),
    ("vlm answer digit 10", lambda: vlm.answer("digit", 10, 0, 0), ValueError, "0..9"),
    ("vlm degrade 0", lambda: vlm.degrade(RGB, 0), ValueError, "resolution must be"),
    ("vlm degrade uint8", lambda: vlm.degrade(RGB.to(torch.uint8), 8), TypeError, "float"),
    ("vlm token count patch 0", lambda: vlm.image_token_count(32, 0), ValueError, "patch_size"),
    ("shift uint8", lambda: data.random_shift(UINT8, 2), TypeError, "float"),
    ("shift -1", lambda: data.random_shift(X, -1), ValueError, "max_shift"),
    ("tokenizer length 0", lambda: Tokenizer(VOCAB, 0), ValueError, "context_length"),
    (
        "tokenizer decode float",
        lambda: Tokenizer(VOCAB, 4).decode(torch.zeros(1, 4)),
        TypeError,
        "integer tensor",
    ),
    (
        "tokenizer decode id",
        lambda: Tokenizer(VOCAB, 4).decode(torch.full((1, 4), 99)),
        ValueError,
        "0..",
    ),
    ("clip embed_texts int", lambda: clip.embed_texts(CLIP, 3), ValueError, "list of captions"),
    # measuring
    ("judge uint8", lambda: judge.judge(DIGITS.to(torch.uint8), VIT), TypeError, "float"),
    (
        "judge zero_one on [-1, 1]",
        lambda: judge.judge(DIGITS, VIT, scale="zero_one"),
        ValueError,
        "scale='minus_one_one'",
    ),
    (
        "verdict threshold 2",
        lambda: judge.Verdict(torch.zeros(2), torch.ones(2), UNIT).confident_fraction(2),
        ValueError,
        "<= 1",
    ),
    (
        "frechet widths",
        lambda: judge.frechet_distance(torch.rand(10, 8), torch.rand(10, 4)),
        ValueError,
        "same width",
    ),
    ("frechet one row", lambda: judge.frechet_distance(UNIT[:1], UNIT), ValueError, "at least 2"),
    (
        "attention layers unlike",
        lambda: attention.stack_layers([torch.rand(1, 2, 17, 17), torch.rand(17, 17)]),
        ValueError,
        "(B, h, T, T)",
    ),
    ("patch distances 0", lambda: attention.patch_distances(4, 0), ValueError, "patch_size"),
    (
        "pixel images size",
        lambda: autoregressive.to_images(torch.zeros(2, 196), 13),
        ValueError,
        "size=14",
    ),
    ("toy k 0", lambda: toy_flows.mixture_means(0), ValueError, "k must be"),
    (
        "toy std < 0",
        lambda: toy_flows.sample_mixture(10, toy_flows.mixture_means(), -1.0),
        ValueError,
        "std must be > 0",
    ),
    ("warmup no optimizer", lambda: train.warmup_cosine(100, 10), TypeError, "AdamW"),
    # devices and paths
    (
        "device gpu",
        lambda: checkpoints.load_pretrained("vit-digits", device="gpu"),
        ValueError,
        "'cpu'",
    ),
    (
        "load missing path",
        lambda: checkpoints.load("/nowhere/tiny"),
        ValueError,
        "no checkpoint at /nowhere/tiny",
    ),
    # more widgets
    ("explorer images not a dict", lambda: NoisingScrubber(DIGITS[0]), TypeError, "dict of name"),
    (
        "noising seed str",
        lambda: NoisingScrubber(DIGIT, seed="0"),
        TypeError,
        "seed must be an int",
    ),
    ("patch scale 0", lambda: PatchExplorer(DIGIT, scale=0), ValueError, "scale must be"),
    ("attention scale 0.5", lambda: AttentionExplorer(VIT, DIGIT, scale=0.5), ValueError, "scale"),
    ("guidance columns 0", lambda: GuidanceExplorer(GUIDED, columns=0), ValueError, "columns"),
    ("denoising seeds str", lambda: DenoisingScrubber(PIPE, seeds="012"), TypeError, "seeds must"),
    ("vlm explorer pipe", lambda: VLMExplorer(LDM, RGB), TypeError, "VLMPipeline"),
    ("vlm explorer list", lambda: VLMExplorer(VLM_PIPE, list(RGB)), ValueError, "(N, 3, 32, 32)"),
    ("vlm explorer steps", lambda: VLMExplorer(VLM_PIPE, RGB, LDM, steps=0), ValueError, "steps"),
    ("vlm explorer image pipe", lambda: VLMExplorer(VLM_PIPE, RGB, PIPE), TypeError, "image_pipe"),
    (
        "similarity top_k",
        lambda: SimilarityExplorer(CLIP, RGB, CAPTIONS, top_k=50),
        ValueError,
        "top_k must be an int from 1 to 4",
    ),
    (
        "similarity prompt",
        lambda: SimilarityExplorer(CLIP, RGB, CAPTIONS, prompt=3),
        TypeError,
        "string",
    ),
    ("latent pipe", lambda: LatentExplorer(PIPE, RGB, CAPTIONS), TypeError, "ldm-digits"),
    ("latent prompt", lambda: LatentExplorer(LDM, RGB, CAPTIONS, prompt=7), TypeError, "string"),
    ("latent steps", lambda: LatentExplorer(LDM, RGB, CAPTIONS, steps=0), ValueError, "steps"),
    (
        "latent guidance nan",
        lambda: LatentExplorer(LDM, RGB, CAPTIONS, guidance_scale=NAN),
        ValueError,
        "finite",
    ),
    (
        "steps prompts str",
        lambda: StepsExplorer(LDM, FLOW, prompts="a red one"),
        ValueError,
        "list",
    ),
    ("steps guidance", lambda: StepsExplorer(LDM, FLOW, guidance_scale=-1), ValueError, ">= 0"),
    ("steps pipes swapped", lambda: StepsExplorer(FLOW, LDM), TypeError, "DDIM pipeline first"),
    ("steps seed", lambda: StepsExplorer(LDM, FLOW, seed=1.5), TypeError, "seed must be an int"),
    # the checks themselves
    ("number bool", lambda: checks.number(True, "w"), TypeError, "w must be a number"),
    ("number inf", lambda: checks.number(math.inf, "w"), ValueError, "finite"),
    ("positive_int 7.0", lambda: checks.positive_int(7.0, "n"), TypeError, "positive int"),
]


@pytest.mark.parametrize(
    "call, error, phrase", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_input_is_refused_with_a_message_that_says_what_to_pass(call, error, phrase):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", checkpoints.UnverifiedCheckpointWarning)
        with pytest.raises(error) as caught:
            call()
    assert phrase in str(caught.value), f"message was: {caught.value}"


def test_images_in_zero_one_warn_where_minus_one_one_is_expected():
    with pytest.warns(checks.InputRangeWarning, match=r"x \* 2 - 1"):
        VIT((DIGITS + 1) / 2 + 0.1 * torch.rand(DIGITS.shape).clamp(0, 0.5))
    with pytest.warns(checks.InputRangeWarning, match="background is -1"):
        VAE.encode(torch.rand(1, 3, 32, 32))


def test_images_that_require_grad_pass_the_range_check_without_a_warning():
    """Gradients with respect to the pixels (an effective receptive field) are fine."""
    images = DIGITS.clone().requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checks.model_images(images, "images", tuple(images.shape[1:]), "ViT", images.dtype)


def test_float64_works_where_the_maths_is_pure():
    x0 = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    out = SCHEDULE.q_sample(x0, 3, torch.ones_like(x0))
    assert out.dtype == torch.float64 and torch.allclose(out, (1 - SCHEDULE.alpha_bar[3]).sqrt())


def test_a_long_ddpm_run_says_how_long_and_greys_out_what_it_ignores():
    scrubber = DenoisingScrubber(PIPE, images=1, steps=10)
    descriptions = []
    scrubber.progress.observe(lambda change: descriptions.append(change.new), "description")
    scrubber.controls["sampler"].value = "DDPM (all T steps)"
    assert scrubber.controls["steps"].disabled  # DDPM takes every step anyway
    assert any("s left" in d for d in descriptions) and descriptions[-1] == "sampled"
    assert not scrubber.controls["seed"].disabled  # usable again once sampled
    scrubber.controls["sampler"].value = next(iter(k for k in SAMPLERS if "DDIM" in k))
    assert not scrubber.controls["steps"].disabled
