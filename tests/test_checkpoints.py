import json

import pytest
import torch

from course_lib import checkpoints, vit


@pytest.fixture
def saved(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path))
    model = vit.ViT(vit.ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32))
    checkpoints.save(model, tmp_path / "tiny", metadata={"note": "test"})
    checkpoints.write_manifest_entry("tiny", tmp_path)
    return model, tmp_path


def test_round_trip_rebuilds_model_from_config(saved):
    model, _ = saved
    loaded = checkpoints.load_pretrained("tiny")
    assert loaded.config == model.config and not loaded.training
    x = torch.randn(2, 1, 28, 28)
    assert torch.allclose(loaded(x), model.eval()(x))
    assert checkpoints.metadata("tiny") == {"note": "test"}


def test_half_precision_loads_back_as_float32(tmp_path):
    model = vit.ViT(vit.ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32))
    checkpoints.save(model, tmp_path / "half", half=True)
    with pytest.warns(checkpoints.UnverifiedCheckpointWarning, match="without a sha256 check"):
        loaded = checkpoints.load(tmp_path / "half")
    assert loaded.patch_embed.weight.dtype == torch.float32
    assert torch.allclose(loaded.patch_embed.weight, model.patch_embed.weight, atol=1e-3)


def test_tampered_file_is_refused(saved):
    _, directory = saved
    path = directory / "tiny.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged or was changed.*pretrain tiny"):
        checkpoints.load_pretrained("tiny")


def test_unknown_name_lists_what_exists(saved):
    with pytest.raises(ValueError, match="unknown checkpoint 'tiny-typo'.*tiny"):
        checkpoints.load_pretrained("tiny-typo")
    with pytest.raises(TypeError):
        checkpoints.load_pretrained(3)


def test_no_pickle_and_only_course_classes(tmp_path):
    model = vit.ViT(vit.ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32))
    checkpoints.save(model, tmp_path / "m")
    description = json.loads((tmp_path / "m.json").read_text())
    description["model"] = "os.system"
    (tmp_path / "m.json").write_text(json.dumps(description))
    with pytest.raises(ValueError, match="only name course_lib classes"):
        with pytest.warns(checkpoints.UnverifiedCheckpointWarning):
            checkpoints.load(tmp_path / "m")
    with pytest.raises(TypeError, match="config"):
        checkpoints.save(torch.nn.Linear(2, 2), tmp_path / "bare")


def test_every_shipped_checkpoint_matches_its_manifest():
    manifest = checkpoints.read_manifest(checkpoints.CHECKPOINT_DIR)
    assert "vit-digits" in manifest
    for name in manifest:
        checkpoints.verify(name, checkpoints.CHECKPOINT_DIR)
    total = sum(p.stat().st_size for p in checkpoints.CHECKPOINT_DIR.iterdir())
    assert total < 30 * 2**20, f"shipped checkpoints take {total / 2**20:.1f} MB; keep under 30 MB"


def test_shipped_vit_digits_accuracy_is_recorded():
    meta = checkpoints.read_description(checkpoints.CHECKPOINT_DIR / "vit-digits")["metadata"]
    assert meta["test_accuracy"] >= 0.97


def tiny_vit(seed: int = 0) -> vit.ViT:
    torch.manual_seed(seed)
    return vit.ViT(vit.ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32))


def test_load_by_path_is_checked_against_a_manifest_beside_it(saved):
    _, directory = saved
    checkpoints.load(directory / "tiny")  # listed in the manifest beside it: no warning
    (directory / "tiny.safetensors").write_bytes(b"not weights")
    with pytest.raises(ValueError, match="damaged or was changed"):
        checkpoints.load(directory / "tiny")


def test_missing_folder_and_manifest_name_where_they_were_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=r"nowhere \(from COURSE_CHECKPOINTS\) does not exist"):
        checkpoints.load_pretrained("vit-digits")
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path))
    with pytest.raises(ValueError, match="has no manifest.json"):
        checkpoints.load_pretrained("vit-digits")
    (tmp_path / "manifest.json").write_text('{"vit-digits": {"files": ')
    with pytest.raises(ValueError, match=r"manifest.json is not valid JSON .* line 1"):
        checkpoints.load_pretrained("vit-digits")


def test_a_dependency_rebuilt_after_its_user_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path))
    checkpoints.publish(tiny_vit(0), "base", tmp_path)
    pinned = {"base": checkpoints.weights_sha256("base")}
    checkpoints.publish(tiny_vit(1), "user", tmp_path, metadata={"depends_on": pinned})
    checkpoints.load_pretrained("user")  # the base it was trained on: fine
    checkpoints.publish(tiny_vit(2), "base", tmp_path)  # base retrained: user is stale
    with pytest.raises(ValueError, match="user was trained on base .* rebuild in order"):
        checkpoints.load_pretrained("user")


def test_shipped_ldm_digits_pins_the_checkpoints_it_was_trained_on():
    meta = checkpoints.read_description(checkpoints.CHECKPOINT_DIR / "ldm-digits")["metadata"]
    assert set(meta["depends_on"]) == {"vae-digits", "clip-digits"}
    for name, sha in meta["depends_on"].items():
        assert sha == checkpoints.weights_sha256(name, checkpoints.CHECKPOINT_DIR)


def test_publish_is_one_unit_a_failed_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path))
    old = tiny_vit(0)
    checkpoints.publish(old, "tiny", tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.publish(tiny_vit(1), "tiny", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no stray temporary files
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(checkpoints.load_pretrained("tiny")(x), old.eval()(x))
