"""The map of generative models: five families, what each optimises, how each samples,
and where the course builds one. `FAMILIES` is the table; `draw_map()` the figure.

The split at the top follows Goodfellow's taxonomy (NIPS 2016 tutorial, arXiv:1701.00160):
models that write down a likelihood (exactly, or as a bound) and models that only learn to
produce samples.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str
    likelihood: str  # "exact", "bound" or "none": what the training objective says of log p(x)
    optimises: str
    samples: str
    in_course: str  # where the course builds one ("" when it does not)
    reference: str


FAMILIES = (
    Family(
        "autoregressive",
        "exact",
        "log p(x) = sum of log p(x_i given x_<i): next-token cross-entropy",
        "one token (or pixel) at a time, each conditioned on the ones before",
        "04's contrast with diffusion; 08's language model",
        "van den Oord et al. 2016, PixelCNN (arXiv:1601.06759)",
    ),
    Family(
        "flow",
        "exact",
        "normalising flows: exact log p(x) through an invertible network; flow matching: "
        "regress the velocity from noise to data",
        "invert the network once; flow matching: integrate the velocity (an ODE) in a few steps",
        "09's rectified flow",
        "Dinh et al. 2017 (arXiv:1605.08803); Lipman et al. 2023 (arXiv:2210.02747); "
        "Liu et al. 2023 (arXiv:2209.03003)",
    ),
    Family(
        "VAE",
        "bound",
        "the ELBO: reconstruction error + the KL divergence of q(z given x) from N(0, I)",
        "z ~ N(0, I), then one decoder pass",
        "07's VAE, the codec of latent diffusion",
        "Kingma & Welling 2014 (arXiv:1312.6114)",
    ),
    Family(
        "diffusion",
        "bound",
        "a weighted ELBO, in practice the simple loss: predict the noise that was added",
        "start from noise, denoise step by step (10 to 1,000 network passes)",
        "05's DDPM, 06's guidance, 07's latent diffusion",
        "Ho et al. 2020 (arXiv:2006.11239)",
    ),
    Family(
        "GAN",
        "none",
        "a two-player game: the generator tries to fool a discriminator",
        "noise, then one generator pass",
        "",
        "Goodfellow et al. 2014 (arXiv:1406.2661)",
    ),
)

GROUPS = {
    "exact": "exact likelihood",
    "bound": "a bound on the likelihood",
    "none": "no likelihood",
}


def table_markdown(families=FAMILIES) -> str:
    """FAMILIES as a markdown table: family, objective, sampling, where the course builds one."""
    lines = [
        "| family | optimises | samples by | in this course | reference |",
        "|---|---|---|---|---|",
    ]
    for f in families:
        built = f.in_course or "not built here"
        lines.append(f"| {f.name} | {f.optimises} | {f.samples} | {built} | {f.reference} |")
    return "\n".join(lines)


def _box(ax, x: float, y: float, text: str, color: str, va: str = "center", **options) -> None:
    """A rounded box at (x, y) in axes coordinates (centred across; `va` up and down)."""
    style = dict(boxstyle="round,pad=0.5", facecolor=color, edgecolor="#555555")
    ax.text(x, y, text, ha="center", va=va, bbox=style, **options)


def draw_map(families=FAMILIES, wrap: int = 30):
    """The map as a matplotlib figure: likelihood groups on top, one box per family below
    (what it optimises, how it samples), the course's own models in green."""
    import textwrap

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(15, 6.2))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    _box(
        ax,
        0.5,
        0.93,
        "generative models: learn p(x) from examples, then draw new x",
        "#eeeeee",
        fontsize=12,
        weight="bold",
    )
    columns = [(i + 0.5) / len(families) for i in range(len(families))]
    groups = {}
    for x, f in zip(columns, families, strict=True):
        groups.setdefault(f.likelihood, []).append(x)
    for kind, xs in groups.items():
        gx = sum(xs) / len(xs)
        ax.annotate("", (gx, 0.8), (0.5, 0.89), arrowprops=dict(arrowstyle="-", color="#888888"))
        _box(ax, gx, 0.76, GROUPS[kind], "#f7f7f7", fontsize=10, style="italic")
        for x in xs:
            ax.annotate(
                "", (x, 0.665), (gx, 0.72), arrowprops=dict(arrowstyle="->", color="#888888")
            )
    for x, f in zip(columns, families, strict=True):
        fill = lambda s: textwrap.fill(s, wrap)  # noqa: E731
        built = f"in the course: {f.in_course}" if f.in_course else "not built in the course"
        body = f"optimises:\n{fill(f.optimises)}\n\nsamples:\n{fill(f.samples)}\n\n{fill(built)}"
        color = "#e3f4e1" if f.in_course else "#f3f3f3"
        ax.text(x, 0.6, f.name, ha="center", va="bottom", fontsize=12, weight="bold")
        _box(ax, x, 0.55, body, color, va="top", fontsize=8.5, linespacing=1.25)
    fig.tight_layout()
    return fig
