"""Checks for the notebooks' exercises: each runs the student's answer against the library's
reference on several inputs and prints ONE line that starts with

- "Correct"   the answer matches on every input;
- "Not yet"   the stub is unfinished (it still raises NotImplementedError, or the prediction
              is still None): the notebook goes on with the library's reference;
- "Not right" it runs but differs, with a hint that names the input, the shape or the value
              that is off, and, where a known slip explains it, which term looks wrong.

A check returns a `Result`; `result.use(mine, reference)` picks what the cells below should
run with, so an unfinished exercise never stops the notebook. The checks of notebook NN live
in `course_lib.exercises.nbNN`; this module holds the harness they share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from course_lib import config

CORRECT, NOT_YET, NOT_RIGHT = "Correct", "Not yet", "Not right"


@dataclass(frozen=True)
class Result:
    """What a check found: status is CORRECT, NOT_YET or NOT_RIGHT; message says why."""

    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == CORRECT

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"

    def use(self, mine, reference, what: str = "the library's reference"):
        """`mine` when the check passed, else `reference` (and say so), for the cells below."""
        if self.passed:
            return mine
        print(f"(The cells below use {what} until this exercise says Correct.)")
        return reference


def report(status: str, message: str) -> Result:
    """Print the one line and return it as a Result."""
    result = Result(status, message)
    print(result)
    return result


# A diagnosis looks at a wrong output and names the slip that explains it, or returns None.
Diagnosis = Callable[[object, object, tuple], str | None]


def close(a, b, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Outputs agree: tensors (shape, then values), numbers, or tuples/lists of those."""
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(close(x, y, atol, rtol) for x, y in zip(a, b, strict=True))
    if isinstance(b, Tensor):
        if not isinstance(a, Tensor) or a.shape != b.shape:
            return False
        return bool(torch.allclose(a.detach().double(), b.detach().double(), atol=atol, rtol=rtol))
    if isinstance(a, bool | int | float | Tensor) and isinstance(b, int | float):
        return abs(float(a) - float(b)) <= atol + rtol * abs(float(b))
    return a == b


def describe(value) -> str:
    """A short description of an output: type and shape for a tensor or an array, else the
    type and a value cut short ("float 0.25", "str 'abc...'")."""
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a numpy {value.dtype} array of shape {value.shape}"
    if isinstance(value, tuple | list) and any(isinstance(v, Tensor | np.ndarray) for v in value):
        return f"{len(value)} values ({', '.join(describe(v) for v in value)})"
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 60 else shown[:57] + '...'}"


def mismatch(got, expected, atol: float = 1e-5) -> str:
    """Which shape or which value differs, in words; for several outputs, the first that does."""
    if isinstance(expected, tuple | list):
        if not isinstance(got, tuple | list) or len(got) != len(expected):
            return f"it returned {describe(got)}, expected {describe(expected)}"
        pairs = enumerate(zip(got, expected, strict=True))
        k = next((k for k, (g, e) in pairs if not close(g, e, atol)), 0)
        return f"in output {k + 1} of {len(expected)}, " + mismatch(got[k], expected[k], atol)
    if isinstance(expected, Tensor):
        if isinstance(got, np.ndarray):
            return (
                f"it returned {describe(got)}, expected {describe(expected)}: return a torch "
                "tensor (torch.from_numpy(...) turns an array into one)"
            )
        if not isinstance(got, Tensor):
            return f"it returned {describe(got)}, expected {describe(expected)}"
        if got.shape != expected.shape:
            return f"the output has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        diff = (got.detach().double() - expected.detach().double()).abs()
        if diff.ndim == 0:  # one number
            return f"yours is {float(got):.5g}, the reference {float(expected):.5g}"
        where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
        return (
            f"the values differ: at index {where} yours is {float(got[where]):.5g}, the "
            f"reference {float(expected[where]):.5g} (largest difference {float(diff.max()):.3g})"
        )
    return f"it returned {describe(got)}, expected {describe(expected)}"


def compare(
    mine: Callable,
    reference: Callable,
    cases: Sequence[tuple],
    *,
    name: str,
    diagnose: Diagnosis | None = None,
    atol: float = 1e-5,
    labels: Sequence[str] | None = None,
    planted: Callable | None = None,
    shape_hint: str | None = None,
) -> Result:
    """Run mine(*case) and reference(*case) for every case; the first difference decides.

    name: what the student wrote, e.g. "your patchify"; labels: words for each case, e.g.
    "digits, patch 7" (default "case 1", ...); diagnose(got, expected, case) may name the
    slip behind a wrong output ("the square root is missing"). planted: for find-the-bug,
    the function as handed out; while `mine` still behaves like it, the verdict is Not yet.
    shape_hint: said when mine raises a shape mismatch, the usual sign of a missing reshape.
    """
    labels = labels or [f"case {i + 1}" for i in range(len(cases))]
    if planted is not None and _behaves_like(mine, planted, cases):
        return report(NOT_YET, f"{name} still has the planted bug: find the line and fix it")
    for case, label in zip(cases, labels, strict=True):
        expected = reference(*case)
        try:
            got = mine(*case)
        except NotImplementedError:
            return report(NOT_YET, f"{name} still raises NotImplementedError: fill in the stub")
        except Exception as err:  # the student's code failed: say how, on which input
            hint = f". Hint: {shape_hint}" if shape_hint and _is_shape_error(err) else ""
            return report(
                NOT_RIGHT, f"{name} raised {type(err).__name__}: {err} (on {label}){hint}"
            )
        if not close(got, expected, atol=atol):
            hint = diagnose(got, expected, case) if diagnose else None
            detail = mismatch(got, expected, atol)
            return report(NOT_RIGHT, f"on {label}, {detail}" + (f". Hint: {hint}" if hint else ""))
    return report(CORRECT, f"{name} matches the reference on all {len(cases)} inputs")


# Words in torch's messages when two shapes do not fit: broadcasting, matmul, convolutions.
SHAPE_ERRORS = ("must match the size", "shape", "channels", "broadcast")


def _is_shape_error(err: Exception) -> bool:
    return isinstance(err, RuntimeError | ValueError) and any(
        words in str(err) for words in SHAPE_ERRORS
    )


def _behaves_like(mine: Callable, planted: Callable, cases: Sequence[tuple]) -> bool:
    """True when mine gives the planted function's outputs on every case."""
    try:
        return all(close(mine(*case), planted(*case)) for case in cases)
    except Exception:  # the student's edit fails somewhere: compare() reports it
        return False


def summary(results: Sequence[Result], *, expect: str | None = None) -> None:
    """One line per exercise. With expect, and only in the course's own test run
    (`config.checking_editions()`), assert that every check said it: the instructor edition
    expects "Correct", the unedited student edition "Not yet". A student's run only prints."""
    for k, result in enumerate(results, 1):
        print(f"exercise {k}: {result.status}")
    if expect is not None and config.checking_editions():
        off = [k for k, r in enumerate(results, 1) if r.status != expect]
        assert not off, (
            f"exercises {off} did not say {expect!r}: {[str(results[k - 1]) for k in off]}"
        )


def prediction(
    answer,
    measured: float,
    *,
    tolerance: float,
    explanation: str,
    relative: bool = False,
    fraction: bool = False,
    slips: Mapping[float, str] | None = None,
) -> Result:
    """Predict-then-measure: compare a number written down before the measurement.

    A prediction within `tolerance` (absolute, or a fraction of the measured value when
    relative) is Correct; None is Not yet; otherwise Not right. Either way `explanation`
    says why the measured value is what it is. fraction: the measurement is a fraction in
    [0, 1], so an answer that is it as a percentage gets a hint instead of a bare Not right.
    slips: {a value a known slip gives: the hint}, said when a wrong prediction is within the
    same tolerance of that value.
    """
    if answer is None or answer is ...:
        return report(NOT_YET, "write your prediction first; the measurement shows once you have")
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        return report(NOT_RIGHT, f"write a number, got {describe(answer)}")

    def near(value: float, given: float = answer) -> bool:
        return abs(given - value) <= (tolerance * abs(value) if relative else tolerance)

    if fraction and answer > 1 and near(measured, answer / 100):
        return report(
            NOT_RIGHT,
            f"you wrote {answer:.4g}, a percentage: write it as a fraction, {answer / 100:.4g}",
        )
    verdict = CORRECT if near(measured) else NOT_RIGHT
    hint = next((h for v, h in (slips or {}).items() if verdict != CORRECT and near(v)), None)
    hint = f"Hint: {hint}. " if hint else ""
    return report(verdict, f"you said {answer:.4g}, measured {measured:.4g}. {hint}{explanation}")


def choice(answer, right, options: Sequence, *, explanation: str) -> Result:
    """A multiple-choice prediction: `answer` must be one of `options`; `right` is correct."""
    if answer is None or answer is ...:
        return report(NOT_YET, f"pick one of {list(options)} first")
    if answer not in options:
        return report(NOT_RIGHT, f"{answer!r} is not one of {list(options)}")
    verdict = CORRECT if answer == right else NOT_RIGHT
    return report(verdict, f"you said {answer!r}, the answer is {right!r}. {explanation}")
