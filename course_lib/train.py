"""The one training loop every notebook uses: a budget, a progress bar, a loss history.

The notebook writes the interesting part, the loss of one batch, as a function; `fit`
does the plumbing around it (optimizer step, EMA, budget, Ctrl-C). Every denoiser (the
pixel, class-conditional and latent ones) trains through `fit_denoiser`, with its
hyper-parameters in one frozen `DenoiserTraining`; the classifiers, the encoders and the VAE
train through `fit_one_cycle`, with theirs in a frozen `OneCycleTraining`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from course_lib import checks, data, diffusion


class EMA:
    """An exponential moving average of a model's weights: shadow <- decay*shadow + (1-decay)*w.

    `ema.model` is a frozen copy to sample or evaluate with; it often beats the raw weights.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be between 0 and 1 (e.g. 0.999), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for shadow, current in zip(self.model.parameters(), model.parameters(), strict=True):
            shadow.lerp_(current.detach(), 1.0 - self.decay)
        for shadow, current in zip(self.model.buffers(), model.buffers(), strict=True):
            shadow.copy_(current)


@dataclass
class TrainResult:
    """What `fit` hands back: the loss of every step, and how the run ended."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False  # True when stopped with Ctrl-C: model and losses are kept

    @property
    def steps(self) -> int:
        return len(self.losses)

    def summary(self, window: int = 100) -> dict:
        """For a checkpoint's metadata: steps taken, mean loss of the last `window`, seconds."""
        last = self.losses[-window:]
        return {
            "steps": self.steps,
            "final_loss": round(sum(last) / max(1, len(last)), 4),
            "train_seconds": round(self.seconds, 1),
            "interrupted": self.interrupted,
        }

    def smoothed(self, window: int = 50) -> list[float]:
        """Running mean of the losses over `window` steps, for plotting."""
        out, total = [], 0.0
        for i, loss in enumerate(self.losses):
            total += loss
            if i >= window:
                total -= self.losses[i - window]
            out.append(total / min(i + 1, window))
        return out


def fit(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, tuple], Tensor],
    batches: Iterator[tuple],
    *,
    optimizer: torch.optim.Optimizer,
    steps: int | None = None,
    seconds: float | None = None,
    ema: EMA | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    desc: str = "training",
    progress: bool = True,
    callback: Callable[[TrainResult], bool | None] | None = None,
) -> TrainResult:
    """Train until `steps` optimizer steps or `seconds` of wall time, whichever comes first.

    loss_fn(model, batch) returns the scalar loss of one batch. Press Ctrl-C (or the stop
    button) to end early: the model, its EMA and the history so far are kept.
    callback(result), if given, runs after every step; returning True ends the training.
    """
    if steps is None and seconds is None:
        raise ValueError("give a budget: steps=..., seconds=..., or both")
    if steps is not None and steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if seconds is not None and seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    result = TrainResult()
    model.train()
    start = time.perf_counter()
    bar = tqdm(total=steps, desc=desc, disable=not progress, unit="step")
    try:
        while steps is None or result.steps < steps:
            if seconds is not None and time.perf_counter() - start >= seconds:
                break
            loss = loss_fn(model, next(batches))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if ema is not None:
                ema.update(model)
            result.losses.append(loss.item())
            bar.update(1)
            if result.steps % 10 == 0:
                bar.set_postfix(loss=f"{sum(result.losses[-10:]) / 10:.4f}")
            if callback is not None and callback(result):
                break
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        bar.close()
        result.seconds = time.perf_counter() - start
    model.eval()
    return result


def warmup_cosine(
    optimizer: torch.optim.Optimizer, steps: int, warmup: int = 100, floor: float = 0.1
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over `warmup` steps, then a cosine from the peak down to `floor` x peak."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, e.g. torch.optim.AdamW(model."
            f"parameters()), got {type(optimizer).__name__}"
        )
    checks.positive_int(steps, "steps")
    checks.positive_int(warmup, "warmup")
    checks.number(floor, "floor", minimum=0, maximum=1, hint="a fraction of the peak rate")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass(frozen=True, kw_only=True)
class OneCycleTraining:
    """How `fit_one_cycle` trains a classifier, an encoder or the VAE. Each recipe states its
    own, like a denoiser's `DenoiserTraining`; `dataclasses.replace(hp, steps=...)` for a run
    of another length."""

    steps: int  # optimizer steps to take (a `seconds` cap may stop the run sooner)
    batch_size: int  # training examples per step
    lr: float  # the peak of the one-cycle learning rate
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    decay_matrices_only: bool = False  # True: decay weight matrices, not biases, norms, scales

    def __post_init__(self) -> None:
        _check_count("steps", self.steps, low=0, example=2000)
        _check_count("batch_size", self.batch_size, low=1, example=64)
        _check_number("lr", self.lr, 0.0, math.inf, "2e-3")
        if self.weight_decay != 0.0:
            _check_number("weight_decay", self.weight_decay, 0.0, math.inf, "0.05, or 0.0")


def fit_one_cycle(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, tuple], Tensor],
    examples: tuple[Tensor, ...],
    hp: OneCycleTraining,
    *,
    generator: torch.Generator | None,
    seconds: float | None = None,
    desc: str = "training",
    progress: bool = True,
) -> TrainResult:
    """The classifiers' and the VAE's recipe: AdamW and a one-cycle learning rate peaking at
    hp.lr (Smith & Topin 2018) over hp.steps shuffled batches of `examples`; `fit` does the
    rest.

    With hp.decay_matrices_only, parameters of fewer than 2 dimensions (biases, norms, a
    learned scale) are not decayed. The rate only comes down at the end of hp.steps: a
    `seconds` cap that stops the run half-way leaves it near its peak."""
    params = list(model.parameters())
    if hp.decay_matrices_only:
        matrices = [p for p in params if p.ndim >= 2]
        rest = [p for p in params if p.ndim < 2]
        params = [{"params": matrices}, {"params": rest, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=hp.lr, total_steps=max(hp.steps, 1)
    )
    return fit(
        model,
        loss_fn,
        data.batches(*examples, batch_size=hp.batch_size, generator=generator),
        optimizer=optimizer,
        scheduler=scheduler,
        steps=hp.steps,
        seconds=seconds,
        desc=desc,
        progress=progress,
    )


class _EMAOfPart:
    """Lets `fit` train a whole model while an EMA follows one part of it."""

    def __init__(self, ema: EMA, part: Callable[[nn.Module], nn.Module]):
        self.ema, self.part = ema, part

    def update(self, model: nn.Module) -> None:
        self.ema.update(self.part(model))


def fit_with_ema(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, tuple], Tensor],
    batches: Iterator[tuple],
    *,
    steps: int,
    lr: float,
    ema_decay: float,
    part: Callable[[nn.Module], nn.Module] | None = None,
    schedule_steps: int | None = None,
    warmup: int = 100,
    seconds: float | None = None,
    desc: str = "training",
    progress: bool = True,
    callback: Callable[[TrainResult, EMA], bool | None] | None = None,
) -> tuple[TrainResult, EMA]:
    """The denoisers' recipe: AdamW (no weight decay), warm-up then cosine learning rate laid
    out over `schedule_steps` (default `steps`), and an EMA of the weights; `fit` does the rest.

    part(model) -> the module to optimize and average (default: all of `model`; the latent
    denoiser trains its U-Net and leaves the frozen text encoder alone).
    callback(result, ema): `fit`'s callback, handed the EMA too (to judge it mid-training).
    Returns (history, ema); `ema.model` is the averaged copy of the part.
    """
    trained = model if part is None else part(model)
    optimizer = torch.optim.AdamW(trained.parameters(), lr=lr, weight_decay=0.0)
    ema = EMA(trained, decay=ema_decay)
    result = fit(
        model,
        loss_fn,
        batches,
        optimizer=optimizer,
        scheduler=warmup_cosine(optimizer, schedule_steps or steps, warmup=warmup),
        steps=steps,
        seconds=seconds,
        ema=ema if part is None else _EMAOfPart(ema, part),
        desc=desc,
        progress=progress,
        callback=None if callback is None else lambda result: callback(result, ema),
    )
    return result, ema


@dataclass(frozen=True, kw_only=True)
class DenoiserTraining:
    """How `fit_denoiser` trains a noise predictor. Each recipe spells out its own, every
    field, so retuning one retunes no other; it is saved in the checkpoint's metadata."""

    steps: int  # optimizer steps to take (a `seconds` cap may stop the run sooner)
    batch_size: int  # training examples per step
    lr: float  # AdamW's peak learning rate (no weight decay)
    warmup: int  # steps of linear warm-up, then a cosine down to 0.1 x lr
    ema_decay: float  # after each step: shadow <- decay * shadow + (1 - decay) * weights
    min_snr_gamma: float | None  # Min-SNR-gamma loss weight (Hang et al. 2023); None: simple loss
    schedule_steps: int | None = None  # the warm-up + cosine spans this many steps; None: `steps`
    cond_dropout: float = 0.0  # share of conditions set to the null one (Ho & Salimans 2022)
    channels_last: bool = False  # NHWC weights and images: 15-20% faster convolutions on CPU

    def __post_init__(self) -> None:
        _check_count("steps", self.steps, low=0, example=2000)
        _check_count("batch_size", self.batch_size, low=1, example=64)
        _check_count("warmup", self.warmup, low=0, example=100)
        if self.schedule_steps is not None:
            _check_count("schedule_steps", self.schedule_steps, low=1, example=5000)
        _check_number("lr", self.lr, 0.0, math.inf, "1e-3")
        _check_number("ema_decay", self.ema_decay, 0.0, 1.0, "0.998")
        if self.min_snr_gamma is not None:
            _check_number("min_snr_gamma", self.min_snr_gamma, 0.0, math.inf, "5.0, or None")
        if self.cond_dropout != 0.0:
            _check_number("cond_dropout", self.cond_dropout, 0.0, 1.0, "0.15, or 0.0")


def _check_count(name: str, value, low: int, example: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low} (e.g. {example}), got {value!r}")


def _check_number(name: str, value, low: float, high: float, example: str) -> None:
    """Raise unless low < value < high (both ends open)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value < high:
        where = f"> {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise ValueError(f"{name} must be a number {where} (e.g. {example}), got {value!r}")


def denoiser_metadata(hp: DenoiserTraining, result: TrainResult, model: nn.Module) -> dict:
    """What a denoiser's checkpoint records of its training: the hyper-parameters, how the
    run went (`TrainResult.summary`) and the shipped model's parameter count."""
    count = sum(p.numel() for p in model.parameters())
    return {"training": asdict(hp), **result.summary(), "parameters": count}


def denoiser_loss(
    model: nn.Module,
    schedule: diffusion.NoiseSchedule,
    batch: tuple[Tensor, ...],
    hp: DenoiserTraining,
    *,
    generator: torch.Generator | None = None,
    cond_null: Tensor | int | None = None,
) -> Tensor:
    """The loss of one batch (x0,) or (x0, cond): condition dropout at hp.cond_dropout
    (`diffusion.drop_condition`, Ho & Salimans 2022, Algorithm 1), then the simple loss with
    a random t per example (`diffusion.diffusion_loss`, Ho et al. 2020, Algorithm 1)."""
    x0, *rest = batch  # x0 (B, C, H, W); rest: [] or [cond (B, ...)]
    cond = rest[0] if rest else None
    if hp.channels_last:
        x0 = x0.contiguous(memory_format=torch.channels_last)
    if cond is not None and hp.cond_dropout > 0:
        cond = diffusion.drop_condition(cond, hp.cond_dropout, cond_null, generator)
    return diffusion.diffusion_loss(
        model, schedule, x0, cond=cond, generator=generator, min_snr_gamma=hp.min_snr_gamma
    )


def _check_examples(examples, hp: DenoiserTraining, cond_null) -> None:
    if not isinstance(examples, tuple | list) or len(examples) not in (1, 2):
        raise TypeError(
            "examples is a tuple (x0,) for an unconditional denoiser or (x0, cond) for a "
            f"conditional one, each with one row per example; got {type(examples).__name__}"
        )
    if hp.cond_dropout > 0 and len(examples) == 1:
        raise ValueError(
            f"cond_dropout={hp.cond_dropout} drops conditions, but examples has none: pass "
            "(x0, cond), or set cond_dropout=0.0 for an unconditional denoiser"
        )
    if hp.cond_dropout > 0 and cond_null is None:
        raise ValueError(
            "condition dropout needs the null condition: pass cond_null=, the 'no label' index "
            "(model.config.num_classes) or the empty prompt's token ids "
            "(latent_diffusion.null_token_ids(text_encoder, hp.batch_size))"
        )


def fit_denoiser(
    model: nn.Module,
    schedule: diffusion.NoiseSchedule,
    examples: tuple[Tensor, ...],
    hp: DenoiserTraining,
    *,
    generator: torch.Generator,
    cond_null: Tensor | int | None = None,
    part: Callable[[nn.Module], nn.Module] | None = None,
    seconds: float | None = None,
    desc: str = "denoiser",
    progress: bool = True,
    callback: Callable[[TrainResult, EMA], bool | None] | None = None,
) -> tuple[TrainResult, EMA]:
    """Train a noise predictor eps_theta(x_t, t, cond) on shuffled batches of `examples`
    with `denoiser_loss`; `fit_with_ema` does the rest (AdamW, warm-up then cosine, EMA).

    examples: (x0,) or (x0, cond), one row per example: x0 (N, C, H, W) images or latents
    in model space; cond (N,) labels or (N, L) token ids. cond_null: the "no condition"
    value condition dropout puts in (see `denoiser_loss`). part(model): the module to
    optimize and average (the latent denoiser's U-Net, not its frozen text encoder).
    All randomness (batches, t, noise, dropout) comes from `generator`.
    Returns (history, ema); `ema.model` is the averaged copy of the part. hp.channels_last
    speeds up training only: `model` and `ema.model` come back in the ordinary memory
    layout, ready to save or sample.
    """
    _check_examples(examples, hp, cond_null)
    if hp.channels_last:
        model.to(memory_format=torch.channels_last)  # the images follow, in denoiser_loss

    def loss_fn(m: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        return denoiser_loss(m, schedule, batch, hp, generator=generator, cond_null=cond_null)

    result, ema = fit_with_ema(
        model,
        loss_fn,
        data.batches(*examples, batch_size=hp.batch_size, generator=generator),
        steps=hp.steps,
        lr=hp.lr,
        ema_decay=hp.ema_decay,
        part=part,
        schedule_steps=hp.schedule_steps,
        warmup=hp.warmup,
        seconds=seconds,
        desc=desc,
        progress=progress,
        callback=callback,
    )
    if hp.channels_last:
        model.to(memory_format=torch.contiguous_format)
        ema.model.to(memory_format=torch.contiguous_format)
    return result, ema
