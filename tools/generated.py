"""Files the course generates from the instructor edition (the student edition, the guide's
concept questions): write them, or with check=True only report the stale ones."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def sync(outputs: Iterable[tuple[Path, str]], *, check: bool, what: str) -> int:
    """Write each (path, text) whose file differs (unless check); print one line; return 1
    when check finds a stale file, else 0."""
    stale = []
    for target, text in outputs:
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target.name)
        if not check:
            target.write_text(text)
    verb = "stale" if check else "written"
    print(f"{what}: {len(stale)} {verb}" + (f": {', '.join(stale)}" if stale else ""))
    return 1 if check and stale else 0
