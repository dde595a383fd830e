"""Write an nbgrader course folder from the course's notebooks:
`python -m tools.nbgrader_source DIR [--edition instructor|student]`.

nbgrader grades only the cells its metadata marks, and our notebooks carry none: every answer
cell has the tag `exercise`, and the checks (`course_lib.exercises`) print a verdict without
raising. This writes DIR/source/<stem>/<stem>.ipynb for every notebook, with

- each `exercise` cell marked an autograded answer (nbgrader's "solution", not graded);
- after the `exercises.summary([...])` cell, one locked autograder test per check it lists,
  `assert check.passed, str(check)`, worth one point: it passes only when the check said Correct;

and DIR/nbgrader_config.py, unless it exists. With the instructor edition (the default) as the
source, `nbgrader generate_assignment` replaces each solution region by its own stub; with the
student edition there are no regions left, and the release keeps our stubs (the planted bugs
of find-the-bug exercises, `NAME = None` for predictions). docs/instructor/README.md has the
steps.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
EDITIONS = {"instructor": ROOT / "notebooks" / "solutions", "student": ROOT / "notebooks"}
SUMMARY = re.compile(r"exercises\.summary\(\s*\[([^\]]*)\]")
CONFIG = """c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = "patches-to-pixels"
# Fast mode needs no cell longer than a few minutes on 2 CPU cores; nbgrader's default is 30 s.
c.Execute.timeout = 600
"""


def nbgrader_metadata(grade_id: str, *, solution: bool, points: int = 0) -> dict:
    """nbgrader's cell metadata (schema 3): an answer cell (solution) or a test cell (points)."""
    meta = {"grade": not solution, "grade_id": grade_id, "locked": not solution}
    meta.update({"schema_version": 3, "solution": solution, "task": False})
    if not solution:
        meta["points"] = points
    return meta


def check_names(nb: nbformat.NotebookNode, name: str) -> tuple[int, list[str]]:
    """The index of the summary cell and the names of the checks it lists."""
    for index, cell in enumerate(nb.cells):
        match = SUMMARY.search(cell.source) if cell.cell_type == "code" else None
        if match:
            return index, [n.strip() for n in match.group(1).split(",") if n.strip()]
    raise ValueError(f"{name}: no `exercises.summary([...])` cell lists the checks")


def graded(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """A copy of one notebook with nbgrader's metadata and one test cell per check."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if "exercise" in cell.metadata.get("tags", []):
            cell.metadata["nbgrader"] = nbgrader_metadata(f"answer-{cell.id}", solution=True)
    index, checks = check_names(nb, name)
    tests = []
    for check in checks:
        test = nbformat.v4.new_code_cell(f"assert {check}.passed, str({check})")
        test.id = f"test-{check}".replace("_", "-")[:64]
        test.metadata["nbgrader"] = nbgrader_metadata(test.id, solution=False, points=1)
        tests.append(test)
    nb.cells[index + 1 : index + 1] = tests
    return nb


def write_course(directory: Path, edition: str = "instructor") -> list[Path]:
    """DIR/source/<stem>/<stem>.ipynb for every notebook of the edition; returns the paths."""
    written = []
    for path in sorted(EDITIONS[edition].glob("[0-9][0-9]_*.ipynb")):
        target = directory / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(graded(nbformat.read(path, as_version=4), path.name), target)
        written.append(target)
    config = directory / "nbgrader_config.py"
    if not config.exists():
        config.write_text(CONFIG)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="the nbgrader course folder to write into")
    parser.add_argument("--edition", choices=sorted(EDITIONS), default="instructor")
    args = parser.parse_args(argv)
    written = write_course(args.directory, args.edition)
    print(f"{len(written)} assignments written to {args.directory / 'source'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
