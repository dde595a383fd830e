"""Checks for notebook 02 (attention maps): one head's weights from its queries and keys,
attention rollout, an untrained ViT's attention distance, rollout's residual weight."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from course_lib import attention, vit
from course_lib.exercises import NOT_RIGHT, choice, close, compare, prediction, report


def coverage(maps) -> float:
    """How many cells a map covers on average, exp(entropy): (..., S, S) -> a float."""
    p = np.asarray(maps).reshape(-1, maps.shape[-2] * maps.shape[-1])
    p = p / p.sum(-1, keepdims=True)
    return float(np.exp(-(p * np.log(p + 1e-12)).sum(-1)).mean())


def _head_scores(block, tokens: Tensor, head: int, normalise: bool = True) -> tuple:
    d = block.attn.to_qkv.out_features // 3 // block.attn.heads
    h = block.norm1(tokens) if normalise else tokens
    q, k, _ = block.attn.to_qkv(h).chunk(3, dim=-1)
    q, k = (t[..., head * d : (head + 1) * d] for t in (q, k))
    return q @ k.transpose(-1, -2), d


def reference_head(block, tokens: Tensor, head: int) -> Tensor:
    """The block's own attention weights of one head, (B, T, T)."""
    return block(tokens, return_attention=True)[1][:, head]


def diagnose_head(got, expected, case) -> str | None:
    block, tokens, head = case
    scores, d = _head_scores(block, tokens, head)
    slips = {
        "the scale is off: divide the scores by sqrt(d), not d": (scores / d).softmax(-1),
        "the 1/sqrt(d) scale is missing": scores.softmax(-1),
        "softmax over the wrong axis: each query's row (the last axis) must sum to 1": (
            scores / d**0.5
        ).softmax(-2),
        "queries and keys are swapped: the map comes out transposed": (scores / d**0.5)
        .softmax(-1)
        .transpose(-1, -2),
        "apply the block's norm1 (LayerNorm) before to_qkv": (
            _head_scores(block, tokens, head, normalise=False)[0] / d**0.5
        ).softmax(-1),
    }
    for hint, wrong in slips.items():
        if close(got, wrong):
            return hint
    if head and close(got, reference_head(block, tokens, 0)):
        return "that is head 0: slice features head*d to (head+1)*d"
    return None


def check_head(mine, model, images: Tensor) -> object:
    """Exercise 1: my_head_attention(block, tokens, head) -> (B, T, T) for any block and head,
    on the trained ViT `model` and a few digits (B, 1, 28, 28)."""
    with torch.no_grad():
        states = model.hidden_states(images[:6])
        picks = [(0, 0), (2, 1), (3, 3)]  # (layer, head)
        cases = [(model.blocks[layer], states[layer], head) for layer, head in picks]
        return compare(
            mine,
            reference_head,
            cases,
            name="your head attention",
            labels=[f"layer {layer + 1}, head {head}" for layer, head in picks],
            diagnose=diagnose_head,
        )


def reference_rollout(weights: Tensor) -> Tensor:
    """Rollout through every layer of one image: (L, h, T, T) -> (T, T)."""
    return torch.from_numpy(attention.rollout(weights[:, None])[-1, 0])


def _rollout_with(weights: Tensor, mix, order: str = "later-left") -> Tensor:
    rolled = torch.eye(weights.shape[-1])
    for layer in weights.float():
        mixed = mix(layer)
        rolled = mixed @ rolled if order == "later-left" else rolled @ mixed
    return rolled


def diagnose_rollout(got, expected, case) -> str | None:
    (weights,) = case
    eye = torch.eye(weights.shape[-1])

    def half(layer):
        return 0.5 * layer.mean(0) + 0.5 * eye

    slips = {
        "the layers multiply in the wrong order: the later layer goes on the left": (
            _rollout_with(weights, half, "later-right")
        ),
        "the residual is missing: mix in the identity, 0.5 A + 0.5 I": _rollout_with(
            weights, lambda layer: layer.mean(0)
        ),
        "average the heads (layer.mean over the head axis), not take one head": _rollout_with(
            weights, lambda layer: 0.5 * layer[0] + 0.5 * eye
        ),
        "renormalise the rows: A + I sums to 2 per row": _rollout_with(
            weights, lambda layer: layer.mean(0) + eye
        ),
    }
    for hint, wrong in slips.items():
        if close(got, wrong.to(expected.dtype)):
            return hint
    return None


def _random_attention(layers: int, heads: int, tokens: int) -> Tensor:
    generator = torch.Generator().manual_seed(3)
    return torch.randn(layers, heads, tokens, tokens, generator=generator).mul(2).softmax(-1)


def check_rollout(mine, weights: Tensor) -> object:
    """Exercise 2: my_rollout((L, h, T, T)) -> (T, T), on two digits and a random stack."""
    cases = [(weights[:, 0],), (weights[:, 1],), (_random_attention(3, 2, 5),)]
    return compare(
        mine,
        reference_rollout,
        cases,
        name="your rollout",
        labels=["digit 0", "digit 1", "3 random layers of 2 heads, T = 5"],
        diagnose=diagnose_rollout,
        atol=1e-4,
    )


UNTRAINED = ("near 0 px: local", "about 7 px: the neighbours", "about 14 px: nearly uniform")


def untrained_distance(images: Tensor) -> float:
    """Mean attention distance (px) over the heads of a freshly built ViT, on 50 digits."""
    with torch.random.fork_rng():  # a fixed model without touching the caller's RNG
        torch.manual_seed(0)
        model = vit.ViT(vit.ViTConfig()).eval()
    with torch.no_grad():
        _, weights = model(images[:50], return_attention=True)
    return float(attention.mean_attention_distance(attention.stack_layers(weights), 7).mean())


def check_untrained(answer, images: Tensor) -> object:
    """Exercise 4 (predict): how far does an untrained ViT's attention reach? images: digits."""
    measured = untrained_distance(images)
    uniform = attention.uniform_attention_distance(side=4, patch_size=7)
    right = UNTRAINED[2] if abs(measured - uniform) < 1.5 else UNTRAINED[1]
    return choice(
        answer,
        right,
        UNTRAINED,
        explanation=f"an untrained ViT's heads average {measured:.1f} px against {uniform:.1f} px "
        "for uniform attention: small random queries and keys give scores near 0, and a "
        "softmax of near-equal scores is near uniform. Training has to make heads pick.",
    )


def rollout_coverage(weights: Tensor, residual: float) -> float:
    """Patches the last rollout CLS map of test digit 0 covers: weights (L, B, h, T, T)."""
    rolled = attention.rollout(weights[:, :1], residual=residual)[-1]  # (1, T, T)
    return coverage(attention.cls_maps(torch.from_numpy(rolled)))


def check_residual_coverage(answer, weights: Tensor) -> object:
    """Exercise 3 (modify and observe): the rollout's coverage with residual weight 0.9."""
    at_half, measured = rollout_coverage(weights, 0.5), rollout_coverage(weights, 0.9)
    if isinstance(answer, int | float) and abs(answer - at_half) < 0.05 < abs(measured - at_half):
        return report(
            NOT_RIGHT,
            f"you said {answer:.4g}: that is the coverage at residual 0.5 ({at_half:.2f}); "
            "set RESIDUAL = 0.9, run the cell again and read the new number",
        )
    return prediction(
        answer,
        measured,
        tolerance=0.05,
        explanation=f"with residual 0.9 each layer keeps 90% of every token as it was, so what "
        "CLS draws from the patches passes through fewer other tokens on the way: more of it "
        "comes straight from CLS's own attention rows, which are more focused than the patch "
        "tokens' rows that spread it in the product. Over the 16 patches (CLS's weight on "
        f"itself left out, the rest renormalised) the map covers {measured:.2f} patches "
        f"against {at_half:.2f} at 0.5. The residual weight is a choice that changes the "
        "picture, not something measured from the model.",
    )
