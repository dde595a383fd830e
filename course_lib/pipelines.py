"""Ready-to-call generators: a shipped model + its noise schedule + a sampler, called the way
diffusers' pipelines are, so the same call works there after the course.

    pipe = pipelines.load("ddpm-digits")
    images = pipe(16, num_inference_steps=50, generator=torch.Generator().manual_seed(0))
    # (16, 1, 28, 28) float in [0, 1], on the CPU

    pipe = pipelines.load("cfg-digits")
    images = pipe([3, 3, 7], guidance_scale=3.0)   # (3, 1, 28, 28), fresh randomness

    pipe = pipelines.load("ldm-digits")
    images = pipe(["a large red seven"], guidance_scale=3.0)   # (1, 3, 32, 32)

`what` is a number of images for an unconditional model, a list or (B,) tensor of labels for
a class-conditional one, a list of prompts for a text-conditioned one. `generator` is a CPU
`torch.Generator` (None: fresh randomness from torch's global generator, as in diffusers).
Which class a checkpoint needs is recorded in its JSON metadata ("pipeline"); `load` reads it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from course_lib import checkpoints, checks, diffusion, vlm

SAMPLERS = ("ddim", "ddpm")


def to_unit(images: Tensor) -> Tensor:
    """Model space [-1, 1] -> picture space [0, 1]: (x + 1) / 2, not clamped."""
    return (images + 1) / 2


def check_steps(num_inference_steps, sampler: str, T: int) -> int:
    """How many denoising steps to run: DDIM defaults to 50 and takes any 1..T; DDPM always
    runs every one of the T steps and refuses another count (it does not skip steps)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; pass one of {SAMPLERS}")
    if num_inference_steps is None:
        return T if sampler == "ddpm" else min(50, T)
    if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int):
        raise TypeError(f"num_inference_steps must be an int, e.g. 50, got {num_inference_steps!r}")
    if sampler == "ddpm" and num_inference_steps != T:
        raise ValueError(
            f"the DDPM sampler runs every one of the T={T} steps; leave num_inference_steps=None, "
            f"or use sampler='ddim' (eta=1.0 for DDPM-like noise) for {num_inference_steps} steps"
        )
    if not 1 <= num_inference_steps <= T:
        raise ValueError(f"num_inference_steps must be in 1..{T}, got {num_inference_steps}")
    return num_inference_steps


class DiffusionPipeline:
    """An unconditional pixel-space denoiser and the schedule it was trained with."""

    default_guidance_scale: float | None = None  # unconditional: nothing to guide towards

    def __init__(self, model, schedule: diffusion.NoiseSchedule, name: str = "custom"):
        self.model = model.eval()
        self.schedule = schedule
        self.name = name

    @classmethod
    def from_checkpoint(cls, name: str, device: str | torch.device = "cpu") -> DiffusionPipeline:
        """The pipeline of shipped checkpoint NAME: its model and the schedule it records."""
        model = checkpoints.load_pretrained(name, device=device)
        schedule = diffusion.NoiseSchedule.from_spec(checkpoints.metadata(name)["schedule"])
        return cls(model, schedule, name=name)

    def __repr__(self) -> str:
        c = self.model.config
        size = f"{c.channels}x{c.image_size}x{c.image_size}"
        return f"{type(self).__name__}({self.name!r}, {size}, {self.schedule})"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def conditions(self, what) -> tuple[int, Tensor | None, Tensor | None]:
        """`what` -> (batch size, condition, null condition); unconditional: a count."""
        if isinstance(what, bool) or not isinstance(what, int) or what < 1:
            raise ValueError(
                f"{self.name} is unconditional: pass the number of images to make, e.g. "
                f"pipe(16), got {what!r}"
            )
        return what, None, None

    def to_pixels(self, x: Tensor) -> Tensor:
        """What the sampler made -> images in [0, 1]; a latent pipeline decodes here."""
        return to_unit(x)

    def check_steps(self, num_inference_steps, sampler: str) -> int:
        """How many steps to run with `sampler` (see `check_steps`)."""
        return check_steps(num_inference_steps, sampler, self.schedule.T)

    def check_guidance(self, guidance_scale) -> float | None:
        """The guidance scale to use; unconditional pipelines take none."""
        if guidance_scale is not None:
            raise ValueError(
                f"{self.name} is unconditional, so there is nothing to guide towards; leave "
                "guidance_scale=None (class labels and guidance come with 'cfg-digits')"
            )
        return None

    def __call__(
        self,
        what,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        *,
        generator: torch.Generator | None = None,
        return_trajectory: bool = False,
        callback: Callable[[int, int], None] | None = None,
        sampler: str = "ddim",
        eta: float = 0.0,
        progress: bool = True,
        negative_prompt: str | None = None,
        image: Tensor | None = None,
        strength: float | None = None,
    ) -> Tensor | tuple[Tensor, diffusion.Trajectory]:
        """New images (B, C, H, W) in [0, 1] on the CPU, one per item of `what`; with
        return_trajectory also the `Trajectory` (every x_t and predicted x_0, mapped to
        [0, 1] the same way).

        num_inference_steps: DDIM steps (default 50); sampler="ddpm" runs all T steps and
        refuses any other count. guidance_scale: None for an unconditional model; for a
        guided one 0 = ignore the condition, 1 = plain conditional, > 1 = guided (default
        3.0). eta: DDIM's noise (0 deterministic, 1 DDPM-like). callback(i, n) after step i
        of n; progress=False hides the progress bar. negative_prompt, image and strength:
        text-to-image only (see `TextToImagePipeline.edit_options`).
        """
        checks.generator(generator)
        steps = self.check_steps(num_inference_steps, sampler)
        checks.number(eta, "eta", minimum=0, hint="0 = deterministic DDIM, 1 = DDPM-like")
        scale = self.check_guidance(guidance_scale)
        count, cond, null_cond = self.conditions(what)
        options = dict(steps=steps, sampler=sampler, eta=float(eta), null_cond=null_cond)
        options.update(self.edit_options(count, steps, negative_prompt, image, strength))
        return self.generate(
            count,
            cond=cond,
            guidance_scale=scale,
            generator=generator,
            return_trajectory=return_trajectory,
            callback=callback,
            progress=progress,
            **options,
        )

    def edit_options(self, count, steps, negative_prompt, image, strength) -> dict:
        """Sampler options for a negative prompt or an input image; only text-to-image
        pipelines take them."""
        if negative_prompt is not None or image is not None or strength is not None:
            raise ValueError(
                f"{self.name} takes no negative_prompt, image or strength; they belong to "
                "text-to-image pipelines such as 'ldm-digits'"
            )
        return {}

    def generate(
        self, count: int, *, return_trajectory: bool, **sample_options
    ) -> Tensor | tuple[Tensor, diffusion.Trajectory]:
        """Sample `count` items of the model's shape with `diffusion.sample`, then map them
        (and, with return_trajectory, every step) to pictures with `to_pixels`."""
        c = self.model.config
        for key in ("cond", "null_cond", "init"):
            if sample_options.get(key) is not None:
                sample_options[key] = sample_options[key].to(self.device)
        out = diffusion.sample(
            self.model,
            self.schedule,
            (count, c.channels, c.image_size, c.image_size),
            device=self.device,
            return_trajectory=return_trajectory,
            **sample_options,
        )
        return self.pictures(out, return_trajectory)

    def pictures(self, out, return_trajectory: bool):
        """A sampler's output (samples, or a `Trajectory`) -> images in [0, 1] on the CPU
        (and the trajectory with every x_t and predicted x_0 mapped the same way)."""
        if not return_trajectory:
            return self.to_pixels(out).clamp(0, 1).cpu()
        trajectory = diffusion.Trajectory(
            xs=self.to_pixels(out.xs.flatten(0, 1)).unflatten(0, out.xs.shape[:2]).cpu(),
            x0s=self.to_pixels(out.x0s.flatten(0, 1)).unflatten(0, out.x0s.shape[:2]).cpu(),
            timesteps=out.timesteps,
        )
        return trajectory.images.clamp(0, 1), trajectory


class GuidedPipeline(DiffusionPipeline):
    """A class-conditional denoiser sampled with classifier-free guidance."""

    default_guidance_scale = 3.0

    def check_guidance(self, guidance_scale) -> float:
        if guidance_scale is None:
            return self.default_guidance_scale
        diffusion.check_guidance_scale(guidance_scale)
        return float(guidance_scale)

    def conditions(self, labels) -> tuple[int, Tensor, Tensor]:
        """A list of ints or a (B,) integer tensor of labels -> (B, labels, "no label"), the
        last two (B,) int64 tensors, checked."""
        num_classes = self.model.config.num_classes
        if isinstance(labels, Tensor):
            if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
                raise ValueError(
                    f"labels must be a 1-D integer tensor (B,), got {labels.dtype} "
                    f"{tuple(labels.shape)}"
                )
            labels = labels.long().cpu()
        elif isinstance(labels, list | tuple):
            if not all(isinstance(y, int) and not isinstance(y, bool) for y in labels):
                raise TypeError(f"labels must be ints, got {labels!r}")
            labels = torch.tensor(labels, dtype=torch.long)
        else:
            raise TypeError(
                f"{self.name} is class-conditional: pass a list or (B,) tensor of labels, "
                f"e.g. pipe([0, 1, 2]), got {type(labels).__name__}"
            )
        if len(labels) == 0:
            raise ValueError("pass at least one label")
        if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
            raise ValueError(
                f"labels must be in 0..{num_classes - 1}, got min {int(labels.min())} "
                f"and max {int(labels.max())}"
            )
        return len(labels), labels, torch.full_like(labels, num_classes)  # index 10 = no label


class TextToImagePipeline(GuidedPipeline):
    """A tiny Stable Diffusion: prompt -> text encoder -> guided latent U-Net -> VAE decoder.

    `model` is a `latent_diffusion.TextConditioned` (U-Net + frozen text encoder); `latents`
    (what the sampler made, in the VAE's scaled space) are decoded once, at the end; with
    return_trajectory every step's latent is decoded too.

    pipe(prompts, num_inference_steps=50, guidance_scale=3.0, generator=None): one image
    (B, 3, 32, 32) in [0, 1] on the CPU per prompt; "" is unconditional. Unknown words warn
    (a `tokenizer.UnknownWordWarning`; turn it into an error with warnings.simplefilter).
    """

    def __init__(
        self,
        model,
        vae,
        schedule: diffusion.NoiseSchedule,
        name: str = "custom",
        latent_range: float = 4.0,
    ):
        super().__init__(model, schedule, name=name)
        self.vae = vae.eval()
        self.latent_range = latent_range  # |latent| of the training data stays below this

    @classmethod
    def from_checkpoint(cls, name: str, device: str | torch.device = "cpu") -> TextToImagePipeline:
        """The U-Net of NAME, with the text encoder and VAE its metadata names."""
        from course_lib import clip
        from course_lib.latent_diffusion import TextConditioned

        meta = checkpoints.metadata(name)
        unet = checkpoints.load_pretrained(name, device=device)
        text_encoder = clip.pretrained_text_encoder(meta["text_encoder"], device=device)
        vae = checkpoints.load_pretrained(meta["vae"], device=device)
        schedule = diffusion.NoiseSchedule.from_spec(meta["schedule"])
        denoiser = TextConditioned(unet, text_encoder)
        return cls(denoiser, vae, schedule, name=name, latent_range=meta["latent_range"])

    def __repr__(self) -> str:
        c = self.model.config
        latent = f"{c.channels}x{c.image_size}x{c.image_size}"
        return f"TextToImagePipeline({self.name!r}, latent {latent}, {self.schedule})"

    def conditions(self, prompts) -> tuple[int, Tensor, Tensor]:
        """Prompts -> (B, token ids, the empty prompt's token ids), each (B, context_length)."""
        from course_lib.latent_diffusion import null_token_ids, prompt_token_ids

        text_encoder = self.model.text_encoder
        token_ids = prompt_token_ids(text_encoder, prompts)
        return len(token_ids), token_ids, null_token_ids(text_encoder, len(token_ids))

    @torch.no_grad()
    def to_pixels(self, latents: Tensor) -> Tensor:
        """Scaled latents (N, Z, h, w) -> images (N, C, H, W) in [0, 1], decoded in chunks."""
        device = next(self.vae.parameters()).device
        images = [self.vae.decode(chunk.to(device)).cpu() for chunk in latents.split(256)]
        return to_unit(torch.cat(images))

    def generate(self, count: int, **options):
        # Predicted latents are kept where training latents lie (|z| < latent_range).
        return super().generate(count, x0_range=self.latent_range, **options)

    def edit_options(self, count, steps, negative_prompt, image, strength) -> dict:
        """negative_prompt: its token ids replace the empty prompt's in the unconditional pass
        ("" is exactly the default). image (B, 3, 32, 32) in [0, 1] with strength s in (0, 1]:
        SDEdit (Meng et al. 2022): its VAE latent, noised by q_sample to t = round(s T) - 1,
        is denoised from there in about s * steps steps."""
        options = {}
        if negative_prompt is not None:
            if not isinstance(negative_prompt, str):
                raise TypeError(f"negative_prompt must be a string, got {negative_prompt!r}")
            from course_lib.latent_diffusion import prompt_token_ids

            text_encoder = self.model.text_encoder
            options["null_cond"] = prompt_token_ids(text_encoder, [negative_prompt] * count)
        if image is None and strength is None:
            return options
        init, t_start = self.check_image(image, strength, count)
        run = min(max(1, round(steps * strength)), t_start + 1)
        return {**options, "init": init, "t_start": t_start, "steps": run}

    @torch.no_grad()
    def check_image(self, image, strength, count: int) -> tuple[Tensor, int]:
        """Checked (image, strength) -> (its VAE latent mean (B, Z, h, w), t_start)."""
        if image is None or strength is None:
            raise ValueError("image-to-image needs both image= and strength=, e.g. 0.6")
        if isinstance(strength, bool) or not isinstance(strength, int | float):
            raise TypeError(f"strength must be a number in (0, 1], got {strength!r}")
        if not 0 < strength <= 1:
            raise ValueError(
                f"strength must be in (0, 1]: near 0 keeps the image, 1 starts from noise; "
                f"got {strength}"
            )
        size = self.vae.config.image_size if hasattr(self.vae.config, "image_size") else 32
        expected = (count, 3, size, size)
        if not isinstance(image, Tensor) or tuple(image.shape) != expected:
            got = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
            raise ValueError(f"image must be {expected} (one per prompt) in [0, 1], got {got}")
        if not image.dtype.is_floating_point or image.min() < 0 or image.max() > 1:
            raise ValueError("image must be float in [0, 1], like the pipeline's own output")
        device = next(self.vae.parameters()).device
        mean, _ = self.vae.encode(image.to(device) * 2 - 1)  # [0, 1] -> model space [-1, 1]
        return mean, round(strength * self.schedule.T) - 1

    def cross_attention_layers(self) -> list:
        """The U-Net's attention modules that read the prompt (cross-attention)."""
        from course_lib.unet import Attention

        return [m for m in self.model.unet.modules() if isinstance(m, Attention) and m.cross]

    def cross_attention(
        self,
        prompts: str | list[str],
        num_inference_steps: int = 50,
        guidance_scale: float | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> CrossAttentionMaps | list[CrossAttentionMaps]:
        """Generate and record where each word is looked at (Hertz et al. 2022, "Prompt-to-
        Prompt"): one `CrossAttentionMaps` per prompt (a list for a list of prompts).

        Each step, every cross-attention layer's weights (heads averaged) are upsampled to
        the image; maps average them over layers and steps. guidance_scale 0 never runs the
        conditional pass, so it is refused."""
        if guidance_scale == 0:
            raise ValueError("guidance_scale=0 never reads the prompt; pass 1 or more")
        batch = [prompts] if isinstance(prompts, str) else prompts
        layers, steps = self.cross_attention_layers(), []
        size = self.model.config.image_size * 4  # the VAE's 8x8 -> 32x32

        def record(_i: int, _n: int) -> None:
            steps.append(step_attention_maps(layers, len(batch), size))

        for layer in layers:
            layer.keep_cross_attention = True
        try:
            images = self(
                batch,
                num_inference_steps,
                guidance_scale,
                generator=generator,
                callback=record,
                progress=False,
            )
        finally:
            for layer in layers:
                layer.keep_cross_attention, layer.cross_attention = False, None
        per_step = torch.stack(steps, dim=1)  # (B, S, L, H, W)
        timesteps = diffusion.sampling_timesteps(self.schedule, "ddim", num_inference_steps)
        out = [
            self._maps_of(batch[i], images[i], per_step[i], timesteps) for i in range(len(batch))
        ]
        return out[0] if isinstance(prompts, str) else out

    def _maps_of(
        self, prompt: str, image: Tensor, per_step: Tensor, timesteps
    ) -> CrossAttentionMaps:
        """One prompt's maps, cut to its words and <end> (the padding gets no attention)."""
        from course_lib.latent_diffusion import prompt_token_ids

        tok = self.model.text_encoder.tokenizer
        ids = prompt_token_ids(self.model.text_encoder, [prompt], unknown="ignore")[0].tolist()
        length = ids.index(tok.end_id) + 1
        words = [tok.vocab[i] for i in ids[:length]]
        per_step = per_step[:, :length]  # (S, L, H, W)
        return CrossAttentionMaps(image, words, per_step.mean(0), per_step, list(timesteps))


@dataclass
class CrossAttentionMaps:
    """Where each word of a prompt is read, from `TextToImagePipeline.cross_attention`."""

    image: Tensor  # (3, H, W) in [0, 1]: the generated image
    words: list[str]  # the prompt's L tokens, "<end>" last
    maps: Tensor  # (L, H, W) in [0, 1]: each pixel's attention to each token, averaged over
    # heads, layers and steps; at every pixel the L maps sum to 1 (a softmax over tokens)
    per_step: Tensor  # (S, L, H, W): the same before the average over the S steps
    timesteps: list[int]  # the S timesteps, descending

    def word(self, word: str, per_step: bool = False) -> Tensor:
        """The map of `word` (H, W), or (S, H, W) with per_step; the first one if repeated."""
        if word not in self.words:
            raise ValueError(f"{word!r} is not in the prompt; its tokens are {self.words}")
        i = self.words.index(word)
        return self.per_step[:, i] if per_step else self.maps[i]


def step_attention_maps(layers: list, count: int, size: int) -> Tensor:
    """The last forward's cross-attention of each layer, for the last `count` images (the
    conditional half of a guided batch), heads averaged, upsampled to size x size and
    averaged over layers: (B, L, size, size). Bilinear upsampling mixes neighbours with
    weights summing to 1, so the maps still sum to 1 over the L tokens at every pixel."""
    maps = []
    for layer in layers:
        weights = layer.cross_attention[-count:].mean(dim=1)  # (B, h*w, L), heads averaged
        side = int(weights.shape[1] ** 0.5)
        grid = rearrange(weights, "b (y x) l -> b l y x", y=side)  # (B, L, h, w)
        maps.append(F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False))
    return torch.stack(maps).mean(dim=0).cpu()


class FlowTextToImagePipeline(TextToImagePipeline):
    """The same prompt -> image call as `TextToImagePipeline`, with the two changes of SD3 and
    FLUX: a transformer (a `dit.TextDiT`) in place of the U-Net, and rectified flow sampled
    with Euler steps from t = 1 (noise) to t = 0 in place of DDIM (see `course_lib.flow`).

    pipe(prompts, num_inference_steps=50, guidance_scale=3.0, generator=None) -> (B, 3, 32, 32)
    in [0, 1]; classifier-free guidance combines the two velocities. sampler="euler" only.
    """

    def __init__(self, model, vae, name: str = "custom", latent_range: float = 4.0):
        super().__init__(model, vae, schedule=None, name=name, latent_range=latent_range)

    @classmethod
    def from_checkpoint(cls, name: str, device="cpu") -> FlowTextToImagePipeline:
        """The DiT of NAME, with the text encoder and VAE its metadata names."""
        from course_lib import clip
        from course_lib.dit import TextDiT

        meta = checkpoints.metadata(name)
        dit = checkpoints.load_pretrained(name, device=device)
        text_encoder = clip.pretrained_text_encoder(meta["text_encoder"], device=device)
        vae = checkpoints.load_pretrained(meta["vae"], device=device)
        return cls(TextDiT(dit, text_encoder), vae, name=name, latent_range=meta["latent_range"])

    def __repr__(self) -> str:
        c = self.model.config
        latent = f"{c.channels}x{c.image_size}x{c.image_size}"
        return f"FlowTextToImagePipeline({self.name!r}, latent {latent}, rectified flow, Euler)"

    def check_steps(self, num_inference_steps, sampler: str) -> int:
        """Euler steps, default 50, any count >= 1 (the "ddim" default is read as Euler)."""
        if sampler not in ("euler", "ddim"):
            raise ValueError("a flow pipeline samples with Euler steps: pass sampler='euler'")
        if num_inference_steps is None:
            return 50
        return checks.positive_int(num_inference_steps, "num_inference_steps")

    def generate(self, count: int, *, return_trajectory: bool, sampler, eta, **options):
        """Sample `count` latents with `flow.sample`, then decode them (and every step)."""
        from course_lib import flow

        if eta:
            raise ValueError("eta is DDIM's noise; Euler steps on a flow are deterministic")
        for key in ("cond", "null_cond"):
            options[key] = options[key].to(self.device)
        c = self.model.config
        out = flow.sample(
            self.model,
            (count, c.channels, c.image_size, c.image_size),
            device=self.device,
            x0_range=self.latent_range,
            return_trajectory=return_trajectory,
            **options,
        )
        return self.pictures(out, return_trajectory)


def pipeline_class(name: str) -> type:
    """The pipeline class shipped checkpoint NAME records in its metadata ("pipeline")."""
    qualified = checkpoints.metadata(name).get("pipeline")
    if not isinstance(qualified, str) or not qualified.startswith("course_lib."):
        raise ValueError(
            f"checkpoint {name!r} records no pipeline (its JSON metadata needs "
            f"'pipeline': 'course_lib.pipelines.<Class>'), so it is not a generator; "
            "load it with checkpoints.load_pretrained"
        )
    module, _, attr = qualified.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def load(name: str, device: str | torch.device = "cpu") -> DiffusionPipeline:
    """A ready pipeline for a shipped checkpoint, e.g. "ddpm-digits", "cfg-digits",
    "ldm-digits": the class its metadata records, built by that class's from_checkpoint."""
    shipped = sorted(checkpoints.read_manifest())
    if name not in shipped:
        raise ValueError(f"unknown checkpoint {name!r}; shipped: {', '.join(shipped)}")
    return pipeline_class(name).from_checkpoint(name, device=device)


class VLMPipeline:
    """A tiny vision-language model, ready to ask: images in [0, 1] (what every pipeline
    here returns, so an ldm-digits image can be asked about directly) and questions ->
    answers, by greedy decoding with a key/value cache.

        pipe = pipelines.load("vlm-digits")
        pipe(images, "what digit is this?")   # ["seven", ...], one answer per image
        pipe(images, ["describe the image.", "where is the digit?"])   # one question each
    """

    def __init__(self, model, name: str = "custom"):
        self.model = model.eval()
        self.name = name

    @classmethod
    def from_checkpoint(cls, name: str, device: str | torch.device = "cpu") -> VLMPipeline:
        """The VLM of shipped checkpoint NAME: vision encoder, adapter and language model."""
        return cls(checkpoints.load_pretrained(name, device=device), name=name)

    def __repr__(self) -> str:
        c = self.model.config
        return (
            f"VLMPipeline({self.name!r}, {c.image_size}x{c.image_size} images, patch "
            f"{c.patch_size}: {c.num_image_tokens} image tokens)"
        )

    def check_images(self, images) -> Tensor:
        """(B, C, H, W) float in [0, 1] -> the model's [-1, 1], or a ValueError/TypeError."""
        c = self.model.config
        shape = f"(B, {c.channels}, {c.image_size}, {c.image_size})"
        if not isinstance(images, Tensor):
            raise TypeError(f"images must be a torch.Tensor {shape} in [0, 1], got {type(images)}")
        if not images.dtype.is_floating_point:
            raise TypeError(
                f"images are {images.dtype}; pass floats in [0, 1] (uint8 pixels: x.float() / 255)"
            )
        if images.ndim != 4 or tuple(images.shape[1:]) != (c.channels, c.image_size, c.image_size):
            raise ValueError(
                f"images must have shape {shape}, got {tuple(images.shape)}; "
                "for one image use image.unsqueeze(0)"
            )
        if len(images) == 0:
            raise ValueError(f"pass at least one image {shape}")
        low, high = float(images.min()), float(images.max())
        if not (-1e-3 <= low and high <= 1 + 1e-3):
            raise ValueError(
                f"images must lie in [0, 1] (what the pipelines return), got [{low:.3g}, "
                f"{high:.3g}]; map the models' [-1, 1] with (x + 1) / 2"
            )
        return images.clamp(0, 1) * 2 - 1

    def check_questions(self, questions, count: int) -> list[str]:
        """A string (asked of every image) or a list of `count` strings -> a list."""
        if isinstance(questions, str):
            return [questions] * count
        if not isinstance(questions, list | tuple) or not questions:
            raise ValueError("questions must be a string or a non-empty list of strings")
        if not all(isinstance(q, str) for q in questions):
            raise TypeError(f"every question must be a string, got {questions!r}"[:200])
        if len(questions) != count:
            raise ValueError(
                f"{len(questions)} questions for {count} images: pass one question per "
                "image, or a single string to ask every image the same"
            )
        return list(questions)

    @torch.no_grad()
    def __call__(
        self,
        images: Tensor,
        questions: str | list[str],
        max_new_tokens: int = 12,
        generator: torch.Generator | None = None,
        *,
        return_attention: bool = False,
    ):
        """Answers, one string per image; with return_attention also, per image, the
        attention from each generated word to the patches, (words, h, w) with h = w =
        image_size / patch_size (mean over layers and heads).

        generator: accepted like every pipeline's; greedy decoding draws no randomness.
        """
        checks.generator(generator)
        x = self.check_images(images)
        questions = self.check_questions(questions, len(x))
        limit = self.model.config.answer_length
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
            raise TypeError(f"max_new_tokens must be an int in 1..{limit}, got {max_new_tokens!r}")
        readings = vlm.word_by_word(self.model, x, questions, max_new_tokens)
        answers = [" ".join(r.words) for r in readings]
        return (answers, [r.attention for r in readings]) if return_attention else answers
