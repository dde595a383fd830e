"""tools.notebook_times: the kernel gets the mode asked for, a raising cell is recorded, the
bench table shows both modes."""

from __future__ import annotations

import nbformat
import pytest

from tools import notebook_times


def tiny_notebook(path, *sources: str):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)
    return path


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_the_kernel_runs_in_the_mode_asked_for(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("CI", "1")  # as on CI: full mode must clear it too
    monkeypatch.setenv("COURSE_FAST", "1")
    check = f"from course_lib import config\nassert config.fast_mode() is {mode == 'fast'}"
    result = notebook_times.run(tiny_notebook(tmp_path / "mode.ipynb", check), mode)
    assert result["error"] is None
    assert result["seconds"] > 0
    assert notebook_times.os.environ["COURSE_FAST"] == "1"  # this process's environment back


def test_the_slowest_cells_are_named(tmp_path):
    path = tiny_notebook(tmp_path / "slow.ipynb", "x = 1", "import time\ntime.sleep(0.5)", "y = 2")
    slowest = notebook_times.run(path, "fast")["slowest_cells"]
    assert slowest[0]["cell"] == 1 and slowest[0]["starts"] == "import time"
    assert 0.5 <= slowest[0]["seconds"] < 5 and len(slowest) == 3


def test_a_raising_cell_is_recorded(tmp_path):
    path = tiny_notebook(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('no digits')")
    result = notebook_times.run(path, "full")
    assert result["error"] is not None and "no digits" in result["error"]


def test_the_table_shows_each_mode_and_failures():
    entry = {"date": "2026-12-03", "commit": "abc1234", "cores": 2}
    record = {
        "05_unet_denoising": {
            "fast": {"seconds": 61.2, "error": None} | entry,
            "full": {"seconds": 598.7, "error": "AssertionError: 0.71 < 0.8"}
            | {"slowest_cells": [{"cell": 14, "seconds": 540.2, "starts": "history = "}]}
            | entry,
        },
        "01_patchify_vit": {"fast": {"seconds": 35.0, "error": None} | entry},
    }
    rows = notebook_times.table(record)
    assert "| 01_patchify_vit | 35 | - | - | fast 2026-12-03 at abc1234 |" in rows
    failed = (
        "| 05_unet_denoising | 61 | 599 (failed: AssertionError: 0.71 < 0.8) | cell 14, 540 s |"
    )
    assert rows[-1].startswith(failed)
    assert "No notebook wall times" in notebook_times.table({})[0]


def test_unknown_notebook_numbers_are_refused():
    with pytest.raises(SystemExit, match="no lesson starts with"):
        notebook_times.main(["--mode", "fast", "99"])
