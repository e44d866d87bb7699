"""Write outputs so that a crash or Ctrl-C never leaves a half-written file under the final name."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgecgl.errors import EdgecglError


def check_output(out: Path, inputs: list[Path] | tuple[Path, ...] = (), overwrite: bool = False) -> Path:
    """Refuse to write over an input, or over an existing output without --overwrite."""
    out = Path(out)
    for src in inputs:
        try:
            if Path(src).exists() and out.exists() and out.samefile(src):
                raise EdgecglError(f"output {out} is the input file", "choose another --out path")
        except OSError:
            pass
        if Path(src).resolve() == out.resolve():
            raise EdgecglError(f"output {out} is the input file", "choose another --out path")
    if out.exists() and not overwrite:
        raise EdgecglError(f"output {out} already exists", "pass --overwrite to replace it")
    return out


@contextlib.contextmanager
def atomic_path(final: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` only if the block succeeds.

    The temp file keeps the final suffix (encoders pick the container from it) and lives in the same
    folder, so the rename is atomic on POSIX.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    sfx = suffix if suffix is not None else final.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".partial{sfx}", dir=final.parent)
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
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
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
