"""The transformer block against torch's own layers (weights copied in the test only), and the
properties each option promises: causal, padding, cross-attention, adaLN-Zero, a KV cache."""

import pytest
import torch
from torch import nn

from course_lib.transformer import Attention, Block, KVCache

D, HEADS, MLP = 32, 4, 64
PLAIN = {
    "norm1.weight", "norm1.bias", "attn.to_qkv.weight", "attn.to_out.weight", "attn.to_out.bias",
    "norm2.weight", "norm2.bias", "mlp.0.weight", "mlp.0.bias", "mlp.3.weight", "mlp.3.bias",
}  # fmt: skip


def tokens(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def block(**options) -> Block:
    torch.manual_seed(0)
    return Block(dim=D, heads=HEADS, mlp_dim=MLP, **options).eval()


def torch_encoder_layer(b: Block) -> nn.TransformerEncoderLayer:
    """torch's pre-norm encoder layer holding the same numbers as block `b`."""
    layer = nn.TransformerEncoderLayer(
        D, HEADS, MLP, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    layer.load_state_dict(
        {
            "self_attn.in_proj_weight": b.attn.to_qkv.weight,
            "self_attn.in_proj_bias": b.attn.to_qkv.bias,
            "self_attn.out_proj.weight": b.attn.to_out.weight,
            "self_attn.out_proj.bias": b.attn.to_out.bias,
            "linear1.weight": b.mlp[0].weight,
            "linear1.bias": b.mlp[0].bias,
            "linear2.weight": b.mlp[3].weight,
            "linear2.bias": b.mlp[3].bias,
            "norm1.weight": b.norm1.weight,
            "norm1.bias": b.norm1.bias,
            "norm2.weight": b.norm2.weight,
            "norm2.bias": b.norm2.bias,
        }
    )
    return layer.eval()


def test_a_plain_block_has_exactly_the_plain_parameters():
    assert set(block().state_dict()) == PLAIN
    assert set(block(qkv_bias=True).state_dict()) == PLAIN | {"attn.to_qkv.bias"}
    assert set(block(causal=True).state_dict()) == PLAIN  # a mask, not a parameter
    cross = set(block(context_dim=24).state_dict()) - PLAIN
    assert {n.split(".")[0] for n in cross} == {"norm_cross", "cross_attn"}
    adaln = set(block(cond_dim=16).state_dict())
    assert adaln == (PLAIN - {f"norm{i}.{p}" for i in (1, 2) for p in ("weight", "bias")}) | {
        "modulation.1.weight",
        "modulation.1.bias",
    }


@pytest.mark.parametrize("padded", [False, True])
def test_block_equals_torch_transformer_encoder_layer(padded):
    b = block(qkv_bias=True)
    x = tokens(3, 7, D)
    padding = torch.zeros(3, 7, dtype=torch.bool)
    if padded:
        padding[0, 4:] = padding[2, 2:] = True  # rows of 4 and 2 real tokens, then <pad>
    with torch.no_grad():
        ours = b(x, key_padding_mask=padding if padded else None)
        theirs = torch_encoder_layer(b)(x, src_key_padding_mask=padding if padded else None)
    assert torch.allclose(ours[~padding], theirs[~padding], atol=1e-5)


def test_attention_weights_equal_multihead_attention_and_rows_sum_to_one():
    attn = Attention(dim=D, heads=HEADS, qkv_bias=True).eval()
    mha = nn.MultiheadAttention(D, HEADS, batch_first=True).eval()
    mha.load_state_dict(
        {
            "in_proj_weight": attn.to_qkv.weight,
            "in_proj_bias": attn.to_qkv.bias,
            "out_proj.weight": attn.to_out.weight,
            "out_proj.bias": attn.to_out.bias,
        }
    )
    x, padding = tokens(2, 5, D), torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    out, weights = attn(x, key_padding_mask=padding)
    expected, expected_weights = mha(x, x, x, key_padding_mask=padding, average_attn_weights=False)
    assert weights.shape == (2, HEADS, 5, 5)
    assert torch.allclose(weights, expected_weights, atol=1e-6)
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(weights.sum(-1), torch.ones(2, HEADS, 5))
    assert (weights[1, ..., 3:] == 0).all()  # no query reads a padded key


def test_cross_attention_equals_multihead_attention_with_other_key_width():
    attn = Attention(dim=D, heads=HEADS, context_dim=24).eval()
    mha = nn.MultiheadAttention(D, HEADS, kdim=24, vdim=24, bias=False, batch_first=True).eval()
    k_weight, v_weight = attn.to_kv.weight.chunk(2)  # to_kv is [k; v]
    mha.q_proj_weight.data, mha.k_proj_weight.data = attn.to_q.weight, k_weight
    mha.v_proj_weight.data, mha.out_proj.weight.data = v_weight, attn.to_out.weight
    mha.out_proj.bias = attn.to_out.bias
    x, context = tokens(2, 5, D), tokens(2, 3, 24, seed=1)
    out, weights = attn(x, context)
    expected, expected_weights = mha(x, context, context, average_attn_weights=False)
    assert weights.shape == (2, HEADS, 5, 3)
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(weights, expected_weights, atol=1e-6)


def test_fused_attention_would_agree_with_the_named_softmax():
    """F.scaled_dot_product_attention computes the same numbers to 1e-6 (the block keeps the
    explicit softmax, so shipped checkpoints reproduce their logits exactly)."""
    attn = Attention(dim=D, heads=HEADS, qkv_bias=True).eval()
    x, padding = tokens(2, 6, D), torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    q, k, v = attn._heads(x, None)  # (B, h, T, d) each
    fused = nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=~padding[:, None, None, :]
    )
    _, weights = attn(x, key_padding_mask=padding)
    assert torch.allclose(weights @ v, fused, atol=1e-6)


def test_causal_output_at_a_position_ignores_later_tokens():
    b = block(causal=True)
    x = tokens(2, 6, D)
    changed = x.clone()
    changed[:, 4:] = tokens(2, 2, D, seed=1)  # new tokens at positions 4 and 5
    with torch.no_grad():
        out, weights = b(x, return_attention=True)
        out_changed = b(changed)
    assert torch.allclose(out[:, :4], out_changed[:, :4], atol=1e-6)
    assert not torch.allclose(out[:, 4:], out_changed[:, 4:], atol=1e-3)
    assert (weights.triu(diagonal=1) == 0).all()  # query i reads keys 0..i


def test_kv_cache_one_token_at_a_time_equals_the_whole_sequence():
    blocks = [block(causal=True, qkv_bias=True) for _ in range(2)]
    x = tokens(2, 5, D)
    with torch.no_grad():
        whole = x
        for b in blocks:
            whole = b(whole)
        caches = [KVCache() for _ in blocks]
        steps = []
        for t in range(5):
            h = x[:, t : t + 1]  # (B, 1, D): the newest token only
            for b, cache in zip(blocks, caches, strict=True):
                h, weights = b(h, cache=cache, return_attention=True)
            steps.append(h)
    assert len(caches[0]) == 5 and weights.shape == (2, HEADS, 1, 5)
    assert torch.allclose(torch.cat(steps, dim=1), whole, atol=1e-5)


def test_cross_attention_reads_the_context_and_ignores_its_padding():
    b = block(context_dim=24)
    x, context = tokens(2, 4, D), tokens(2, 3, 24, seed=1)
    padding = torch.tensor([[False, False, True], [False, False, False]])
    other_pad = context.clone()
    other_pad[0, 2] = 100.0  # only the padded context token changes
    with torch.no_grad():
        out = b(x, context=context, context_padding_mask=padding)
        same = b(x, context=other_pad, context_padding_mask=padding)
        other = b(x, context=tokens(2, 3, 24, seed=2), context_padding_mask=padding)
    assert torch.allclose(out, same, atol=1e-6)
    assert not torch.allclose(out, other, atol=1e-3)


def test_adaln_zero_block_starts_as_the_identity_and_then_follows_the_condition():
    b = block(cond_dim=16)
    x, cond = tokens(3, 5, D), tokens(3, 16, seed=1)
    with torch.no_grad():
        assert torch.equal(b(x, cond=cond), x)  # every gate is 0
        nn.init.normal_(b.modulation[1].weight, std=0.1)  # as if trained
        one, two = b(x, cond=cond), b(x, cond=tokens(3, 16, seed=2))
    assert not torch.allclose(one, x, atol=1e-3) and not torch.allclose(one, two, atol=1e-3)


def test_bad_inputs_say_what_to_pass():
    plain, cross, adaln = block(), block(context_dim=24), block(cond_dim=16)
    x = tokens(2, 5, D)
    with pytest.raises(ValueError, match=r"x must be \(B, tokens, 32\)"):
        plain(tokens(2, 5, 16))
    with pytest.raises(ValueError, match=r"\(B, S\) = \(2, 5\)"):
        plain(x, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        plain(x, key_padding_mask=torch.zeros(2, 5))
    with pytest.raises(ValueError, match="all padding"):
        plain(x, key_padding_mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="context_dim"):
        cross(x)
    with pytest.raises(ValueError, match="context_dim"):
        plain(x, context=tokens(2, 3, 24))
    with pytest.raises(ValueError, match=r"context must be \(B, tokens, 24\)"):
        cross(x, context=tokens(2, 3, 32))
    with pytest.raises(ValueError, match="batch 1"):
        cross(x, context=tokens(1, 3, 24))
    with pytest.raises(ValueError, match=r"cond must be \(B, cond_dim\) = \(2, 16\)"):
        adaln(x, cond=tokens(2, 8))
    with pytest.raises(ValueError, match="cond_dim"):
        adaln(x)
    with pytest.raises(ValueError, match="divisible"):
        Block(dim=30, heads=4, mlp_dim=64)
