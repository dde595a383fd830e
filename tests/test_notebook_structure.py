"""Every lesson notebook (`tools.LESSONS`), in both editions (notebooks/ for students,
notebooks/solutions/ for instructors), follows the course's shape: setup cell, parameters
cell, no stored outputs, exercises tagged and checked by the library.

The notebooks themselves run under nbval (`pytest --nbval-lax notebooks notebooks/solutions`),
the student edition in JupyterLab instead when the browser tests run (../conftest.py).
"""

import re
import tomllib
from pathlib import Path

import nbformat
import pytest

from tools import LESSONS

ROOT = Path(__file__).resolve().parent.parent
STUDENT = sorted((ROOT / "notebooks").glob(LESSONS))
NOTEBOOKS = STUDENT + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def test_there_are_notebooks():
    assert STUDENT and STUDENT[0].name == "01_patchify_vit.ipynb"
    assert len(NOTEBOOKS) >= 2 * len(STUDENT) - 1, "each lesson has an instructor edition"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_shape(path):
    nb = nbformat.read(path, as_version=4)
    sources = [cell.source for cell in nb.cells]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "What you will learn" in nb.cells[0].source
    setup = [s for s in sources if 'if "google.colab" in sys.modules' in s]
    assert len(setup) == 1, "one Colab setup cell"
    assert f'REPO_URL = "{REPO_URL}"' in setup[0], "setup cell must clone pyproject's Repository"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "FAST" in tagged[0].source and "SEED" in tagged[0].source
    assert any("assert" in s for s in sources), "a notebook proves its claims with asserts"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "save without outputs"


def test_readme_colab_links_use_the_repository_setting():
    readme = (ROOT / "README.md").read_text()
    owner_repo = REPO_URL.removeprefix("https://github.com/")
    links = re.findall(
        r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/main/notebooks/", readme
    )
    assert links and set(links) == {owner_repo}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_every_widget_shown_is_followed_by_its_static_figure(path):
    """Static pages (`make site`, GitHub) have no kernel: after a cell that shows a widget,
    a later cell shows `name.static()` so readers still see its frames."""
    import widgets

    classes = "|".join(widgets.__all__)
    nb = nbformat.read(path, as_version=4)
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    for k, source in enumerate(code):
        built = set(re.findall(rf"^(\w+) = (?:\w+\.)?(?:{classes})\b", source, re.MULTILINE))
        lines = source.strip().splitlines()
        shown = lines[-1].strip() if lines else ""
        if shown in built:
            later = "\n".join(code[k + 1 :])
            assert f"{shown}.static()" in later, f"show `{shown}.static()` after the widget cell"


def test_colab_setup_keeps_colabs_torch_and_ipywidgets():
    """Colab ships torch 2.x and ipywidgets 7.7.1: our ranges accept them, and the setup
    cell never upgrades or reinstalls, so Colab needs no runtime restart."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {Requirement(r).name: Requirement(r).specifier for r in project["dependencies"]}
    assert pins["ipywidgets"].contains("7.7.1") and pins["ipywidgets"].contains("8.1.5")
    assert pins["torch"].contains("2.1.0") and pins["torch"].contains("2.5.1")
    for path in NOTEBOOKS:
        setup = next(
            c.source for c in nbformat.read(path, as_version=4).cells if "google.colab" in c.source
        )
        for flag in ("-U", "--upgrade", "--force-reinstall", "torch", "ipywidgets"):
            assert f'"{flag}"' not in setup, f"{path.name}: setup cell must not pass {flag}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_is_valid_nbformat_4_5_with_cell_ids(path):
    nb = nbformat.read(path, as_version=4)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5), "normalise with nbformat 4.5"
    ids = [cell.get("id") for cell in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids), "every cell needs a unique id"
    nbformat.validate(nb)


def _setup_cell(path) -> str:
    return next(
        c.source for c in nbformat.read(path, as_version=4).cells if "google.colab" in c.source
    )


def _run_setup(source: str, repo, calls: list, fail_on: str | None = None):
    """Execute a setup cell as Colab would, with git and pip replaced by a recorder."""
    import subprocess
    import sys
    import types

    def fake_run(command, **kwargs):
        calls.append(list(command))
        failed = fail_on is not None and fail_on in command
        return subprocess.CompletedProcess(command, 1 if failed else 0, "out\n", "the reason\n")

    source = source.replace("/content/patches-to-pixels", str(repo))
    sys.modules["google.colab"] = types.ModuleType("google.colab")
    original, subprocess.run = subprocess.run, fake_run
    path_before = list(sys.path)
    try:
        exec(compile(source, "setup", "exec"), {"__name__": "setup"})
    finally:
        subprocess.run = original
        del sys.modules["google.colab"]
        sys.path[:] = path_before


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_colab_setup_fails_loudly_and_updates_an_existing_clone(path, tmp_path):
    source, calls = _setup_cell(path), []
    with pytest.raises(RuntimeError, match=r"`git clone .*` failed \(exit 1\):\nout\nthe reason"):
        _run_setup(source, tmp_path / "repo", calls, fail_on="clone")
    calls.clear()
    _run_setup(source, tmp_path / "repo", calls)
    assert calls[0][:2] == ["git", "clone"] and "pip" in calls[1]
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    calls.clear()
    _run_setup(source, tmp_path / "repo", calls)
    assert calls[0][:4] == ["git", "-C", str(tmp_path / "repo"), "pull"], "re-running updates"
    with pytest.raises(RuntimeError, match="pip install"):
        _run_setup(source, tmp_path / "repo", [], fail_on="pip")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_exercises_are_tagged_checked_and_summarised(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(tagged) >= 4, "at least four exercises, each cell tagged `exercise`"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    module = f"nb{path.name[:2]}"
    assert code.count(f"{module}.check_") >= 4, (
        f"each exercise is checked by course_lib.exercises.{module}"
    )
    assert "exercises.summary(" in code, "a summary cell asserts every verdict in fast mode"
    questions = [
        c for c in nb.cells if c.cell_type == "markdown" and "Concept questions" in c.source
    ]
    assert questions, "the notebook ends with 3-5 concept questions"
    numbered = re.findall(r"^\d\. ", questions[0].source.split("<!-- BEGIN ANSWER -->")[0], re.M)
    assert 3 <= len(numbered) <= 5, "3 to 5 numbered concept questions"
    if path.parent.name == "solutions":
        assert "<!-- BEGIN ANSWER -->" in questions[0].source, "the answers, for the instructor"
