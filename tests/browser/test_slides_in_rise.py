"""One lesson presented in RISE (jupyterlab-rise's slideshow, in the throwaway JupyterLab of
conftest.py) from the first slide to the last with the space bar, as a presenter would.

The deck shows its title first, then every slide and subslide that tools.slides wrote into
the notebook, in order, and every fragment on the way; screenshots of the first and the last
slide go to artifacts/browser/. The notebook is not run first (that is the lab test's job),
so this checks the deck, not the widgets. COURSE_SLIDES_DECK=07 presents another lesson
(default 06, a short one).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest

from tools import slides

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
DECK = os.environ.get("COURSE_SLIDES_DECK", "06")

# Where the presentation is: the leaf section on show and how many fragments it has shown.
WHERE = """() => {
  const leaves = [...document.querySelectorAll('.reveal .slides section')]
    .filter(s => !s.querySelector('section'));
  const at = leaves.findIndex(s => s.classList.contains('present'));
  const shown = at < 0 ? 0 : leaves[at].querySelectorAll('.fragment.visible').length;
  return {at, leaves: leaves.length, shown};
}"""


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


@pytest.mark.browser
def test_a_lesson_presents_in_rise_from_title_to_the_end(lab, browser_context):
    (path,) = sorted((ROOT / "notebooks" / "solutions").glob(f"{DECK}_*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    expected = slides.deck(nb)
    fragments = sum(
        c.metadata.slideshow.slide_type == slides.FRAGMENT for cells in expected for c in cells
    )
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
    finally:
        page.close()
    visited = [p["at"] for p in positions]
    assert positions[0]["leaves"] == len(expected), "RISE's slides are tools.slides' deck"
    assert visited == sorted(visited) and set(visited) == set(range(len(expected))), visited
    revealed = [b["shown"] > a["shown"] for a, b in zip(positions, positions[1:], strict=False)]
    assert sum(revealed) == fragments, "every fragment is revealed on its own press"
    print(f"{path.name}: {len(expected)} slides, {fragments} fragments; opened in {opened:.1f} s")
    print(f"stepped through in {stepped:.1f} s ({len(positions)} presses)")
