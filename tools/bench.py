"""Widget update time: `python -m tools.bench` prints a markdown table.

For each widget: milliseconds from a control change to new frame bytes (median of 50
moves), measured in the kernel with the default (dummy) comm, so no browser is involved.
The browser round trip (key press in JupyterLab to the new image loaded in Chromium) is
measured by the browser tests (`tests/browser/`), which keep it in
`artifacts/browser/latency.json`; this command prints it too when that file exists.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

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


class _Forgetful(dict):
    """A frame cache that keeps nothing, to time the draw-and-encode path."""

    def __setitem__(self, key, value) -> None:
        pass


def attention_explorer() -> list[Row]:
    from widgets import AttentionExplorer

    explorer = AttentionExplorer.demo()  # first digit's attention computed, frame drawn
    cache, explorer._cache = explorer._cache, _Forgetful()  # every move draws and encodes
    drawn = median_update_ms(explorer, "query", [*range(1, 17), 0])
    rows = [Row("AttentionExplorer", "query, frame drawn (median of 50)", drawn, unit="ms")]
    explorer._cache = cache
    cached = median_update_ms(explorer, "query", [*range(1, 17), 0])  # 16 first visits, then cached
    rows.append(Row("AttentionExplorer", "query, cached (median of 50)", cached, unit="ms"))
    explorer.controls["mode"].value = "rollout"
    layer = median_update_ms(explorer, "layer", [2, 3, 4, 1])  # 3 first visits, then cached
    rows.append(Row("AttentionExplorer", "layer, rollout (median of 50)", layer, unit="ms"))
    digits = list(explorer.controls["image"].options)[1:]  # the first is computed
    digit = median_update_ms(explorer, "image", digits, moves=len(digits))  # forward pass each
    rows.append(
        Row("AttentionExplorer", f"digit, first visit (median of {len(digits)})", digit, unit="ms")
    )
    return rows


def similarity_explorer() -> list[Row]:
    from widgets import SimilarityExplorer

    explorer = SimilarityExplorer.demo()  # 1,000 test images and 300 captions embedded once
    prompts = [f"a small {c} {d} in the top left" for c in ("red", "blue") for d in ("one", "two")]
    prompts += [f"a large {c} {d}" for c in ("green", "cyan", "yellow") for d in ("six", "nine")]
    new = median_update_ms(explorer, "prompt", prompts, moves=len(prompts))  # one text call each
    rows = [Row("SimilarityExplorer", "new prompt (median of 10)", new, unit="ms")]
    temperatures = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
    first = median_update_ms(explorer, "temperature", temperatures, moves=len(temperatures))
    rows.append(
        Row("SimilarityExplorer", "temperature slider, first visit (median of 8)", first, unit="ms")
    )
    cached = median_update_ms(explorer, "temperature", temperatures)
    rows.append(
        Row("SimilarityExplorer", "temperature slider, cached (median of 50)", cached, unit="ms")
    )
    image = median_update_ms(explorer, "image", range(1, 31), moves=30)
    rows.append(
        Row("SimilarityExplorer", "test image picker, first visit (median of 30)", image, unit="ms")
    )
    return rows


def noising_scrubber() -> list[Row]:
    from widgets import NoisingScrubber

    scrubber = NoisingScrubber.demo()  # a digit and a 96x96 photo, T = 1000
    name = "NoisingScrubber"
    first = median_update_ms(scrubber, "t", range(1, 1000, 20))  # 50 frames, each drawn once
    rows = [Row(name, "t slider, digit, first visit (median of 50)", first, unit="ms")]
    cached = median_update_ms(scrubber, "t", range(1, 1000, 20))
    rows.append(Row(name, "t slider, digit, cached (median of 50)", cached, unit="ms"))
    scrubber.controls["image"].value = "photo"  # computes every x_t of the photo once
    photo = median_update_ms(scrubber, "t", range(2, 1000, 20))
    rows.append(Row(name, "t slider, 96x96 photo, first visit (median of 50)", photo, unit="ms"))
    return rows


def denoising_scrubber() -> list[Row]:
    from widgets import DenoisingScrubber

    scrubber = DenoisingScrubber.demo()  # ddpm-digits, 4 samples, DDIM-50 sampled once
    name = "DenoisingScrubber"
    first = median_update_ms(scrubber, "step", range(1, 41), moves=40)
    rows = [Row(name, "step slider, first visit (median of 40)", first, unit="ms")]
    cached = median_update_ms(scrubber, "step", range(0, 41))
    rows.append(Row(name, "step slider, cached (median of 50)", cached, unit="ms"))
    return rows


def guidance_explorer() -> list[Row]:
    from widgets import GuidanceExplorer

    start = time.perf_counter()
    explorer = GuidanceExplorer.demo()  # digit 3, seed 0: 8 samples x 7 scales, DDIM-20
    first = 1000 * (time.perf_counter() - start)
    rows = [Row("GuidanceExplorer", "demo(): sample and encode the whole sweep", first, unit="ms")]
    labels = explorer.controls["guidance"].options
    cached = median_update_ms(explorer, "guidance", labels)  # every scale already cached
    rows.append(Row("GuidanceExplorer", "guidance slider, cached (median)", cached, unit="ms"))
    return rows


class _Forgetful(dict):
    """A frame cache that keeps nothing, to time the draw-and-encode path."""

    def __setitem__(self, key, value) -> None:
        pass


def latent_explorer() -> list[Row]:
    from widgets import LatentExplorer

    explorer = LatentExplorer.demo()  # ldm-digits; 10 test images encoded, latents view drawn
    name = "LatentExplorer"
    explorer.controls["view"].value = "interpolate"
    ts = [round(0.05 * k, 2) for k in range(21)]
    live = median_update_ms(explorer, "t", ts)  # every move decodes three latents and encodes
    rows = [Row(name, "interpolation t slider, live decode (median of 50)", live, unit="ms")]
    start = time.perf_counter()
    explorer.controls["view"].value = "generate"  # samples 4 images, DDIM-50, every step decoded
    first = 1000 * (time.perf_counter() - start)
    rows.append(Row(name, "generate view: first generation (4 samples, DDIM-50)", first, unit="ms"))
    steps = range(41)  # the last steps can differ by less than a grey level: stop short
    median_update_ms(explorer, "step", steps, moves=len(steps))  # draw each frame once
    cached = median_update_ms(explorer, "step", steps)
    rows.append(Row(name, "generate step slider, cached (median of 50)", cached, unit="ms"))
    return rows


BENCHES: list[Callable[[], list[Row]]] = [
    patch_explorer,
    attention_explorer,
    similarity_explorer,
    noising_scrubber,
    denoising_scrubber,
    guidance_explorer,
    latent_explorer,
]


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


def main() -> None:
    import sys

    if "--browser" not in sys.argv[1:]:  # --browser: only the figures the browser tests kept
        rows = []
        for bench in BENCHES:
            rows += bench()
        print(markdown_table(rows))
        print()
    if BROWSER_LATENCY.exists():
        print("Browser round trip, key press to new image loaded (JupyterLab + Chromium):\n")
        print(browser_table(json.loads(BROWSER_LATENCY.read_text())))
    else:
        print("No browser figures yet: `make test` (or `make bench-browser`) records them.")


if __name__ == "__main__":
    main()
