"""The student edition (notebooks/) is exactly what `python -m tools.student` generates from
the instructor edition (notebooks/solutions/), and the generator's conventions hold."""

from pathlib import Path

import nbformat
import pytest

from tools import LESSONS, student

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))


def test_every_source_has_a_student_edition_and_back():
    assert SOURCES, "the instructor edition lives in notebooks/solutions/"
    students = {p.name for p in (ROOT / "notebooks").glob(LESSONS)}
    assert students == {p.name for p in SOURCES}
    assert all(p.match(LESSONS) for p in SOURCES), "notebooks/solutions/ holds lessons only"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_committed_student_edition_is_generated(path):
    committed = (ROOT / "notebooks" / path.name).read_text()
    assert committed == student.render(path), "stale: run `make student`"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_student_edition_holds_no_answers(path):
    nb = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
    for cell in nb.cells:
        assert student.BEGIN not in cell.source and "BEGIN ANSWER" not in cell.source
        assert 'expect="Correct"' not in cell.source


def _cell(source: str, tags=("exercise",)):
    return nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})


def test_regions_become_raise_stub_or_none():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell(
            "def f(x):\n    ### BEGIN SOLUTION\n    # HINT: square it\n    return x**2\n"
            "    ### END SOLUTION"
        ),
        _cell("### BEGIN SOLUTION\nGUESS = 0.5  # a number\nPICK = 'a'\n### END SOLUTION"),
        _cell(
            "def g(x):\n    ### BEGIN SOLUTION\n    # STUB: return x - 1\n    return x + 1\n"
            "    ### END SOLUTION"
        ),
        _cell('exercises.summary([a], expect="Correct" if FAST else None)', tags=()),
        nbformat.v4.new_markdown_cell("Q1?\n<!-- BEGIN ANSWER -->\nA1.\n<!-- END ANSWER -->"),
    ]
    out = student.student_edition(nb)
    assert out.cells[0].source == 'def f(x):\n    raise NotImplementedError("square it")'
    assert out.cells[1].source.splitlines() == [
        "GUESS = None  # your answer",
        "PICK = None  # your answer",
    ]
    assert out.cells[2].source == "def g(x):\n    return x - 1"
    assert 'expect="Not yet"' in out.cells[3].source
    assert out.cells[4].source == "Q1?"
    assert nb.cells[0].source.startswith("def f(x):\n    ### BEGIN"), "the source is unchanged"


def test_a_region_without_a_stub_is_refused():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("def f(x):\n    ### BEGIN SOLUTION\n    y = x\n    return y\n    ### END SOLUTION")
    ]
    with pytest.raises(ValueError, match="cell 0"):
        student.student_edition(nb)
    nb.cells = [_cell("### BEGIN SOLUTION\nx = 1")]
    with pytest.raises(ValueError, match="without"):
        student.student_edition(nb)
