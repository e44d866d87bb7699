"""Folder runs that continue (edgecgl.resume): nothing changes before ``start()``, what stands is what is
whole and newer than its inputs, and a refusal names what differs in words."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from edgecgl.errors import EdgecglError
from edgecgl.resume import JOURNAL, RECORD, check_folder_run, settings_diff, strays, up_to_date


def test_a_refusal_names_what_differs_in_words() -> None:
    said = settings_diff({"bundle_manifest_sha256": "a" * 64, "to": "night"}, {"bundle_manifest_sha256": "b" * 64, "to": "night"})  # fmt: skip
    assert said == "another bundle (manifest aaaaaaaaaaaa, now bbbbbbbbbbbb)"  # was two 64-digit hashes
    assert settings_diff({"to": "night"}, {"to": "rainy", "source": "/x"}) == "source None (now '/x'); to 'night' (now 'rainy')"  # fmt: skip


def test_what_stands(tmp_path: Path) -> None:
    src, out, label = tmp_path / "a.png", tmp_path / "out.png", tmp_path / "out.txt"
    src.write_bytes(b"in")
    out.write_bytes(b"translated")
    old = time.time() - 60
    os.utime(src, (old, old))
    assert up_to_date(out, [src, None]) and not up_to_date(out, [src], [label])  # its label is missing
    label.write_text("0 0.5 0.5 0.1 0.1\n")
    assert up_to_date(out, [src], [label])
    os.utime(src, None)  # the input changed after the output was made
    assert not up_to_date(out, [src])
    out.write_bytes(b"")
    assert not up_to_date(out) and not up_to_date(tmp_path / "missing.png")
    (tmp_path / "gone.png").write_bytes(b"x")
    assert strays(tmp_path, [out, src], [".png"]) == [tmp_path / "gone.png"]


def test_nothing_changes_before_start(tmp_path: Path) -> None:
    out = tmp_path / "out"
    planned = [out / "a.png", out / "b.png"]
    run = check_folder_run(out, "image", {"to": "night"}, planned, False, lambda _f: None)
    assert not out.exists() and run.done == frozenset()
    run.start()
    planned[0].write_bytes(b"done")
    assert (out / RECORD).is_file()
    again = check_folder_run(out, "image", {"to": "night"}, planned, False, lambda _f: None)
    assert again.done == {planned[0]} and not again.empty_first
    with pytest.raises(EdgecglError, match=r"other settings: to 'night' \(now 'rainy'\)"):
        check_folder_run(out, "image", {"to": "rainy"}, planned, False, lambda _f: None)
    fresh = check_folder_run(out, "image", {"to": "rainy"}, planned, True, lambda _f: None)
    assert planned[0].read_bytes() == b"done"  # --overwrite checked, not yet carried out
    fresh.start()
    assert sorted(p.name for p in out.iterdir()) == [RECORD]


def test_overwrite_removes_only_what_the_runs_wrote(tmp_path: Path) -> None:
    out = tmp_path / "out"
    planned = [out / "a.png", out / "sub" / "b.png"]
    run = check_folder_run(out, "image", {"to": "night"}, planned, False, lambda _f: None)
    run.start()
    for p in planned:
        p.parent.mkdir(parents=True, exist_ok=True)
        run.claim(p)
        p.write_bytes(b"ours")
    (out / "notes.txt").write_text("mine")  # the user's, put there after the run
    (out / "sub" / "pick.png").write_bytes(b"mine too")
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"not the folder's")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b.png").write_bytes(b"elsewhere")
    (out / "link").symlink_to(tmp_path / "elsewhere")  # a listed path through a link to another folder
    with open(out / JOURNAL, "a") as f:  # a journal line that leads out of the folder is never followed
        f.write("../outside.png\n" + str(outside) + "\nlink/b.png\n")
    again = check_folder_run(out, "image", {"to": "rainy"}, planned, True, lambda _f: "it is not ours")
    assert again.empty_first and (out / "a.png").is_file()  # checked, nothing removed yet
    again.start()
    assert again.kept == [out / "notes.txt", out / "sub" / "pick.png"]
    assert (tmp_path / "elsewhere" / "b.png").read_bytes() == b"elsewhere"
    (out / "link").unlink()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        RECORD,
        "notes.txt",
        "sub",
        "sub/pick.png",
    ]
    assert outside.read_bytes() == b"not the folder's"
    (out / "sub" / "pick.png").unlink()
    (out / "a.png").write_bytes(b"the user's a.png")  # where this run will write: refused before any work
    (out / JOURNAL).write_text("sub/b.png\n")
    for overwrite in (True, False):  # starting again, or continuing: a.png is not taken for an output
        with pytest.raises(EdgecglError, match=r"a.png is in the way: no edgecgl run wrote it"):
            check_folder_run(out, "image", {"to": "rainy"}, planned, overwrite, lambda _f: None)
    assert (out / "a.png").read_bytes() == b"the user's a.png"
