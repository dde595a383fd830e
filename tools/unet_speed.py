"""The course U-Net's training step against diffusers' `UNet2DModel` of the same shape, timed
side by side in one process: `python -m tools.unet_speed` (needs the `bench` extra).

Both models get ddpm-digits' layout (widths 24-48-96, one residual block a level on the way
down, self-attention at 7x7), the same batch of noisy digits and the same AdamW step; the
rounds alternate between the models so a busy machine slows both alike. The ratio is the
median diffusers step time over the median course step time: above 1, ours is faster.
"""

from __future__ import annotations

import statistics
import time

import torch

from course_lib.recipes import ddpm_digits
from course_lib.unet import UNet

BATCH = 64  # ddpm-digits' batch
ROUNDS = 6  # alternating rounds per model
STEPS = 8  # training steps a round (after WARMUP untimed ones)
WARMUP = 3


def diffusers_twin(config) -> torch.nn.Module:
    """diffusers' UNet2DModel with the course U-Net's widths, depth, groups and attention."""
    from diffusers import UNet2DModel

    levels = range(len(config.widths))
    attention = set(config.attention_levels)
    return UNet2DModel(
        sample_size=config.image_size,
        in_channels=config.channels,
        out_channels=config.channels,
        block_out_channels=config.widths,
        layers_per_block=config.blocks_per_level,
        down_block_types=tuple(
            "AttnDownBlock2D" if i in attention else "DownBlock2D" for i in levels
        ),
        up_block_types=tuple(
            "AttnUpBlock2D" if i in attention else "UpBlock2D" for i in reversed(levels)
        ),
        norm_num_groups=config.groups,
        attention_head_dim=config.widths[-1] // config.heads,
    )


def step_seconds(model, forward, x, t, eps, steps: int) -> float:
    """Seconds per training step (forward, MSE to eps, backward, AdamW) over `steps` steps."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    start = time.perf_counter()
    for _ in range(steps):
        loss = ((forward(model, x, t) - eps) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def compare(batch: int = BATCH, rounds: int = ROUNDS) -> dict:
    """Median step seconds of each model and their ratio, plus the parameter counts."""
    config = ddpm_digits.MODEL
    torch.manual_seed(0)
    models = {
        "course U-Net": (UNet(config), lambda m, x, t: m(x, t)),
        "diffusers UNet2DModel": (diffusers_twin(config), lambda m, x, t: m(x, t).sample),
    }
    shape = (batch, config.channels, config.image_size, config.image_size)
    x, eps = torch.randn(shape), torch.randn(shape)
    t = torch.randint(0, 1000, (batch,))
    times = {name: [] for name in models}
    for model, forward in models.values():
        step_seconds(model, forward, x, t, eps, WARMUP)
    for _ in range(rounds):
        for name, (model, forward) in models.items():
            times[name].append(step_seconds(model, forward, x, t, eps, STEPS))
    median = {name: statistics.median(ts) for name, ts in times.items()}
    return {
        "batch": batch,
        "threads": torch.get_num_threads(),
        "seconds per step": median,
        "parameters": {n: sum(p.numel() for p in m.parameters()) for n, (m, _) in models.items()},
        "ratio": median["diffusers UNet2DModel"] / median["course U-Net"],
    }


def report() -> list[str]:
    """The comparison as markdown lines, or how to install diffusers."""
    try:
        import diffusers  # noqa: F401
    except ImportError:
        return ["U-Net against diffusers: not measured (pip install -e '.[bench]' adds diffusers)"]
    result = compare()
    lines = [
        f"Training step, batch {result['batch']} of 28x28 digits, {result['threads']} threads "
        "(ddpm-digits' layout), measured side by side:",
        "",
        "| model | parameters | ms a step |",
        "|---|---|---|",
    ]
    for name, seconds in result["seconds per step"].items():
        lines.append(f"| {name} | {result['parameters'][name]:,} | {1000 * seconds:.0f} |")
    lines.append(
        f"\nratio diffusers / course: {result['ratio']:.2f} (>= 1: the course U-Net is faster)"
    )
    return lines


if __name__ == "__main__":
    print("\n".join(report()))
