"""One module per shipped checkpoint: how to train it from scratch, and how to benchmark it.

A recipe module `course_lib.recipes.<name with _ for ->` defines
- `build(seed: int) -> (model, metrics)`: the seeded run that produced the shipped weights;
- `HALF`: whether the weights ship in half precision;
- `benchmark() -> list[Row]`: quality and speed rows for `python -m course_lib.bench`;
- optionally `DEPENDS_ON`: the checkpoints it trains on (pretrain pins their sha256), and
  for a generator a "pipeline" entry in the metadata `build` returns (the class
  `pipelines.load` builds, e.g. "course_lib.pipelines.GuidedPipeline");
and its own numbers: the model config and, for a denoiser, the `train.DenoiserTraining`
(`TRAINING`) that `train.fit_denoiser` trains with. No recipe imports another, so retuning
one recipe retunes no other; what two recipes share lives in the library.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Row:
    """One line of the benchmark table."""

    model: str
    metric: str
    value: float | str
    target: str = ""
    unit: str = ""

    def cells(self) -> list[str]:
        value = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        return [self.model, self.metric, f"{value} {self.unit}".strip(), self.target]


def training_step_row(
    name: str, run: Callable[[int], object], batch_size: int, warmup: int, steps: int
) -> Row:
    """Milliseconds per training step: run(n) trains for n steps and returns its TrainResult;
    a first run of `warmup` steps is not timed."""
    run(warmup)
    start = time.perf_counter()
    timed = run(steps)
    ms = 1000 * (time.perf_counter() - start) / timed.steps
    return Row(name, f"training step (batch {batch_size})", ms, unit="ms")


def names() -> list[str]:
    """Every checkpoint that has a recipe, e.g. ["vit-digits", ...]."""
    found = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return sorted(name.replace("_", "-") for name in found)


def get(name: str) -> ModuleType:
    """The recipe module for checkpoint NAME, or a ValueError listing the known names."""
    if name not in names():
        raise ValueError(f"no recipe for {name!r}; known checkpoints: {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
