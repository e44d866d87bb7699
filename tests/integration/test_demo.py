"""``edgecgl demo`` end to end at toy size: data, training, FP32 + INT8 bundles, clips, contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import edgecgl


@pytest.mark.slow
def test_demo_toy_size(tmp_path: Path) -> None:
    import av
    import cv2

    out = tmp_path / "demo"
    r = edgecgl(
        "demo",
        "--out",
        str(out),
        "--minutes",
        "0.05",
        "--scenes",
        "8",
        "--clip-frames",
        "6",
        "--real-frames",
        "4",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    files = summary["files"]
    for key in ("synth_night_fp32", "synth_night_int8", "contact_sheet", "bundle_fp32", "bundle_int8"):
        assert Path(files[key]).exists(), key
        assert files[key] in r.stdout  # the demo says where everything is
    assert json.loads((Path(files["bundle_int8"]) / "manifest.json").read_text())["precision"] == "int8"
    sheet = cv2.imread(files["contact_sheet"])
    assert sheet is not None and sheet.shape[0] > 100 and sheet.shape[1] > 500
    with av.open(files["synth_night_int8"]) as c:
        assert c.streams.audio and sum(1 for _ in c.decode(video=0)) == 6
    if "real_night_fp32" in files:  # the real clip at its full resolution, through the guided upsampler
        with av.open(files["real_night_fp32"]) as c:
            assert c.streams.video[0].codec_context.width == 960 and c.streams.audio
        still = cv2.imread(files["real_night_still"])
        assert still is not None and still.shape[:2] == (2 * 540, 960)  # input above, translation below
        assert "upsample: guided" in r.stderr


def test_demo_refuses_existing_output(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "keep.txt").write_text("mine")
    r = edgecgl("demo", "--out", str(tmp_path / "demo"))
    assert r.returncode == 2 and "--overwrite" in r.stderr
    assert (tmp_path / "demo" / "keep.txt").read_text() == "mine"
