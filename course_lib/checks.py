"""The checks every public function makes of its arguments, written once.

Each raises a TypeError (wrong kind of thing) or a ValueError (right kind, wrong value) whose
message names the argument and says what to pass instead, so a mistake is caught where it is
made, never deep inside torch, and never turned into a silently wrong answer.
"""

from __future__ import annotations

import math
import operator
import warnings

import torch
from torch import Tensor

FAR = 8.0  # |value| beyond this is not an image in [-1, 1] (pixels in 0..255, most likely)


class InputRangeWarning(UserWarning):
    """Images whose values lie where the model's inputs do not (e.g. [0, 1] for [-1, 1])."""


def number(
    value,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    allow_none: bool = False,
    hint: str = "",
):
    """A finite real number (not a bool, not a string, not nan or inf), optionally >= minimum,
    <= maximum, > above; `hint` (e.g. "0 = deterministic DDIM") ends every message."""
    hint = f" ({hint})" if hint else ""
    if value is None and allow_none:
        return None
    if isinstance(value, Tensor) and value.numel() == 1 and value.dtype.is_floating_point:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}{hint}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}{hint}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}{hint}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}{hint}")
    if above is not None and value <= above:
        raise ValueError(f"{name} must be > {above}, got {value}{hint}")
    return value


def positive_int(value, name: str) -> int:
    """A whole number >= 1 given as an int (not a bool, not 7.0)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be a positive int, e.g. 4, got {type(value).__name__} {value!r}"
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive int, e.g. 4, got {value}")
    return value


def positive_ints(config, *names: str) -> None:
    """Each named field of a config is a positive int: sizes such as dim, depth or heads."""
    for field in names:
        positive_int(getattr(config, field), f"{type(config).__name__}.{field}")


def index(value, name: str, choices) -> int:
    """An int that picks one of `choices` (a sequence of names): 0..len(choices) - 1. NumPy
    and 0-d torch integers count as ints (they come out of the attribute arrays)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an int index 0..{len(choices) - 1} (e.g. 0 = {choices[0]!r}), "
            f"got {type(value).__name__} {value!r}"
        ) from None
    if not 0 <= value < len(choices):
        raise ValueError(
            f"{name} must be in 0..{len(choices) - 1} (e.g. 0 = {choices[0]!r}), got {value}"
        )
    return value


def generator(value, name: str = "generator") -> None:
    """None or a CPU torch.Generator (noise is drawn on the CPU, then moved)."""
    if value is None:
        return
    if not isinstance(value, torch.Generator):
        raise TypeError(
            f"{name} must be a torch.Generator or None, e.g. "
            f"{name}=torch.Generator().manual_seed(0); got {type(value).__name__}"
        )
    if value.device.type != "cpu":
        raise ValueError(
            f"pass a CPU generator (torch.Generator()), got one on {value.device}: the noise "
            "is drawn on the CPU and then moved, so CPU and GPU runs give the same images"
        )


def device(value, name: str = "device") -> torch.device:
    """A torch device this machine has: "cpu", "cuda", "cuda:1", "mps" or a torch.device."""
    try:
        found = torch.device(value)
    except (RuntimeError, TypeError):
        raise ValueError(f"{name} must be 'cpu', 'cuda' or 'mps', got {value!r}") from None
    if found.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={value!r}, but this machine has no CUDA GPU: pass 'cpu'")
    if found.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name}={value!r}, but MPS is not available here: pass 'cpu'")
    return found


def tensor(value, name: str, ndim: int | None = None, shape_hint: str = "") -> Tensor:
    """A torch.Tensor with `ndim` dimensions; shape_hint names them, e.g. "(B, C, H, W)"."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {shape_hint}, got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(
            f"{name} must have shape {shape_hint or f'with {ndim} dimensions'}, "
            f"got {tuple(value.shape)}"
        )
    return value


def floating(value: Tensor, name: str) -> Tensor:
    """Refuse integer and bool tensors: arithmetic on them casts the schedule's constants to
    integers (sqrt(alpha_bar) becomes 0) and the answer is silently wrong."""
    if not value.dtype.is_floating_point:
        raise TypeError(
            f"{name} is a {value.dtype} tensor; images must be float in [-1, 1]: convert "
            "uint8 pixels with x.float() / 127.5 - 1"
        )
    return value


def same_shape(**tensors: Tensor) -> None:
    """Every tensor given has the same shape (e.g. x_t and the noise guess eps)."""
    for name, value in tensors.items():
        tensor(value, name)
    shapes = {name: tuple(value.shape) for name, value in tensors.items()}
    if len(set(shapes.values())) > 1:
        described = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shapes must match, got {described}")


def batch(x, name: str, expected: tuple[int, ...], model: str, dtype: torch.dtype) -> Tensor:
    """A float batch (B, *expected) in the model's dtype: anything else raises, saying what
    to pass (integer pixels, float64 and a wrong shape are the usual slips)."""
    hint = f"(B, {', '.join(map(str, expected))})"
    tensor(x, name, len(expected) + 1, hint)
    if tuple(x.shape[1:]) != tuple(expected):
        raise ValueError(f"{model} takes {name} of shape {hint}, got {tuple(x.shape)}")
    floating(x, name)
    if x.dtype != dtype:
        raise TypeError(f"{model} computes in {dtype}; pass {name}.to({dtype}), got {x.dtype}")
    return x


def model_images(x, name: str, expected: tuple[int, ...], model: str, dtype: torch.dtype) -> Tensor:
    """Images for a model that takes float (B, *expected) in [-1, 1] of the model's dtype.

    Besides `batch`'s checks: values far outside [-1, 1] (beyond +-8, such as pixels in
    0..255) are refused; values all within [0, 1] get an InputRangeWarning (map them with
    x * 2 - 1). Values a little outside (noise probes, randn) pass.
    """
    batch(x, name, expected, model, dtype)
    if not x.numel():
        return x
    low, high = float(x.detach().min()), float(x.detach().max())  # no graph for a range check
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name} holds nan or inf values")
    if low < -FAR or high > FAR:
        raise ValueError(
            f"{model} takes {name} in [-1, 1], got values in [{low:.3g}, {high:.3g}]; "
            "pixels in 0..255 map to [-1, 1] with x / 127.5 - 1"
        )
    if low >= 0.0 and high <= 1.0 and high > low:
        warnings.warn(
            f"{name} lie in [0, 1] but {model} takes [-1, 1] (a digit's background is -1): "
            "pass x * 2 - 1",
            InputRangeWarning,
            stacklevel=3,
        )
    return x
