"""The demo gallery (notebooks/gallery.ipynb, served by `make demo`): every explorer of
`widgets.__all__` built from the shipped weights, in the order of the notebooks, for the
instructor at the front of the room.

`build()` builds them all, then has each visit its `slow_settings()` (`Explorer.precompute`)
under one progress bar, so that afterwards no control samples: every move only indexes a
cache. The explorers and the text between them are shown large (`ZOOM`, one setting for
all), the labels written out in full, so nothing needs reading from up close or a mouse
hover.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import ipywidgets as ipw

import widgets
from widgets.base import Explorer

ORDER = (  # in course order: the explorer of notebook 01, 02, ...
    "PatchExplorer",
    "AttentionExplorer",
    "SimilarityExplorer",
    "NoisingScrubber",
    "DenoisingScrubber",
    "GuidanceExplorer",
    "LatentExplorer",
    "VLMExplorer",
    "StepsExplorer",
)
ZOOM = 1.5  # how much larger than in a notebook every explorer is drawn (controls and frames)
# Voila's page takes Font Awesome, the Play buttons' icons, from a CDN: offline there is none,
# so the gallery draws them as plain characters
ICONS = {
    "play": "\\25B6",
    "pause": "\\275A\\275A",
    "stop": "\\25A0",
    "retweet": "\\21BB",
    "repeat": "\\21BB",
}
STYLE = """<style>
.p2p-gallery, .jp-RenderedMarkdown {{ zoom: {zoom}; }}
.p2p-gallery img.widget-image {{ image-rendering: pixelated; max-width: 100%; height: auto; }}
{icons}
</style>"""
ICON = (
    '.p2p-gallery .widget-play .fa-{name}::before {{ content: "{char}"; font-family: sans-serif; }}'
)


def names() -> list[str]:
    """Every explorer's class name, in course order; one missing from ORDER comes last."""
    ordered = [name for name in ORDER if name in widgets.__all__]
    return ordered + sorted(set(widgets.__all__) - set(ordered))


def for_the_room(explorer: Explorer) -> Explorer:
    """Labels written out in full (none cut short, to be read on hover) and the gallery's
    CSS class, which `style()` enlarges."""
    for control in explorer.controls.values():
        if hasattr(control.style, "description_width"):
            control.style.description_width = "initial"
    explorer.add_class("p2p-gallery")
    return explorer


def style(zoom: float = ZOOM) -> ipw.HTML:
    """The CSS that draws every gallery explorer, and the text between them, `zoom` times
    larger, pixels kept sharp."""
    icons = "\n".join(ICON.format(name=name, char=char) for name, char in ICONS.items())
    return ipw.HTML(STYLE.format(zoom=zoom, icons=icons))


def say(text: str) -> None:
    """A line on the terminal that runs `make demo` (the kernel's own stderr)."""
    print(f"gallery: {text}", file=sys.__stderr__, flush=True)


class Progress(ipw.VBox):
    """The start-up on the page: a line saying what is being done, and a bar. Show it in a
    cell of its own, before `build`: a page served by Voila shows a cell's output only once
    the cell has run, and the bar must be there while `build` runs."""

    def __init__(self):
        self.line = ipw.HTML("Building the explorers from the shipped weights...")
        self.bar = ipw.IntProgress(min=0, max=len(names()), description="building")
        self.bar.style.description_width = "initial"
        super().__init__([self.line, self.bar])

    def moved(self, first: int) -> Callable[[int, int], None]:
        """A `precompute` callback that counts on from `first`."""
        return lambda done, total: setattr(self.bar, "value", first + done)


def build(full: bool = True, progress: Progress | None = None) -> dict[str, Explorer]:
    """Every explorer from its `demo()`, then precomputed under one progress bar: all its
    slow settings (`full`), or the two nearest the start (fast mode, for CI: what a key
    press and its way back reach; `Explorer.nearest_first`). The bar is hidden when done.
    Returns class name -> explorer, in course order.
    """
    progress, start, explorers = progress or Progress(), time.perf_counter(), {}
    line, bar = progress.line, progress.bar
    for name in names():
        explorers[name] = for_the_room(getattr(widgets, name).demo())
        bar.value += 1
    say(f"built {len(explorers)} explorers in {time.perf_counter() - start:.0f} s")
    limit = None if full else 2
    todo = {name: len(e.slow_settings()[:limit]) for name, e in explorers.items()}
    bar.value, bar.max, bar.description = 0, max(1, sum(todo.values())), "precomputing"
    for name, explorer in explorers.items():
        if not todo[name]:
            continue
        began = time.perf_counter()
        line.value = f"Precomputing {name}: every setting that samples, once ({todo[name]})"
        explorer.precompute(limit, progress.moved(bar.value))
        say(f"{name}: {todo[name]} settings in {time.perf_counter() - began:.0f} s")
    say(f"ready in {time.perf_counter() - start:.0f} s")
    progress.layout.display = "none"  # hidden, not closed: a closed one shows an error
    return explorers
