"""Numbered run folders ``runs/<cmd>/<NNN-name>/`` (after stylegan3), and finding the newest one."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from edgecgl.errors import EdgecglError

_RUN_RE = re.compile(r"^(\d{3,})-")


def new_run_dir(root: Path, name: str) -> Path:
    """Create ``root/NNN-name`` with the next free number."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    nums = [int(m.group(1)) for p in root.iterdir() if (m := _RUN_RE.match(p.name))]
    nxt = max(nums, default=-1) + 1
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"
    while True:
        path = root / f"{nxt:03d}-{safe}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            nxt += 1


def newest(root: Path, must_contain: str | None = None) -> Path:
    """The highest-numbered run under ``root`` (optionally one holding ``must_contain``)."""
    root = Path(root)
    runs = []
    if root.is_dir():
        for p in root.iterdir():
            m = _RUN_RE.match(p.name)
            if m and p.is_dir() and (must_contain is None or (p / must_contain).exists()):
                runs.append((int(m.group(1)), p))
    if not runs:
        what = f" with {must_contain}" if must_contain else ""
        raise EdgecglError(f"no run{what} found under {root}", "give the path explicitly")
    return max(runs)[1]


def run_or_newest(path: Path, must_contain: str, log: Callable[[str], None] | None = None) -> Path:
    """``path`` itself if it holds ``must_contain``, else the newest run under it (a runs root, as
    ``train --out DIR`` writes ``DIR/NNN-name/``), saying which run was taken."""
    path = Path(path)
    if (path / must_contain).exists() or not path.is_dir():
        return path
    try:
        run = newest(path, must_contain)
    except EdgecglError:
        return path  # neither a run nor a runs root: the caller's own error names what is missing
    if log is not None:
        log(f"{path} is a runs folder: taking its newest run {run}")
    return run
