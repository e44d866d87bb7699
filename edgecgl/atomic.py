"""Write outputs so that a crash or Ctrl-C never leaves a half-written file under the final name."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgecgl.errors import EdgecglError


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same resolved path (either may not exist yet), or a hard
    link / bind-mount spelling of one existing file."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def check_output(out: Path, inputs: list[Path] | tuple[Path, ...] = (), overwrite: bool = False) -> Path:
    """Refuse to write over an input, or over an existing output without --overwrite."""
    out = Path(out)
    for src in inputs:
        if same_file(out, src):
            raise EdgecglError(f"output {out} is the input file", "choose another --out path")
    if out.exists() and not overwrite:
        raise EdgecglError(f"output {out} already exists", "pass --overwrite to replace it")
    check_writable(out)
    return out


WRITE_HINT = "choose a writable --out"


def cannot_write(path: Path, exc: OSError, folder: Path | None = None) -> EdgecglError:
    """The one-line error for an OS refusal to create ``path``, with the OS's reason.

    Special folders such as /proc answer ENOENT for a file that could not be created in them; saying
    "No such file or directory" about an existing folder would send the user looking for a typo.
    """
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOENT and folder is not None and folder.is_dir():
        reason = f"{folder} does not accept new files"
    return EdgecglError(f"cannot write {path}: {reason}", WRITE_HINT)


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder above ``path`` that exists; a file in the way is the user's mistake."""
    for anc in path.parents:
        if anc.exists():
            if not anc.is_dir():
                raise EdgecglError(f"cannot write {path}: {anc} is a file, not a folder", WRITE_HINT)
            return anc
    return Path(".")


def check_writable(out: Path) -> None:
    """Fail before the expensive work if ``out`` could not be created: create and remove a probe file
    in the nearest existing folder (os.access says yes to root on /proc and on read-only mounts)."""
    out = Path(out)
    folder = _existing_ancestor(out.absolute())
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.probe-", dir=folder)
    except OSError as exc:
        raise cannot_write(out, exc, folder) from exc
    os.close(fd)
    os.unlink(probe)


def _make_parent(final: Path) -> None:
    _existing_ancestor(final.absolute())
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(final, exc) from exc


@contextlib.contextmanager
def atomic_path(final: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` only if the block succeeds.

    The temp file keeps the final suffix (encoders pick the container from it) and lives in the same
    folder, so the rename is atomic on POSIX.
    """
    final = Path(final)
    _make_parent(final)
    sfx = suffix if suffix is not None else final.suffix
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".partial{sfx}", dir=final.parent)
    except OSError as exc:
        raise cannot_write(final, exc, final.parent) from exc
    try:  # mkstemp makes 0600: give the file the mode a plain open() would (or the one it replaces)
        os.fchmod(fd, stat.S_IMODE(final.stat().st_mode) if final.is_file() else 0o666 & ~_umask())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    """The process's umask, read without changing it (os.umask can only set it, and that races threads)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def write_bytes_atomic(final: Path, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(final: Path, text: str) -> None:
    write_bytes_atomic(final, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; it replaces ``final`` only if the block succeeds.

    Callers decide beforehand whether an existing ``final`` may be replaced. The old folder is moved
    aside before the rename and deleted after it, so at every moment ``final`` is whole: old or new.
    """
    final = Path(final)
    _make_parent(final)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    except OSError as exc:
        raise cannot_write(final, exc, final.parent) from exc
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; outputs are shared with other users and machines
    try:
        yield tmp
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
