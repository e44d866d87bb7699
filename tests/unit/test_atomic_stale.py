"""Temporaries a killed writer left (kill -9, a vehicle's power cut mid-video) are deleted by the next
write into the same folder; those of a live writer, of another host, of another pid namespace (a
container) or of a user are not, and a folder moved aside for a swap the power cut interrupted is put back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgecgl import atomic
from edgecgl.atomic import atomic_dir, atomic_path

KILLED = """
import os, signal, sys
from pathlib import Path
from edgecgl.atomic import atomic_dir, atomic_path
out = Path(sys.argv[1])
with atomic_path(out / "clip.mp4") as tmp, atomic_dir(out / "frames") as d:
    tmp.write_bytes(b"x" * 1000)
    (d / "0.png").write_bytes(b"y")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def killed_writer(folder: Path) -> list[str]:
    r = subprocess.run([sys.executable, "-c", KILLED, str(folder)], capture_output=True)
    assert r.returncode == -signal.SIGKILL, r.stderr
    left = hidden(folder)
    assert len(left) == 2 and all(atomic.temporary_tag(n) for n in left), left
    return left


@pytest.fixture(autouse=True)
def fresh_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "_swept", set())  # each test's folder is listed as a new process would


def write_into(folder: Path) -> None:
    atomic._swept.clear()
    with atomic_path(folder / "out.json") as tmp:
        tmp.write_text("{}")


def test_a_killed_writers_temporaries_go_with_the_next_write(tmp_path: Path) -> None:
    killed_writer(tmp_path)
    write_into(tmp_path)
    assert hidden(tmp_path) == [] and sorted(os.listdir(tmp_path)) == ["out.json"]
    killed_writer(tmp_path)
    with atomic_dir(tmp_path / "set") as d:  # a folder output sweeps too (once per process and folder)
        (d / "a").write_text("a")
    assert hidden(tmp_path) != []
    atomic._swept.clear()
    with atomic_dir(tmp_path / "set2"):
        pass
    assert hidden(tmp_path) == []


def test_live_foreign_and_unknown_temporaries_are_kept(tmp_path: Path) -> None:
    _, ns, boot, host = atomic._writer_tag().split("-")
    other_host = "0" * 6 if host != "0" * 6 else "1" * 6
    other_boot = "f" * 8 if boot != "f" * 8 else "e" * 8
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = [
            f".clip.w{live.pid}-{ns}-{boot}-{host}.abc123.partial.mp4",  # still being written
            f".clip.w{os.getpid()}-{ns}-{boot}-{host}.abc123.partial.mp4",  # this process's own
            f".clip.w1-{ns}-{boot}-{other_host}.abc123.partial.mp4",  # another host's (NFS)
            f".clip.w999999-{int(ns) + 1}-{boot}-{host}.abc123.partial.mp4",  # a container's: its pids are not ours
            f".clip.w5-{ns}-{other_boot}-{host}.abc123.partial.mp4",  # before a reboot, but written just now
            ".clip.abc123.partial.mp4",  # no writer tag (written before this rule)
            ".clip.w99-notes.txt",  # a user's hidden file
        ]
        gone = f".clip.w6-{ns}-{other_boot}-{host}.abc123.partial.mp4"  # before a reboot, left alone
        for n in [*keep, gone]:
            (tmp_path / n).write_bytes(b"x")
        old = time.time() - atomic.STALE_AFTER_REBOOT_S - 60
        os.utime(tmp_path / gone, (old, old))
        write_into(tmp_path)
        assert hidden(tmp_path) == sorted(keep)
    finally:
        live.kill()
        live.wait()
    write_into(tmp_path)
    assert hidden(tmp_path) == sorted(keep[1:])  # the writer has ended now


def test_a_swap_cut_by_a_power_failure_puts_the_old_folder_back(tmp_path: Path) -> None:
    """atomic_dir moves the old folder aside, then renames the new one in: cut between the two, the final
    name is missing and both copies are hidden temporaries; the next write deleted both."""
    _, ns, boot, host = atomic._writer_tag().split("-")
    dead = f"w999998-{ns}-{boot}-{host}"
    aside = tmp_path / f".demo.old-{dead}.k2x"
    (aside / "demo").mkdir(parents=True)
    (aside / "demo" / "sheet.png").write_bytes(b"the earlier demo")
    (tmp_path / f".demo.partial-{dead}.p9q").mkdir()
    write_into(tmp_path)
    assert (tmp_path / "demo" / "sheet.png").read_bytes() == b"the earlier demo"
    assert hidden(tmp_path) == []
