"""Outputs the OS refuses (a /proc path, a file where a folder should be) through the real CLI: one
``error:`` line naming the path and the reason, exit 2, before any work; docs/ROBUSTNESS.md lists them.

Tests run as root, for whom a read-only folder still accepts files: /proc and a regular file used as a
folder refuse everyone.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.integration.test_robust_inputs import RUNTIME, assert_user_error, cli
from tests.runtime_helpers import make_clip, tiny_checkpoint


@pytest.fixture(scope="module")
def still(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("still") / "frame.png"
    cv2.imwrite(str(p), np.random.default_rng(0).integers(0, 255, (40, 72, 3), np.uint8))
    return p


def _blocked(tmp_path: Path, how: str, name: str) -> tuple[Path, str]:
    """An output path the OS refuses, and the reason the error must give."""
    if how == "proc":
        return Path("/proc") / name, "/proc does not accept new files"
    (tmp_path / "afile").write_text("x")
    return tmp_path / "afile" / "sub" / name, f"{tmp_path / 'afile'} is a file, not a folder"


@pytest.mark.parametrize("how", ["proc", "file-as-folder"])
def test_image_and_video_to_an_unwritable_out(
    tiny_bundle: Path, still: Path, tmp_path: Path, how: str
) -> None:
    out, reason = _blocked(tmp_path, how, "x.jpg")
    r = cli("image", str(still), "--bundle", str(tiny_bundle), "--to", "night", *RUNTIME, "--out", str(out))
    assert_user_error(r, f"cannot write {out}", reason, "choose a writable --out")
    clip = make_clip(tmp_path / "c.mp4", n=3)
    out, reason = _blocked(tmp_path, how, "x.mp4")
    r = cli("video", str(clip), "--bundle", str(tiny_bundle), "--to", "night", *RUNTIME, "--out", str(out))
    assert_user_error(r, f"cannot write {out}", reason)
    assert not (tmp_path / "afile").is_dir()


def test_calib_bench_eval_export_to_an_unwritable_out(tiny_bundle: Path, still: Path, tmp_path: Path) -> None:
    r = cli("calib", str(still.parent), "--out", "/proc/c.npz", "--n", "2", "--size", "32x64")
    assert_user_error(r, "cannot write /proc/c.npz", "/proc does not accept new files")
    r = cli("bench", str(tiny_bundle), "--out", "/proc/b.json")
    assert_user_error(r, "cannot write /proc/b.json")
    r = cli("eval", "classifier-train", "--data", f"folder:{tmp_path}", "--out", "/proc/c.pt")
    assert_user_error(r, "cannot write /proc/c.pt")
    r = cli("export", str(tiny_checkpoint(tiny_bundle)), "--out", "/proc/bundle")
    assert_user_error(r, "cannot write /proc/bundle")
    assert "exporting" not in r.stderr  # refused before the export, not after it
