"""`python -m course_lib.pretrain`: never overwrites by surprise, writes elsewhere on request."""

import types

import pytest
import torch

from course_lib import checkpoints, pretrain, recipes, vit


@pytest.fixture
def fake_recipe(monkeypatch):
    """A recipe 'tiny' whose build is instant and counts its calls."""
    calls = []

    def build(seed):
        calls.append(seed)
        torch.manual_seed(seed)
        return vit.ViT(vit.ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32)), {"note": "fake"}

    module = types.SimpleNamespace(build=build, HALF=False)
    monkeypatch.setattr(recipes, "get", lambda name: module)
    monkeypatch.setattr(recipes, "names", lambda: ["tiny"])
    return calls


def test_refuses_an_existing_checkpoint_before_any_training(tmp_path, monkeypatch, fake_recipe):
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path))
    pretrain.pretrain("tiny", out=tmp_path)
    assert fake_recipe == [0]
    with pytest.raises(FileExistsError, match="--force .* --out DIR"):
        pretrain.pretrain("tiny", out=tmp_path)
    with pytest.raises(SystemExit) as stop:
        pretrain.main(["tiny"])
    assert stop.value.code == 2 and fake_recipe == [0]  # nothing was trained
    pretrain.main(["tiny", "--force", "--seed", "3"])
    assert fake_recipe == [0, 3]
    assert checkpoints.metadata("tiny")["seed"] == 3


def test_out_writes_a_loadable_checkpoint_elsewhere(tmp_path, monkeypatch, fake_recipe):
    shipped, other = tmp_path / "shipped", tmp_path / "other"
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(shipped))
    pretrain.main(["tiny", "--out", str(other)])
    assert not shipped.exists()
    entry = checkpoints.read_manifest(other)["tiny"]
    assert entry["rebuild"] == "python -m course_lib.pretrain tiny --seed 0"
    checkpoints.load(other / "tiny")  # checked against the manifest beside it


def test_dependencies_are_pinned_by_sha256(tmp_path, monkeypatch, fake_recipe):
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path))
    pretrain.pretrain("tiny", out=tmp_path)
    with_deps = types.SimpleNamespace(
        build=recipes.get("tiny").build, HALF=False, DEPENDS_ON=("tiny",)
    )
    monkeypatch.setattr(recipes, "get", lambda name: with_deps)
    pretrain.pretrain("user", out=tmp_path)
    pinned = checkpoints.metadata("user")["depends_on"]
    assert pinned == {"tiny": checkpoints.weights_sha256("tiny")}
