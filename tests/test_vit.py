import pytest
import torch

from course_lib import transformer, vit


def test_patchify_order_is_row_major_and_p1_p2_c():
    # one 2-channel 4x4 image whose pixel values encode (channel, row, col)
    c, h, w, p = 2, 4, 4, 2
    image = torch.zeros(1, c, h, w)
    for ch in range(c):
        for r in range(h):
            for col in range(w):
                image[0, ch, r, col] = 100 * ch + 10 * r + col
    patches = vit.patchify(image, p)
    assert patches.shape == (1, 4, p * p * c)
    # patch 1 is the top-right block (row-major), flattened as (p1 p2 c)
    expected = [image[0, ch, r, col] for r in (0, 1) for col in (2, 3) for ch in range(c)]
    assert patches[0, 1].tolist() == torch.stack(expected).tolist()
    # patch 2 starts the second row of patches
    assert patches[0, 2, 0] == image[0, 0, 2, 0]


@pytest.mark.parametrize(("c", "size", "p"), [(1, 28, 7), (3, 224, 16), (3, 32, 4)])
def test_round_trip(c, size, p):
    images = torch.randn(2, c, size, size)
    patches = vit.patchify(images, p)
    assert patches.shape == (2, (size // p) ** 2, p * p * c)
    assert torch.equal(vit.unpatchify(patches, p, size, c), images)


def test_bad_inputs_say_what_to_pass():
    with pytest.raises(ValueError, match="not divisible by patch size 5"):
        vit.patchify(torch.zeros(1, 1, 28, 28), 5)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        vit.patchify(torch.zeros(28, 28), 7)
    with pytest.raises(TypeError):
        vit.patchify([[0.0]], 7)
    with pytest.raises(ValueError, match="expected"):
        vit.unpatchify(torch.zeros(1, 16, 50), 7, 28, 1)
    with pytest.raises(ValueError, match="not divisible"):
        vit.ViTConfig(image_size=28, patch_size=5)
    with pytest.raises(ValueError, match=r"takes images of shape \(B, 1, 28, 28\)"):
        vit.ViT(vit.ViTConfig())(torch.zeros(2, 3, 28, 28))


def test_vit_shapes_and_attention_rows_sum_to_one():
    cfg = vit.ViTConfig(dim=32, depth=2, heads=4, mlp_dim=64)
    model = vit.ViT(cfg)
    x = torch.randn(3, 1, 28, 28)
    logits, attentions = model(x, return_attention=True)
    assert logits.shape == (3, 10)
    assert len(attentions) == 2
    for a in attentions:
        assert a.shape == (3, 4, 17, 17)
        assert torch.allclose(a.sum(-1), torch.ones(3, 4, 17))
    assert torch.allclose(model(x), logits)


def test_attention_matches_softmax_of_scaled_dot_products():
    torch.manual_seed(0)
    attn = transformer.Attention(dim=16, heads=2)
    x = torch.randn(1, 5, 16)
    _, weights = attn(x)
    q, k, _ = attn.to_qkv(x).chunk(3, dim=-1)
    q0, k0 = q[..., :8], k[..., :8]  # head 0 takes the first d = 8 features
    expected = torch.softmax(q0 @ k0.transpose(-1, -2) / 8**0.5, dim=-1)
    assert torch.allclose(weights[:, 0], expected, atol=1e-6)


def test_features_are_the_normed_cls_token_the_head_reads():
    torch.manual_seed(0)
    model = vit.ViT(vit.ViTConfig(dim=32, depth=2, heads=4, mlp_dim=64)).eval()
    x = torch.randn(3, 1, 28, 28)
    features = model.features(x)
    assert features.shape == (3, 32)
    assert torch.allclose(features, model.norm(model.hidden_states(x)[-1][:, 0]), atol=1e-6)
    assert torch.equal(model(x), model.head(features))
    same, attentions = model.features(x, return_attention=True)
    assert torch.allclose(same, features, atol=1e-6) and len(attentions) == 2


def test_vit_blocks_keep_the_parameter_names_of_the_shipped_checkpoint():
    names = set(vit.ViT(vit.ViTConfig(depth=1)).state_dict())
    assert {n for n in names if n.startswith("blocks.")} == {
        f"blocks.0.{n}"
        for n in (
            "norm1.weight",
            "norm1.bias",
            "attn.to_qkv.weight",
            "attn.to_out.weight",
            "attn.to_out.bias",
            "norm2.weight",
            "norm2.bias",
            "mlp.0.weight",
            "mlp.0.bias",
            "mlp.3.weight",
            "mlp.3.bias",
        )
    }
