"""Quality and speed of every shipped model: `python -m course_lib.bench [NAME ...]`.

Prints one markdown table. Each checkpoint's rows come from `benchmark()` in its recipe
(`course_lib.recipes`); widget timings are printed by `python -m tools.bench`.
"""

from __future__ import annotations

import argparse
import time

from course_lib import recipes
from course_lib.recipes import Row

HEADER = ["model", "metric", "value", "target"]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {recipes.names()}")
    args = parser.parse_args(argv)
    rows = []
    for name in args.names or recipes.names():
        start = time.perf_counter()
        rows += recipes.get(name).benchmark()
        rows.append(Row(name, "benchmark wall time", time.perf_counter() - start, unit="s"))
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
