import numpy as np
import pytest
import torch

from course_lib import attention, vit


@pytest.fixture(scope="module")
def small_vit():
    torch.manual_seed(0)
    return vit.ViT(vit.ViTConfig(dim=32, depth=3, heads=2, mlp_dim=64)).eval()


def random_attention(*lead, tokens=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(*lead, tokens, tokens, generator=g), dim=-1)


def test_model_attention_rows_sum_to_one_and_maps_have_grid_shape(small_vit):
    _, weights = small_vit(torch.randn(2, 1, 28, 28), return_attention=True)
    stacked = attention.stack_layers(weights)
    assert stacked.shape == (3, 2, 2, 17, 17)  # (L, B, h, T, T)
    assert torch.allclose(stacked.sum(-1), torch.ones(3, 2, 2, 17))
    maps = attention.cls_maps(stacked)
    assert maps.shape == (3, 2, 2, 4, 4) and isinstance(maps, np.ndarray)
    assert np.allclose(maps.sum((-1, -2)) + stacked[..., 0, 0].detach().numpy(), 1, atol=1e-5)


def test_query_map_is_the_row_laid_out_row_major():
    weights = random_attention()
    patch_map = attention.query_maps(weights, 6)  # query = patch 5
    assert patch_map[1, 1] == pytest.approx(weights[6, 1 + 5].item())  # row 1, col 1 = patch 5
    assert patch_map[0, 3] == pytest.approx(weights[6, 1 + 3].item())
    assert np.array_equal(attention.cls_maps(weights), attention.query_maps(weights, 0))


def test_rollout_of_identity_attention_is_identity():
    eye = torch.eye(17).expand(4, 1, 3, 17, 17)  # (L, B, h, T, T)
    rolled = attention.rollout(eye)
    assert rolled.shape == (4, 1, 17, 17)
    assert np.allclose(rolled, np.eye(17))


def test_rollout_matches_the_paper_formula_and_rows_sum_to_one():
    layers = [random_attention(1, 2, seed=s) for s in range(3)]  # list of (B, h, T, T)
    rolled = attention.rollout(layers)
    eye = torch.eye(17)
    mixed = [0.5 * a.mean(1)[0] + 0.5 * eye for a in layers]  # rows already sum to 1
    expected = mixed[2] @ mixed[1] @ mixed[0]
    assert np.allclose(rolled[2, 0], expected.numpy(), atol=1e-6)
    assert np.allclose(rolled[0, 0], mixed[0].numpy(), atol=1e-6)
    assert np.allclose(rolled.sum(-1), 1, atol=1e-5)


def test_mean_attention_distance_closed_forms():
    eye = torch.eye(17).expand(2, 17, 17)  # every token attends only to itself
    assert np.allclose(attention.mean_attention_distance(eye, 7), 0)
    # a patch that looks only at its right neighbour (wrapping to the row start) in a 4x4 grid
    shift = torch.zeros(17, 17)
    shift[0, 0] = 1
    for k in range(16):
        row, col = divmod(k, 4)
        shift[1 + k, 1 + row * 4 + (col + 1) % 4] = 1
    expected = (3 * 7 + 1 * 21) / 4  # 3 neighbours 7 px away, 1 wraps 21 px
    assert attention.mean_attention_distance(shift, 7) == pytest.approx(expected)
    uniform = torch.full((17, 17), 1 / 17)
    assert attention.mean_attention_distance(uniform, 7) == pytest.approx(
        attention.uniform_attention_distance(4, 7)
    )


def test_attention_to_cls_does_not_count_as_distance():
    weights = torch.zeros(17, 17)
    weights[:, 0] = 0.9
    weights[1:, 1:] = 0.1 / 16  # the rest spread evenly over the patches
    weights[0] = 1 / 17
    assert attention.mean_attention_distance(weights, 7) == pytest.approx(
        attention.uniform_attention_distance(4, 7)
    )


def test_patch_distances():
    d = attention.patch_distances(2, 7)
    assert d[0, 3] == pytest.approx(7 * 2**0.5) and d[1, 2] == pytest.approx(7 * 2**0.5)
    assert d[0, 1] == 7 and d[0, 2] == 7 and np.all(np.diag(d) == 0)


def test_receptive_fields():
    assert attention.theoretical_receptive_field([3, 3, 2, 3, 3, 2], [1, 1, 2, 1, 1, 2]) == [
        3,
        5,
        6,
        10,
        14,
        16,
    ]
    conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    torch.nn.init.ones_(conv.weight)
    field = attention.effective_receptive_field(
        lambda x: conv(x)[:, 0, 5, 5], torch.randn(2, 1, 11, 11)
    )
    assert field.shape == (11, 11) and field.sum() == pytest.approx(1)
    assert np.count_nonzero(field) == 9 and field[4:7, 4:7].min() > 0
    one_step = (4 * 1 + 4 * 2**0.5) / 9  # 3x3 box of equal weights around the centre
    assert attention.map_mean_distance(field, (5, 5)) == pytest.approx(one_step)


def test_hidden_states_are_what_each_block_reads(small_vit):
    x = torch.randn(2, 1, 28, 28)
    states = small_vit.hidden_states(x)
    assert len(states) == 4 and states[0].shape == (2, 17, 32)
    assert torch.allclose(states[0], small_vit.tokens(x))
    _, weights = small_vit(x, return_attention=True)
    block = small_vit.blocks[2]
    q, k, _ = block.attn.to_qkv(block.norm1(states[2])).chunk(3, dim=-1)  # (B, T, D) each
    d = 16
    q1, k1 = q[..., d : 2 * d], k[..., d : 2 * d]  # head 1
    by_hand = torch.softmax(q1 @ k1.transpose(-1, -2) / d**0.5, dim=-1)
    assert torch.allclose(by_hand, weights[2][:, 1], atol=1e-6)


def test_bad_inputs_say_what_to_pass():
    with pytest.raises(ValueError, match="square grid"):
        attention.cls_maps(torch.ones(11, 11))
    with pytest.raises(ValueError, match=r"\(T, T\)"):
        attention.cls_maps(torch.ones(17, 5))
    with pytest.raises(ValueError, match="query must be"):
        attention.query_maps(random_attention(), 17)
    with pytest.raises(TypeError, match="return_attention"):
        attention.rollout([])
    with pytest.raises(ValueError, match="residual"):
        attention.rollout(random_attention(2, 1, 1), residual=2)
    with pytest.raises(ValueError, match=r"\(L, B, h, T, T\)"):
        attention.rollout(random_attention(2, 1))
