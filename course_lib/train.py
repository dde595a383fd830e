"""The one training loop every notebook uses: a budget, a progress bar, a loss history.

The notebook writes the interesting part, the loss of one batch, as a function; `fit`
does the plumbing around it (optimizer step, EMA, budget, Ctrl-C).
"""

from __future__ import annotations

import copy
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
