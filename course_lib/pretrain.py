"""Rebuild a shipped checkpoint from scratch: `python -m course_lib.pretrain NAME [--seed S]`.

Trains with the recipe in `course_lib.recipes`, then saves NAME.safetensors and NAME.json
and rewrites NAME's sha256 entry in the manifest, all three as one unit. It refuses, before
any training, to replace a checkpoint that exists unless you pass --force; --out DIR writes
to another folder instead (the checkpoints it trains on still come from the shipped folder,
or COURSE_CHECKPOINTS). A recipe that trains on other checkpoints lists them in DEPENDS_ON;
their weights' sha256 is recorded in the new checkpoint's metadata ("depends_on").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from course_lib import checkpoints, recipes


def existing(name: str, directory: Path) -> bool:
    """True when `directory` already holds a checkpoint NAME (its files or a manifest entry)."""
    files = [directory / f"{name}{ext}" for ext in (".safetensors", ".json")]
    return any(f.exists() for f in files) or name in checkpoints.read_manifest(directory)


def check_target(name: str, directory: Path, force: bool) -> None:
    """Raise FileExistsError unless NAME may be written to `directory`."""
    if existing(name, directory) and not force:
        raise FileExistsError(
            f"{directory} already holds {name}; nothing was trained. Pass --force to replace "
            f"it, or --out DIR to write the rebuilt checkpoint to another folder"
        )


def pretrain(name: str, seed: int = 0, out: Path | None = None, force: bool = False) -> dict:
    """Train checkpoint NAME with its seeded recipe and publish it to `out` (default: the
    checkpoint folder); returns its manifest entry."""
    recipe = recipes.get(name)
    directory = Path(out) if out is not None else checkpoints.checkpoint_dir()
    check_target(name, directory, force)
    depends_on = {dep: checkpoints.weights_sha256(dep) for dep in getattr(recipe, "DEPENDS_ON", ())}
    start = time.perf_counter()
    model, metrics = recipe.build(seed)
    metrics = {**metrics, "seed": seed, "wall_seconds": round(time.perf_counter() - start, 1)}
    if depends_on:
        metrics["depends_on"] = depends_on
    return checkpoints.publish(
        model,
        name,
        directory,
        half=recipe.HALF,
        metadata=metrics,
        rebuild=f"python -m course_lib.pretrain {name} --seed {seed}",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="+", metavar="NAME", help=f"one of {recipes.names()} or 'all'"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write here, not to checkpoints/")
    parser.add_argument("--force", action="store_true", help="replace a checkpoint that exists")
    args = parser.parse_args(argv)
    names = recipes.names() if args.names == ["all"] else args.names
    directory = args.out if args.out is not None else checkpoints.checkpoint_dir()
    for name in names:
        recipes.get(name)  # fail on a typo before hours of training
        try:
            check_target(name, directory, args.force)  # and on an existing target
        except FileExistsError as err:
            parser.exit(2, f"pretrain: {err}\n")
    for name in names:
        entry = pretrain(name, args.seed, out=args.out, force=args.force)
        print(f"{name}: {entry}")


if __name__ == "__main__":
    main()
