"""May a command create, or replace as a whole, the output folder it was given?

Commands that write a folder (demo, data synth) build it under a temporary name and swap it in at the end
(``edgecgl.atomic.atomic_dir``), which deletes whatever the folder held; ``augment`` and ``image`` on a
folder write into it file by file and, for --overwrite, remove what their runs wrote (``edgecgl.resume``).
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


def holding(folder: Path, ok: Callable[[Path], bool] = lambda _p: False, otherwise: str = "") -> str | None:
    """For messages: "it holds NAME", naming the first entry of ``folder`` that ``ok`` rejects (folders
    first), else ``otherwise`` (None when that is empty: nothing foreign)."""
    for p in sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name)):
        if not ok(p):
            return f"it holds {p.name}{'/' if p.is_dir() else ''}"
    return otherwise or None


def check_output_dir(
    out: Path,
    overwrite: bool,
    what: str,
    foreign: Callable[[Path], str | None],
    inputs: tuple[Path, ...] = (),
) -> Path:
    """Refuse, before any work, an ``out`` folder whose replacement could lose something the user owns.

    ``what`` names the command's output in messages ("demo folder"); ``foreign`` says why an existing
    folder is not one the command wrote, or None when it is (only those are replaced with --overwrite).
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
    if out.exists() and not out.is_dir():
        raise EdgecglError(f"output {out} is a file, not a folder", "choose another --out")
    if out.exists() and any(out.iterdir()):  # an empty folder is as good as none
        if not overwrite:
            raise EdgecglError(f"output {out} already exists", "pass --overwrite to replace it")
        reason = foreign(out)
        if reason is not None:
            raise EdgecglError(
                f"--overwrite replaces only an earlier {what}, and {out} is not one ({reason})",
                "choose another --out, or remove the folder yourself",
            )
    check_writable(out)
    return out
