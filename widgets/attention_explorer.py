"""AttentionExplorer: where does each layer, head and token of a ViT look?

Pick a digit, a layer, a head (or the mean over heads), a query (the CLS token or a
patch) and a mode (this layer's raw attention, or the rollout through layers 1..layer).
The frame is the digit with the attention of that query drawn over it as a heat map,
the query patch outlined. The whole attention tensor is computed once per digit; a
control move only indexes it and draws (then the frame is cached).
"""

from __future__ import annotations

import functools

import ipywidgets as ipw
import numpy as np
import torch

from course_lib import attention
from widgets import frames
from widgets.base import Explorer, Move, check_images, check_scale

QUERY = np.array([0, 229, 255], dtype=np.uint8)  # outline of the query patch (cyan)
MEAN = "mean"  # the head option that averages the heads
MODES = ("raw", "rollout")


@functools.cache
def _colormap(name: str = "inferno") -> np.ndarray:
    """256 RGB colours (256, 3) uint8 of a matplotlib colormap, looked up once."""
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def heat_frame(
    image: torch.Tensor,
    heat: np.ndarray,
    query: int,
    scale: int = 10,
    alpha: float = 0.6,
) -> np.ndarray:
    """Digit (1, H, W) in [-1, 1] with an (S, S) heat map over it -> (H*scale, W*scale, 3) uint8.

    The heat map is scaled to its own maximum (brightest = most attended patch), each patch a
    square; query 0 (CLS) outlines the whole image, query 1 + k outlines patch k.
    """
    _, h, w = image.shape
    side = heat.shape[-1]
    if heat.shape != (side, side) or h % side:
        raise ValueError(f"heat must be (S, S) with S dividing {h}, got {heat.shape}")
    patch = h // side
    level = np.clip(heat / max(float(heat.max()), 1e-12), 0, 1)
    colours = _colormap()[(level * 255).round().astype(np.int64)]  # (S, S, 3)
    colours = frames.upscale(colours, patch * scale).astype(np.float32)
    grey = frames.tile(image, scale).astype(np.float32)
    out = ((1 - alpha) * grey + alpha * colours).round().astype(np.uint8)
    if query == 0:
        top, left, size = 0, 0, h * scale  # CLS belongs to no patch: outline the image
    else:
        row, col = divmod(query - 1, side)
        size = patch * scale
        top, left = row * size, col * size
    thick = max(2, scale // 3)
    frames.outline(out, top, left, size, thick, QUERY)
    return out


def attention_tensors(model, image: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """One forward pass: raw weights (L, h, T, T) and rollout (L, T, T) for one (C, H, W) image."""
    device = next(model.parameters()).device
    with torch.no_grad():
        _, weights = model(image.unsqueeze(0).to(device), return_attention=True)
    raw = attention.stack_layers(weights)[:, 0].float().cpu()  # (L, h, T, T)
    return raw, attention.rollout(raw.unsqueeze(1))[:, 0]  # (L, T, T)


def select_map(
    raw: torch.Tensor, rolled: np.ndarray, layer: int, head: int | str, query: int, mode: str
) -> np.ndarray:
    """The (S, S) map a control setting shows; layer is 0-based, head an index or "mean"."""
    if mode == "rollout":  # rollout already averages the heads
        return attention.query_maps(torch.from_numpy(rolled[layer]), query)
    if mode != "raw":
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    weights = raw[layer].mean(dim=0) if head == MEAN else raw[layer, head]  # (T, T)
    return attention.query_maps(weights, query)


class AttentionExplorer(Explorer):
    """Layer, head, query and mode over a few digits, for a ViT that returns its attention.

    model: a `vit.ViT` (or anything with `model(x, return_attention=True)` and `.config`);
    images: name -> (C, H, W) tensor in [-1, 1] the model takes.
    """

    rows = (("image", "layer", "head"), ("query", "mode"))
    # one digit's attention is (L, h, T, T) floats, ~20 KB; a frame is a ~3 KB PNG
    cache_limits = {"tensors": 64, "frames": 1024}
    bench_moves = (
        Move("query, frame drawn", "query", [*range(1, 17), 0], uncached=True),
        Move("query, cached", "query", [*range(1, 17), 0]),
        Move("layer, rollout", "layer", [2, 3, 4, 1], before={"mode": "rollout"}),
        Move("digit, first visit", "image", moves=5),  # a forward pass each
    )

    def __init__(self, model, images: dict[str, torch.Tensor], scale: int = 10):
        cfg = model.config
        expected = (cfg.channels, cfg.image_size, cfg.image_size)
        check_images(images, lambda x: tuple(x.shape) == expected, f"must have shape {expected}")
        check_scale(scale)
        self.model = model.eval()
        self.images = images
        self.scale = scale
        self.side = cfg.image_size // cfg.patch_size
        queries = [("CLS", 0)] + [
            (f"patch {k} (row {k // self.side}, col {k % self.side})", k + 1)
            for k in range(self.side**2)
        ]
        super().__init__(
            {
                "image": ipw.Dropdown(
                    options=list(images), description="digit", layout=ipw.Layout(width="260px")
                ),
                "layer": ipw.IntSlider(min=1, max=cfg.depth, value=1, description="layer"),
                "head": ipw.Dropdown(
                    options=[(str(i), i) for i in range(cfg.heads)] + [("mean", MEAN)],
                    value=0,
                    description="head",
                    layout=ipw.Layout(width="160px"),
                ),
                "query": ipw.Dropdown(
                    options=queries, value=0, description="query", layout=ipw.Layout(width="300px")
                ),
                "mode": ipw.ToggleButtons(
                    options=list(MODES), value="raw", style={"button_width": "80px"}
                ),
            }
        )

    def arrange(self) -> list[ipw.Widget]:
        """The rows of controls, then the frame beside the patch picker, then the status."""
        *rows, frame, status = super().arrange()
        return [*rows, ipw.HBox([frame, self.picker()]), status]

    def picker(self) -> ipw.VBox:
        """Buttons laid out like the patches (and one for CLS) that set the query control."""

        def button(label: str, query: int, width: int = 44) -> ipw.Button:
            b = ipw.Button(description=label, layout=ipw.Layout(width=f"{width}px", height="32px"))
            b.on_click(lambda _: setattr(self.controls["query"], "value", query))
            return b

        patches = [button(str(k), k + 1) for k in range(self.side**2)]
        grid = ipw.GridBox(
            patches, layout=ipw.Layout(grid_template_columns=f"repeat({self.side}, 46px)")
        )
        return ipw.VBox([ipw.HTML("pick the query:"), button("CLS", 0, width=90), grid])

    def tensors(self, name: str) -> tuple[torch.Tensor, np.ndarray]:
        """Raw attention (L, h, T, T) and rollout (L, T, T) of image `name`, computed once."""
        return self.cached(
            name, lambda: attention_tensors(self.model, self.images[name]), "tensors"
        )

    def current_map(self) -> np.ndarray:
        """The (S, S) map the controls select, straight from the pure functions."""
        c = self.values()
        raw, rolled = self.tensors(c["image"])
        return select_map(raw, rolled, c["layer"] - 1, c["head"], c["query"], c["mode"])

    def draw(self) -> None:
        c = self.values()
        heat = self.current_map()
        image = self.images[c["image"]]
        frame = self.cached(
            tuple(c.values()),
            lambda: frames.encode(heat_frame(image, heat, c["query"], self.scale)),
        )
        self.show(frame)
        who = "CLS" if c["query"] == 0 else f"patch {c['query'] - 1}"
        if c["mode"] == "rollout":
            what = f"rollout through layers 1..{c['layer']} (heads averaged, residual added)"
        else:
            head = "mean of heads" if c["head"] == MEAN else f"head {c['head']}"
            what = f"layer {c['layer']}, {head}"
        self.status.value = (
            f"{what}: what <b>{who}</b> takes from each patch. Brightest patch "
            f"{heat.max():.2f}; patches together {heat.sum():.2f} (the rest goes to CLS)."
        )

    def static(self, name: str | None = None, query: int = 0):
        """A matplotlib figure: layers x (heads + mean) raw maps of one digit, plus rollout."""
        import matplotlib.pyplot as plt

        name = name or self.controls["image"].value
        raw, rolled = self.tensors(name)
        layers, heads = raw.shape[:2]
        columns = [*range(heads), MEAN]
        fig, axes = plt.subplots(
            layers, heads + 2, figsize=(1.9 * (heads + 2), 1.9 * layers), squeeze=False
        )
        for layer in range(layers):
            for col, head in enumerate(columns):
                heat = select_map(raw, rolled, layer, head, query, "raw")
                axes[layer, col].imshow(heat_frame(self.images[name], heat, query, 4))
                axes[0, col].set_title(f"head {head}" if head != MEAN else "mean")
            heat = select_map(raw, rolled, layer, MEAN, query, "rollout")
            axes[layer, -1].imshow(heat_frame(self.images[name], heat, query, 4))
            axes[layer, 0].set_ylabel(f"layer {layer + 1}")
        axes[0, -1].set_title("rollout")
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        who = "CLS" if query == 0 else f"patch {query - 1}"
        fig.suptitle(f"{name}: attention from {who}, each map scaled to its own maximum")
        fig.tight_layout()
        return fig

    @classmethod
    def demo(cls) -> AttentionExplorer:
        """The shipped `vit-digits` ViT on one test digit of each of five classes."""
        from course_lib import checkpoints, data

        model = checkpoints.load_pretrained("vit-digits")
        digits, labels = data.mnist_tensors("test")
        images = {}
        for digit in (0, 2, 3, 4, 7):
            index = int((labels == digit).nonzero()[0])
            images[f"digit {digit} (test #{index})"] = digits[index]
        return cls(model, images)
