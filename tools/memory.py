"""Memory over a long session: `python -m tools.memory` prints a markdown table.

For each explorer in `widgets.__all__`, in a fresh process: build `demo()`, then make 1,000
random moves, each setting one control (picked at random) to a random value it allows, and
read the resident memory (RSS) after the demo and every 100 moves. Memory is read after
garbage collection and glibc's `malloc_trim`, so what the allocator freed but kept does not
count. The goal (issue 13): 1,000 moves grow an explorer's memory by less than 50 MB.

    python -m tools.memory                       # every explorer, 1,000 moves each
    python -m tools.memory --moves 200 PatchExplorer
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import ipywidgets as ipw

PROMPTS = ["a large red seven", "a small blue two in the top left", "a large purple one", ""]
EVERY = 100  # moves between two readings


def random_move(explorer, rng: random.Random) -> None:
    """Set one control of `explorer`, picked at random, to a random value it allows (a
    button: click it)."""
    name = rng.choice([n for n, c in explorer.controls.items() if not isinstance(c, ipw.Play)])
    control = explorer.controls[name]
    if isinstance(control, (ipw.Dropdown, ipw.ToggleButtons, ipw.SelectionSlider)):
        control.index = rng.randrange(len(control.options))
    elif isinstance(control, ipw.FloatLogSlider):
        control.value = control.base ** rng.uniform(control.min, control.max)
    elif isinstance(control, ipw.FloatSlider):
        control.value = rng.uniform(control.min, control.max)
    elif isinstance(control, ipw.IntSlider):
        control.value = rng.randint(control.min, control.max)
    elif isinstance(control, ipw.Text):
        control.value = rng.choice(PROMPTS)
    elif isinstance(control, ipw.Button):
        control.click()
    else:
        raise TypeError(f"no random move for {name!r}, a {type(control).__name__}")


def resident_mb() -> float:
    """This process's resident memory in MB, after a collection and `malloc_trim` (Linux)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: what the allocator kept still counts
        pass
    statm = Path("/proc/self/statm")
    if not statm.exists():
        raise RuntimeError("tools.memory reads /proc/self/statm: run it on Linux")
    pages = int(statm.read_text().split()[1])
    return pages * 4096 / 2**20


def measure(name: str, moves: int, seed: int = 0) -> dict:
    """The readings for one explorer: RSS after its demo and every EVERY moves, in MB."""
    import widgets

    explorer = getattr(widgets, name).demo()
    rng, start = random.Random(seed), time.perf_counter()
    readings = [round(resident_mb(), 1)]
    for done in range(1, moves + 1):
        random_move(explorer, rng)
        if done % EVERY == 0 or done == moves:
            readings.append(round(resident_mb(), 1))
    if "<pre" in explorer.status.value:  # a move that failed would not have cost memory
        raise RuntimeError(f"{name}: a random move failed: {explorer.status.value}")
    cached = sum(lru.bytes for lru in explorer.caches.values()) / 2**20
    seconds = time.perf_counter() - start
    return {
        "name": name,
        "moves": moves,
        "seconds": round(seconds),
        "rss": readings,
        "cached_mb": round(cached, 1),
    }


def in_fresh_process(name: str, moves: int) -> dict:
    """`measure` in a new Python process, so one explorer's memory never counts for another."""
    command = [sys.executable, "-m", "tools.memory", "--one", name, "--moves", str(moves)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name}: the measurement failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    """Markdown: per explorer, RSS after the demo, growth after 100 and after all moves."""
    lines = [
        "| explorer | moves | seconds | RSS after demo (MB) | growth, 100 moves | growth, all "
        "(MB) | in caches at the end (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        first, base = r["rss"][1] - r["rss"][0], r["rss"][0]
        lines.append(
            f"| {r['name']} | {r['moves']} | {r['seconds']} | {base:.0f} | {first:+.1f} | "
            f"{r['rss'][-1] - base:+.1f} | {r['cached_mb']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import widgets

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="explorers (default: widgets.__all__)")
    parser.add_argument("--moves", type=int, default=1000)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: print JSON
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.moves)))
        return
    unknown = sorted(set(args.names) - set(widgets.__all__))
    if unknown:
        parser.error(f"unknown explorers {unknown}; choose from {widgets.__all__}")
    results = [in_fresh_process(name, args.moves) for name in args.names or widgets.__all__]
    print(table(results))


if __name__ == "__main__":
    main()
