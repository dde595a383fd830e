"""The one training loop every notebook uses: a budget, a progress bar, a loss history.

The notebook writes the interesting part, the loss of one batch, as a function; `fit`
does the plumbing around it (optimizer step, EMA, budget, Ctrl-C).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm


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
) -> TrainResult:
    """Train until `steps` optimizer steps or `seconds` of wall time, whichever comes first.

    loss_fn(model, batch) returns the scalar loss of one batch. Press Ctrl-C (or the stop
    button) to end early: the model, its EMA and the history so far are kept.
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

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def adamw_one_cycle(params, lr: float, steps: int, weight_decay: float = 0.0):
    """AdamW and a one-cycle learning rate peaking at `lr` over `steps`: the classifiers' and
    the VAE's recipe. `params`: parameters, or groups with their own weight_decay."""
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(steps, 1))
    return optimizer, scheduler


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
) -> tuple[TrainResult, EMA]:
    """The denoisers' recipe: AdamW (no weight decay), warm-up then cosine learning rate laid
    out over `schedule_steps` (default `steps`), and an EMA of the weights; `fit` does the rest.

    part(model) -> the module to optimize and average (default: all of `model`; the latent
    denoiser trains its U-Net and leaves the frozen text encoder alone).
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
    )
    return result, ema
