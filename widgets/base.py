"""Explorer: the one base every widget of the course stands on.

An explorer is an `ipywidgets.VBox`: rows of controls, one `ipywidgets.Image` (`.frame`)
whose bytes change, a progress bar when it samples, and a status line (`.status`) for a
readout, or for the error when a callback fails. The base owns that plumbing; a subclass
says what is particular to it.

A subclass declares (class attributes):
    rows          the controls' names, row by row, above the frame (default: one row of all)
    frame_format  "png" (maps, clean images) or "jpeg" (noisy frames)
    samples       True: a progress bar under the frame, for `show_progress`
    cache_limits  cache name -> how many entries it keeps; the least recently used go first
    cache_megabytes  cache name -> how many MB of arrays it keeps (default CACHE_MEGABYTES)
    bench_moves   what `python -m tools.bench` times: `Move`s over the demo's controls
    slow_text     Text controls whose new values sample (a prompt): `precompute` greys them
and implements:
    __init__      check its inputs, keep its data, then `super().__init__(controls)`
    draw()        put the frame for the controls' values in `.frame`, a readout in `.status`
    changed(name) optional: control `name` moved (None: the first draw); by default `draw()`
    static()      a matplotlib figure of a few representative frames, for pages without a kernel
    demo()        a classmethod: the explorer built from shipped weights, in one call
    slow_settings()  optional: the control settings that sample, for `precompute`
Helpers: `LRU` (the bounded cache behind `cached`), `nbytes` (what a cached value weighs),
`play_for` (a Play button linked to a slider), the `check_*` helpers (refuse bad images,
frame scales, seeds, counts and prompts with what to pass), `Move` (a benchmark row).
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar

import ipywidgets as ipw
import numpy as np
import torch

from widgets import frames

CACHE_MEGABYTES = 8.0  # what one cache may hold unless the explorer says otherwise


def nbytes(value: Any) -> int:
    """The bytes of array data in a cached value: tensors, NumPy arrays and bytes, also
    inside tuples, lists, dicts and dataclasses (anything else counts as 0)."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


class LRU:
    """A cache of at most `limit` entries and `megabytes` of array data (`nbytes`); past
    either, the least recently used go first. The newest entry stays, however large."""

    def __init__(self, limit: int, megabytes: float = CACHE_MEGABYTES):
        self.limit, self.max_bytes = limit, int(megabytes * 2**20)
        self.bytes = 0  # the array data held now
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()  # value, bytes

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value stored for `key`, else `compute()`, stored (an error stores nothing)."""
        if key in self._entries:
            self._entries.move_to_end(key)  # now the most recently used
            return self._entries[key][0]
        value = compute()
        size = nbytes(value)
        self._entries[key] = (value, size)
        self.bytes += size
        while len(self._entries) > self.limit or (
            self.bytes > self.max_bytes and len(self._entries) > 1
        ):
            _, (_, gone) = self._entries.popitem(last=False)  # the least recently used
            self.bytes -= gone
        return value

    def keys(self) -> list[Hashable]:
        """The stored keys, least recently used first."""
        return list(self._entries)

    def values(self) -> list[Any]:
        """The stored values, least recently used first."""
        return [value for value, _ in self._entries.values()]

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)


@dataclasses.dataclass(frozen=True)
class Move:
    """One row of `python -m tools.bench`: set `control` to each of `values` in turn (cycling,
    `moves` times) and time each change until the frame has new bytes."""

    what: str  # the row's label, e.g. "t slider, first visit"
    control: str  # a name in `.controls`
    values: Sequence | None = None  # None: every option of the control
    moves: int = 50
    before: dict = dataclasses.field(default_factory=dict)  # controls set first, untimed
    uncached: bool = False  # True: the "frames" cache keeps nothing, so each move draws


def check_scale(scale, optional: bool = False) -> None:
    """Screen pixels per image pixel: a positive int (or None, where the widget picks one)."""
    if scale is None and optional:
        return
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        fallback = " or None (fit the frame)" if optional else ""
        raise ValueError(f"scale must be a positive int, e.g. 4{fallback}, got {scale!r}")


def check_seeds(seeds) -> tuple[int, ...]:
    """A non-empty sequence of int seeds (not bools, not floats), e.g. (0, 1, 2)."""
    if isinstance(seeds, int) or not seeds:
        raise ValueError(
            f"pass a sequence of at least one seed, e.g. seeds=(0, 1, 2), got {seeds!r}"
        )
    if any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise TypeError(f"seeds must be ints, e.g. seeds=(0, 1, 2), got {seeds!r}")
    return tuple(seeds)


def check_seed(seed) -> int:
    """One int seed for a torch.Generator, e.g. 0."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, e.g. seed=0, got {type(seed).__name__} {seed!r}")
    return seed


def check_count(value, name: str, most: int) -> int:
    """A count from 1 to `most` given as an int (not a bool): steps, images, top_k."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ValueError(
            f"{name} must be an int from 1 to {most} (1..{most} inclusive), got {value!r}"
        )
    return value


def check_prompt(prompt, name: str = "prompt") -> str:
    """A prompt typed into a text box: a string (it may be empty)."""
    if not isinstance(prompt, str):
        raise TypeError(f"{name} must be a string, e.g. 'a large red seven', got {prompt!r}")
    return prompt


def check_images(images: dict, fits: Callable[[torch.Tensor], bool], needs: str) -> None:
    """Refuse no images, or an image (name -> tensor) that does not fit: "image 'x' {needs}"."""
    if not isinstance(images, dict):
        raise TypeError(
            "images must be a dict of name -> tensor, e.g. {'digit': x[0]}, "
            f"got {type(images).__name__}"
        )
    if not images:
        raise ValueError("pass at least one image, e.g. {'digit': tensor of shape (1, 28, 28)}")
    for name, image in images.items():
        if not isinstance(image, torch.Tensor) or not fits(image):
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image)
            raise ValueError(f"image {name!r} {needs}, got {shape}")


def play_for(slider: ipw.Widget, interval: int, step: int = 1) -> ipw.Play:
    """A Play button that moves `slider` in the browser (jslink), with no kernel round trip
    to advance it; a SelectionSlider is moved through its index. Put both in one row."""
    options = {"step": step, "interval": interval, "description": "play"}
    if isinstance(slider, ipw.SelectionSlider):
        play = ipw.Play(min=0, max=len(slider.options) - 1, **options)
        ipw.jslink((play, "value"), (slider, "index"))
    else:
        play = ipw.Play(min=slider.min, max=slider.max, **options)
        ipw.jslink((play, "value"), (slider, "value"))
        ipw.jslink((play, "max"), (slider, "max"))  # a slider whose range changes keeps its Play
    return play


class Explorer(ipw.VBox):
    """Controls over one frame, a status line, bounded caches. See the module docstring."""

    rows: ClassVar[tuple[tuple[str, ...], ...] | None] = None
    frame_format: ClassVar[str] = "png"
    samples: ClassVar[bool] = False
    cache_limits: ClassVar[dict[str, int]] = {"frames": 256}
    cache_megabytes: ClassVar[dict[str, float]] = {}
    bench_moves: ClassVar[tuple[Move, ...]] = ()
    slow_text: ClassVar[tuple[str, ...]] = ()

    def __init__(self, controls: dict[str, ipw.Widget]):
        self.controls = controls
        self.frame = frames.new_frame(self.frame_format)
        self.status = ipw.HTML(value="")
        self.progress = None
        self._progress_start: tuple[float, int] | None = None
        self._raise_errors = False  # True while precomputing: a failure stops it
        if self.samples:
            self.progress = ipw.IntProgress(min=0, max=1, value=0, description="sampling")
        self.caches = {
            name: LRU(limit, self.cache_megabytes.get(name, CACHE_MEGABYTES))
            for name, limit in self.cache_limits.items()
        }
        for name, control in controls.items():
            if not isinstance(control, ipw.Play):  # a Play moves its slider in the browser
                self.on_change(lambda _=None, name=name: self.changed(name), name)
        super().__init__(self.arrange())
        self.changed(None)  # the first frame; an error here is raised, not shown

    # -- what a subclass implements ---------------------------------------------------

    def draw(self) -> None:
        """Show the frame for the controls' current values, and a readout in the status."""
        raise NotImplementedError(f"{type(self).__name__} must implement draw()")

    def changed(self, name: str | None) -> None:
        """Control `name` moved (None: building). Override to update other controls first."""
        self.draw()

    def static(self):
        """A matplotlib figure of a few representative frames (GitHub, nbviewer, PDF, slides)."""
        raise NotImplementedError(f"{type(self).__name__} must implement static()")

    @classmethod
    def demo(cls) -> Explorer:
        """The explorer built from the shipped pretrained weights, in one call."""
        raise NotImplementedError(f"{cls.__name__} must implement demo()")

    def slow_settings(self) -> list[dict[str, Any]]:
        """Every setting of the choosing controls that samples (control name -> value), in
        the order `precompute` visits them; none by default (every move draws at once)."""
        return []

    # -- what the base does for every explorer -----------------------------------------

    def arrange(self) -> list[ipw.Widget]:
        """The children: a row of controls for each of `rows`, the frame, progress, status."""
        rows = self.rows or (tuple(self.controls),)
        boxes = [ipw.HBox([self.controls[name] for name in row]) for row in rows]
        return [*boxes, self.frame, *([self.progress] if self.progress else []), self.status]

    def precompute(self, limit: int | None = None, progress: Callable | None = None) -> int:
        """Visit the first `limit` (None: all) of `slow_settings()` as a control move would,
        so that each is cached before anyone moves there (the demo gallery), then return to
        the starting values; the caches grow to keep all of it, and the `slow_text` controls
        are greyed out, since a new prompt would sample. progress(done, total) after each
        setting. Returns how many settings were visited."""
        settings = self.slow_settings()[:limit]
        start = {name: self.controls[name].value for name in self.choices()}
        for cache in self.caches.values():
            cache.limit = cache.max_bytes = float("inf")  # keep everything while visiting
        self._raise_errors = True
        try:
            with self.held():  # the browser gets the last frame, not every one visited
                for done, setting in enumerate(settings, 1):
                    self.set_values(setting)
                    if progress is not None:
                        progress(done, len(settings))
                self.set_values(start)
        finally:
            self._raise_errors = False
            for name, cache in self.caches.items():
                cache.limit = max(self.cache_limits[name], len(cache))
                budget = self.cache_megabytes.get(name, CACHE_MEGABYTES) * 2**20
                cache.max_bytes = max(int(budget), cache.bytes)
        for name in self.slow_text:
            self.controls[name].disabled = True
        return len(settings)

    @contextlib.contextmanager
    def held(self):
        """Within: changes to the frame, status, progress bar and controls reach the browser
        only at the end, once each (`hold_sync`)."""
        with contextlib.ExitStack() as stack:
            for widget in [self.frame, self.status, self.progress, *self.controls.values()]:
                if widget is not None:
                    stack.enter_context(widget.hold_sync())
            yield

    def nearest_first(self, name: str) -> list:
        """The values control `name` offers, its current value first, then by distance from it
        (one step up before one step down): in `slow_settings` the settings the first key
        presses reach come first, so a short `precompute(limit)` covers them."""
        control = self.controls[name]
        if hasattr(control, "options"):
            values = [o[1] if isinstance(o, tuple) else o for o in control.options]
        else:
            values = list(range(control.min, control.max + 1, control.step))
        here = values.index(control.value)
        return [
            values[i] for i in sorted(range(len(values)), key=lambda i: (abs(i - here), i < here))
        ]

    def choices(self) -> list[str]:
        """The names of the controls that hold a value to set (not Buttons, not Play)."""
        skip = (ipw.Button, ipw.Play)
        return [name for name, c in self.controls.items() if not isinstance(c, skip)]

    def set_values(self, values: dict[str, Any]) -> None:
        """Set controls by name, in order, each as if moved (its frame is drawn)."""
        for name, value in values.items():
            self.controls[name].value = value

    def on_change(self, callback: Callable, *names: str) -> None:
        """Call `callback` when a named control changes value (a Button: is clicked)."""
        wrapped = self.shows_errors(callback)
        for name in names:
            control = self.controls[name]
            if isinstance(control, ipw.Button):
                control.on_click(wrapped)
            else:
                control.observe(wrapped, "value")

    def shows_errors(self, callback: Callable) -> Callable:
        """`callback`, but an exception shows in the status line instead of vanishing (in
        JupyterLab an observer's exception is otherwise invisible)."""

        def wrapped(*args, **kwargs):
            try:
                return callback(*args, **kwargs)
            except Exception as err:  # shown to the person moving the slider
                if self._raise_errors:
                    raise
                self.show_error("".join(traceback.format_exception_only(type(err), err)))
                return None

        return wrapped

    def show_error(self, message: str) -> None:
        style = "color:#b00020;white-space:pre-wrap"
        self.status.value = f"<pre style='{style}'>{html.escape(message)}</pre>"

    def show(self, data: bytes, fmt: str | None = None) -> None:
        """Swap the frame's bytes (and its format, if given) in one message to the browser."""
        with self.frame.hold_sync():
            if fmt is not None:
                self.frame.format = fmt
            self.frame.value = data

    def show_progress(self, done: int, total: int) -> None:
        """A pipeline callback: `done` of `total` sampling steps, and the seconds left."""
        now = time.perf_counter()
        if done <= 1 or self._progress_start is None:
            self._progress_start = (now, done)
        start, first = self._progress_start
        left = ""
        if done > first:  # the time per step so far, times the steps still to go
            left = f", ~{(now - start) / (done - first) * (total - done):.0f} s left"
        self.progress.max, self.progress.value = total, done
        self.progress.description = f"{done}/{total}{left}" if done < total else "sampled"

    def cached(self, key: Hashable, compute: Callable[[], Any], cache: str = "frames") -> Any:
        """The value for `key` in the named cache, computed by `compute()` the first time."""
        return self.caches[cache].get(key, compute)

    def values(self) -> dict[str, Any]:
        """Every control's current value, by name."""
        return {name: control.value for name, control in self.controls.items()}
