"""May a command create, or replace as a whole, the output folder it was given?

Commands that write a folder (demo, data synth, image on a folder, augment) build it under a temporary
name and swap it in at the end (``edgecgl.atomic.atomic_dir``), which deletes whatever the folder held.
``--overwrite`` therefore replaces only a folder the same command wrote earlier, and never the current
folder, one above it, the home folder, ``/`` or a folder holding the input.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgecgl.atomic import check_writable
from edgecgl.errors import EdgecglError


def _protected(path: Path) -> str | None:
    """Why deleting ``path`` would be a disaster, or None."""
    real = path.resolve()
    cwd = Path.cwd().resolve()
    if real == cwd:
        return "the current folder"
    if real in cwd.parents:
        return "a folder above the current one"
    if real == Path.home().resolve():
        return "your home folder"
    if real == Path(real.anchor):
        return "the root folder"
    return None


def first_entry(folder: Path) -> str:
    """One entry of ``folder`` to name in a message (folders before files, sorted)."""
    entries = sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name))
    return entries[0].name + ("/" if entries[0].is_dir() else "") if entries else ""


def check_output_dir(
    out: Path,
    overwrite: bool,
    what: str,
    is_ours: Callable[[Path], bool],
    inputs: tuple[Path, ...] = (),
) -> Path:
    """Refuse, before any work, an ``out`` folder whose replacement could lose something the user owns.

    ``what`` names the command's output in messages ("demo folder"); ``is_ours`` says whether an existing
    folder is one the command wrote (only those are replaced with ``--overwrite``).
    """
    out = Path(out)
    why = _protected(out)
    if why is not None:
        raise EdgecglError(
            f"--out {out} is {why}, which is never replaced", "give --out a new folder to create"
        )
    for src in inputs:
        s, o = Path(src).resolve(), out.resolve()
        if o == s or o in s.parents:
            raise EdgecglError(f"output {out} holds the input {src}", "choose another --out")
    if not out.exists():
        check_writable(out)
        return out
    if not out.is_dir():
        raise EdgecglError(f"output {out} is a file, not a folder", "choose another --out")
    if not any(out.iterdir()):
        check_writable(out)
        return out
    if not overwrite:
        raise EdgecglError(f"output {out} already exists", "pass --overwrite to replace it")
    if not is_ours(out):
        raise EdgecglError(
            f"--overwrite replaces only an earlier {what}, and {out} is not one (it holds {first_entry(out)})",
            "choose another --out, or remove the folder yourself",
        )
    check_writable(out)
    return out
