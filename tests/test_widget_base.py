"""What every explorer shares (`widgets.base`): bounded caches, errors shown in the status
line, the contract each class of `widgets.__all__` keeps, memory that stays bounded."""

import random

import ipywidgets as ipw
import matplotlib.pyplot as plt
import numpy as np
import pytest
import tiny
import torch

import widgets
from course_lib import diffusion
from tools.memory import random_move
from widgets.base import LRU, Explorer, Move, nbytes, play_for


class Squares(Explorer):
    """The smallest explorer: a slider n, a status that reads n squared; n = 3 is refused."""

    cache_limits = {"frames": 2}

    def __init__(self, n: int = 0):
        super().__init__({"n": ipw.IntSlider(min=0, max=9, value=n, description="n")})

    def draw(self) -> None:
        n = self.controls["n"].value
        if n == 3:
            raise ValueError("3 is not allowed here; pick another n")
        self.show(self.cached(n, lambda: bytes([n]) * 4))
        self.status.value = f"{n} squared is {n * n}"


def test_lru_forgets_the_least_recently_used_first():
    cache, computed = LRU(2), []

    def value(key):
        return cache.get(key, lambda: computed.append(key) or key.upper())

    assert [value("a"), value("b"), value("a")] == ["A", "B", "A"]  # "a" is now the newest
    value("c")  # full: "b" goes, the least recently used
    assert cache.keys() == ["a", "c"] and len(cache) == 2 and "b" not in cache
    value("b")
    assert cache.keys() == ["c", "b"] and computed == ["a", "b", "c", "b"]


def test_lru_stores_nothing_when_compute_fails_and_keeps_nothing_at_limit_zero():
    cache = LRU(0)
    assert cache.get("k", lambda: 1) == 1 and len(cache) == 0  # a cache that forgets
    with pytest.raises(ZeroDivisionError):
        LRU(3).get("k", lambda: 1 / 0)


def test_lru_keeps_within_its_megabytes_but_always_the_newest():
    cache = LRU(100, megabytes=1.5)
    mb = lambda: bytes(2**20)  # noqa: E731
    cache.get("a", mb)
    cache.get("b", mb)  # 2 MB > 1.5 MB: "a" goes
    assert cache.keys() == ["b"] and cache.bytes == 2**20
    cache.get("big", lambda: bytes(3 * 2**20))  # larger than the whole budget: kept alone
    assert cache.keys() == ["big"] and cache.bytes == 3 * 2**20
    cache.get("small", lambda: bytes(10))
    assert cache.keys() == ["small"] and cache.bytes == 10


def test_nbytes_counts_the_arrays_inside_a_value():
    trajectory = diffusion.Trajectory(torch.zeros(3, 2, dtype=torch.uint8), torch.zeros(2, 2), [1])
    value = {"a": (trajectory, [np.zeros(5, dtype=np.int16), b"abc"]), "b": "text", "c": 7}
    assert nbytes(value) == 6 + 16 + 10 + 3


def test_a_failing_callback_shows_its_error_in_the_status_line():
    explorer = Squares()
    explorer.controls["n"].value = 3  # draw raises: shown, not raised
    assert "<pre" in explorer.status.value and "3 is not allowed" in explorer.status.value
    explorer.controls["n"].value = 4
    assert explorer.status.value == "4 squared is 16" and explorer.frame.value == bytes([4]) * 4
    with pytest.raises(ValueError, match="not allowed"):  # building: raised, bad arguments
        Squares(n=3)


def test_frames_come_from_the_bounded_cache_and_play_moves_a_slider():
    explorer = Squares()
    for n in (1, 2, 1, 5):
        explorer.controls["n"].value = n
    assert explorer.caches["frames"].keys() == [1, 5]
    slider = ipw.IntSlider(min=0, max=7)
    assert (play_for(slider, interval=50).min, play_for(slider, interval=50).max) == (0, 7)
    choice = ipw.SelectionSlider(options=["0", "1", "3"])
    assert play_for(choice, interval=50).max == 2  # it moves the index


@pytest.mark.parametrize("name", widgets.__all__)
def test_every_explorer_keeps_the_contract(name):
    cls = getattr(widgets, name)
    assert issubclass(cls, Explorer)
    for method in ("draw", "static"):
        assert getattr(cls, method) is not getattr(Explorer, method), f"{name}.{method}"
    assert cls.demo.__func__ is not Explorer.demo.__func__, f"{name}.demo"
    assert cls.cache_limits and all(n > 0 for n in cls.cache_limits.values())
    explorer = tiny.explorer(name)
    assert isinstance(explorer.frame, ipw.Image) and explorer.frame.value
    assert explorer.frame in explorer.children or any(
        explorer.frame in getattr(box, "children", ()) for box in explorer.children
    )
    assert explorer.controls and all(isinstance(c, ipw.Widget) for c in explorer.controls.values())
    for move in cls.bench_moves:  # what tools.bench moves exists
        assert isinstance(move, Move) and move.control in explorer.controls
        assert set(move.before) <= set(explorer.controls)
    assert set(explorer.caches) == set(cls.cache_limits)
    plt.close(explorer.static())


@pytest.mark.parametrize("name", widgets.__all__)
def test_a_thousand_random_moves_keep_every_cache_within_its_limits(name):
    explorer, rng = tiny.explorer(name), random.Random(0)
    largest = {cache: (0, 0) for cache in explorer.caches}  # (entries, bytes)
    for _ in range(1000):
        random_move(explorer, rng)
        for cache, lru in explorer.caches.items():
            entries, size = largest[cache]
            largest[cache] = (max(entries, len(lru)), max(size, lru.bytes if len(lru) > 1 else 0))
    assert "<pre" not in explorer.status.value or "no words" in explorer.status.value
    for cache, lru in explorer.caches.items():
        entries, size = largest[cache]
        assert entries <= lru.limit, f"{name}: cache {cache!r} kept more entries than its limit"
        assert size <= lru.max_bytes, f"{name}: cache {cache!r} kept more bytes than its limit"
        assert lru.bytes == sum(nbytes(value) for value in lru.values())


class SlowSquares(Squares):
    """Squares whose odd n "sample": `precompute` visits them, and 7 fails."""

    slow_text = ("note",)

    def __init__(self):
        self.sampled = []
        Explorer.__init__(
            self,
            {
                "n": ipw.IntSlider(min=0, max=9, value=0, description="n"),
                "note": ipw.Text(value="", description="note"),
            },
        )

    def draw(self) -> None:
        n = self.controls["n"].value
        if n == 7:
            raise ValueError("7 cannot be sampled")
        self.show(self.cached(n, lambda: self.sampled.append(n) or bytes([n])))

    def slow_settings(self) -> list[dict]:
        return [{"n": n} for n in (1, 3, 5, 9)]


def test_precompute_visits_the_slow_settings_keeps_them_and_returns():
    explorer, progress = SlowSquares(), []
    assert explorer.precompute(limit=0) == 0 and explorer.sampled == [0]
    assert explorer.precompute(progress=lambda *done: progress.append(done)) == 4
    assert explorer.sampled == [0, 1, 3, 5, 9] and progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert explorer.controls["n"].value == 0 and explorer.frame.value == bytes([0])
    assert explorer.caches["frames"].limit == 5, "grown to keep all it visited"
    for n in (9, 1, 5, 3):  # every slow setting is now drawn from the cache
        explorer.controls["n"].value = n
    assert explorer.sampled == [0, 1, 3, 5, 9] and explorer.controls["note"].disabled
    explorer.slow_settings = lambda: [{"n": 7}]
    with pytest.raises(ValueError, match="7 cannot"):  # raised, not hidden in the status
        explorer.precompute()
    explorer.controls["n"].value = 1
    explorer.controls["n"].value = 7
    assert "7 cannot" in explorer.status.value, "after precompute, errors show again"


def test_nearest_first_starts_where_the_control_is():
    explorer = Squares(n=4)
    assert explorer.nearest_first("n") == [4, 5, 3, 6, 2, 7, 1, 8, 0, 9]


@pytest.mark.parametrize("name", widgets.__all__)
def test_after_precompute_no_slow_setting_computes_anything(name):
    explorer = tiny.explorer(name)
    settings = explorer.slow_settings()[:12]  # StepsExplorer has 250: the first few will do
    start = {n: explorer.controls[n].value for n in explorer.choices()}
    assert explorer.precompute(limit=12) == len(settings)
    assert {n: explorer.controls[n].value for n in explorer.choices()} == start
    held = {cache: set(lru.keys()) for cache, lru in explorer.caches.items()}
    for setting in settings:
        explorer.set_values(setting)
    assert {cache: set(lru.keys()) for cache, lru in explorer.caches.items()} == held
    assert all(explorer.controls[n].disabled for n in explorer.slow_text)
