"""Widget update time: `python -m tools.bench` prints a markdown table.

For each explorer in `widgets.__all__`: the time `demo()` takes to build it and draw its
first frame, then each of its `bench_moves`: milliseconds from a control change to new
frame bytes (the median over the moves), measured in the kernel with the default (dummy)
comm, so no browser is involved. The browser round trip (key press in JupyterLab to the new
image loaded in Chromium) is measured by the browser tests (`tests/browser/`), which keep it
in `artifacts/browser/latency.json`; this command prints it too when that file exists.
Then the course U-Net's training step against diffusers' (`tools.unet_speed`), the last
CI run's phases and per-notebook test times, and each notebook's fast- and full-mode wall time
alone in a fresh kernel (`tools.notebook_times`, recorded in benchmarks/).
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import widgets
from course_lib.bench import markdown_table
from course_lib.recipes import Row
from tools import notebook_times, unet_speed
from widgets.base import LRU, Explorer, Move


def update_times_ms(widget: Explorer, control: str, values: Sequence, moves: int) -> list[float]:
    """Ms for each `widget.controls[control].value = v` to put new bytes in `widget.frame`."""
    slider = widget.controls[control]
    times = []
    for value in itertools.islice(itertools.cycle(values), moves):
        if slider.value == value:
            continue
        before = widget.frame.value
        start = time.perf_counter()
        slider.value = value
        times.append(1000 * (time.perf_counter() - start))
        if widget.frame.value == before:
            raise RuntimeError(f"moving {control!r} to {value!r} did not change the frame")
    return times


def time_move(widget: Explorer, move: Move) -> Row:
    """One row: `move.before` set untimed, then the median over the timed moves."""
    for name, value in move.before.items():
        widget.controls[name].value = value
    values = widget.controls[move.control].options if move.values is None else move.values
    kept = widget.caches.get("frames")
    if move.uncached:  # a cache that keeps nothing: every move draws and encodes
        widget.caches["frames"] = LRU(0)
    try:
        times = update_times_ms(widget, move.control, values, move.moves)
    finally:
        if move.uncached:
            widget.caches["frames"] = kept
    what = f"{move.what} (median of {len(times)})"
    return Row(type(widget).__name__, what, statistics.median(times), unit="ms")


def bench(explorer: type[Explorer]) -> list[Row]:
    """Build `explorer.demo()`, timed, then time each of its `bench_moves`."""
    start = time.perf_counter()
    widget = explorer.demo()
    built = 1000 * (time.perf_counter() - start)
    rows = [Row(explorer.__name__, "demo(): build and draw the first frame", built, unit="ms")]
    return rows + [time_move(widget, move) for move in explorer.bench_moves]


BROWSER_LATENCY = Path(__file__).resolve().parent.parent / "artifacts" / "browser" / "latency.json"


def browser_table(records: list[dict]) -> str:
    """Markdown table of the browser round trips the browser tests recorded."""
    lines = [
        "| notebook | widget | control | moves | median ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['notebook']} | {r['widget']} | {r['control']} | {r['moves']} "
            f"| {r['median_ms']:.0f} | {r['max_ms']:.0f} |"
        )
    return "\n".join(lines)


def save_latencies(records: list[dict]) -> None:
    """Keep the browser tests' round trips (sorted, whichever worker ran which notebook)."""
    records = sorted(records, key=lambda r: (r["notebook"], r["widget"], r["control"]))
    BROWSER_LATENCY.parent.mkdir(parents=True, exist_ok=True)
    BROWSER_LATENCY.write_text(json.dumps(records, indent=1) + "\n")


def latency_summary(records: list[dict]) -> list[str]:
    """The lines the test run ends with: the round-trip table and where it is kept."""
    records = sorted(records, key=lambda r: (r["notebook"], r["widget"], r["control"]))
    where = BROWSER_LATENCY.relative_to(BROWSER_LATENCY.parents[2])
    return [
        "widget round trip in JupyterLab + Chromium (key press -> image loaded):",
        browser_table(records),
        f"(kept in {where}; `make bench` prints it)",
    ]


CI_PHASES = BROWSER_LATENCY.parents[1] / "ci-phases.tsv"  # written by .ci/run
CI_TEST_LOG = BROWSER_LATENCY.parents[1] / "ci-test.log"


def ci_report() -> list[str]:
    """The last `.ci/run` on this checkout: seconds per phase, then pytest's own totals."""
    if not CI_PHASES.exists():
        return ["No CI timings yet: `bash .ci/run` records them."]
    lines = ["| CI phase | seconds |", "|---|---|"]
    for row in CI_PHASES.read_text().splitlines():
        name, seconds = row.split("\t")
        lines.append(f"| {name} | {seconds} |")
    if CI_TEST_LOG.exists():  # e.g. "=== 1021 passed, 231 deselected in 402.31s (0:06:42) ==="
        totals = [line.strip("= ") for line in CI_TEST_LOG.read_text().splitlines()]
        lines += [f"pytest: {t}" for t in totals if " in " in t and "passed" in t]
    return lines


JUNIT = BROWSER_LATENCY.parents[1] / "junit.xml"  # written by `make test`


def test_run_times(junit: Path = JUNIT) -> list[str]:
    """Seconds each notebook took in the last `make test`: its cells under nbval (summed) and
    its browser test (run all cells in JupyterLab, then move every widget)."""
    import xml.etree.ElementTree as ET

    if not junit.exists():
        return ["No test timings yet: `make test` records them."]
    seconds: dict[tuple[str, str], float] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name, where = case.get("name", ""), case.get("classname", "")
        if name.startswith("Cell "):  # nbval: classname "notebooks.solutions.05_unet.ipynb"
            notebook = where.removesuffix(".ipynb").split(".")[-1]
            key = (notebook, "solutions" if ".solutions." in where else "student")
        elif name.startswith("test_notebook_runs_and_its_widgets"):
            key = (name.split("[")[-1].removesuffix(".ipynb]"), "browser")
        else:
            continue
        seconds[key] = seconds.get(key, 0.0) + float(case.get("time", 0))
    lines = [
        "| notebook | instructor (nbval) s | student (nbval) s | browser s |",
        "|---|---|---|---|",
    ]
    for notebook in sorted({k[0] for k in seconds}):
        cells = [seconds.get((notebook, kind)) for kind in ("solutions", "student", "browser")]
        shown = [f"{c:.0f}" if c is not None else "-" for c in cells]
        lines.append(f"| {notebook} | " + " | ".join(shown) + " |")
    return lines


def main() -> None:
    import sys

    if "--browser" not in sys.argv[1:]:  # --browser: only the figures the browser tests kept
        rows = []
        for name in widgets.__all__:
            rows += bench(getattr(widgets, name))
        print(markdown_table(rows))
        print()
        print("\n".join(unet_speed.report()) + "\n")  # ~1 minute, both models side by side
    print("\n".join(ci_report()) + "\n")
    print("\n".join(test_run_times()) + "\n")
    print("\n".join(notebook_times.table(notebook_times.load())) + "\n")
    if BROWSER_LATENCY.exists():
        print("Browser round trip, key press to new image loaded (JupyterLab + Chromium):\n")
        print(browser_table(json.loads(BROWSER_LATENCY.read_text())))
    else:
        print("No browser figures yet: `make test` (or `make bench-browser`) records them.")


if __name__ == "__main__":
    main()
