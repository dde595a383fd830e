"""Runtime settings every notebook reads: device, fast mode, seeding.

Nothing here runs at import time; each function looks at the environment when called.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

_TRUE = {"1", "true", "yes", "on"}


def get_device() -> torch.device:
    """The best device available: COURSE_DEVICE if set, else cuda > mps > cpu."""
    requested = os.environ.get("COURSE_DEVICE", "").strip()
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as err:
            raise ValueError(
                f"COURSE_DEVICE={requested!r} is not a torch device; use 'cpu', 'cuda' or 'mps'"
            ) from err
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def fast_mode() -> bool:
    """True when COURSE_FAST=1 or CI is set: notebooks train a few steps, then load weights."""
    fast = os.environ.get("COURSE_FAST", "").strip().lower()
    if fast:
        return fast in _TRUE
    return os.environ.get("CI", "").strip().lower() in _TRUE


def checking_editions() -> bool:
    """True when COURSE_CHECK_EDITIONS=1: the course's own test run (`make test` sets it in
    conftest.py) asserts each notebook's exercise verdicts; anyone else only sees them."""
    return os.environ.get("COURSE_CHECK_EDITIONS", "").strip().lower() in _TRUE


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch.Generator seeded the same way.

    Notebooks call this once at the top. Library code never seeds the global RNG:
    it takes the returned generator (or explicit noise) instead.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
