"""checkpoints.write_table / read_table: a small JSON beside a checkpoint, pinned by sha256."""

import json

import pytest

from course_lib import checkpoints


def test_a_table_round_trips_and_a_changed_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path))
    (tmp_path / "manifest.json").write_text(json.dumps({"m": {"files": {}}}))
    path = checkpoints.write_table("m", "m-table.json", {"rows": [1, 2]})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["m"]["tables"]["m-table.json"] == checkpoints.sha256(path)
    assert checkpoints.read_table("m", "m-table.json") == {"rows": [1, 2]}
    path.write_text('{"rows": [3]}')
    with pytest.raises(ValueError, match="sha256"):
        checkpoints.read_table("m", "m-table.json")
    with pytest.raises(ValueError, match="bench"):
        checkpoints.read_table("m", "other.json")
