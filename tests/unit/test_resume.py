"""Folder runs that continue (edgecgl.resume): nothing changes before ``start()``, what stands is what is
whole and newer than its inputs, and a refusal names what differs in words."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from edgecgl.errors import EdgecglError
from edgecgl.resume import RECORD, check_folder_run, settings_diff, strays, up_to_date


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
