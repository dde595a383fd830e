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
