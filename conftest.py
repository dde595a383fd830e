"""How the whole suite (`make test`) shares two cores: who runs which notebook, and where.

- Each notebook runs once. When a browser test that runs it top to bottom is collected and
  not skipped (JupyterLab in Chromium: each student edition, `notebooks/NN_*.ipynb`, and the
  instructor edition RISE presents, marked `runs_notebook`), that test fails on any cell that
  raises, as nbval does, so nbval's copy of the run is deselected; otherwise nbval runs it.
- Each run asserts the exercise verdicts (COURSE_CHECK_EDITIONS=1): every check says Correct
  in the instructor edition and Not yet in the student edition.
- Under pytest-xdist (`-n 2`, as the Makefile runs it) the cells of one notebook share one
  kernel, so they stay together, in order, on one worker; every other test is scheduled on
  its own. The largest units (the notebooks) are handed out first.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Every notebook this run executes (nbval's kernels, and JupyterLab's for the browser tests,
# inherit it) asserts its exercise verdicts: Correct in the instructor edition, Not yet in
# the unedited student edition (`exercises.summary`). A student's own run only prints them.
os.environ["COURSE_CHECK_EDITIONS"] = "1"


def _notebook_of(item) -> Path | None:
    """The notebook an nbval cell belongs to, or None for any other test."""
    path = Path(str(item.fspath))
    return path if path.suffix == ".ipynb" and "::Cell " in item.nodeid else None


def _run_in_the_browser(items) -> set[Path]:
    """The notebooks a browser test will run top to bottom in this session: the lab test's
    `path` parameter, or the path a `runs_notebook` marker names."""
    paths = set()
    for item in items:
        if "browser" not in item.keywords or item.get_closest_marker("skip") is not None:
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "path" in callspec.params:
            paths.add(Path(callspec.params["path"]).resolve())
        for marker in item.iter_markers("runs_notebook"):
            paths.add(Path(marker.args[0]).resolve())
    return paths


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scheduling by work unit, where a notebook is one unit (its cells in
    order, on one worker: they share one kernel) and every other test is a unit of its own
    (so the browser tests of different notebooks can run on different workers)."""
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            notebook, cell, _ = nodeid.partition("::Cell ")
            return notebook if cell and notebook.endswith(".ipynb") else nodeid

    return NotebookScheduling(config, log)


class _EachNotebookOnce:
    """Deselects nbval's run of a notebook that a browser test runs."""

    @pytest.hookimpl(trylast=True)  # after tests/browser/conftest.py marked what it skips
    def pytest_collection_modifyitems(self, config, items):
        in_browser = _run_in_the_browser(items)
        twice = [
            item
            for item in items
            if (notebook := _notebook_of(item)) is not None and notebook.resolve() in in_browser
        ]
        if twice:
            config.hook.pytest_deselected(items=twice)
            dropped = {id(item) for item in twice}
            items[:] = [item for item in items if id(item) not in dropped]


def pytest_configure(config):
    config.pluginmanager.register(_EachNotebookOnce(), "each-notebook-once")


# Under pytest-xdist: the browser round trips each worker measured (tests/browser/conftest.py),
# gathered here in the controller, kept and printed once.
GATHERED_LATENCIES: list[dict] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    import json

    GATHERED_LATENCIES.extend(json.loads(node.workeroutput.get("latencies", "[]")))


def pytest_sessionfinish(session):
    if GATHERED_LATENCIES:
        from tools.bench import save_latencies

        save_latencies(GATHERED_LATENCIES)


def pytest_terminal_summary(terminalreporter):
    if GATHERED_LATENCIES:
        from tools.bench import latency_summary

        for line in latency_summary(GATHERED_LATENCIES):
            terminalreporter.write_line(line)
