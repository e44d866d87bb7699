"""Write outputs so that a crash or Ctrl-C never leaves a half-written file under the final name."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from edgecgl.errors import EdgecglError
from edgecgl.interrupt import signals_held


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


STALE_AFTER_REBOOT_S = 15 * 60


def _writer_tag() -> str:
    """This process as it names its temporaries: pid, pid namespace, boot and host (hostname and
    machine-id), so that a later run can tell a temporary whose writer died without cleaning up (kill -9,
    a car's power cut) from one in progress."""
    return f"w{os.getpid()}-{_machine_tag()}"  # the pid read each time: a forked worker writes too


@functools.cache
def _machine_tag() -> str:
    """``ns-boot-host`` of ``_writer_tag``, read once per process (augment writes two files per copy)."""
    boot, ns, machine = "0" * 8, 0, ""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:8]
    with contextlib.suppress(OSError):
        ns = os.stat("/proc/self/ns/pid").st_ino  # containers on one host share its boot and hostname
    with contextlib.suppress(OSError):
        machine = Path("/etc/machine-id").read_text().strip()
    host = hashlib.sha1(f"{socket.gethostname()}/{machine}".encode()).hexdigest()[:6]
    return f"{ns}-{boot}-{host}"


_TAG = re.compile(r"w(\d+)-(\d+)-([0-9a-f]{8})-([0-9a-f]{6})")


def _dead_writer(tag: str, path: Path) -> bool:
    """Whether the process that made the temporary ``path`` is surely gone. Another host's temporaries
    are never judged (NFS), nor another pid namespace's (a container's pids are not ours to test); one
    from before the last boot is, once it has been left alone for a while (a cloned machine may share
    the hostname and machine-id, never the boot)."""
    m = _TAG.fullmatch(tag)
    _, ns, boot, host = _writer_tag().split("-")
    if m is None or m[4] != host:
        return False
    if m[3] != boot:
        try:
            return time.time() - path.stat().st_mtime > STALE_AFTER_REBOOT_S
        except OSError:
            return False
    if m[2] != ns or int(m[1]) == os.getpid():
        return False
    try:
        os.kill(int(m[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


# A temporary's name: .<final>.<tag>.<random>.partial<suffix> (files), .<final>.partial-<tag>.<random>
# or .<final>.old-<tag>.<random> (folders: the new one being built, the old one moved aside for the swap).
_W = r"(w\d+-\d+-[0-9a-f]{8}-[0-9a-f]{6})"
_FILE_TEMP = re.compile(rf"\.(.+)\.{_W}\.\w+\.partial(.*)")
_DIR_TEMP = re.compile(rf"\.(.+)\.(partial|old)-{_W}\.\w+")
_swept: set[Path] = set()


def temporary_tag(name: str) -> str | None:
    """The writer tag in a temporary's file name (None: not one of ours)."""
    if m := _FILE_TEMP.fullmatch(name):
        return m[2]
    if m := _DIR_TEMP.fullmatch(name):
        return m[3]
    return None


def final_name(path: str | Path) -> str:
    """``path`` with each temporary in it named as the output it becomes (for messages: a full disk is
    reported on the user's --out, not on a hidden ``.x.w123-....partial.mp4``)."""
    parts = []
    for part in Path(path).parts:
        if m := _FILE_TEMP.fullmatch(part):
            part = m[1] + m[3]
        elif m := _DIR_TEMP.fullmatch(part):
            part = m[1]
        parts.append(part)
    return str(Path(*parts)) if parts else str(path)


def _remove_stale(folder: Path) -> None:
    """Delete the temporaries in ``folder`` whose writers died (once per folder and process: a folder of
    thousands of outputs is listed once, not once per output). A folder moved aside for a swap that the
    power cut interrupted (the final name missing) is put back, not deleted."""
    key = folder.absolute()
    if key in _swept:
        return
    _swept.add(key)
    with contextlib.suppress(OSError):
        for p in sorted(folder.iterdir(), key=lambda p: ".partial-" in p.name):  # old- (put back) first
            tag = temporary_tag(p.name)
            if tag is None or not _dead_writer(tag, p):
                continue
            d = _DIR_TEMP.fullmatch(p.name)
            if d is not None and d[2] == "old" and not (folder / d[1]).exists() and (p / d[1]).exists():
                with contextlib.suppress(OSError):
                    os.replace(p / d[1], folder / d[1])
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()


@contextlib.contextmanager
def atomic_path(final: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` only if the block succeeds.

    The temp file keeps the final suffix (encoders pick the container from it) and lives in the same
    folder, so the rename is atomic on POSIX. Temporaries that killed runs left beside it go first.
    """
    final = Path(final)
    _make_parent(final)
    sfx = suffix if suffix is not None else final.suffix
    _remove_stale(final.parent)
    tmp_path: Path | None = None
    try:
        # a Ctrl-C between creating the temporary and holding its name would leave it behind: the
        # signal waits until the name is held (and the removal below armed)
        with signals_held():
            try:
                fd, tmp = tempfile.mkstemp(
                    prefix=f".{final.stem}.{_writer_tag()}.", suffix=f".partial{sfx}", dir=final.parent
                )
            except OSError as exc:
                raise cannot_write(final, exc, final.parent) from exc
            tmp_path = Path(tmp)
            try:  # mkstemp makes 0600: give the file the mode a plain open() would (or the one it replaces)
                os.fchmod(fd, stat.S_IMODE(final.stat().st_mode) if final.is_file() else 0o666 & ~_umask())
            finally:
                os.close(fd)
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, final)
    except BaseException:
        if tmp_path is not None:
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
    Temporaries that killed runs left beside it (partials, moved-aside old folders) go first.
    """
    final = Path(final)
    _make_parent(final)
    tag = _writer_tag()
    _remove_stale(final.parent)
    tmp: Path | None = None
    try:
        with signals_held():  # as in atomic_path: no temporary without its name held
            try:
                tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-{tag}.", dir=final.parent))
            except OSError as exc:
                raise cannot_write(final, exc, final.parent) from exc
            # mkdtemp makes 0700; outputs are shared with other users and machines
            tmp.chmod(0o777 & ~_umask())
        yield tmp
        old: Path | None = None
        swapped = False
        try:
            with signals_held():  # a Ctrl-C mid-swap would leave no final: the old one moved aside
                if final.exists():
                    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-{tag}.", dir=final.parent))
                    os.replace(final, old / final.name)
                os.replace(tmp, final)
                swapped = True
        finally:
            if swapped and old is not None:  # (a failed swap leaves it for _remove_stale to put back)
                shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
