"""An output the OS refuses is the user's mistake: one EdgecglError naming the path and the reason, and
the CLI's last resort turns any other such OSError into one ``error:`` line too."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from edgecgl.atomic import atomic_dir, atomic_path, check_writable
from edgecgl.errors import EdgecglError


@pytest.mark.parametrize("opener", [atomic_path, atomic_dir, lambda p: check_writable(p)])
def test_proc_and_a_file_as_folder_are_one_line_errors(tmp_path: Path, opener) -> None:
    import contextlib

    (tmp_path / "afile").write_text("x")
    cases = [
        (Path("/proc/x.jpg"), "cannot write /proc/x.jpg: /proc does not accept new files"),
        (tmp_path / "afile" / "x.jpg", f"{tmp_path / 'afile'} is a file, not a folder"),
        (tmp_path / "afile" / "a" / "x.jpg", f"{tmp_path / 'afile'} is a file, not a folder"),
    ]
    for path, msg in cases:
        with pytest.raises(EdgecglError, match=msg) as ei:
            ctx = opener(path)
            if isinstance(ctx, contextlib.AbstractContextManager):
                with ctx:
                    pass
        assert ei.value.hint == "choose a writable --out"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_check_writable_leaves_nothing_behind(tmp_path: Path) -> None:
    check_writable(tmp_path / "new" / "deeper" / "out.mp4")
    assert list(tmp_path.iterdir()) == []


def _main_with(monkeypatch: pytest.MonkeyPatch, exc: OSError, *flags: str) -> int:
    """Run ``edgecgl calib`` in process with sampling replaced by a function that raises ``exc``."""
    import edgecgl.calib.sample as sample

    from edgecgl.cli import main

    def boom(*a: object, **k: object) -> None:
        raise exc

    monkeypatch.setattr(sample, "sample_calibration", boom)
    with pytest.raises(SystemExit) as ei:
        main([*flags, "calib", "folder:x", "--out", "/tmp/edgecgl-test-never-written.npz"])
    return int(ei.value.code or 0)


@pytest.mark.parametrize(
    ("exc", "fragment"),
    [
        (PermissionError(errno.EACCES, "Permission denied", "/data/x.jpg"), "/data/x.jpg: Permission denied"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/data/out"), "/data/out: Is a directory"),
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device (free some space"),
        (  # a full disk while writing the hidden temporary: said of the user's --out, with the right hint
            OSError(
                errno.ENOSPC,
                "No space left on device",
                "/car/out/.o.w4101-4026531836-1e523a6a-0a7c9c.hgn3eyt6.partial.mp4",
            ),
            "/car/out/o.mp4: No space left on device (free some space, or write --out elsewhere",
        ),
        (
            OSError(
                errno.EDQUOT,
                "Disk quota exceeded",
                "/d/.set.partial-w9-4026531836-1e523a6a-0a7c9c.k2_x/night/a.jpg",
            ),
            "/d/set/night/a.jpg: Disk quota exceeded (free some space",
        ),
    ],
)
def test_main_turns_a_users_os_error_into_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: OSError, fragment: str
) -> None:
    from edgecgl.cli.common import STATE

    assert _main_with(monkeypatch, exc) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {fragment}"), err
    try:
        assert _main_with(monkeypatch, exc, "--debug") == 2
        assert "Traceback" in capsys.readouterr().err
    finally:
        STATE.debug = False


def test_main_lets_a_bug_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError with no path (a broken pipe, a bad fd) is a bug: its traceback must stay visible."""
    import edgecgl.calib.sample as sample

    from edgecgl.cli import main

    def boom(*a: object, **k: object) -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(sample, "sample_calibration", boom)
    with pytest.raises(OSError, match="Bad file descriptor"):
        main(["calib", "folder:x", "--out", "/tmp/edgecgl-test-never-written.npz"])
