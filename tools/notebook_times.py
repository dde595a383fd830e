"""Each lesson's wall time as a student gets it: a fresh kernel runs the instructor edition top
to bottom, in fast mode (COURSE_FAST=1) or in full mode (no COURSE_FAST, no CI: every model
trained in the notebook, every experiment re-run). A cell that raises stops that notebook and
is recorded, so a full-mode run also says whether each notebook still reaches what it asserts.

    python -m tools.notebook_times --mode full            # every lesson, about an hour
    python -m tools.notebook_times --mode fast 05 07      # only these

Appends to benchmarks/notebook-times.json (one entry per notebook and mode, the newest kept,
with the commit, the machine's cores and the three slowest cells); `make bench` prints the
table. Torch uses its default
threads, as in a student's kernel; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tools import LESSONS

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "notebooks" / "solutions"
RECORD = ROOT / "benchmarks" / "notebook-times.json"
TIMEOUT_S = 60 * 60  # one cell; full mode's longest cell trains for under 10 minutes


def environment(mode: str) -> dict[str, str]:
    """The kernel's environment: fast mode says COURSE_FAST=1; full mode clears the two
    variables that `config.fast_mode` reads."""
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_FAST", "CI")}
    if mode == "fast":
        env["COURSE_FAST"] = "1"
    return env


def run(path: Path, mode: str) -> dict:
    """Executes one notebook in a fresh kernel; its wall time and the first error, if any."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    error = None
    start = time.perf_counter()
    try:
        client.execute(env=environment(mode))  # the kernel's own environment, not this one's
    except CellExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"[:300]
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "error": error,
        "slowest_cells": slowest_cells(notebook),
    }


def slowest_cells(notebook, count: int = 3) -> list[dict]:
    """The cells that took longest, from the timestamps nbclient records in each executed
    cell: index, seconds and the cell's first line."""
    timed = []
    for index, cell in enumerate(notebook.cells):
        times = cell.get("metadata", {}).get("execution", {})
        began, ended = times.get("iopub.execute_input"), times.get("shell.execute_reply")
        if cell.cell_type != "code" or not (began and ended):
            continue
        seconds = datetime.datetime.fromisoformat(ended) - datetime.datetime.fromisoformat(began)
        first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
        timed.append(
            {"cell": index, "seconds": round(seconds.total_seconds(), 1), "starts": first_line[:80]}
        )
    return sorted(timed, key=lambda c: -c["seconds"])[:count]


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True)
    return out.stdout.decode().strip() or "unknown"


def load(path: Path = RECORD) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def table(record: dict) -> list[str]:
    """Markdown rows: each notebook's fast- and full-mode wall time, and whether it ran clean."""
    if not record:
        return ["No notebook wall times yet: `python -m tools.notebook_times --mode full`."]
    lines = [
        "Each notebook alone in a fresh kernel, top to bottom (instructor edition; "
        "`python -m tools.notebook_times`):",
        "",
        "| notebook | fast mode s | full mode s | full mode's slowest cell | measured |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(record):
        cells, when = [], []
        for mode in ("fast", "full"):
            entry = record[name].get(mode)
            if entry is None:
                cells.append("-")
                continue
            failed = f" (failed: {entry['error']})" if entry["error"] else ""
            cells.append(f"{entry['seconds']:.0f}{failed}")
            when.append(f"{mode} {entry['date']} at {entry['commit']}")
        slowest = record[name].get("full", {}).get("slowest_cells")
        cells.append(
            f"cell {slowest[0]['cell']}, {slowest[0]['seconds']:.0f} s" if slowest else "-"
        )
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {'; '.join(when)} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("fast", "full"), required=True)
    parser.add_argument("only", nargs="*", help="notebook numbers, e.g. 05 07 (default: all)")
    args = parser.parse_args(argv)
    paths = sorted(SOLUTIONS.glob(LESSONS))
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(n) for n in args.only)]
        if not paths:
            raise SystemExit(f"no lesson starts with {args.only}; pass numbers like 05 07")
    measured_at = {"commit": commit(), "cores": os.cpu_count()}
    failed = False
    for path in paths:
        result = run(path, args.mode) | measured_at | {"date": datetime.date.today().isoformat()}
        failed |= result["error"] is not None
        record = load()  # re-read each time: a run stopped half-way keeps what it measured
        record.setdefault(path.stem, {})[args.mode] = result
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        status = f"FAILED: {result['error']}" if result["error"] else "ok"
        print(f"{path.stem} {args.mode}: {result['seconds']:.0f} s, {status}", flush=True)
    print("\n".join(table(record)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
