"""Every lesson in a real JupyterLab in headless Chromium: it runs, its widgets render and
answer the keyboard.

Discovers the lessons (`notebooks/NN_*.ipynb`, `tools.LESSONS`) and, in each, every output
holding a widget view; new notebooks and widgets are covered without editing this file. For
each widget with an image (`img.widget-image`): a screenshot in `artifacts/browser/`, then
for each slider 30 arrow-key presses on its handle, each of which must change the readout
and the image; the median time from key press to the new image loaded is kept (see
conftest). Widgets without a slider get the same check through their first dropdown. A
widget with toggle buttons (views, modes) has each clicked; sliders that a view reveals get
the same check (a view with a Play-linked scrubber: only the scrubber). Then the kernel must
still answer. COURSE_BROWSER_NOTEBOOKS=01,04 limits the run to those notebooks (default:
all).
"""

from __future__ import annotations

import os
import re
import statistics
from pathlib import Path

import pytest

from tools import LESSONS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
NOTEBOOKS = sorted((ROOT / "notebooks").glob(LESSONS))  # the gallery: test_gallery_in_voila.py
if os.environ.get("COURSE_BROWSER_NOTEBOOKS"):  # e.g. "01,04": only these (default: all)
    wanted = os.environ["COURSE_BROWSER_NOTEBOOKS"].split(",")
    NOTEBOOKS = [p for p in NOTEBOOKS if any(p.name.startswith(w.strip()) for w in wanted)]
MOVES = 30
RUN_TIMEOUT_MS = 15 * 60 * 1000
WIDGET_OUTPUT = ".jp-OutputArea-output:has(.jupyter-widgets)"
IMAGE_WIDGET = ".jp-OutputArea-output:has(img.widget-image)"
TOGGLE = ".widget-toggle-buttons button"  # view and mode buttons
BROKEN = ("Error displaying widget", "Error rendering", "Failed to load model class")
ERROR_LINE = re.compile(r"\b\w*(Error|Exception)\b: ")

OPEN = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  if (window.jupyterapp.shell.collapseLeft) window.jupyterapp.shell.collapseLeft();
}"""

RUN_ALL = """async (timeout) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const run = window.jupyterapp.commands.execute('notebook:run-all-cells');
  const late = new Promise(r => setTimeout(() => r('timeout'), timeout));
  return await Promise.race([run.then(() => 'done'), late]);
}"""

# Each code cell: ran? and the errors among its outputs, read from the notebook model.
CELL_REPORT = """() => {
  const cells = window.jupyterapp.shell.currentWidget.model.cells;
  const report = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    const errors = [];
    for (let k = 0; k < cell.outputs.length; k++) {
      const out = cell.outputs.get(k).toJSON();
      if (out.output_type === 'error') errors.push(out.ename + ': ' + out.evalue);
    }
    report.push({index: i, ran: cell.executionCount !== null, errors});
  }
  return report;
}"""

# Record, inside the page, key presses and image loads within one widget output.
PROBE = """(root) => {
  const probe = {pressed: 0, loads: []};
  root.__probe = probe;
  root.addEventListener('keydown', () => { probe.pressed = performance.now(); probe.loads = []; },
                        true);
  root.addEventListener('load', (e) => {  // load does not bubble; capture sees it
    if (e.target.matches && e.target.matches('img.widget-image')) {
      probe.loads.push(performance.now());
    }
  }, true);
}"""

IMAGES_SRC = "(root) => [...root.querySelectorAll('img.widget-image')].map(i => i.src).join(' ')"

LOADED_SINCE_PRESS = """([root, before]) => {
  const srcs = [...root.querySelectorAll('img.widget-image')].map(i => i.src).join(' ');
  return root.__probe.loads.length > 0 && srcs !== before;
}"""

PING_KERNEL = """async () => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const start = performance.now();
  const future = kernel.requestExecute({code: '6 * 7', silent: false, store_history: false});
  const late = new Promise(r => setTimeout(() => r(null), 10000));
  const reply = await Promise.race([future.done, late]);
  return reply === null ? null : {status: reply.content.status, ms: performance.now() - start};
}"""

SHUTDOWN = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.sessionContext.shutdown();
}"""


def run_all_cells(page, name: str) -> None:
    """Runs every cell of the notebook on show and fails, as nbval does, on any cell that
    raised or did not run (conftest.py deselects nbval's run of a notebook tested here)."""
    assert page.evaluate(RUN_ALL, RUN_TIMEOUT_MS) == "done", f"{name}: run-all did not finish"
    cells = page.evaluate(CELL_REPORT)
    errors = [f"cell {c['index']}: {e}" for c in cells for e in c["errors"]]
    assert not errors, f"{name}: cells raised\n" + "\n".join(errors)
    assert all(c["ran"] for c in cells), f"{name}: some cells did not run"


def widget_error_text(text: str) -> list[str]:
    return [line for line in text.splitlines() if ERROR_LINE.search(line)] + [
        marker for marker in BROKEN if marker in text
    ]


def move_by_keyboard(page, output, control, readout, key_for, snapshot: Path) -> list[float]:
    """Press keys on `control` MOVES times; each press must change readout and image.

    Returns the key-press -> image-loaded milliseconds of each move; saves a screenshot
    of the widget after a few moves to `snapshot`.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    times = []
    for move in range(MOVES):
        key = key_for()
        before_src = output.evaluate(IMAGES_SRC)
        before_readout = readout()
        control.press(key)
        try:
            page.wait_for_function(
                LOADED_SINCE_PRESS, arg=[output.element_handle(), before_src], timeout=15000
            )
        except PlaywrightTimeout:
            output.screenshot(path=snapshot.with_name(snapshot.stem + "-stuck.png"))
            pytest.fail(f"move {move} ({key}): no new image loaded within 15 s")
        probe = output.evaluate("(root) => root.__probe")
        times.append(probe["loads"][0] - probe["pressed"])
        assert readout() != before_readout, f"move {move} ({key}) did not change the readout"
        if move == 4:
            output.screenshot(path=snapshot)
    return times


def visible_sliders(output, tested: set[str]) -> list[tuple]:
    """(label, handle, readout, key_for) of each slider on show not yet in `tested`; where a
    slider sits beside a Play button (a scrubber), only those: the others resample."""
    sliders = output.locator(".widget-slider:has(.noUi-handle)")
    found = []
    for s in range(sliders.count()):
        slider = sliders.nth(s)
        if not slider.is_visible():  # a control of another view of the widget
            continue
        label = slider.locator(".widget-label").first.inner_text().strip()
        if label in tested:
            continue
        beside_play = slider.evaluate(
            "(e) => !!e.parentElement.querySelector(':scope > .widget-play')"
        )
        handle = slider.locator(".noUi-handle").first
        readout = slider.locator(".widget-readout").first.inner_text
        found.append((beside_play, (f"slider '{label}'", handle, readout, slider_key(handle))))
    scrubbers = [control for beside_play, control in found if beside_play]
    chosen = scrubbers or [control for _, control in found]
    tested.update(label.split("'")[1] for label, *_ in chosen)
    return chosen


def show_view(page, output, button, name: str, label: str) -> None:
    """Click a view's toggle button and wait for the widget to draw the new view."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    before = output.evaluate(IMAGES_SRC)
    button.click()
    try:
        page.wait_for_function(
            "([root, before]) => [...root.querySelectorAll('img.widget-image')]"
            ".map(i => i.src).join(' ') !== before",
            arg=[output.element_handle(), before],
            timeout=120000,  # a view that samples on first show draws after its progress bar
        )
    except PlaywrightTimeout:
        pytest.fail(f"{name}: {label} drew no new image within 120 s")


def slider_key(handle):
    """ArrowRight until the slider's end, then ArrowLeft back, and so on."""
    state = {"key": "ArrowRight"}

    def key_for():
        now = float(handle.get_attribute("aria-valuenow"))
        low = float(handle.get_attribute("aria-valuemin"))
        high = float(handle.get_attribute("aria-valuemax"))
        if now >= high:
            state["key"] = "ArrowLeft"
        elif now <= low:
            state["key"] = "ArrowRight"
        return state["key"]

    return key_for


def dropdown_key(select):
    state = {"key": "ArrowDown"}

    def key_for():
        index, count = select.evaluate("(s) => [s.selectedIndex, s.options.length]")
        if index >= count - 1:
            state["key"] = "ArrowUp"
        elif index <= 0:
            state["key"] = "ArrowDown"
        return state["key"]

    return key_for


@pytest.mark.browser
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_its_widgets_answer_the_keyboard(
    path: Path, lab, browser_context, latencies
):
    page = browser_context.new_page()
    page.set_default_timeout(60000)
    try:
        # a workspace of its own: only this notebook open, never one restored from before
        page.goto(lab.url(f"lab/workspaces/{path.stem}/tree/notebooks/{path.name}"))
        page.wait_for_function(
            "() => window.jupyterapp && jupyterapp.shell.currentWidget"
            " && jupyterapp.shell.currentWidget.sessionContext"
        )
        page.evaluate(OPEN)
        run_all_cells(page, path.name)
        page.wait_for_timeout(500)  # let the widget views finish rendering
        notebook_text = page.locator(".jp-NotebookPanel").inner_text()
        assert not [m for m in BROKEN if m in notebook_text], f"{path.name}: a widget failed"

        outputs = page.locator(IMAGE_WIDGET)
        assert page.locator(WIDGET_OUTPUT).count() >= outputs.count()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for k in range(outputs.count()):
            output = outputs.nth(k)
            name = f"{path.stem} widget {k + 1}"
            images = output.locator("img.widget-image")
            assert images.count() >= 1 and images.first.evaluate(
                "(img) => img.complete && img.naturalWidth > 0"
            ), f"{name}: the image did not render"
            output.scroll_into_view_if_needed()
            output.screenshot(path=ARTIFACTS / f"{path.stem}-widget{k + 1}.png")
            output.evaluate(PROBE)

            # The main controls of the view on show: its sliders; with no slider, its first
            # dropdown. Then each other view (a toggle button) and the sliders it reveals.
            tested: set[str] = set()
            controls = visible_sliders(output, tested)
            if not controls:
                select = output.locator(".widget-dropdown select").first
                assert select.count(), f"{name}: no slider or dropdown to move"
                value = lambda select=select: select.input_value()  # noqa: E731
                controls.append(("dropdown", select, value, dropdown_key(select)))
            for view in range(output.locator(TOGGLE).count()):
                button = output.locator(TOGGLE).nth(view)
                if "mod-active" in (button.get_attribute("class") or ""):
                    continue
                controls.append((f"view '{button.inner_text().strip()}'", button, None, None))

            for c, (label, control, readout, key_for) in enumerate(controls):
                if key_for is None:  # a view button: show that view, then move its sliders
                    show_view(page, output, control, name, label)
                    controls[c + 1 : c + 1] = visible_sliders(output, tested)  # next in line
                    continue
                if control.evaluate("(e) => e.hasAttribute('disabled')"):
                    continue
                snapshot = ARTIFACTS / f"{path.stem}-widget{k + 1}-control{c + 1}-moved.png"
                times = move_by_keyboard(page, output, control, readout, key_for, snapshot)
                latencies.append(
                    {
                        "notebook": path.name,
                        "widget": k + 1,
                        "control": label,
                        "moves": len(times),
                        "median_ms": round(statistics.median(times), 1),
                        "max_ms": round(max(times), 1),
                    }
                )
            trouble = widget_error_text(output.inner_text())
            assert not trouble, f"{name}: the widget shows an error: {trouble}"

        reply = page.evaluate(PING_KERNEL)
        assert reply is not None, f"{path.name}: the kernel did not answer within 10 s"
        assert reply["status"] == "ok"
    finally:
        try:
            page.evaluate(SHUTDOWN)
        finally:
            page.close()
