"""Rebuild a shipped checkpoint from scratch: `python -m course_lib.pretrain NAME [--seed S]`.

Trains with the recipe in `course_lib.recipes`, saves NAME.safetensors and NAME.json in
checkpoints/, and rewrites NAME's sha256 entry in checkpoints/manifest.json.
"""

from __future__ import annotations

import argparse
import time

from course_lib import checkpoints, recipes


def pretrain(name: str, seed: int = 0) -> dict:
    """Train checkpoint NAME with its seeded recipe, save it, update the manifest."""
    recipe = recipes.get(name)
    start = time.perf_counter()
    model, metrics = recipe.build(seed)
    metrics = {
        **metrics,
        "seed": seed,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    directory = checkpoints.checkpoint_dir()
    checkpoints.save(model, directory / name, half=recipe.HALF, metadata=metrics)
    return checkpoints.write_manifest_entry(
        name, directory, rebuild=f"python -m course_lib.pretrain {name} --seed {seed}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="+", metavar="NAME", help=f"one of {recipes.names()} or 'all'"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = recipes.names() if args.names == ["all"] else args.names
    for name in names:
        recipes.get(name)  # fail on a typo before hours of training
    for name in names:
        entry = pretrain(name, args.seed)
        print(f"{name}: {entry}")


if __name__ == "__main__":
    main()
