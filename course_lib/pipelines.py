"""Ready-to-call generators: a shipped model + its noise schedule + a sampler.

    pipe = pipelines.load("ddpm-digits")
    images = pipe(16, steps=50, seed=0)     # (16, 1, 28, 28) float in [0, 1], on the CPU

    pipe = pipelines.load("cfg-digits")
    images = pipe([3, 3, 7], guidance_scale=3.0, steps=50, seed=0)   # (3, 1, 28, 28)

`pipe(what, guidance_scale=..., steps=50, seed=0, return_trajectory=False)`: `what` is a
number of images for an unconditional model, a list or (B,) tensor of labels for a
class-conditional one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib import checkpoints, diffusion

PIPELINES = ("ddpm-digits", "cfg-digits", "ldm-digits")


def to_unit(images: Tensor) -> Tensor:
    """Model space [-1, 1] -> picture space [0, 1]: (x + 1) / 2, not clamped."""
    return (images + 1) / 2


class DiffusionPipeline:
    """An unconditional pixel-space denoiser and the schedule it was trained with."""

    def __init__(self, model, schedule: diffusion.NoiseSchedule, name: str = "custom"):
        self.model = model.eval()
        self.schedule = schedule
        self.name = name

    def __repr__(self) -> str:
        c = self.model.config
        size = f"{c.channels}x{c.image_size}x{c.image_size}"
        return f"DiffusionPipeline({self.name!r}, {size}, {self.schedule})"

    def noise_predictor(self, x: Tensor, t: Tensor, cond=None) -> Tensor:
        """model(x_t, t, cond) -> eps, on the model's device and in its memory layout."""
        return self.model(x, t, cond)

    def to_pixels(self, x: Tensor) -> Tensor:
        """What the sampler made -> images in [0, 1]; a latent pipeline decodes here."""
        return to_unit(x)

    def __call__(
        self,
        what: int,
        guidance_scale: float | None = None,
        steps: int | None = 50,
        seed: int = 0,
        return_trajectory: bool = False,
        **options,
    ) -> Tensor | tuple[Tensor, diffusion.Trajectory]:
        """`what` new images (B, C, H, W) in [0, 1] on the CPU; with return_trajectory also the
        `Trajectory` (every x_t and predicted x_0, mapped to [0, 1] the same way).

        Options: sampler="ddim" with `steps` and eta=0.0, or sampler="ddpm" (all T steps,
        steps=None); progress=True for a progress bar; callback(i, n) after step i of n.
        """
        if isinstance(what, bool) or not isinstance(what, int) or what < 1:
            raise ValueError(
                f"{self.name} is unconditional: pass the number of images to make, e.g. "
                f"pipe(16), got {what!r}"
            )
        if guidance_scale is not None:
            raise ValueError(
                f"{self.name} is unconditional, so there is nothing to guide towards; leave "
                "guidance_scale=None (class labels and guidance come with 'cfg-digits')"
            )
        return self.generate(what, steps, seed, return_trajectory, **options)

    def generate(
        self,
        count: int,
        steps: int | None,
        seed: int,
        return_trajectory: bool,
        *,
        sampler: str = "ddim",
        **sample_options,
    ) -> Tensor | tuple[Tensor, diffusion.Trajectory]:
        """Sample `count` items of the model's shape from noise seeded with `seed`, then map
        them (and, with return_trajectory, every step) to pictures with `to_pixels`."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        c = self.model.config
        device = next(self.model.parameters()).device
        out = diffusion.sample(
            self.noise_predictor,
            self.schedule,
            (count, c.channels, c.image_size, c.image_size),
            sampler=sampler,
            steps=None if sampler == "ddpm" else steps,
            generator=torch.Generator().manual_seed(seed),
            device=device,
            return_trajectory=return_trajectory,
            **sample_options,
        )
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

    condition_options: tuple[str, ...] = ()  # keyword options of __call__ that go to `conditions`

    def conditions(self, labels) -> tuple[Tensor, Tensor]:
        """A list of ints or a (B,) integer tensor of labels -> (labels, "no label") as (B,)
        int64 tensors, checked."""
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
        return labels, torch.full_like(labels, num_classes)  # index num_classes = "no label"

    def __call__(
        self,
        what,
        guidance_scale: float = 3.0,
        steps: int | None = 50,
        seed: int = 0,
        return_trajectory: bool = False,
        **options,
    ) -> Tensor | tuple[Tensor, diffusion.Trajectory]:
        """One image (B, C, H, W) in [0, 1] on the CPU per label in `what`, guided with
        guidance_scale (0 = ignore the label, 1 = plain conditional, > 1 = guided); the
        options are DiffusionPipeline's."""
        diffusion.check_guidance_scale(guidance_scale)
        if guidance_scale is None:
            raise ValueError("pass a guidance_scale >= 0, e.g. 3.0 (1.0 = no guidance)")
        condition_options = {k: options.pop(k) for k in self.condition_options if k in options}
        cond, null_cond = self.conditions(what, **condition_options)
        device = next(self.model.parameters()).device
        return self.generate(
            len(cond),
            steps,
            seed,
            return_trajectory,
            cond=cond.to(device),
            null_cond=null_cond.to(device),
            guidance_scale=float(guidance_scale),
            **options,
        )


class TextToImagePipeline(GuidedPipeline):
    """A tiny Stable Diffusion: prompt -> text encoder -> guided latent U-Net -> VAE decoder.

    `model` is a `latent_diffusion.TextConditioned` (U-Net + frozen text encoder); `latents`
    (what the sampler made, in the VAE's scaled space) are decoded once, at the end; with
    return_trajectory every step's latent is decoded too.

    pipe(prompts, guidance_scale=3.0, steps=50, seed=0, unknown="warn"): one image
    (B, 3, 32, 32) in [0, 1] on the CPU per prompt; "" is unconditional. Unknown words warn
    (unknown="raise" makes them an error).
    """

    condition_options = ("unknown",)

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

    def __repr__(self) -> str:
        c = self.model.config
        latent = f"{c.channels}x{c.image_size}x{c.image_size}"
        return f"TextToImagePipeline({self.name!r}, latent {latent}, {self.schedule})"

    def conditions(self, prompts, unknown: str = "warn") -> tuple[Tensor, Tensor]:
        """Prompts -> (token ids, the empty prompt's token ids), each (B, context_length)."""
        from course_lib.latent_diffusion import null_token_ids, prompt_token_ids

        text_encoder = self.model.text_encoder
        token_ids = prompt_token_ids(text_encoder, prompts, unknown=unknown)
        return token_ids, null_token_ids(text_encoder, len(token_ids))

    @torch.no_grad()
    def to_pixels(self, latents: Tensor) -> Tensor:
        """Scaled latents (N, Z, h, w) -> images (N, C, H, W) in [0, 1], decoded in chunks."""
        device = next(self.vae.parameters()).device
        images = [self.vae.decode(chunk.to(device)).cpu() for chunk in latents.split(256)]
        return to_unit(torch.cat(images))

    def generate(self, *args, **options):
        # Predicted latents are kept where training latents lie (|z| < latent_range).
        return super().generate(*args, x0_range=self.latent_range, **options)


def schedule_of(name: str) -> diffusion.NoiseSchedule:
    """The noise schedule shipped checkpoint NAME was trained with (from its metadata)."""
    spec = checkpoints.metadata(name)["schedule"]
    kind, T = spec["kind"], spec["T"]
    return getattr(diffusion.NoiseSchedule, kind)(T)


def load(name: str, device: str | torch.device = "cpu") -> DiffusionPipeline:
    """A ready pipeline for a shipped checkpoint: "ddpm-digits", "cfg-digits" or "ldm-digits"."""
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; available: {', '.join(PIPELINES)}")
    model = checkpoints.load_pretrained(name, device=device)
    if getattr(model.config, "cond_dim", None):  # text-conditioned: add its encoder and VAE
        from course_lib import clip
        from course_lib.latent_diffusion import TextConditioned

        meta = checkpoints.metadata(name)
        text_encoder = clip.pretrained_text_encoder(meta["text_encoder"], device=device)
        vae = checkpoints.load_pretrained(meta["vae"], device=device)
        denoiser = TextConditioned(model, text_encoder)
        return TextToImagePipeline(
            denoiser, vae, schedule_of(name), name=name, latent_range=meta["latent_range"]
        )
    kind = GuidedPipeline if getattr(model.config, "num_classes", None) else DiffusionPipeline
    return kind(model, schedule_of(name), name=name)
