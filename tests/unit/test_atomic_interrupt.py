"""A Ctrl-C at any moment of an atomic write leaves the output whole (old or new) and no temporary: it
used to leave a ``.partial`` when it landed between creating the temporary and arming its removal (seen
in CI: an interrupted ``edgecgl image`` folder), and a folder swap cut between its two renames left no
output at all until the next run put the old one back."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgecgl.atomic import atomic_dir, atomic_path


def ctrl_c_inside(monkeypatch: pytest.MonkeyPatch, name: str, calls: int = 1) -> None:
    """``os.<name>`` sends this process SIGINT on its ``calls``-th call, then does its work: Python's
    handler raises KeyboardInterrupt at the next bytecode, exactly where a real Ctrl-C could land."""
    real: Callable[..., object] = getattr(os, name)
    seen = [0]

    def with_signal(*args: object, **kw: object) -> object:
        seen[0] += 1
        if seen[0] == calls:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kw)

    monkeypatch.setattr(os, name, with_signal)


@pytest.fixture(autouse=True)
def python_ctrl_c() -> Iterator[None]:
    """Python's own Ctrl-C handler, as a plain run in a terminal has (a background job, as CI's may be,
    starts with SIGINT ignored, where no KeyboardInterrupt would come at all)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def test_ctrl_c_while_the_temporary_file_is_made_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctrl_c_inside(monkeypatch, "fchmod")  # between mkstemp and the block
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "out.png") as tmp:
        tmp.write_bytes(b"new")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_the_temporary_folder_is_made_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "0.png").write_bytes(b"old")
    ctrl_c_inside(monkeypatch, "chmod")  # between mkdtemp and the block
    with pytest.raises(KeyboardInterrupt), atomic_dir(tmp_path / "frames") as d:
        (d / "0.png").write_bytes(b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]
    assert (tmp_path / "frames" / "0.png").read_bytes() == b"old"


def test_ctrl_c_between_the_swaps_renames_ends_with_the_new_folder_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = tmp_path / "frames"
    final.mkdir()
    (final / "0.png").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_dir(final) as d:
        (d / "0.png").write_bytes(b"new")
        ctrl_c_inside(monkeypatch, "replace")  # the first rename: final moved aside
    assert (final / "0.png").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]  # the old folder gone too
