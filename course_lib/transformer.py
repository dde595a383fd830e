"""One pre-norm transformer block for every transformer in the course (Vaswani et al. 2017,
"Attention Is All You Need"; the norm before each branch, as in GPT-2 and the ViT).

    x = x + attn(norm1(x))                      self-attention, causal if asked
    x = x + cross_attn(norm_cross(x), context)  only with context_dim: keys from other tokens
    x = x + mlp(norm2(x))

With cond_dim the block is modulated by a condition vector c, adaLN-Zero (Peebles & Xie
2023, "Scalable Diffusion Models with Transformers", DiT):
    x = x + gate_attn * attn(norm1(x) * (1 + scale_attn) + shift_attn), likewise for the MLP,
with shift, scale and gate made from c by one zero-initialised linear layer, so a fresh
block is the identity.

A block built without these options has exactly the plain parameters: norm1,
attn.to_qkv, attn.to_out, norm2, mlp.0, mlp.3.

Letters: B batch, T tokens (queries), S keys (= T for self-attention, plus any cached
ones; context tokens for cross-attention), D width, D_c context width, D_cond condition
width, h heads, d = D / h head width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from einops import rearrange
from torch import Tensor, nn


@dataclass
class KVCache:
    """The keys and values one self-attention layer has seen so far, for generating one
    token at a time: each call appends its new tokens' keys and values and attends to all.

    Make one per block (`[KVCache() for _ in blocks]`) and pass it to every call.
    """

    keys: Tensor | None = None  # (B, h, S, d)
    values: Tensor | None = None  # (B, h, S, d)

    def __len__(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    def append(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Add (B, h, T, d) keys and values; return all of them, (B, h, S + T, d) each."""
        if self.keys is not None:
            keys = torch.cat([self.keys, keys], dim=2)
            values = torch.cat([self.values, values], dim=2)
        self.keys, self.values = keys, values
        return keys, values


def attention_mask(
    queries: int,
    keys: int,
    *,
    causal: bool = False,
    key_padding_mask: Tensor | None = None,
    device: torch.device | None = None,
) -> Tensor | None:
    """Which keys each query may read: (B or 1, 1, T, S) bool, True = read; None = all.

    causal: query i reads keys up to its own position; the first S - T keys are cached ones
    that come before every query. key_padding_mask: (B, S) bool, True = padding, never read.
    """
    allowed = None
    if causal:
        offset = keys - queries  # how many cached keys precede the first query
        allowed = torch.ones(queries, keys, dtype=torch.bool, device=device).tril(offset)
    if key_padding_mask is not None:
        keep = rearrange(~key_padding_mask, "b s -> b 1 1 s")  # (B, 1, 1, S)
        allowed = keep if allowed is None else allowed & keep
    return allowed


class Attention(nn.Module):
    """Multi-head attention softmax(Q K^T / sqrt(d)) V, with the softmax a named module.

    Self-attention (queries, keys and values from x, one `to_qkv`), or with context_dim
    cross-attention (queries from x by `to_q`, keys and values from context tokens of width
    context_dim by `to_kv`).
    """

    def __init__(
        self,
        *,
        dim: int,
        heads: int,
        context_dim: int | None = None,
        qkv_bias: bool = False,
        causal: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        if causal and context_dim is not None:
            raise ValueError(
                "cross-attention reads all context tokens; causal is for self-attention"
            )
        self.heads = heads
        self.causal = causal
        self.scale = (dim // heads) ** -0.5  # 1 / sqrt(d)
        if context_dim is None:
            self.to_qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        else:
            self.to_q = nn.Linear(dim, dim, bias=qkv_bias)
            self.to_kv = nn.Linear(context_dim, 2 * dim, bias=qkv_bias)
        self.attend = nn.Softmax(dim=-1)
        self.dropout = nn.Dropout(dropout)
        self.to_out = nn.Linear(dim, dim)

    def _heads(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Queries (B, h, T, d), keys and values (B, h, S, d)."""
        if context is None:
            return rearrange(  # (three h d): [q; k; v], each split into heads
                self.to_qkv(x), "b t (three h d) -> three b h t d", three=3, h=self.heads
            )
        q = rearrange(self.to_q(x), "b t (h d) -> b h t d", h=self.heads)
        k, v = rearrange(self.to_kv(context), "b s (two h d) -> two b h s d", two=2, h=self.heads)
        return q, k, v

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        key_padding_mask: Tensor | None = None,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor]:
        """x (B, T, D) [, context (B, S, D_c)] -> (output (B, T, D), weights (B, h, T, S)),
        each row of weights summing to 1.

        key_padding_mask (B, S) bool, True = a key to ignore (<pad>). cache: a `KVCache`
        that this call appends its keys and values to, and reads all cached ones from.
        """
        q, k, v = self._heads(x, context)
        if cache is not None:
            k, v = cache.append(k, v)  # (B, h, S, d), S = cached + T
        mask = attention_mask(
            q.shape[2],
            k.shape[2],
            causal=self.causal,
            key_padding_mask=key_padding_mask,
            device=x.device,
        )
        scores = q @ k.transpose(-1, -2) * self.scale  # (B, h, T, S)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))  # a masked key gets weight 0
        weights = self.attend(scores)  # (B, h, T, S), rows sum to 1
        out = self.dropout(weights) @ v  # (B, h, T, d)
        return self.to_out(rearrange(out, "b h t d -> b t (h d)")), weights  # (B, T, D)


class Modulation(NamedTuple):
    """adaLN-Zero's six (B, 1, D) tensors, in DiT's order."""

    shift_attn: Tensor
    scale_attn: Tensor
    gate_attn: Tensor
    shift_mlp: Tensor
    scale_mlp: Tensor
    gate_mlp: Tensor


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """Adaptive norm: x * (1 + scale) + shift, per condition; DiT (Peebles & Xie 2023)."""
    return x * (1 + scale) + shift


def _check_tokens(name: str, tokens: Tensor, width: int, batch: int | None = None) -> None:
    if not isinstance(tokens, Tensor) or tokens.ndim != 3 or tokens.shape[-1] != width:
        got = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
        raise ValueError(f"{name} must be (B, tokens, {width}), got {got}")
    if batch is not None and len(tokens) != batch:
        raise ValueError(f"{name} has batch {len(tokens)}, but x has {batch}: one per item")


def _check_padding(name: str, mask: Tensor | None, batch: int, keys: int) -> None:
    if mask is None:
        return
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"{name} must be a bool tensor, True at padding (e.g. ids == pad_id)")
    if tuple(mask.shape) != (batch, keys):
        raise ValueError(f"{name} must be (B, S) = ({batch}, {keys}), got {tuple(mask.shape)}")
    if mask.all(dim=1).any():
        raise ValueError(f"a row of {name} is all padding: each needs one key to attend to")


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), [x + cross-attention], then
    x + MLP(norm(x)); with cond_dim, adaLN-Zero modulated (see the module docstring).

    causal: each token sees only itself and earlier ones (a decoder-only language model).
    qkv_bias: a bias on the query/key/value projections (torch's MultiheadAttention has one).
    context_dim: add cross-attention to context tokens (B, S, context_dim).
    cond_dim: adaLN-Zero modulation from a condition vector (B, cond_dim), as in DiT.
    """

    def __init__(
        self,
        *,
        dim: int,
        heads: int,
        mlp_dim: int,
        dropout: float = 0.0,
        qkv_bias: bool = False,
        causal: bool = False,
        context_dim: int | None = None,
        cond_dim: int | None = None,
    ):
        super().__init__()
        self.dim, self.context_dim, self.cond_dim = dim, context_dim, cond_dim
        affine = cond_dim is None  # with adaLN the modulation is the norm's affine map
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=affine)
        self.attn = Attention(
            dim=dim, heads=heads, qkv_bias=qkv_bias, causal=causal, dropout=dropout
        )
        self.norm_cross = self.cross_attn = None
        if context_dim is not None:
            self.norm_cross = nn.LayerNorm(dim)
            self.cross_attn = Attention(
                dim=dim, heads=heads, context_dim=context_dim, qkv_bias=qkv_bias, dropout=dropout
            )
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=affine)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, dim),
        )
        self.modulation = None
        if cond_dim is not None:  # c -> six (B, D) vectors; zero-initialised: "adaLN-Zero"
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * dim))
            nn.init.zeros_(self.modulation[1].weight)
            nn.init.zeros_(self.modulation[1].bias)

    def _check(self, x, context, cond, key_padding_mask, context_padding_mask, cache) -> None:
        _check_tokens("x", x, self.dim)
        batch = len(x)
        past = 0 if cache is None else len(cache)
        _check_padding("key_padding_mask", key_padding_mask, batch, past + x.shape[1])
        if (context is None) != (self.cross_attn is None):
            raise ValueError(
                "pass context tokens (B, S, context_dim) to a block built with context_dim, "
                "and none to one built without"
            )
        if context is not None:
            _check_tokens("context", context, self.context_dim, batch)
            _check_padding("context_padding_mask", context_padding_mask, batch, context.shape[1])
        elif context_padding_mask is not None:
            raise ValueError("context_padding_mask goes with context; this block has none")
        if (cond is None) != (self.modulation is None):
            raise ValueError(
                "pass a condition cond (B, cond_dim) to a block built with cond_dim, "
                "and none to one built without"
            )
        if cond is not None and (cond.ndim != 2 or tuple(cond.shape) != (batch, self.cond_dim)):
            raise ValueError(
                f"cond must be (B, cond_dim) = ({batch}, {self.cond_dim}), got {tuple(cond.shape)}"
            )

    def forward(
        self,
        x: Tensor,
        *,
        context: Tensor | None = None,
        cond: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        context_padding_mask: Tensor | None = None,
        cache: KVCache | None = None,
        return_attention: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """x (B, T, D) -> (B, T, D); with return_attention also the self-attention weights
        (B, h, T, S).

        context (B, S_c, D_c) with context_padding_mask (B, S_c): what cross-attention reads.
        cond (B, D_cond): the adaLN-Zero condition. key_padding_mask (B, S) bool, True at
        <pad> keys. cache: this block's `KVCache`, for generating a token at a time.
        """
        self._check(x, context, cond, key_padding_mask, context_padding_mask, cache)
        mod = None
        if self.modulation is not None:
            mod = Modulation(*rearrange(self.modulation(cond), "b (six d) -> six b 1 d", six=6))
        h = self.norm1(x)
        if mod is not None:
            h = modulate(h, mod.shift_attn, mod.scale_attn)
        attended, weights = self.attn(h, key_padding_mask=key_padding_mask, cache=cache)
        x = x + (attended if mod is None else mod.gate_attn * attended)
        if self.cross_attn is not None:
            read, _ = self.cross_attn(
                self.norm_cross(x), context, key_padding_mask=context_padding_mask
            )
            x = x + read
        h = self.norm2(x)
        if mod is not None:
            h = modulate(h, mod.shift_mlp, mod.scale_mlp)
        x = x + (self.mlp(h) if mod is None else mod.gate_mlp * self.mlp(h))
        return (x, weights) if return_attention else x  # (B, T, D), (B, h, T, S)
