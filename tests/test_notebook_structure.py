"""Every notebook follows the course's shape: setup cell, parameters cell, no stored outputs.

The notebooks themselves are executed by nbval (`pytest --nbval-lax notebooks`).
"""

import re
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "01_patchify_vit.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
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
