"""Generate the student edition (notebooks/*.ipynb) from the instructor edition, the source
(notebooks/solutions/*.ipynb): `make student`, or `python -m tools.student [--check]`.

Conventions in the source (nbgrader's markers, so nbgrader can use it as it is):

- Code between `### BEGIN SOLUTION` and `### END SOLUTION` is the answer. In the student
  edition the region becomes, at the marker's indentation:
  - the region's `# STUB: code` lines, uncommented, when it has any (find-the-bug: the
    planted bug is handed out);
  - else `raise NotImplementedError("...")` with the text of the region's `# HINT: ...` line;
  - else, when every line is a plain assignment `NAME = ...` (a prediction), `NAME = None`.
- Markdown between `<!-- BEGIN ANSWER -->` and `<!-- END ANSWER -->` is removed.
- `expect="Correct"` (the summary cell's expectation) becomes `expect="Not yet"`.
- Outputs and execution counts are cleared; cell ids, tags and metadata are kept.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

import nbformat

from tools import generated

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "notebooks" / "solutions"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
ANSWER = re.compile(r"\n?<!-- BEGIN ANSWER -->.*?<!-- END ANSWER -->", re.DOTALL)
LINE_LENGTH = 100  # ruff's line-length in pyproject.toml: the stubs are formatted
ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)\s*=(?!=)")


def stub(region: list[str], indent: str, where: str) -> list[str]:
    """The student's lines for one solution region (see the module docstring)."""
    body = [line.strip() for line in region if line.strip()]
    stubs = [line.split("# STUB:", 1)[1].strip() for line in body if line.startswith("# STUB:")]
    if stubs:
        return [indent + line for line in stubs]
    hints = [line.split("# HINT:", 1)[1].strip() for line in body if line.startswith("# HINT:")]
    if hints:
        message = json.dumps(" ".join(hints), ensure_ascii=False)  # double quotes, as ruff
        line = f"{indent}raise NotImplementedError({message})"
        if len(line) <= LINE_LENGTH:
            return [line]
        return [f"{indent}raise NotImplementedError(", f"{indent}    {message}", f"{indent})"]
    names = [ASSIGNMENT.match(line) for line in body if not line.startswith("#")]
    if names and all(names):
        return [f"{indent}{m.group(1)} = None  # your answer" for m in names]
    raise ValueError(
        f"{where}: a solution region needs # STUB: or # HINT: lines, or be assignments"
    )


def strip_solutions(source: str, where: str) -> str:
    """Replace every solution region of one code cell by its stub."""
    out, region, indent = [], None, ""
    for line in source.splitlines():
        if line.strip() == BEGIN:
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif line.strip() == END:
            if region is None:
                raise ValueError(f"{where}: {END} without {BEGIN}")
            out += stub(region, indent, where)
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None:
        raise ValueError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def student_edition(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student edition of one instructor notebook (a new object; the input is unchanged)."""
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        where = f"{name} cell {index}"
        if cell.cell_type == "markdown":
            cell.source = ANSWER.sub("", cell.source).rstrip()
        elif cell.cell_type == "code":
            source = strip_solutions(cell.source, where)
            cell.source = source.replace('expect="Correct"', 'expect="Not yet"')
            cell.outputs, cell.execution_count = [], None
    return nb


def render(path: Path) -> str:
    """The student edition of notebooks/solutions/<path.name>, as the text to write."""
    nb = nbformat.read(path, as_version=4)
    return nbformat.writes(student_edition(nb, path.name)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if an edition is stale")
    args = parser.parse_args(argv)
    outputs = ((ROOT / "notebooks" / p.name, render(p)) for p in sorted(SOURCE.glob("*.ipynb")))
    return generated.sync(outputs, check=args.check, what="student edition")


if __name__ == "__main__":
    sys.exit(main())
