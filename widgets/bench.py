"""Widget update time: `python -m widgets.bench` prints a markdown table.

For each widget: milliseconds from a control change to new frame bytes (median of 50
moves), measured in the kernel with the default (dummy) comm, so no browser is involved.
The browser round trip is measured by the browser tests.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Sequence

from course_lib.bench import markdown_table
from course_lib.recipes import Row


def median_update_ms(widget, control: str, values: Sequence, moves: int = 50) -> float:
    """Median ms for `widget.controls[control].value = v` to put new bytes in `widget.frame`."""
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
    return statistics.median(times)


def patch_explorer() -> list[Row]:
    from widgets import PatchExplorer

    explorer = PatchExplorer.demo()  # a digit with 16 patches of 7x7; frame 0 drawn
    first = median_update_ms(explorer, "patch", range(1, 16), moves=15)  # each drawn once
    rows = [Row("PatchExplorer", "patch slider, first visit (median of 15)", first, unit="ms")]
    cached = median_update_ms(explorer, "patch", range(16))  # every frame now cached
    rows.append(Row("PatchExplorer", "patch slider, cached (median of 50)", cached, unit="ms"))
    return rows


def guidance_explorer() -> list[Row]:
    from widgets import GuidanceExplorer

    start = time.perf_counter()
    explorer = GuidanceExplorer.demo()  # digit 3, seed 0: 8 samples x 7 scales, DDIM-50
    first = 1000 * (time.perf_counter() - start)
    rows = [Row("GuidanceExplorer", "demo(): sample and encode the whole sweep", first, unit="ms")]
    labels = explorer.controls["guidance"].options
    cached = median_update_ms(explorer, "guidance", labels)  # every scale already cached
    rows.append(Row("GuidanceExplorer", "guidance slider, cached (median)", cached, unit="ms"))
    return rows


BENCHES: list[Callable[[], list[Row]]] = [patch_explorer, guidance_explorer]


def main() -> None:
    rows = []
    for bench in BENCHES:
        rows += bench()
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
