"""Notebook 01's checks: the reference says Correct, the stub Not yet, typical slips Not right
with the hint that names them."""

import pytest
import torch
from einops import rearrange
from verdicts import assert_verdicts, stub

from course_lib import vit
from course_lib.exercises import nb01


def patchify_channel_first(images, p):
    return rearrange(images, "b c (h p1) (w p2) -> b (h w) (c p1 p2)", p1=p, p2=p)


def patchify_column_major(images, p):
    return rearrange(images, "b c (h p1) (w p2) -> b (w h) (p1 p2 c)", p1=p, p2=p)


def patchify_no_flatten(images, p):
    return rearrange(images, "b c (h p1) (w p2) -> b h w (p1 p2 c)", p1=p, p2=p)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (patchify_channel_first, "channel first"),
        (patchify_column_major, "row-major"),
        (patchify_no_flatten, "reshape to (B, N, P*P*C)"),
    ],
)
def test_patchify(wrong, hint):
    assert_verdicts(nb01.check_patchify, vit.patchify, wrong, hint)


def test_attention_size():
    assert nb01.check_attention_size(2500).status == "Correct"
    assert nb01.check_attention_size(None).status == "Not yet"
    assert nb01.check_attention_size(2401).status == "Not right"  # forgot [CLS]
    assert nb01.check_attention_size(289).status == "Not right"  # the 7x7 answer


def tokens_without_positions(model, x):
    cls = model.cls_token.expand(len(x), -1, -1)
    return torch.cat([cls, model.patch_embed(vit.patchify(x, 7))], dim=1)


def tokens_cls_last(model, x):
    cls = model.cls_token.expand(len(x), -1, -1)
    return torch.cat([model.patch_embed(vit.patchify(x, 7)), cls], dim=1) + model.pos_embed


def tokens_without_cls(model, x):
    return model.patch_embed(vit.patchify(x, 7)) + model.pos_embed[:, 1:]


def tokens_cls_zero(model, x):  # slot 0 left as zeros, then the positions added
    patches = model.patch_embed(vit.patchify(x, 7))
    return torch.cat([torch.zeros_like(patches[:, :1]), patches], dim=1) + model.pos_embed


def tokens_cls_unpositioned(model, x):
    cls = model.cls_token.expand(len(x), -1, -1)
    patches = model.patch_embed(vit.patchify(x, 7)) + model.pos_embed[:, 1:]
    return torch.cat([cls, patches], dim=1)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (tokens_without_positions, "position embeddings are missing"),
        (tokens_cls_last, "[CLS] goes first"),
        (tokens_without_cls, "one token short"),
        (tokens_cls_unpositioned, "needs its position added"),
        (tokens_cls_zero, "the learned model.cls_token is missing"),
    ],
)
def test_tokens(wrong, hint):
    assert_verdicts(nb01.check_tokens, lambda m, x: m.tokens(x), wrong, hint)


def unpatchify_grid_transposed(patches, p, size, c):
    side = size // p
    grid = patches.reshape(len(patches), side, side, p, p, c).permute(0, 5, 2, 4, 1, 3)
    return grid.reshape(len(patches), c, size, size)


def unpatchify_channels_wrong(patches, p, size, c):
    return patches.reshape(len(patches), c, size, size)


def unpatchify_in(order):
    """An unpatchify that permutes the grid (B, rows, cols, p1, p2, C) into `order`."""

    def unpatchify(patches, p, size, c):
        side = size // p
        grid = patches.reshape(len(patches), side, side, p, p, c).permute(*order)
        return grid.reshape(len(patches), c, size, size)

    return unpatchify


@pytest.mark.parametrize(
    "order, picture",
    [
        ((0, 5, 2, 3, 1, 4), "every patch is upright but in the wrong place"),
        ((0, 5, 1, 2, 3, 4), "shredded into streaks"),
        ((0, 5, 3, 1, 4, 2), "tiny copies of the digit"),
        ((0, 5, 4, 1, 3, 2), "your axes come out as (B, C, p2, rows, p1, cols)"),
        ((0, 1, 3, 2, 4, 5), "color planes are interleaved"),
    ],
)
def test_unpatchify_wrong_fixes_describe_the_picture(order, picture):
    result = nb01.check_unpatchify(unpatchify_in(order))
    assert result.status == "Not right" and picture in result.message, result.message


def test_unpatchify():
    assert nb01.check_unpatchify(vit.unpatchify).status == "Correct"
    assert nb01.check_unpatchify(nb01.planted_unpatchify).status == "Not yet"
    assert nb01.check_unpatchify(stub).status == "Not yet"
    transposed = nb01.check_unpatchify(unpatchify_grid_transposed)
    assert transposed.status == "Not right" and "whole image is transposed" in transposed.message
    assert nb01.check_unpatchify(unpatchify_channels_wrong).status == "Not right"


def test_planted_bug_is_the_transposed_patch():
    """Half-fixed: if someone 'fixes' the planted bug the wrong way, the hint still helps."""
    x = torch.rand(1, 1, 28, 28)
    flipped = rearrange(x, "b c (h p1) (w p2) -> b c (h p2) (w p1)", p1=7, p2=7)
    assert torch.equal(nb01.planted_unpatchify(vit.patchify(x, 7), 7, 28, 1), flipped)
