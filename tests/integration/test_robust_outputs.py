"""Outputs never replace what the user owns (docs/ROBUSTNESS.md): side outputs are checked like --out,
folder outputs appear whole or not at all, and --overwrite replaces only a folder the command wrote."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_robust_inputs import RUNTIME, assert_user_error, cli
from tests.runtime_helpers import make_clip


# ------------------------------------------------------------------ video --stats-json
def test_video_stats_json_is_checked_like_out(tiny_bundle: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", n=4, hw=(48, 64), audio=False)
    before = clip.read_bytes()
    out = tmp_path / "out.mp4"
    run = ("video", str(clip), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME)
    r = cli(*run, "--out", str(out), "--stats-json", str(clip), "--overwrite")
    assert_user_error(r, "--stats-json", "is the input video")
    r = cli(*run, "--out", str(out), "--stats-json", str(out))
    assert_user_error(r, "--stats-json", "is the --out video")
    stats = tmp_path / "stats.json"
    stats.write_text("keep me")
    r = cli(*run, "--out", str(out), "--stats-json", str(stats))
    assert_user_error(r, "already exists", "--overwrite")
    assert clip.read_bytes() == before and stats.read_text() == "keep me" and not out.exists()
    r = cli(*run, "--out", str(out), "--stats-json", str(stats), "--overwrite")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(stats.read_text())["frames"] == 4 and out.stat().st_size > 0
