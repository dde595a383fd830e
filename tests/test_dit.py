"""The DiT: the ViT's patches in, the same patches out, modulated by time and prompt."""

import pytest
import torch

from course_lib import transformer, vit
from course_lib.clip import TextEncoder, TextEncoderConfig
from course_lib.dit import DiT, DiTConfig, TextDiT

TINY = DiTConfig(dim=32, depth=2, heads=4, mlp_dim=64, context_dim=16)


def inputs(batch=3, context_dim=16, length=5):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 4, 8, 8, generator=g)
    t = torch.rand(batch, generator=g)
    context = torch.randn(batch, length, context_dim, generator=g)
    padding = torch.zeros(batch, length, dtype=torch.bool)
    padding[:, -2:] = True  # the last two tokens are <pad>
    return x, t, context, padding, torch.randn(batch, context_dim, generator=g)


def scramble(model):
    torch.manual_seed(1)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    return model


def test_a_fresh_dit_outputs_zero_and_has_the_input_shape():
    x, t, context, padding, pooled = inputs()
    out = DiT(TINY)(x, t, context, padding, pooled)
    assert out.shape == x.shape
    assert torch.equal(out, torch.zeros_like(x))  # zero-initialised final linear


def test_config_counts_tokens_and_refuses_bad_sizes():
    assert DiTConfig().num_patches == 16  # 8x8 latent, patch 2
    with pytest.raises(ValueError, match="divisible"):
        DiTConfig(patch_size=3)
    with pytest.raises(ValueError, match="heads"):
        DiTConfig(dim=30, heads=4)


def test_blocks_are_the_shared_transformer_block_with_adaln_zero_and_cross_attention():
    model = DiT(TINY)
    assert all(isinstance(b, transformer.Block) for b in model.blocks)
    assert all(b.modulation is not None and b.cross_attn is not None for b in model.blocks)


def test_the_tokens_are_the_vit_patches():
    model = scramble(DiT(TINY))
    x = inputs()[0]
    patches = vit.patchify(x, 2)  # (B, 16, 16)
    assert patches.shape == (3, 16, 16)
    assert model.patch_embed.in_features == patches.shape[-1]


def test_output_depends_on_time_prompt_and_pooled_vector_but_not_padding():
    model = scramble(DiT(TINY)).eval()
    x, t, context, padding, pooled = inputs()
    base = model(x, t, context, padding, pooled)
    assert not torch.allclose(base, model(x, t * 0.5, context, padding, pooled))
    assert not torch.allclose(base, model(x, t, context + 1, padding, pooled))
    assert not torch.allclose(base, model(x, t, context, padding, pooled + 1))
    changed = context.clone()
    changed[:, -2:] = 100.0  # only padded tokens change
    torch.testing.assert_close(base, model(x, t, changed, padding, pooled))


def test_one_training_step_moves_the_zero_output():
    model = DiT(TINY)
    x, t, context, padding, pooled = inputs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = (model(x, t, context, padding, pooled) - x).pow(2).mean()
    loss.backward()
    opt.step()
    assert model(x, t, context, padding, pooled).abs().sum() > 0


def test_unconditioned_dit_takes_no_context():
    model = DiT(DiTConfig(dim=32, depth=1, heads=4, mlp_dim=64, context_dim=None))
    x, t = inputs()[:2]
    assert model(x, t).shape == x.shape
    with pytest.raises(ValueError, match="context"):
        model(x, t, torch.randn(3, 5, 16), None, torch.randn(3, 16))


def test_bad_inputs_say_what_to_pass():
    model = DiT(TINY)
    x, t, context, padding, pooled = inputs()
    with pytest.raises(ValueError, match=r"\(B, 4, 8, 8\)"):
        model(torch.randn(3, 3, 8, 8), t, context, padding, pooled)
    with pytest.raises(ValueError, match="times"):
        model(x, t[:2], context, padding, pooled)
    with pytest.raises(ValueError, match="pooled"):
        model(x, t, context, padding)


def test_text_dit_reads_token_ids_through_a_frozen_encoder():
    text = TextEncoder(TextEncoderConfig(dim=16, depth=1, heads=4, mlp_dim=32))
    model = TextDiT(scramble(DiT(TINY)), text).eval()
    ids = text.tokenize(["a large red seven", "a small blue two in the top left"])
    x, t = inputs(batch=2)[:2]
    out = model(x, t, ids)
    assert out.shape == x.shape
    assert not torch.allclose(out[0], model(x, t, ids.flip(0))[0])
    assert not any(p.requires_grad for p in model.text_encoder.parameters())
    with pytest.raises(ValueError, match="context_dim=16"):
        TextDiT(DiT(DiTConfig(dim=32, depth=1, heads=4, mlp_dim=64, context_dim=8)), text)
