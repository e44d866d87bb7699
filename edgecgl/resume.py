"""Folder outputs that continue where an interrupted run stopped.

Translating a folder of frames takes hours on a CPU. Built under a temporary name and renamed at the end
(``edgecgl.atomic.atomic_dir``), such a folder lost every finished image to a Ctrl-C, a kill or a power
cut. Here each output file is written whole (``atomic_path``) straight into ``--out``, beside a run record
(``.edgecgl-run``: the command and the settings that decide what its files look like, written before
the first file). The same command again keeps the files it finds and makes the rest; other settings are
refused, naming what differs; ``--overwrite`` starts again, removing what the earlier runs wrote. Each
file is listed in a journal (``.edgecgl-written``) just before it is written, so a file the user put into
the folder is never taken for an output: kept through --overwrite, and refused as "in the way" where this
run would write (a folder recorded before the journal existed is handled as it was then: emptied by
--overwrite, its files taken for outputs by date). A folder without a record is refused unless it is
empty (or, with ``--overwrite``, holds only what the command writes).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecgl.atomic import check_writable, write_text_atomic
from edgecgl.errors import EdgecglError
from edgecgl.outdir import check_output_dir

# JSON, named without .json: no loader looking for a labels JSON in a dataset folder picks it up
RECORD = ".edgecgl-run"
# One path a line, relative to the folder: what this folder's runs wrote (what --overwrite may remove)
JOURNAL = ".edgecgl-written"


@dataclass
class FolderRun:
    """A checked folder output, not yet touched: ``start()`` once the bundle and the rest have loaded, so a
    typo or a Ctrl-C while loading leaves an earlier output (and its record) as it was."""

    out: Path
    command: str
    settings: dict[str, Any]
    done: frozenset[Path]  # planned outputs that an earlier run with these settings finished
    empty_first: bool  # --overwrite: the earlier output goes when the run starts
    created: bool = False  # this run made ``out``
    kept: list[Path] = field(default_factory=list)  # files --overwrite left: not written by an edgecgl run

    def claim(self, path: Path) -> None:
        """Journal one file of ``out`` just before it is written (a line appended): every file a run writes
        is listed, even if a crash stops it between the two, and only what is listed is ever replaced."""
        with open(self.out / JOURNAL, "a", encoding="utf-8") as f:
            f.write(Path(path).relative_to(self.out).as_posix() + "\n")

    def start(self, log: Callable[[str], None] | None = None) -> None:
        """Remove the earlier output for --overwrite (the record last: a run stopped halfway through is
        still refused as another run's, not taken for this one's), then record this run. ``log`` hears
        which files --overwrite kept (the user's)."""
        self.created = not self.out.exists()
        if self.empty_first and self.out.is_dir():
            if (self.out / JOURNAL).is_file():
                self.kept = remove_written(self.out)
                if self.kept and log is not None:
                    log(f"--overwrite kept {len(self.kept)} file(s) no edgecgl run wrote, e.g. "
                        f"{self.kept[0].relative_to(self.out)}")  # fmt: skip
            else:
                for p in sorted(self.out.iterdir(), key=lambda p: p.name == RECORD):
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        check_writable(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        doc = {"format": "edgecgl folder run", "command": self.command, "settings": self.settings}
        write_text_atomic(self.out / RECORD, json.dumps(doc, indent=1))

    def abandon(self) -> None:
        """Remove ``out`` again if this run made it and wrote nothing into it but the record (every input
        was unreadable: no folder is left behind, as before)."""
        if self.created and [p.name for p in self.out.iterdir()] == [RECORD]:
            shutil.rmtree(self.out, ignore_errors=True)


def remove_written(out: Path) -> list[Path]:
    """Remove every file the journal of ``out`` lists, the folders that leaves empty, the journal and the
    record (last); return the files left (sorted): what a user put there."""
    listed = set()
    for line in (out / JOURNAL).read_text(encoding="utf-8").splitlines():
        rel = Path(line)
        if line and not rel.is_absolute() and ".." not in rel.parts:  # never outside the folder
            listed.add(rel)
    folders, inside = set(), out.resolve()
    for rel in sorted(listed):
        p = out / rel
        where = p.parent.resolve()  # a sub-folder the user swapped for a link elsewhere: not followed
        if where != inside and inside not in where.parents:
            continue
        if p.is_file() or p.is_symlink():
            p.unlink()
            folders.update(q for q in p.parents if out in q.parents)
    for d in sorted(folders, key=lambda q: len(q.parts), reverse=True):  # deepest first
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    (out / JOURNAL).unlink()
    (out / RECORD).unlink(missing_ok=True)
    return sorted(p for p in out.rglob("*") if not p.is_dir())


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


def settings_diff(was: dict[str, Any], now: dict[str, Any]) -> str:
    """'key old (now new); ...' for a refusal that names what differs."""
    keys = [k for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k)]
    said = []
    for k in keys:
        if k == "bundle_manifest_sha256":  # a checksum says nothing to a reader: say what it stands for
            said.append(f"another bundle (manifest {str(was.get(k))[:12]}, now {str(now.get(k))[:12]})")
        else:
            said.append(f"{k} {was.get(k)!r} (now {now.get(k)!r})")
    return "; ".join(said)


def up_to_date(output: Path, sources: Iterable[Path | None] = (), beside: Iterable[Path] = ()) -> bool:
    """Whether ``output`` is a finished output of its current ``sources``: there, not empty, written after
    each source was last changed (a frame or a label file edited since is made again), and each file
    ``beside`` it (its label file) there too."""
    try:
        st = output.stat()
        if st.st_size == 0:
            return False
        if any(src is not None and src.stat().st_mtime > st.st_mtime for src in sources):
            return False
    except OSError:
        return False
    return all(p.is_file() for p in beside)


def strays(out: Path, planned: Iterable[Path], suffixes: Iterable[str]) -> list[Path]:
    """Files of the output's kind under ``out`` that this run does not make: an earlier run's outputs of
    inputs that are gone (kept, never deleted unasked; --overwrite starts the folder again)."""
    keep, kinds = set(planned), {s.lower() for s in suffixes}
    return sorted(
        p
        for p in out.rglob("*")
        if p.suffix.lower() in kinds and not p.name.startswith(".") and p not in keep
    )


def check_folder_run(
    out: Path,
    command: str,
    settings: dict[str, Any],
    planned: list[Path],
    overwrite: bool,
    foreign: Callable[[Path], str | None],
    inputs: tuple[Path, ...] = (),
    what: str = "",
    finished: Callable[[Path], bool] = up_to_date,
) -> FolderRun:
    """Check ``out`` before any work, changing nothing; return which ``planned`` outputs are done.

    ``settings`` must be JSON data (paths as text) and name the input, so that another input into the
    same folder is refused, not taken for done. ``foreign`` says why a folder is not one this command
    wrote (None: it is; the record is the command's), as for ``edgecgl.outdir.check_output_dir``, whose
    messages name the output ``what``. A folder holding only a record (a run that wrote nothing) is as
    good as empty. In a folder with a journal, a file no run listed is the user's: kept by --overwrite,
    and refused where a planned output would replace it. ``finished(output)`` says whether an earlier run's output stands (``up_to_date``).
    """
    out = Path(out)
    what = what or f"{command} output"
    settings = json.loads(json.dumps(settings))  # as the record will read back (tuples -> lists)
    only_record = out.is_dir() and [p.name for p in out.iterdir()] == [RECORD]
    old = _read_record(out / RECORD) if out.is_dir() and not only_record else {}
    ours = old.get("command") == command
    if ours and old.get("settings") != settings and not overwrite:
        raise EdgecglError(
            f"{out} holds the output of a run with other settings: {settings_diff(old.get('settings') or {}, settings)}",
            "run it with those to continue it, pass --overwrite to start again with these, or choose another --out",
        )
    journaled = ours and (out / JOURNAL).is_file()
    if (ours and not overwrite) or only_record or journaled:  # nothing of the user's is lost: check only
        check_output_dir(out, True, what, lambda _f: None, inputs)  # the places never to use
        if journaled:
            listed = set((out / JOURNAL).read_text(encoding="utf-8").splitlines())
            for p in planned:
                if p.is_file() and p.relative_to(out).as_posix() not in listed:
                    raise EdgecglError(
                        f"{p} is in the way: no edgecgl run wrote it, and this run would replace it",
                        "move it away, or choose another --out",
                    )
    else:  # a new folder, or one --overwrite would empty
        check_output_dir(out, overwrite, what, foreign, inputs)
    check_writable(out)
    done = frozenset(p for p in planned if finished(p)) if ours and not overwrite else frozenset()
    return FolderRun(out, command, settings, done, empty_first=not (ours and not overwrite))
