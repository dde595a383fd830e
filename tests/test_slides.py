"""Every lesson presents as a sensible deck (RISE live, `make slides` static), the decks are
what `python -m tools.slides` writes, and a static deck needs no network for reveal.js."""

import re
from pathlib import Path

import nbformat
import pytest

from tests.test_site import WIDGET_NOTEBOOK, write_notebook
from tools import slides

ROOT = Path(__file__).resolve().parent.parent
SOURCES = slides.lessons()
WIDGET = r"Explorer|Scrubber|display\(explorer"
EDITIONS = SOURCES + [ROOT / "notebooks" / p.name for p in SOURCES]


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def test_there_are_lessons():
    assert len(SOURCES) >= 8 and SOURCES[0].name.startswith("01_")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_decks_are_what_the_script_writes(path):
    assert path.read_text() == slides.render(path), "stale: run `python -m tools.slides`"


@pytest.mark.parametrize("path", EDITIONS, ids=_id)
def test_every_lesson_is_a_sensible_deck(path):
    nb = nbformat.read(path, as_version=4)
    assert all("slideshow" in cell.metadata for cell in nb.cells), "every cell has a slide type"
    deck = slides.deck(nb)
    title = deck[0][0]
    assert title.metadata.slideshow.slide_type == slides.SLIDE
    assert title.cell_type == "markdown" and title.source.startswith("# "), "a title slide first"
    assert 8 <= len(deck) <= slides.MAX_SLIDES, f"{len(deck)} slides"
    for k, cells in enumerate(deck):
        shown = [c for c in cells if not slides.is_plumbing(c)]
        assert shown, f"slide {k + 1} shows only plumbing: {slides.first_line(cells[0])!r}"
    for cell in nb.cells:  # checks may be shown (a figure); setup, imports, parameters never
        setup = slides.SETUP in cell.source or "parameters" in cell.metadata.get("tags", [])
        if cell.cell_type == "code" and (setup or slides.is_imports(cell.source)):
            assert cell.metadata.slideshow.slide_type == slides.SKIP, slides.first_line(cell)
    assert any(c.metadata.slideshow.slide_type == slides.NOTES for c in nb.cells), "notes"
    assert nb.metadata.rise["scroll"], "RISE scrolls a tall slide"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_the_widget_and_its_still_frames_are_on_slides(path):
    nb = nbformat.read(path, as_version=4)
    shown = {id(c) for cells in slides.deck(nb) for c in cells}
    stills = [c for c in nb.cells if c.cell_type == "code" and ".static(" in c.source]
    assert stills
    assert all(id(c) in shown for c in stills), "a widget's .static() figure is on a slide"
    widget = [c for c in nb.cells if c.cell_type == "code" and re.search(WIDGET, c.source)]
    assert any(id(c) in shown for c in widget), "the live widget is on a slide"


def _markdown(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(s, id=f"c{k}") for k, s in enumerate(sources)]
    return nb


def test_headings_inside_a_cell_split_it_and_a_second_run_changes_nothing():
    nb = _markdown("# Title", "What we see.\n\n## 2. Next\n\nText.\n\n### Exercise 1: do it\n\nGo.")
    assert slides.split_headings(nb) == 2
    assert [c.source.splitlines()[0] for c in nb.cells] == [
        "# Title",
        "What we see.",
        "## 2. Next",
        "### Exercise 1: do it",
    ]
    assert [c.id for c in nb.cells] == ["c0", "c1", "c1-2", "c1-3"]
    assert slides.split_headings(nb) == 0


def test_general_rules_and_a_stale_table_key():
    nb = _markdown("# Title", "## 1. A section", "### Exercise 1: go", "Prose.")
    nb.cells += [
        nbformat.v4.new_code_cell("import torch\nfrom course_lib import (\n    data,\n)"),
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["exercise"]}),
        nbformat.v4.new_code_cell("# Check exercise 1\ncheck = nb99.check_x(x)"),
        nbformat.v4.new_code_cell("import time\nstart = time.time()"),
    ]
    kinds = slides.slide_types(nb, "99_test.ipynb")
    assert kinds == ["slide", "slide", "subslide", "-", "skip", "fragment", "skip", "-"]
    slides.DECKS["99"] = {"## 9. Gone": slides.NOTES}
    try:
        with pytest.raises(ValueError, match="begins 0 cells"):
            slides.slide_types(nb, "99_test.ipynb")
    finally:
        del slides.DECKS["99"]


def test_a_static_deck_needs_no_network_and_shows_the_still(tmp_path):
    path = write_notebook(tmp_path / "99_widget.ipynb", WIDGET_NOTEBOOK)
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# 99 · A widget"))
    nbformat.write(slides.apply(nb, path.name), path)
    (deck,) = slides.export([path], tmp_path / "slides")
    page = deck.read_text()
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert f"{slides.REVEAL}/dist/reveal.js" in assets, "reveal.js from the local copy"
    assert not [a for a in assets if re.match(r"(https?:)?//", a)], "a script from the network"
    for asset in assets:
        assert (deck.parent / asset.split("?")[0]).is_file(), f"{asset} is not beside the deck"
    assert re.search(r'<img[^>]+src="data:image/png;base64,', page), "the .static() figure"
    assert page.count("<section") >= 1
