"""Slides of the lessons: `python -m tools.slides [--check | --outline]`, `make slides`.

Every lesson notebook presents as a deck, live in JupyterLab with RISE (alt+R: the code
runs in the notebook's kernel and the widgets are live; move them with the mouse, since the
arrow keys turn the slides) or as a static reveal.js page. This script writes the decks into
the instructor edition (notebooks/solutions/, the source; the student edition is regenerated
from it), so it can run again after any edit: each cell's `metadata.slideshow.slide_type` comes from
`slide_type` below, general rules first, then one small table a notebook (`DECKS`) keyed by
how a cell begins, never by its index:

- slide: the title, every `## ` section, the concept questions, the closing table;
- subslide: every `### Exercise` prompt, and the key figures a table names;
- fragment: each exercise's code (the answer, in the instructor edition), revealed on a key;
- skip: plumbing: the Colab setup cell, imports, the parameters cell, exercise checks and the
  closing verdicts;
- notes: speaker notes, prose the presenter says rather than shows;
- "-": everything else stays on the slide above it, each widget's `.static()` figure too: the
  widget is on its slide, and its still frames are there wherever the widget cannot render (a
  static deck has no kernel). RISE needs jupyterlab_widgets < 3.0.11 (pyproject.toml says why).

A markdown cell with a `## ` or `### ` heading below its first line is first split there, so
each slide starts at its heading.

`python -m tools.slides --export DIR` (what `make slides` runs) executes each instructor
notebook in fast mode, as `tools.site` does, and exports DIR/NAME.slides.html with nbconvert.
The decks open offline: reveal.js is the copy the installed sphinx-revealjs package ships,
MathJax the one jupyter-server-mathjax ships, both copied beside the decks, and no CDN script
is loaded (nor the widget manager: each widget shows as its `.static()` figure).
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
from pathlib import Path

import nbformat

from tools import LESSONS, generated, site, student

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "notebooks" / "solutions"
SLIDE, SUBSLIDE, FRAGMENT, SKIP, NOTES, SAME = "slide", "subslide", "fragment", "skip", "notes", "-"
STARTS = (SLIDE, SUBSLIDE)
HIDDEN = (SKIP, NOTES)
MAX_SLIDES = 25  # slides and subslides of one deck
RISE = {"scroll": True, "start_slideshow_at": "beginning", "enable_chalkboard": True}
SPLIT_BEFORE = re.compile(r"^#{2,3} ", re.MULTILINE)
SETUP = 'if "google.colab" in sys.modules'
IMPORT = re.compile(r"^(import |from \S+ import )")

# Each notebook's deck beyond the general rules: how a cell begins (its source, stripped; a
# key may run past the first line) -> its slide type. Each key must begin exactly one cell.
DECKS: dict[str, dict[str, str]] = {
    "01": {
        "digits, labels = data.mnist_tensors": SUBSLIDE,
        "# Check exercise 2": SAME,  # what the planted bug did to the digits
        "# The loss must have gone down": SKIP,
        "In fast mode (and whenever": NOTES,
        "if FAST:": SKIP,
        "# Check the claim": SKIP,
    },
    "02": {
        "digit = images[:1]": SUBSLIDE,  # one head's attention matrix, by hand
        "**What we see** (on this digit": NOTES,
        "**What we see:** in layers 1-3": NOTES,
        "last = attention.cls_maps": SUBSLIDE,  # rollout against the last layer alone
        "**What we see** (numbers above": NOTES,
        "distance = attention.mean_attention_distance": SUBSLIDE,
        "fig, ax = plt.subplots(figsize=(10, 4.2))": SUBSLIDE,  # ViT heads against a CNN
        "**What we measured**": NOTES,
        "In our full-mode run": NOTES,
        "# Checks that make a CI run": SKIP,
    },
    "03": {
        "### The similarity matrix of a batch": SUBSLIDE,
        "# The loss must have gone down": SKIP,
        "In fast mode we now load": NOTES,
        "if FAST:": SUBSLIDE,  # the similarity matrix after training
        "image_emb = clip.embed_images": SUBSLIDE,  # zero-shot accuracy
    },
    "04": {
        "### Try it: a tiny model": SUBSLIDE,
        "The clock, at this size": NOTES,
        "**An early mistake stays.**": SUBSLIDE,
        "# The claims about both schedules": SKIP,
        "The largest per-pixel error": NOTES,
        "fig = go.Figure()": SUBSLIDE,  # SNR in dB over t, both schedules
        "Under the linear schedule a large share": NOTES,
        "### Scrub through t yourself": SUBSLIDE,
    },
    "05": {
        "window = max(3,": SKIP,
        "In fast mode that was only a few steps": NOTES,
        "if FAST:": SKIP,
        "# The loop with your step": SKIP,
        "`diffusion.sample` (and the pipeline)": NOTES,
        "def show_grid(": SUBSLIDE,  # the first samples
        "# Quality check": SKIP,
        "A word on the judge": NOTES,
        "table, rows_of_images = [], {}": SUBSLIDE,  # DDPM against DDIM
        "seconds = {label": SKIP,
        "### Memorisation you can trigger": SUBSLIDE,
        "**What the stored run shows.**": NOTES,
        "# The four duplicated digits": SUBSLIDE,
        "### Where our digits came from": NOTES,
        "### Ablation: cut the skips": SUBSLIDE,
        "What the skips carry": NOTES,
        "### The DDPM step, written in the open": SUBSLIDE,
    },
    "06": {
        "The training loss is notebook 05's": SUBSLIDE,
        "first, last = sum(result.losses": SKIP,
        "if FAST:": SKIP,
        "`diffusion.sample` is this loop": NOTES,
        "At w = 0 the label is ignored": NOTES,
        "acc = dict(zip(": SKIP,
        "Read the two curves together": NOTES,
        "On a laptop CPU the batched call": NOTES,
    },
    "07": {
        "In fast mode we now switch to": NOTES,
        # the trained VAE's reconstructions
        'if FAST:\n    vae = checkpoints.load_pretrained("vae-digits")': SUBSLIDE,
        "What does the latent look like?": SUBSLIDE,
        'if FAST:\n    pipe = pipelines.load("ldm-digits"': SKIP,
        "Back to a real prompt": SUBSLIDE,  # one layer's cross-attention, by hand
        "At strength 0.2 the colour": NOTES,
        "What real systems get wrong": NOTES,
        "### Fakes: invisible to the eye": SUBSLIDE,
        "Our judge cannot tell": NOTES,
        "### Where the data came from, at scale": NOTES,
    },
    "08": {
        "if FAST:": SKIP,
        "**What the first stage bought.**": NOTES,
        "tables = vlm_digits.read_tables()": SUBSLIDE,  # what images cost in real VLMs
    },
    "09": {
        "Measured in x (the straightness table": NOTES,
        "### Training it: the flow matching loss": SUBSLIDE,
        "latent_range = ": SKIP,  # the shipped dit-digits pipeline, in fast mode
        "### Does it follow the prompt? Measured at 8 and 50": SUBSLIDE,
        "**What 300 seconds shows.**": NOTES,
        "def shipped_quality(": SUBSLIDE,  # the shipped models side by side
    },
}


def split_headings(nb) -> int:
    """Split markdown cells before each heading below their first line; returns how many.

    The new cell's id is the old one with `-N` added, so a second run changes nothing.
    """
    cells, added = [], 0
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            cells.append(cell)
            continue
        starts = [m.start() for m in SPLIT_BEFORE.finditer(cell.source) if m.start() > 0]
        if not starts:
            cells.append(cell)
            continue
        pieces = [cell.source[a:b] for a, b in zip([0, *starts], [*starts, None], strict=True)]
        cell.source = pieces[0].rstrip()
        cells.append(cell)
        for k, piece in enumerate(pieces[1:], start=2):
            part = nbformat.v4.new_markdown_cell(piece.rstrip(), id=f"{cell.id}-{k}")
            part.metadata = copy.deepcopy(cell.metadata)
            cells.append(part)
            added += 1
    nb.cells = cells
    return added


def first_line(cell) -> str:
    lines = cell.source.strip().splitlines()
    return lines[0].strip() if lines else ""


def is_imports(source: str) -> bool:
    """Only imports (and comments, blank lines, the names inside parenthesised imports)."""
    lines = [line for line in source.splitlines() if line.strip() and not line.startswith("#")]
    inside, ok = False, bool(lines)
    for line in lines:
        if inside:
            inside = ")" not in line
        elif IMPORT.match(line):
            inside = line.rstrip().endswith("(")
        else:
            ok = False
    return ok


def is_plumbing(cell) -> bool:
    """A cell a slide should never show: setup, imports, parameters, checks, verdicts."""
    if cell.cell_type != "code":
        return False
    head = first_line(cell)
    return (
        SETUP in cell.source
        or is_imports(cell.source)
        or "parameters" in cell.metadata.get("tags", [])
        or head.startswith("# Check exercise")
        or "exercises.summary(" in cell.source
    )


def general_type(cell, index: int) -> str:
    """The slide type the general rules give a cell (the module docstring's list)."""
    head = first_line(cell)
    if index == 0:
        return SLIDE
    if is_plumbing(cell):
        return SKIP
    if cell.cell_type == "markdown" and head.startswith("## "):
        return SLIDE
    if cell.cell_type == "markdown" and head.startswith("### Exercise"):
        return SUBSLIDE
    if "exercise" in cell.metadata.get("tags", []):
        return FRAGMENT
    return SAME


def slide_types(nb, name: str) -> list[str]:
    """The slide type of every cell of notebook `name` (e.g. "01_patchify_vit.ipynb")."""
    types = [general_type(cell, i) for i, cell in enumerate(nb.cells)]
    for begins, kind in DECKS.get(name[:2], {}).items():
        found = [i for i, cell in enumerate(nb.cells) if cell.source.strip().startswith(begins)]
        if len(found) != 1:
            raise ValueError(
                f"{name}: DECKS key {begins!r} begins {len(found)} cells, not one; "
                "make it longer (or fix tools/slides.py after the notebook changed)"
            )
        types[found[0]] = kind
    return types


def apply(nb, name: str) -> nbformat.NotebookNode:
    """Split headings, then write the slide types and RISE's settings into `nb` (in place)."""
    split_headings(nb)
    for cell, kind in zip(nb.cells, slide_types(nb, name), strict=True):
        cell.metadata["slideshow"] = {"slide_type": kind}
    nb.metadata["rise"] = dict(RISE)
    return nb


def deck(nb) -> list[list]:
    """The slides (and subslides) of a notebook with slideshow metadata: the cells each shows."""
    slides: list[list] = []
    for cell in nb.cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type", SAME)
        if kind in HIDDEN:
            continue
        if kind in STARTS or not slides:
            slides.append([])
        slides[-1].append(cell)
    return slides


def render(path: Path) -> str:
    """The notebook at `path` with its deck written in, as the text to write."""
    nb = nbformat.read(path, as_version=4)
    return nbformat.writes(apply(nb, path.name)) + "\n"


def outline(path: Path) -> list[str]:
    """One line a slide: what it shows first, and how many cells."""
    nb = apply(nbformat.read(path, as_version=4), path.name)
    return [
        f"{k + 1:2}. {first_line(cells[0])[:70]}  ({len(cells)} cells)"
        for k, cells in enumerate(deck(nb))
    ]


def lessons() -> list[Path]:
    return sorted(SOURCE.glob(LESSONS))


def write(paths: list[Path], check: bool = False) -> int:
    """Write each notebook's deck (with check, only report the stale ones); 1 if check fails."""
    return generated.sync(((path, render(path)) for path in paths), check=check, what="slides")


# The static decks (`--export`): local copies of reveal.js and MathJax beside them.
REVEAL = "reveal.js"
MATHJAX = "mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def package_folder(module: str) -> Path:
    """Where an installed package lives, without importing it (sphinx_revealjs imports Sphinx)."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None:
        raise ModuleNotFoundError(f"{module} is missing: pip install -e '.[test]'")
    return Path(spec.submodule_search_locations[0])


def copy_assets(out: Path) -> None:
    """reveal.js (sphinx-revealjs ships it), MathJax 2 (jupyter-server-mathjax) and plotly.js."""
    reveal = package_folder("sphinx_revealjs") / "_static" / "revealjs"
    for part in ("dist", "plugin/notes"):
        shutil.copytree(reveal / part, out / REVEAL / part, dirs_exist_ok=True)
    shutil.copyfile(reveal / "LICENSE", out / REVEAL / "LICENSE")
    mathjax = package_folder("jupyter_server_mathjax") / "static"
    shutil.copytree(mathjax, out / MATHJAX, dirs_exist_ok=True)
    site.copy_plotly_js(out)


def exporter():
    from nbconvert import SlidesExporter

    return SlidesExporter(
        template_name="offline_reveal",
        extra_template_basedirs=[str(TEMPLATES)],
        reveal_url_prefix=REVEAL,
        reveal_theme="white",  # its fonts are local; "simple" imports web fonts
        reveal_transition="none",
        reveal_number="c/t",
        reveal_width="1280",
        reveal_height="800",
        mathjax_url=f"{MATHJAX}/MathJax.js?config={MATHJAX_CONFIG}",
        embed_images=True,
    )


def to_deck(nb) -> str:
    """An executed notebook as a static deck."""
    return site.to_html(nb, exporter())


def export(paths: list[Path], out: Path) -> list[Path]:
    """Execute each notebook in fast mode and write its static deck; returns the decks."""
    out.mkdir(parents=True, exist_ok=True)
    copy_assets(out)
    return site.write_pages(paths, out, to_deck, ".slides.html")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lesson")
    parser.add_argument("--check", action="store_true", help="fail if a deck is stale")
    parser.add_argument("--outline", action="store_true", help="print each deck's slides")
    parser.add_argument("--export", type=Path, metavar="DIR", help="write static decks here")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or lessons()
    if args.outline:
        for path in paths:
            lines = outline(path)
            print(f"{path.name}: {len(lines)} slides", *lines, sep="\n  ")
        return 0
    if args.export:
        export(paths, args.export)
        return 0
    code = write(paths, check=args.check)
    return code if args.check else student.main([])  # the student edition carries the decks


if __name__ == "__main__":
    sys.exit(main())
