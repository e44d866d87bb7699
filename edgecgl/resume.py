"""Folder outputs that continue where an interrupted run stopped.

Translating a folder of frames takes hours on a CPU. Built under a temporary name and renamed at the end
(``edgecgl.atomic.atomic_dir``), such a folder lost every finished image to a Ctrl-C, a kill or a power
cut. Here each output file is written whole (``atomic_path``) straight into ``--out``, beside a run record
(``.edgecgl-run``: the command and the settings that decide what its files look like, written before
the first file). The same command again keeps the files it finds and makes the rest; other settings are
refused, naming what differs; ``--overwrite`` empties a folder the command wrote and starts again. A
folder without a record is refused unless it is empty (or, with ``--overwrite``, holds only what the
command writes).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecgl.atomic import check_writable, write_text_atomic
from edgecgl.errors import EdgecglError
from edgecgl.outdir import check_output_dir

# JSON, named without .json: no loader looking for a labels JSON in a dataset folder picks it up
RECORD = ".edgecgl-run"


@dataclass(frozen=True)
class FolderRun:
    out: Path
    done: frozenset[Path]  # planned outputs that an earlier run with these settings finished
    created: bool  # this run made ``out``

    def todo(self, planned: Iterable[Path]) -> list[Path]:
        return [p for p in planned if p not in self.done]

    def abandon(self) -> None:
        """Remove ``out`` again if this run made it and wrote nothing into it but the record (every input
        was unreadable: no folder is left behind, as before)."""
        if self.created and [p.name for p in self.out.iterdir()] == [RECORD]:
            shutil.rmtree(self.out, ignore_errors=True)


def _read_record(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded_command(path: Path) -> str | None:
    """The command a run record names (None: no record, or not one)."""
    command = _read_record(path).get("command")
    return command if isinstance(command, str) else None


def open_folder_run(
    out: Path,
    command: str,
    settings: dict[str, Any],
    planned: list[Path],
    overwrite: bool,
    foreign: Callable[[Path], str | None],
    inputs: tuple[Path, ...] = (),
    what: str = "",
) -> FolderRun:
    """Check ``out`` before any work and record this run in it; return which ``planned`` outputs are done.

    ``settings`` must be JSON data (paths as text). ``foreign`` says why a folder is not one this command
    wrote (None: it is; the record is the command's), as for ``edgecgl.outdir.check_output_dir``, whose
    messages name the output ``what``.
    """
    what = what or f"{command} output"
    out = Path(out)
    settings = json.loads(json.dumps(settings))  # as the record will read back (tuples -> lists)
    old = _read_record(out / RECORD) if out.is_dir() else {}
    ours = old.get("command") == command
    if ours and old.get("settings") != settings and not overwrite:
        was = old.get("settings") or {}
        diff = [f"{k} {was.get(k)!r} (now {settings.get(k)!r})" for k in sorted(set(was) | set(settings))
                if was.get(k) != settings.get(k)]  # fmt: skip
        raise EdgecglError(
            f"{out} holds the output of a run with other settings: {'; '.join(diff)}",
            "run it with those to continue it, pass --overwrite to start again with these, or choose another --out",
        )
    created = not out.exists()
    if ours and not overwrite:  # continuing: nothing is replaced; only the places never to write to
        check_output_dir(out, True, what, lambda _f: None, inputs)
    else:  # a new folder, or one --overwrite empties: only if it holds nothing but this command's files
        check_output_dir(out, overwrite, what, foreign, inputs)
    if overwrite and out.is_dir():
        for p in out.iterdir():  # everything in it is this command's (checked above)
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    done = frozenset(p for p in planned if p.is_file()) if ours and not overwrite else frozenset()
    check_writable(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        out / RECORD,
        json.dumps({"format": "edgecgl folder run", "command": command, "settings": settings}, indent=1),
    )
    return FolderRun(out, done, created)
