"""The instructor guide (docs/instructor/) holds each notebook's concept questions exactly as
`python -m tools.guide` writes them from the instructor edition, and every notebook heading
it cites exists in the notebook it names. tools.nbgrader_source marks what nbgrader grades."""

from pathlib import Path

import nbformat
import pytest

from tools import guide, nbgrader_source

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
INDEX = guide.GUIDE / "README.md"
PAGES = [INDEX] + [guide.page_of(p) for p in SOURCES]


def test_every_notebook_has_a_page_and_the_index_links_each():
    index = INDEX.read_text()
    for path in SOURCES:
        assert guide.page_of(path).exists(), f"write docs/instructor/{path.stem}.md"
        assert f"]({path.stem}.md)" in index, f"the guide's index should link {path.stem}.md"
    assert "docs/instructor/README.md" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_concept_questions_are_generated(path):
    text = guide.page_of(path).read_text()
    assert text == guide.updated(text, guide.render_questions(path), path.name), (
        "stale: run `make guide` (python -m tools.guide)"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_cited_heading_exists(page):
    text = page.read_text()
    cited = guide.cited_headings(text)
    assert text.count("[§ ") == len(cited), "a [§ ...] citation is not in the form the test reads"
    for notebook, heading in cited:
        path = ROOT / "notebooks" / "solutions" / notebook
        assert path.exists(), f"{page.name} cites {notebook}, which does not exist"
        assert heading in guide.headings(nbformat.read(path, as_version=4)), (
            f"{page.name} cites a heading {notebook} does not have: {heading!r}"
        )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_each_page_maps_its_own_notebook(path):
    own = [n for n, _ in guide.cited_headings(guide.page_of(path).read_text()) if n == path.name]
    assert len(own) >= 6, f"{path.stem}.md should map the notebook's sections"


def test_questions_pair_with_answers_and_numbers_are_stripped():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## 3. A section\ntext"),
        nbformat.v4.new_markdown_cell(
            "## Concept questions\n\n1. Why?\n   Really why?\n2. How?\n\n"
            "<!-- BEGIN ANSWER -->\n**Answers.**\n1. Because.\n2. Like\n   so.\n<!-- END ANSWER -->"
        ),
    ]
    assert guide.concept_questions(nb, "nb") == [
        ("Why? Really why?", "Because."),
        ("How?", "Like so."),
    ]
    assert guide.headings(nb) == {"A section", "Concept questions"}
    nb.cells[1].source = nb.cells[1].source.replace("2. Like", "Like")
    with pytest.raises(ValueError, match="2 questions but 1 answers"):
        guide.concept_questions(nb, "nb")


def test_citations_are_read_with_code_in_the_heading():
    text = "see [§ The `[CLS]` token](../../notebooks/solutions/01_x.ipynb) and [§ B](README.md)"
    assert guide.cited_headings(text) == [("01_x.ipynb", "The `[CLS]` token")]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_nbgrader_source_marks_answers_and_adds_one_test_a_check(path):
    nb = nbformat.read(path, as_version=4)
    out = nbgrader_source.graded(nb, path.name)
    meta = [c.metadata["nbgrader"] for c in out.cells if "nbgrader" in c.metadata]
    answers = [m for m in meta if m["solution"]]
    tests = [m for m in meta if m["grade"]]
    exercise_cells = [c for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(answers) == len(exercise_cells) and not any(m["grade"] for m in answers)
    _, checks = nbgrader_source.check_names(nb, path.name)
    assert len(tests) == len(checks) >= 4 and all(m["points"] == 1 and m["locked"] for m in tests)
    assert len({m["grade_id"] for m in meta}) == len(meta), "grade ids must be unique"
    nbformat.validate(out)
    assert "nbgrader" not in str(nb.cells), "the input notebook is unchanged"
