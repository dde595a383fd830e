"""Static pages of the course: `python -m tools.site` (or `make site`).

Executes every notebook in fast mode (COURSE_FAST=1) and exports each to `site/NAME.html`,
plus an `index.html`. Figures, including each widget's `.static()` figure that the notebooks
show right under the widget, are embedded as PNG data, so the pages show every frame
offline; the live widget views in the saved state need a kernel or a CDN, the figures do not.
Plotly figures (nbconvert drops their mimetype) become inline HTML drawn by one local copy of
plotly.js, `site/plotly.min.js`, taken from the installed plotly package: offline too.
Needs nbclient and nbconvert (the `test` extra).
"""

from __future__ import annotations

import argparse
import html
import os
import time
from pathlib import Path

from tools import LESSONS

ROOT = Path(__file__).resolve().parent.parent
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY = "application/vnd.plotly.v1+json"
PLOTLY_JS = "plotly.min.js"
PLOTLY_DIV = 'class="plotly-graph-div"'  # what plotly.io.to_html draws into, once a figure


def drop_stale_buffers(nb) -> int:
    """Remove saved widget buffers that a later plain value superseded; returns how many.

    A binary field (an `Image.value`) is saved apart from the model state, as a buffer whose
    path names the field, and the field itself is gone from the state. nbclient keeps every
    buffer it ever saw for a model, so once that field is sent as a plain value the old bytes
    stay behind and would overwrite it when the HTML page's widget manager restores the model.
    """
    states = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    dropped = 0
    for model in states.values():
        buffers = model.get("buffers")
        if not buffers:
            continue
        state = model.get("state", {})
        kept = [b for b in buffers if b.get("path") and b["path"][0] not in state]
        dropped += len(buffers) - len(kept)
        if kept:
            model["buffers"] = kept
        else:
            del model["buffers"]
    return dropped


def execute(path: Path, timeout: int = 900):
    """Run a notebook top to bottom in fast mode, in its own folder; returns the notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    client.execute(env={**os.environ, "COURSE_FAST": "1"})  # the kernel's environment
    return nb


def plotly_to_html(nb) -> int:
    """Turn every plotly output into an inline HTML figure (a div and the call that draws
    it); returns how many. The page must load `PLOTLY_JS` first (see `to_html`)."""
    import plotly.io as pio

    count = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            figure = output.get("data", {}).pop(PLOTLY, None)
            if figure is None:
                continue
            figure = pio.from_json(figure if isinstance(figure, str) else _json(figure))
            output["data"]["text/html"] = pio.to_html(
                figure, include_plotlyjs=False, full_html=False
            )
            count += 1
    return count


def _json(value) -> str:
    import json

    return json.dumps(value)


def to_html(nb, exporter=None) -> str:
    """Export with every image embedded (no files beside the page, no CDN for figures); by
    default as a page (nbconvert's HTMLExporter, template "lab"), or with `exporter`."""
    from nbconvert import HTMLExporter

    drop_stale_buffers(nb)
    figures = plotly_to_html(nb)
    exporter = exporter or HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    if figures:  # before require.js, so plotly.js defines the global `Plotly`, not a module
        body = body.replace("<head>", f'<head>\n<script src="{PLOTLY_JS}"></script>', 1)
    return body


def copy_plotly_js(out: Path) -> None:
    """The installed plotly package's own plotly.min.js, beside the pages (no CDN)."""
    import shutil

    import plotly

    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / PLOTLY_JS, out / PLOTLY_JS)


def write_pages(notebooks: list[Path], out: Path, convert, suffix: str) -> list[Path]:
    """Execute each notebook and write `convert(executed)` to out/STEM+suffix; the pages."""
    pages = []
    for path in notebooks:
        start = time.perf_counter()
        page = out / f"{path.stem}{suffix}"
        page.write_text(convert(execute(path)), encoding="utf-8")
        pages.append(page)
        print(f"{page} ({time.perf_counter() - start:.0f} s)", flush=True)
    return pages


def build(notebooks: list[Path], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    copy_plotly_js(out)
    pages = write_pages(notebooks, out, to_html, ".html")
    links = "\n".join(
        f'<li><a href="{html.escape(p.name)}">{html.escape(p.stem)}</a></li>' for p in pages
    )
    index = (
        f"<!doctype html><title>Patches to Pixels</title><h1>Patches to Pixels</h1><ul>{links}</ul>"
    )
    (out / "index.html").write_text(index, encoding="utf-8")
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: the lessons")
    parser.add_argument("--out", type=Path, default=ROOT / "site")
    args = parser.parse_args()
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob(LESSONS))
    build([p.resolve() for p in notebooks], args.out)


if __name__ == "__main__":
    main()
