"""``edgecgl.outdir``: which existing folders a folder output may replace."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecgl.errors import EdgecglError
from edgecgl.outdir import check_output_dir, holding


def never(folder: Path) -> str | None:
    return holding(folder)


def always(_: Path) -> str | None:
    return None


def test_never_the_cwd_its_parents_home_or_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, work = tmp_path / "home", tmp_path / "home" / "work"
    work.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    for out, why in (
        (Path("."), "the current folder"),
        (work, "the current folder"),
        (Path(".."), "a folder above"),
        (Path("/"), "a folder above"),
    ):
        with pytest.raises(EdgecglError, match=why):
            check_output_dir(out, True, "x", always)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EdgecglError, match="your home folder"):
        check_output_dir(home, True, "x", always)


def test_existing_folder_needs_overwrite_and_must_be_ours(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert check_output_dir(out, False, "x", never) == out  # new: fine
    out.mkdir()
    assert check_output_dir(out, False, "x", never) == out  # empty: fine
    (out / "a.txt").write_text("mine")
    with pytest.raises(EdgecglError, match="already exists"):
        check_output_dir(out, False, "x", always)
    with pytest.raises(EdgecglError, match="replaces only an earlier demo folder.*it holds a.txt"):
        check_output_dir(out, True, "demo folder", never)
    assert check_output_dir(out, True, "x", always) == out
    with pytest.raises(EdgecglError, match="holds the input"):
        check_output_dir(tmp_path, True, "x", always, inputs=(out / "a.txt",))
    with pytest.raises(EdgecglError, match="is a file"):
        check_output_dir(out / "a.txt", True, "x", always)
