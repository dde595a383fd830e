import numpy as np
import pytest
import torch

from course_lib import attention, vit
from widgets import AttentionExplorer, frames
from widgets.attention_explorer import heat_frame, select_map


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return vit.ViT(vit.ViTConfig(dim=32, depth=3, heads=2, mlp_dim=64)).eval()


@pytest.fixture
def explorer(model):
    g = torch.Generator().manual_seed(1)
    images = {name: torch.rand(1, 28, 28, generator=g) * 2 - 1 for name in ("a", "b")}
    return AttentionExplorer(model, images, scale=3)


def expected_frame(explorer):
    c = {name: control.value for name, control in explorer.controls.items()}
    _, weights = explorer.model(explorer.images[c["image"]][None], return_attention=True)
    stacked = attention.stack_layers(weights)[:, 0]  # (L, h, T, T), straight from the model
    layer = c["layer"] - 1
    if c["mode"] == "rollout":
        heat = attention.query_maps(
            torch.from_numpy(attention.rollout(weights)[layer, 0]), c["query"]
        )
    elif c["head"] == "mean":
        heat = attention.query_maps(stacked[layer].mean(0), c["query"])
    else:
        heat = attention.query_maps(stacked[layer, c["head"]], c["query"])
    return heat_frame(explorer.images[c["image"]], heat, c["query"], 3)


def test_each_control_changes_the_frame_to_the_pure_function_output(explorer):
    c = explorer.controls
    moves = [
        ("layer", 2),
        ("head", 1),
        ("head", "mean"),
        ("query", 6),
        ("mode", "rollout"),
        ("layer", 3),
        ("image", "b"),
        ("query", 0),
        ("mode", "raw"),
    ]
    for name, value in moves:
        before = explorer.frame.value
        c[name].value = value
        assert explorer.frame.value != before, (
            f"moving {name} to {value!r} did not change the frame"
        )
        assert np.array_equal(frames.decode(explorer.frame.value), expected_frame(explorer))
    assert "error" not in explorer.status.value.lower()
    assert len(explorer.caches["tensors"]) == 2  # one forward pass per digit, however many moves


def test_query_patch_is_outlined_and_heat_follows_the_map():
    image = -torch.ones(1, 28, 28)
    heat = np.zeros((4, 4))
    heat[3, 0] = 1.0  # only patch 12 is attended
    out = heat_frame(image, heat, query=1 + 5, scale=2)  # query patch 5 = row 1, col 1
    assert out.shape == (56, 56, 3)
    assert np.array_equal(out[14, 14 + 5], [0, 229, 255])  # top edge of patch 5's outline
    assert out[3 * 14 + 7, 7].sum() > out[7, 7 + 28].sum()  # attended patch is brighter
    whole = heat_frame(image, heat, query=0, scale=2)  # CLS: the whole image is outlined
    assert np.array_equal(whole[0, 30], [0, 229, 255]) and np.array_equal(
        whole[55, 3], [0, 229, 255]
    )


def test_select_map_rollout_ignores_head(explorer):
    raw, rolled = explorer.tensors("a")
    a = select_map(raw, rolled, 1, 0, 0, "rollout")
    b = select_map(raw, rolled, 1, "mean", 0, "rollout")
    assert np.array_equal(a, b) and a.shape == (4, 4)
    with pytest.raises(ValueError, match="mode"):
        select_map(raw, rolled, 1, 0, 0, "sideways")


def test_bad_images_are_refused_and_static_draws(model):
    with pytest.raises(ValueError, match="at least one image"):
        AttentionExplorer(model, {})
    with pytest.raises(ValueError, match=r"must have shape \(1, 28, 28\)"):
        AttentionExplorer(model, {"wide": torch.zeros(1, 28, 30)})
    fig = AttentionExplorer(model, {"d": torch.zeros(1, 28, 28)}).static()
    assert len(fig.axes) == 3 * (2 + 2)  # layers x (heads, mean, rollout)


def test_patch_buttons_pick_the_query(explorer):
    picker = explorer.children[2].children[1]  # beside the frame
    cls_button, grid = picker.children[1], picker.children[2]
    grid.children[9].click()
    assert explorer.controls["query"].value == 10  # patch 9 is token 10
    assert np.array_equal(frames.decode(explorer.frame.value), expected_frame(explorer))
    cls_button.click()
    assert explorer.controls["query"].value == 0
