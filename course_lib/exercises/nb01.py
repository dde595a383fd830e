"""Checks for notebook 01 (patchify and the ViT): patchify, the transformer's input tokens
(patch embedding, [CLS], positions), the size of one attention map, a planted unpatchify bug."""

from __future__ import annotations

import itertools

import torch
from einops import rearrange
from torch import Tensor

from course_lib import vit
from course_lib.exercises import close, compare, prediction


def _images(*shapes: tuple[int, ...]) -> list[Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.rand(shape, generator=generator) * 2 - 1 for shape in shapes]


def diagnose_patchify(got, expected, case) -> str | None:
    images, p = case
    slips = {
        "b c (h p1) (w p2) -> b (h w) (c p1 p2)": "each patch is flattened channel first; "
        "move the channel axis last, (p1, p2, c)",
        "b c (h p1) (w p2) -> b (w h) (p1 p2 c)": "the patches come column by column; the "
        "order is row-major: left to right, then top to bottom",
        "b c (h p1) (w p2) -> b (h w) (p2 p1 c)": "each patch is transposed: flatten its rows "
        "(p1) before its columns (p2)",
    }
    for pattern, hint in slips.items():
        if close(got, rearrange(images, pattern, p1=p, p2=p)):
            return hint
    if isinstance(got, Tensor) and got.numel() == expected.numel() and got.shape != expected.shape:
        return "the numbers are all there; reshape to (B, N, P*P*C) at the end"
    return None


def check_patchify(mine) -> object:
    """Exercise 1: the student's patchify(images, patch_size) against vit.patchify."""
    digits, rgb, wide = _images((2, 1, 28, 28), (2, 3, 32, 32), (1, 3, 16, 24))
    cases = [(digits, 7), (digits, 4), (rgb, 8), (wide, 8)]
    labels = ["2 digits, patch 7", "2 digits, patch 4", "RGB 32x32, patch 8", "RGB 16x24, patch 8"]
    return compare(
        mine, vit.patchify, cases, name="your patchify", labels=labels, diagnose=diagnose_patchify
    )


def attention_map_entries(patch_size: int = 4) -> int:
    """How many numbers one head's attention map holds for one digit: T x T, T = N + 1."""
    model = vit.ViT(vit.ViTConfig(patch_size=patch_size)).eval()
    with torch.no_grad():
        _, attentions = model(torch.zeros(1, 1, 28, 28), return_attention=True)
    return attentions[0].shape[-1] * attentions[0].shape[-2]


def check_attention_size(answer) -> object:
    """Exercise 4 (predict): T x T for 28x28 digits cut into 4x4 patches."""
    return prediction(
        answer,
        attention_map_entries(4),
        tolerance=0,
        explanation="28/4 = 7, so 7 x 7 = 49 patches, plus [CLS]: T = 50 and one map holds "
        "50 x 50 = 2,500 weights, against 17 x 17 = 289 with 7x7 patches. Patches 4/7 as wide "
        "give about 3x as many tokens, and the map grows with their square: about 9x the work.",
    )


def _token_model() -> vit.ViT:
    model = vit.ViT(vit.ViTConfig())
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():  # a [CLS] that is not zero, so forgetting it shows
        model.cls_token.copy_(torch.randn(model.cls_token.shape, generator=generator))
    return model.eval()


def diagnose_tokens(got, expected, case) -> str | None:
    model, images = case
    if not isinstance(got, Tensor):
        return None
    patches = model.patch_embed(vit.patchify(images, model.config.patch_size))
    cls = model.cls_token.expand(len(images), -1, -1)
    if got.shape[1] == expected.shape[1] - 1:
        return "one token short: put the [CLS] token in front of the patches"
    if close(got, torch.cat([cls, patches], dim=1)):
        return "the position embeddings are missing: add model.pos_embed to every token"
    if close(got, torch.cat([patches, cls], dim=1) + model.pos_embed):
        return "[CLS] goes first, before the patches, not after them"
    if close(got[:, 1:], expected[:, 1:]) and close(got[:, :1], model.pos_embed[:, :1]):
        return (
            "slot 0 holds only its position: the learned model.cls_token is missing; put it "
            "(expanded to B) in front of the patches"
        )
    if close(got[:, 1:], expected[:, 1:]):
        return "the patches are right; the [CLS] token (slot 0) needs its position added too"
    return None


def check_tokens(mine) -> object:
    """Exercise 3: tokens(model, images) -> (B, N + 1, D), against model.tokens."""
    model = _token_model()
    one, four = _images((1, 1, 28, 28), (4, 1, 28, 28))
    with torch.no_grad():
        return compare(
            mine,
            lambda m, x: m.tokens(x),
            [(model, one), (model, four)],
            name="your tokens",
            labels=["one digit", "four digits"],
            diagnose=diagnose_tokens,
        )


def planted_unpatchify(patches, patch_size, image_size, channels):
    """The function as handed out in the notebook, with its one error."""
    B = patches.shape[0]
    P, side = patch_size, image_size // patch_size
    grid = patches.reshape(B, side, side, P, P, channels)
    grid = grid.permute(0, 5, 1, 4, 2, 3)
    return grid.reshape(B, channels, image_size, image_size)


# Wrong orders of the grid after reshape (axes 1 rows, 2 cols, 3 p1, 4 p2, 5 C), and the
# picture each gives; the right one is (0, 5, 1, 3, 2, 4): (B, C, rows, p1, cols, p2).
PICTURES = {
    (0, 5, 1, 4, 2, 3): "every patch is in its place but transposed (mirrored across its "
    "diagonal), so the strokes break at the patch borders: p1 and p2 are swapped",
    (0, 5, 2, 3, 1, 4): "every patch is upright but in the wrong place: patch (row i, column j) "
    "lands at (row j, column i), so the grid is transposed: rows and cols are swapped",
    (0, 5, 2, 4, 1, 3): "the whole image is transposed, the digit mirrored across its "
    "diagonal: the grid rows and columns are swapped, and p1 and p2 too",
    (0, 5, 1, 2, 3, 4): "each band of P image rows holds the right patches, but shredded into "
    "streaks: each patch is written out flat, one after another; p1 (rows in a patch) "
    "belongs between rows and cols",
    (0, 5, 3, 1, 4, 2): "a P x P grid of tiny copies of the digit: pixel (p1, p2) of every "
    "patch is gathered into one small tile; the grid axes (rows, cols) must come before the "
    "axes inside a patch (p1, p2) on each side",
}

AXES = {1: "rows", 2: "cols", 3: "p1", 4: "p2"}


def _unpatchify_in_order(patches: Tensor, p: int, size: int, c: int, order) -> Tensor:
    side = size // p
    grid = patches.reshape(len(patches), side, side, p, p, c)  # (B, rows, cols, p1, p2, C)
    return grid.permute(*order).reshape(len(patches), c, size, size)


def diagnose_unpatchify(got, expected, case) -> str | None:
    """Name the picture a wrong axis order gives, for every order of rows, cols, p1, p2."""
    if not isinstance(got, Tensor) or got.shape != expected.shape:
        return None
    if case[3] > 1 and close(got, _unpatchify_in_order(*case, (0, 1, 3, 2, 4, 5))):
        return (
            "the digits come back right but a color image does not: its three color planes "
            "are interleaved; put the channel axis (5) right after the batch axis"
        )
    for spatial in itertools.permutations((1, 2, 3, 4)):
        order = (0, 5, *spatial)
        if close(got, _unpatchify_in_order(*case, order)):
            axes = ", ".join(AXES[a] for a in spatial)
            return PICTURES.get(
                order,
                f"all the pixels are there, in the wrong places: your axes come out as (B, C, "
                f"{axes}); they must read (B, C, rows, p1, cols, p2) before the last reshape",
            )
    return None


def check_unpatchify(mine) -> object:
    """Exercise 2 (find the bug): the fixed unpatchify against vit.unpatchify."""
    digits, rgb = _images((2, 1, 28, 28), (1, 3, 32, 32))
    cases = [(vit.patchify(digits, 7), 7, 28, 1), (vit.patchify(rgb, 8), 8, 32, 3)]
    return compare(
        mine,
        vit.unpatchify,
        cases,
        name="your unpatchify",
        labels=["digits, patch 7", "RGB 32x32, patch 8"],
        diagnose=diagnose_unpatchify,
        planted=planted_unpatchify,
    )
