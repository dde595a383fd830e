"""Checks for notebook 08's exercises (a tiny VLM). Each prints one line: Correct, Not yet
or Not right (with a hint), and returns a `Result`.

    check_adapter(make_adapter)               1. the MLP from patch width to word width
    check_answer_targets(my_answer_targets)   2. the answer-only loss mask
    check_causal_mask(my_causal_mask)         3. find the bug in a KV-cache step's mask
    check_screenshot_tokens(prediction)       4. predict-then-measure an image's token bill
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib import exercises, transformer, vlm
from course_lib.exercises import NOT_RIGHT, NOT_YET, Result, report

# ---------------------------------------------------------------------------------------
# 1. The adapter: the student's Linear weights go into the reference's Linear, GELU, Linear
# (vlm.mlp_adapter), and the two forward passes are compared on several random inputs.

REFERENCE = "the reference is Linear, GELU, Linear (LLaVA-1.5's projector)"
SLIPS = (  # (activation between the Linears, module after the last, the hint it earns)
    *(
        (act, nn.Identity(), f"the activation looks off: yours behaves like {name}; {REFERENCE}")
        for name, act in (("ReLU", nn.ReLU()), ("Tanh", nn.Tanh()), ("SiLU", nn.SiLU()))
    ),
    (
        nn.GELU(approximate="tanh"),
        nn.Identity(),
        "that is GELU's tanh approximation: use the exact nn.GELU(), as LLaVA-1.5 does",
    ),
    (
        nn.Identity(),
        nn.Identity(),
        "no activation between the Linear layers: two linear maps in a row are one linear map; "
        + REFERENCE,
    ),
    (
        nn.GELU(),
        nn.GELU(),
        "an extra GELU after the last Linear: the projector ends in a Linear, so its outputs "
        "can be negative, like word embeddings",
    ),
)


def _adapter_inputs(vision_dim: int) -> list[Tensor]:
    """Three batches (2, 16, vision_dim) of patch tokens, small to large."""
    g = torch.Generator().manual_seed(0)
    return [scale * torch.randn(2, 16, vision_dim, generator=g) for scale in (0.5, 1.0, 3.0)]


def _behaviour_problem(adapter, x: Tensor, vision_dim: int, dim: int) -> str | None:
    """Is it a module that maps each patch token on its own, the same way every call?"""
    if not isinstance(adapter, nn.Module):
        return f"make_adapter must return an nn.Module, got {type(adapter).__name__}"
    y = adapter(x)
    if not isinstance(y, Tensor) or y.shape != (*x.shape[:2], dim):
        got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        return f"(2, 16, {vision_dim}) patch tokens must become (2, 16, {dim}), got {got}"
    if not torch.allclose(adapter(x), y, atol=1e-6):
        return "its output changes from call to call (a Dropout?): the projector has none"
    moved = x.clone()
    moved[:, 0] += 1.0
    if not torch.allclose(adapter(moved)[:, 1:], y[:, 1:], atol=1e-6):
        return "each patch token is mapped on its own: changing token 0 moved the others"
    return None


def _two_linears(adapter: nn.Module, vision_dim: int, dim: int):
    """The adapter's two Linear layers (first, second), or what is wrong with them."""
    linears = [m for m in adapter.modules() if isinstance(m, nn.Linear)]
    if not linears:
        return "build it from nn.Linear layers: the check copies their weights into the reference"
    if len(linears) == 1:
        return "one Linear layer is linear: LLaVA-1.5's projector puts a GELU between two of them"
    if len(linears) > 2:
        return f"it has {len(linears)} Linear layers; {REFERENCE}"
    widths = [(m.in_features, m.out_features) for m in linears]
    if widths != [(vision_dim, dim), (dim, dim)]:
        (a, b), (c, d) = widths
        return (
            f"its Linear layers map {a} -> {b} and {c} -> {d}; the projector maps "
            f"{vision_dim} -> {dim}, then {dim} -> {dim} (the hidden width is the words' width)"
        )
    return linears


def _with_weights(first: nn.Linear, second: nn.Linear, between=None, after=None) -> nn.Module:
    """vlm.mlp_adapter holding the student's weights (a missing bias as zeros); `between`
    and `after` swap the GELU, or add a module after the last Linear, to mimic a slip."""
    reference = vlm.mlp_adapter(first.in_features, second.out_features)
    for mine, theirs in ((reference[0], first), (reference[2], second)):
        mine.weight.copy_(theirs.weight)
        mine.bias.copy_(theirs.bias if theirs.bias is not None else torch.zeros_like(mine.bias))
    if between is not None:
        reference[1] = between
    return nn.Sequential(reference, after or nn.Identity())


def _structure_problem(adapter: nn.Module, inputs: list[Tensor], vision_dim: int, dim: int):
    """Compare the adapter with its own weights in Linear, GELU, Linear, on every input."""
    linears = _two_linears(adapter, vision_dim, dim)
    if isinstance(linears, str):
        return linears
    reference = _with_weights(*linears)
    for k, x in enumerate(inputs, 1):
        got, expected = adapter(x), reference(x)
        if exercises.close(got, expected):
            continue
        for between, after, hint in SLIPS:
            slip = _with_weights(*linears, between, after)
            if all(exercises.close(adapter(z), slip(z)) for z in inputs):
                return hint
        return (
            f"with your Linear weights copied into Linear, GELU, Linear, on random input {k} "
            + exercises.mismatch(got, expected)
            + f"; {REFERENCE}"
        )
    return None


def _adapter_problem(adapter, vision_dim: int, dim: int) -> str | None:
    """What is wrong with an adapter from width vision_dim to dim, or None."""
    inputs = _adapter_inputs(vision_dim)
    with torch.no_grad():
        problem = _behaviour_problem(adapter, inputs[0], vision_dim, dim)
        problem = problem or _structure_problem(adapter, inputs, vision_dim, dim)
    if problem:
        return problem
    expected = 2 * dim + vision_dim * dim + dim * dim  # two Linear layers with biases
    count = sum(p.numel() for p in adapter.parameters())
    if count != expected:
        layers = f"Linear({vision_dim}, {dim}), GELU, Linear({dim}, {dim})"
        return f"it has {count:,} parameters; {layers} has {expected:,} (biases included)"
    return None


def check_adapter(make_adapter) -> Result:
    """make_adapter(vision_dim, dim) -> a module mapping (B, N, vision_dim) to (B, N, dim)."""
    for vision_dim, dim in ((64, 64), (48, 96)):
        try:
            adapter = make_adapter(vision_dim, dim)
            problem = _adapter_problem(adapter, vision_dim, dim)
        except NotImplementedError:
            return report(
                NOT_YET, "make_adapter still raises NotImplementedError: fill in the stub"
            )
        except Exception as err:
            return report(
                NOT_RIGHT, f"make_adapter({vision_dim}, {dim}) raised {type(err).__name__}: {err}"
            )
        if problem:
            return report(NOT_RIGHT, f"make_adapter({vision_dim}, {dim}): {problem}")
    return report(
        exercises.CORRECT,
        "your adapter computes what Linear, GELU, Linear does with its weights, on every input",
    )


# ---------------------------------------------------------------------------------------
# 2. The answer-only targets


def _target_cases() -> list[tuple]:
    pad, end = 0, 1
    q1 = torch.tensor([[pad, pad, 7, 8, end], [pad, 5, 6, 9, end]])
    a1 = torch.tensor([[4, end, pad, pad], [3, 4, 5, end]])
    q2 = torch.tensor([[9, end]])
    a2 = torch.tensor([[6, 6, end]])
    return [(q1, a1, 4), (q2, a2, 1), (q1, a1, 17)]


def _diagnose_targets(got, expected, case) -> str | None:
    if not isinstance(got, Tensor) or got.shape != expected.shape:
        return "one target per position but the last: (B, N + L_q + L_a - 1)"
    question, answer, n = case
    start = n + question.shape[1] - 1
    if torch.equal(got[:, start + 1 :], expected[:, start:-1]):
        return "off by one: the question's <end> (position N + L_q - 1) predicts the first word"
    if (got[:, :start] != vlm.IGNORE).any():
        return "image and question positions must be IGNORE: the loss scores the answer only"
    if (got == 0).any():
        return "<pad> (id 0) after the answer's <end> is no target either: make it IGNORE"
    return None


def check_answer_targets(my_answer_targets) -> Result:
    """my_answer_targets(question_ids, answer_ids, num_image_tokens) -> (B, S - 1) targets."""
    return exercises.compare(
        my_answer_targets,
        vlm.answer_targets,
        _target_cases(),
        name="your answer_targets",
        diagnose=_diagnose_targets,
        labels=["2 questions, 4 image tokens", "1 question, 1 image token", "17 image tokens"],
    )


# ---------------------------------------------------------------------------------------
# 3. Find the bug: the causal mask of a step with a KV cache


def buggy_causal_mask(queries: int, keys: int) -> Tensor:
    """Which keys each query may read, (T, S) bool. Right without a cache, wrong with one."""
    return torch.ones(queries, keys, dtype=torch.bool).tril()


def reference_causal_mask(queries: int, keys: int) -> Tensor:
    """The course's mask (transformer.attention_mask), as (T, S): the cached keys come first."""
    return transformer.attention_mask(queries, keys, causal=True)


def _diagnose_mask(got, expected, case) -> str | None:
    queries, keys = case
    if got is None or (isinstance(got, Tensor) and torch.equal(got, buggy_causal_mask(*case))):
        return (
            f"with {keys - queries} cached keys before the {queries} new queries, query i sits "
            "at position (S - T) + i: shift the diagonal by S - T"
        )
    if isinstance(got, Tensor) and got.shape == expected.shape and (got & ~expected).any():
        return "a query reads a later position: the mask lets it see the future"
    return None


def check_causal_mask(my_causal_mask) -> Result:
    """my_causal_mask(queries, keys) -> (T, S) bool, True = may read. The planted bug,
    handed out unchanged, is Not yet (there is nothing of the student's in it yet)."""
    cases = [(5, 5), (1, 7), (3, 10)]
    try:
        planted = all(torch.equal(my_causal_mask(*c), buggy_causal_mask(*c)) for c in cases)
    except Exception:  # compare below reports it
        planted = False
    if planted:
        return report(
            NOT_YET, "this is still the planted bug: " + _diagnose_mask(None, None, (1, 7))
        )
    return exercises.compare(
        my_causal_mask,
        reference_causal_mask,
        [(5, 5), (1, 7), (3, 10)],
        name="your causal mask",
        diagnose=_diagnose_mask,
        labels=["5 tokens, no cache", "1 new token, 6 cached", "3 new tokens, 7 cached"],
    )


# ---------------------------------------------------------------------------------------
# 4. Predict, then measure: the token bill of a screenshot


def check_screenshot_tokens(prediction) -> Result:
    """How many image tokens a 1024 x 1024 screenshot costs at 14-pixel patches."""
    measured = vlm.image_token_count(1024, 14)
    return exercises.prediction(
        prediction,
        measured,
        tolerance=0.1,
        relative=True,
        explanation=(
            f"1024 // 14 = {1024 // 14} patches a side, {1024 // 14}^2 = {measured:,} tokens: "
            f"{measured / 196:.0f}x ViT-B/16's 196, and attention's cost grows with the square "
            "(real systems shrink the image or merge neighbouring patches first)"
        ),
    )
