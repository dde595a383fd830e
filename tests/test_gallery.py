"""The demo gallery (notebooks/gallery.ipynb, `make demo`): every explorer, in course order,
each under a heading and one line of what to try, with code cells short enough to hide. It
is no lesson (`tools.LESSONS`): no editions, no exercises. tests/browser/test_gallery_in_voila.py
serves it with Voila, in fast mode (without Chromium, nbval runs it instead: conftest.py)."""

import re
import tomllib
from pathlib import Path

import nbformat

import widgets
from tools import LESSONS
from widgets import gallery

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "notebooks" / "gallery.ipynb"


def test_the_gallery_is_no_lesson():
    assert GALLERY.exists() and not GALLERY.match(LESSONS)
    assert not (ROOT / "notebooks" / "solutions" / GALLERY.name).exists(), "one edition"


def test_every_explorer_has_a_heading_a_line_to_try_and_one_short_cell():
    nb = nbformat.read(GALLERY, as_version=4)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    shown = []
    for before, cell in zip(nb.cells, nb.cells[1:], strict=False):
        if cell.cell_type != "code":
            continue
        assert not cell.outputs and cell.execution_count is None, "save without outputs"
        assert len(cell.source.strip().splitlines()) <= 5, "code cells stay short"
        found = re.fullmatch(r'explorers\["(\w+)"\]', cell.source.strip())
        if found:
            name = found[1]
            shown.append(name)
            heading, _, text = before.source.partition("\n\n")
            assert before.cell_type == "markdown" and heading.startswith("## ")
            assert name in heading and text.strip().endswith(("?", ".")), name
    assert shown == gallery.names() and set(shown) == set(widgets.__all__)


def test_make_demo_serves_the_gallery_with_voila_from_the_lab_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = extras["optional-dependencies"]
    assert any(r.startswith("voila") for r in extras["lab"])
    assert any(r.startswith("voila") for r in extras["test"]), "the browser test serves it"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: setup\n\t\$\(BIN\)/voila notebooks/gallery\.ipynb", makefile, re.M)
    assert "ws_ping_interval" in makefile, "a start-up longer than 90 s keeps its page"
    assert ".[lab]" in (ROOT / "environment.yml").read_text()
    assert "make demo" in (ROOT / "README.md").read_text()


def test_for_the_room_writes_every_label_out_in_full():
    import tiny

    explorer = gallery.for_the_room(tiny.explorer("GuidanceExplorer"))
    assert "p2p-gallery" in explorer._dom_classes
    for control in explorer.controls.values():
        if hasattr(control.style, "description_width"):
            assert control.style.description_width == "initial"
    css = gallery.style(zoom=2).value
    assert "zoom: 2;" in css and ".fa-play::before" in css
