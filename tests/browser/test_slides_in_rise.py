"""One lesson presented in RISE (jupyterlab-rise's slideshow, in the throwaway JupyterLab of
conftest.py) as README tells an instructor to: run the instructor edition in JupyterLab, save,
open RISE, then step from the first slide to the last with the space bar. A cell that raises
fails the test, as under nbval, which therefore does not run that edition a second time.

The deck shows its title first, then every slide and subslide that tools.slides wrote into
the notebook, in order, and every fragment on the way. Its widget is live: RISE shares the
notebook's kernel, and a click on the widget's first slider draws a new image without moving
the deck (reveal.js takes the arrow keys, so a presenter uses the mouse on a widget).
Screenshots of the first slide, the last and the widget go to artifacts/browser/.
COURSE_SLIDES_DECK=07 presents another lesson (default 06, a short one).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from test_notebooks_in_lab import (
    BROKEN,
    IMAGE_WIDGET,
    IMAGES_SRC,
    OPEN,
    SHUTDOWN,
    run_all_cells,
    visible_sliders,
)

from tools import slides

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
DECK = os.environ.get("COURSE_SLIDES_DECK", "06")
(DECK_PATH,) = sorted((ROOT / "notebooks" / "solutions").glob(f"{DECK}_*.ipynb"))

# Where the presentation is: the leaf section on show and how many fragments it has shown.
WHERE = """() => {
  const leaves = [...document.querySelectorAll('.reveal .slides section')]
    .filter(s => !s.querySelector('section'));
  const at = leaves.findIndex(s => s.classList.contains('present'));
  const shown = at < 0 ? 0 : leaves[at].querySelectorAll('.fragment.visible').length;
  return {at, leaves: leaves.length, shown};
}"""

# The leaf slide on show: a stack of subslides is .present too, and holds its later subslides.
ON_SHOW = ".reveal .slides section.present:not(:has(section))"

NEW_IMAGE = """([root, before]) => [...root.querySelectorAll('img.widget-image')]
  .every(i => i.complete) && root.querySelectorAll('img.widget-image').length > 0
  && [...root.querySelectorAll('img.widget-image')].map(i => i.src).join(' ') !== before"""


def present(page, limit: int) -> list[dict]:
    """Press Space until a press moves nothing (the end); the position before each press."""
    positions = [page.evaluate(WHERE)]
    while len(positions) < limit:
        page.keyboard.press("Space")
        page.wait_for_timeout(150)
        now = page.evaluate(WHERE)
        if now == positions[-1]:
            break
        positions.append(now)
    return positions


def run_and_save(lab, browser_context, path: Path):
    """The instructor edition run top to bottom in JupyterLab and saved; returns its page
    (close it after the kernel is shut down) and the seconds it took."""
    page = browser_context.new_page()
    page.set_default_timeout(60000)
    start = time.perf_counter()
    page.goto(lab.url(f"lab/workspaces/rise-{path.stem}/tree/notebooks/solutions/{path.name}"))
    page.wait_for_function(
        "() => window.jupyterapp && jupyterapp.shell.currentWidget"
        " && jupyterapp.shell.currentWidget.sessionContext"
    )
    page.evaluate(OPEN)
    run_all_cells(page, path.name)  # nbval does not run it again (conftest.py)
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    return page, time.perf_counter() - start


def click_first_slider(page) -> None:
    """On the slide on show: click 70% along the first slider of its widget that is on show
    (a scrubber's, where the widget has one, as the lab test picks), scrolled into view on a
    tall slide; the readout and the image must change and the deck must stay where it is."""
    output = page.locator(f"{ON_SHOW} {IMAGE_WIDGET}").first
    controls = visible_sliders(output, set())
    assert controls, "the widget on the slide shows no slider"
    label, handle, readout, _ = controls[0]
    handle.scroll_into_view_if_needed()
    page.wait_for_timeout(300)  # the slide's scroll settles
    before, value, at = output.evaluate(IMAGES_SRC), readout(), page.evaluate(WHERE)
    box = handle.evaluate(
        "(h) => { const r = h.closest('.noUi-target').getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width, height: r.height}; }"
    )
    page.mouse.click(box["x"] + 0.7 * box["width"], box["y"] + box["height"] / 2)
    try:
        page.wait_for_function(NEW_IMAGE, arg=[output.element_handle(), before], timeout=30_000)
    except PlaywrightTimeoutError:
        page.screenshot(path=ARTIFACTS / "rise-slider-click-failed.png")
        raise AssertionError(f"no new image 30 s after a click on the {label} at {box}") from None
    assert readout() != value, f"the click moved the {label}"
    assert page.evaluate(WHERE) == at, "the click moved the widget, not the deck"


def to_title(page) -> None:
    """Home, with the keys given to the deck first (a widget drawn late can take them)."""
    for _ in range(5):
        page.locator(".reveal").first.click(position={"x": 5, "y": 5})
        page.keyboard.press("Home")
        try:
            page.wait_for_function(f"() => ({WHERE})().at === 0", timeout=3_000)
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError("Home did not bring the deck back to its title")


def find_widget(page, widget, steps: int) -> None:
    """Back to the title, then on slide by slide until one shows the widget. On a busy
    machine its image may come late: a second pass waits longer on every slide."""
    for pause in (150, 1500):
        to_title(page)
        for _ in range(steps):
            page.wait_for_timeout(pause)
            if widget.count():
                return
            page.keyboard.press("Space")


@pytest.mark.browser
@pytest.mark.runs_notebook(DECK_PATH)
def test_a_lesson_presents_in_rise_from_title_to_the_end_with_its_widget_live(lab, browser_context):
    path = DECK_PATH
    nb = nbformat.read(path, as_version=4)
    expected = slides.deck(nb)
    fragments = sum(
        c.metadata.slideshow.slide_type == slides.FRAGMENT for cells in expected for c in cells
    )
    notebook, ran = run_and_save(lab, browser_context, path)
    page = browser_context.new_page()
    try:
        start = time.perf_counter()
        page.goto(lab.url(f"rise/notebooks/solutions/{path.name}"))
        page.wait_for_selector(".reveal .slides section.present", timeout=120_000)
        page.wait_for_timeout(1000)  # RISE lays the slides out once every cell has rendered
        opened = time.perf_counter() - start
        title = page.locator(".reveal .slides section.present").first.inner_text()
        assert title.strip().startswith(nb.cells[0].source[2:].splitlines()[0]), "title first"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"rise-{path.stem}-first.png")
        page.locator(".reveal").first.click(position={"x": 5, "y": 5})  # keys to the deck
        start = time.perf_counter()
        positions = present(page, limit=3 * (len(expected) + fragments) + 10)
        stepped = time.perf_counter() - start
        page.wait_for_timeout(1000)  # the slide transition ends
        page.screenshot(path=ARTIFACTS / f"rise-{path.stem}-last.png")
        text = page.locator(".reveal").inner_text()
        assert not [m for m in BROKEN if m in text], "a widget in the deck failed to render"

        widget = page.locator(f"{ON_SHOW} {IMAGE_WIDGET}")
        find_widget(page, widget, len(positions))
        assert widget.count(), "no slide of the deck shows the widget"
        click_first_slider(page)
        page.screenshot(path=ARTIFACTS / f"rise-{path.stem}-widget.png")
    finally:
        try:
            notebook.evaluate(SHUTDOWN)
        finally:
            notebook.close()
            page.close()
    visited = [p["at"] for p in positions]
    assert positions[0]["leaves"] == len(expected), "RISE's slides are tools.slides' deck"
    assert visited == sorted(visited) and set(visited) == set(range(len(expected))), visited
    revealed = [b["shown"] > a["shown"] for a, b in zip(positions, positions[1:], strict=False)]
    assert sum(revealed) == fragments, "every fragment is revealed on its own press"
    print(f"{path.name}: ran and saved in JupyterLab in {ran:.1f} s; RISE opened in {opened:.1f} s")
    print(f"{len(expected)} slides, {fragments} fragments, stepped through in {stepped:.1f} s")
