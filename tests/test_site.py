"""`make site`: a notebook that shows a widget and its `.static()` figure exports to an HTML
page that carries the figure as embedded PNG data (readable offline, without a kernel)."""

import re
from pathlib import Path

import nbformat
import pytest

from tools import site

WIDGET_NOTEBOOK = [
    "import matplotlib.pyplot as plt\nimport torch\n\nfrom widgets import PatchExplorer",
    'explorer = PatchExplorer({"ramp": torch.linspace(-1, 1, 28 * 28).reshape(1, 28, 28)})\n'
    "explorer",
    'explorer.controls["patch"].value = 3  # the saved state must still restore',
    "explorer.static()\nplt.show()",
]


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A Python 3 notebook of these code cells (not run yet), written to `path`."""
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": kernel})
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def page(tmp_path):
    path = write_notebook(tmp_path / "99_widget.ipynb", WIDGET_NOTEBOOK)
    (page,) = site.build([path], tmp_path / "site")
    assert (tmp_path / "site" / "index.html").read_text().count("99_widget.html") == 1
    return page.read_text()


def test_page_embeds_the_static_figure_and_the_widget_state(page):
    figures = re.findall(r'<img[^>]+src="data:image/png;base64,', page)
    assert len(figures) >= 1, "the .static() figure is not embedded in the page"
    assert not re.findall(r'<img[^>]+src="https?://', page), "a shown image needs the network"
    assert site.WIDGET_STATE in page  # the live view, for readers online
    assert '"buffers"' in page, "the frame's bytes must survive in the saved widget state"


def test_stale_buffers_are_dropped_and_live_ones_kept():
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {
        site.WIDGET_STATE: {
            "state": {
                "live": {"state": {"format": "png"}, "buffers": [{"path": ["value"], "data": ""}]},
                "stale": {"state": {"value": ""}, "buffers": [{"path": ["value"], "data": ""}]},
            }
        }
    }
    assert site.drop_stale_buffers(nb) == 1
    states = nb.metadata["widgets"][site.WIDGET_STATE]["state"]
    assert "buffers" not in states["stale"] and len(states["live"]["buffers"]) == 1


PLOTLY_NOTEBOOK = [
    "import plotly.graph_objects as go",
    'go.Figure(go.Scatter(x=[0, 1, 2], y=[1, 0, 1], name="snr")).show()',
    'fig = go.Figure(go.Bar(x=["a", "b"], y=[3, 1]))\nfig.show()',
]


def test_plotly_figures_are_on_the_page_offline(tmp_path):
    path = write_notebook(tmp_path / "98_plotly.ipynb", PLOTLY_NOTEBOOK)
    executed = site.execute(path)
    shown = sum(site.PLOTLY in o.get("data", {}) for c in executed.cells for o in c.outputs)
    assert shown == 2, "the kernel should show plotly's own mimetype"
    (page,) = site.build([path], tmp_path / "site")
    html = page.read_text()
    assert html.count(site.PLOTLY_DIV) == shown, "a plotly figure was dropped from the page"
    assert f'<script src="{site.PLOTLY_JS}"></script>' in html
    assert (tmp_path / "site" / site.PLOTLY_JS).stat().st_size > 1_000_000  # the local copy
    assert "cdn.plot.ly" not in html
