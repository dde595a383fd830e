"""Notebook 08's exercise checks: the reference is Correct, a stub is Not yet, and plausible
wrong answers are Not right with a hint."""

import pytest
import torch
from torch import nn

from course_lib import vlm
from course_lib.exercises import nb08


def stub(*args):
    raise NotImplementedError


def status(result) -> str:
    return result.status


# 1. the adapter


def reference_adapter(vision_dim, dim):
    return nn.Sequential(nn.Linear(vision_dim, dim), nn.GELU(), nn.Linear(dim, dim))


def two_linears(between, after=()):
    """Linear, `between`, Linear, then `after`: the reference's widths, another structure."""
    return lambda v, d: nn.Sequential(nn.Linear(v, d), *between, nn.Linear(d, d), *after)


class MixesTokens(nn.Module):
    def __init__(self, vision_dim, dim):
        super().__init__()
        self.mlp = reference_adapter(vision_dim, dim)

    def forward(self, x):
        return self.mlp(x + x.mean(dim=1, keepdim=True))


class FunctionalGELU(nn.Module):
    """Right, written another way: named layers and F.gelu in forward."""

    def __init__(self, vision_dim, dim):
        super().__init__()
        self.up, self.out = nn.Linear(vision_dim, dim), nn.Linear(dim, dim)

    def forward(self, x):
        return self.out(nn.functional.gelu(self.up(x)))


@pytest.mark.parametrize(
    "wrong, words",
    [
        (two_linears([nn.ReLU()]), "behaves like ReLU"),
        (two_linears([nn.Tanh()]), "behaves like Tanh"),
        (two_linears([nn.SiLU()]), "behaves like SiLU"),
        (two_linears([nn.GELU()], [nn.GELU()]), "extra GELU"),
        (two_linears([]), "no activation"),
        (two_linears([nn.GELU(approximate="tanh")]), "tanh approximation"),
        (two_linears([nn.GELU(), nn.Dropout(0.5)]), "Dropout"),
        (two_linears([nn.GELU(), nn.LayerNorm(64)]), "copied into Linear, GELU, Linear"),
        (
            lambda v, d: nn.Sequential(nn.Linear(v, d), nn.GELU(), nn.Linear(d, d, bias=False)),
            "param",
        ),
        (lambda v, d: nn.Linear(v, d), "linear"),
        (lambda v, d: nn.Sequential(nn.Linear(v, d), nn.GELU(), nn.Linear(d, v)), "must become"),
        (lambda v, d: MixesTokens(v, d), "on its own"),
        (lambda v, d: nn.Sequential(nn.Linear(v, 4 * d), nn.GELU(), nn.Linear(4 * d, d)), "width"),
        (two_linears([nn.GELU(), nn.Linear(64, 64), nn.GELU()]), "3 Linear layers"),
        (lambda v, d: "an adapter", "nn.Module"),
    ],
)
def test_adapter_check_rejects_wrong_adapters(wrong, words):
    result = nb08.check_adapter(wrong)
    assert result.status == "Not right" and words in result.message, result.message


def test_adapter_check_accepts_the_reference_and_waits_for_a_stub():
    assert nb08.check_adapter(reference_adapter).passed
    assert nb08.check_adapter(vlm.mlp_adapter).passed
    assert nb08.check_adapter(FunctionalGELU).passed
    assert nb08.check_adapter(stub).status == "Not yet"


# 2. answer_targets


def targets_everywhere(question_ids, answer_ids, n):
    """Scores every next token, image and question included (no mask)."""
    out = vlm.answer_targets(question_ids, answer_ids, n)
    whole = torch.cat([question_ids, answer_ids], dim=1)[:, 1:]
    out[:, n:] = whole
    out[:, :n] = 5
    return out


def targets_off_by_one(question_ids, answer_ids, n):
    out = vlm.answer_targets(question_ids, answer_ids, n)
    return torch.cat([torch.full_like(out[:, :1], vlm.IGNORE), out[:, :-1]], dim=1)


def targets_keep_padding(question_ids, answer_ids, n):
    skipped = torch.full((len(answer_ids), n + question_ids.shape[1] - 1), vlm.IGNORE)
    return torch.cat([skipped, answer_ids], dim=1)


def test_answer_targets_check(capsys):
    assert nb08.check_answer_targets(vlm.answer_targets).passed
    assert status(nb08.check_answer_targets(stub)) == "Not yet"
    off = nb08.check_answer_targets(targets_off_by_one)
    assert status(off) == "Not right" and "off by one" in off.message
    everywhere = nb08.check_answer_targets(targets_everywhere)
    assert status(everywhere) == "Not right" and "answer only" in everywhere.message
    padding = nb08.check_answer_targets(targets_keep_padding)
    assert status(padding) == "Not right" and "<pad>" in padding.message
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["Correct", "Not yet"] + ["Not right"] * 3


# 4. the screenshot's tokens


def test_screenshot_token_prediction():
    assert nb08.check_screenshot_tokens(5329).passed
    assert nb08.check_screenshot_tokens(5300).passed
    assert nb08.check_screenshot_tokens(None).status == "Not yet"
    assert nb08.check_screenshot_tokens(1024 * 1024 // 14).status == "Not right"  # pixels / P
    assert nb08.check_screenshot_tokens(196).status == "Not right"  # ViT-B/16's count
    assert nb08.check_screenshot_tokens("5329").status == "Not right"


# 3. the causal mask with a cache


def test_causal_mask_check():
    assert nb08.check_causal_mask(nb08.reference_causal_mask).passed
    assert nb08.check_causal_mask(stub).status == "Not yet"
    buggy = nb08.check_causal_mask(nb08.buggy_causal_mask)  # the stub the student gets
    assert buggy.status == "Not yet" and "S - T" in buggy.message
    shifted = nb08.check_causal_mask(
        lambda t, s: torch.ones(t, s, dtype=torch.bool).tril(s - t + 1)
    )
    assert shifted.status == "Not right" and "future" in shifted.message
    future = nb08.check_causal_mask(lambda t, s: torch.ones(t, s, dtype=torch.bool))
    assert future.status == "Not right" and "future" in future.message
    upper = nb08.check_causal_mask(lambda t, s: torch.ones(t, s, dtype=torch.bool).triu())
    assert upper.status == "Not right"
