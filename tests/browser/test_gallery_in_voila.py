"""The demo gallery (notebooks/gallery.ipynb) as `make demo` serves it: Voila, in headless
Chromium with every request off this machine refused (the room may be offline).

The page must show no code and no error (Voila stops at a cell that raises, and this test
fails, so nbval does not run the gallery a second time), one image per explorer of
`widgets.__all__`, and each explorer must answer a key press on its first slider (its first
dropdown, if it has no slider), the press back and the same press again, with a new image
within a second each.
Kernels run in fast mode, where the gallery precomputes only the two settings nearest each
explorer's start: the start and where that first press goes.
"""

from __future__ import annotations

import statistics

import pytest
from test_notebooks_in_lab import (
    BROKEN,
    IMAGES_SRC,
    LOADED_SINCE_PRESS,
    PROBE,
    ROOT,
    widget_error_text,
)

import widgets
from widgets import gallery as gallery_style

GALLERY = ROOT / "notebooks" / "gallery.ipynb"
ANSWER_MS = 1000  # a control that takes longer keeps the room waiting
PRESSES = 3
EXPLORER = ".jp-OutputArea-output:has(img.widget-image)"
CELL_FAILED = "There was an error when executing cell"  # Voila's words; it runs no further
CODE = ".jp-CodeCell .jp-InputArea, .jp-CodeMirrorEditor, .cm-editor"  # markdown has InputAreas


def first_control(output) -> tuple[str, object, list[str]]:
    """(label, control, keys) of the explorer's first visible slider, else its first
    dropdown: a key towards the other end, back, and towards it again."""
    sliders = output.locator(".widget-slider:has(.noUi-handle)")
    for s in range(sliders.count()):
        if sliders.nth(s).is_visible():
            handle = sliders.nth(s).locator(".noUi-handle").first
            label = sliders.nth(s).locator(".widget-label").first.inner_text().strip()
            at_end = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
            keys = ["ArrowLeft", "ArrowRight"] if at_end else ["ArrowRight", "ArrowLeft"]
            return f"slider '{label}'", handle, (keys * PRESSES)[:PRESSES]
    select = output.locator(".widget-dropdown select").first
    assert select.count(), "no slider or dropdown to move"
    at_end = select.evaluate("(s) => s.selectedIndex === s.options.length - 1")
    keys = ["ArrowUp", "ArrowDown"] if at_end else ["ArrowDown", "ArrowUp"]
    return "first dropdown", select, (keys * PRESSES)[:PRESSES]


def answer_times(page, output, control, keys: list[str]) -> list[float]:
    """Milliseconds from each key press to the new image loaded."""
    times = []
    for press, key in enumerate(keys):
        before = output.evaluate(IMAGES_SRC)
        control.press(key)
        page.wait_for_function(
            LOADED_SINCE_PRESS, arg=[output.element_handle(), before], timeout=15000
        )
        probe = output.evaluate("(root) => root.__probe")
        times.append(probe["loads"][0] - probe["pressed"])
        assert times[-1] >= 0, f"press {press}: an image loaded before the key was pressed"
    return times


@pytest.mark.browser
@pytest.mark.runs_notebook(GALLERY)  # a cell that raises fails it, so nbval does not run it
def test_gallery_shows_every_explorer_without_code_and_each_answers_within_a_second(
    gallery, browser_context, latencies
):
    page = browser_context.new_page()
    page.set_default_timeout(60000)
    refused = []

    def offline(route):  # only this machine answers
        refused.append(route.request.url)
        route.abort()

    page.route(lambda url: not url.startswith(("http://127.0.0.1", "ws://127.0.0.1")), offline)
    try:
        page.goto(gallery.url, timeout=300000)
        count = len(widgets.__all__)
        page.wait_for_function(
            f"(document.querySelectorAll('{EXPLORER}').length >= {count}"
            f" || document.body.innerText.includes('{CELL_FAILED}'))"
            " && !document.querySelector('.voila-spinner-container, #loading')",
            timeout=600000,  # the kernel builds every explorer first
            polling=500,
        )
        page.wait_for_timeout(500)  # let the last views finish rendering
        text = page.locator("body").inner_text()
        assert CELL_FAILED not in text, "a cell of the gallery raised (Voila's log says which)"
        assert not [m for m in BROKEN if m in text], "a widget failed to render"
        assert "Error" not in text, "the page shows an error"
        assert page.locator(CODE).count() == 0, "Voila shows no code"
        assert 'explorers["' not in text and "import" not in text, "no code on the page"
        outputs = page.locator(EXPLORER)
        assert outputs.count() == count, f"one image per explorer, {count}"
        zooms = page.evaluate(
            "() => [...document.querySelectorAll('.p2p-gallery, .jp-RenderedMarkdown')]"
            ".map(e => parseFloat(getComputedStyle(e).zoom))"
        )
        assert len(zooms) > count and min(zooms) == gallery_style.ZOOM, "explorers and text large"
        for k in range(count):
            output = outputs.nth(k)
            image = output.locator("img.widget-image").first
            assert image.evaluate("(img) => img.complete && img.naturalWidth > 0")
            output.scroll_into_view_if_needed()
            output.evaluate(PROBE)
            label, control, keys = first_control(output)
            times = answer_times(page, output, control, keys)
            name = f"gallery explorer {k + 1}, {label}"
            latencies.append(
                {
                    "notebook": "gallery.ipynb",
                    "widget": k + 1,
                    "control": label,
                    "moves": len(times),
                    "median_ms": round(statistics.median(times), 1),
                    "max_ms": round(max(times), 1),
                }
            )
            assert max(times) < ANSWER_MS, f"{name}: {max(times):.0f} ms, over {ANSWER_MS} ms"
            trouble = widget_error_text(output.inner_text())
            assert not trouble, f"{name}: the widget shows an error: {trouble}"
        plays = page.locator(".widget-play .fa-play")
        assert plays.count() and all(
            plays.nth(i).evaluate("(e) => getComputedStyle(e, '::before').content.length > 2")
            for i in range(plays.count())
        ), "each Play button shows its icon, offline too"
        assert all("fontawesome" in url for url in refused), f"asked off this machine: {refused}"
    finally:
        page.close()
