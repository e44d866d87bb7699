"""``edgecgl video --detect-every 3`` through the real CLI: a clip panned across a real BDD100K frame,
COCO YOLOv8n from the shared assets (the CLI takes detectors as Ultralytics model files only)."""

from __future__ import annotations

import fractions
import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli import edgecgl
from tests.runtime_helpers import tiny_bundle_for


def panned_clip(path: Path, still: Path, n: int = 12, hw: tuple[int, int] = (352, 576)) -> Path:
    """``n`` frames panning 8 px per frame across ``still`` (cars that move, like a camera turning)."""
    import av
    import cv2

    img = cv2.cvtColor(cv2.imread(str(still)), cv2.COLOR_BGR2RGB)
    H, W = img.shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = hw[1], hw[0], "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(n):
            crop = img[:, 8 * i : W - 8 * (n - i)]
            f = cv2.resize(crop, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            vf.pts, vf.time_base = i, fractions.Fraction(1, 25)
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path


@pytest.mark.assets
@pytest.mark.slow
def test_cli_detect_every_3(assets: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    import av

    bundle = tiny_bundle_for(tmp_path_factory)
    clip = panned_clip(tmp_path / "pan.mp4", assets / "frames" / "bdd_sunny_1.jpg")
    out, stats = tmp_path / "o.mp4", tmp_path / "s.json"
    r = edgecgl(
        "video", str(clip), "--to", "night", "--bundle", str(bundle), "--backend", "onnxruntime-cpu",
        "--detector", str(assets / "models" / "yolov8n-coco.pt"), "--detect-every", "3",
        "--no-overlap-instances", "--size", "64x128", "--out", str(out), "--stats-json", str(stats),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "every 3 frames" in r.stderr and "(4 frames)" in r.stderr  # the detect stage's own line
    s = json.loads(stats.read_text())
    assert s["frames"] == 12
    assert s["stages_ms"]["detect"]["n"] == 4 and s["stages_ms"]["predict"]["n"] == 8
    assert s["instances"] > 0 and s["frames_with_instances"] >= 9  # cars kept on the predicted frames too
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12

    assert "own thread" not in r.stderr
    # the default: the crops on their own thread; same frames, same boxes (deterministic on one machine)
    out2, stats2 = tmp_path / "o2.mp4", tmp_path / "s2.json"
    r = edgecgl(
        "video", str(clip), "--to", "night", "--bundle", str(bundle), "--backend", "onnxruntime-cpu",
        "--detector", str(assets / "models" / "yolov8n-coco.pt"), "--detect-every", "3",
        "--size", "64x128", "--out", str(out2), "--stats-json", str(stats2),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "instances: crops translated on their own thread" in r.stderr
    s2 = json.loads(stats2.read_text())
    assert s2["frames"] == 12 and s2["instances"] == s["instances"]
    assert s2["stages_ms"]["instances"]["n"] == s["stages_ms"]["instances"]["n"]

    r = edgecgl(
        "video", str(clip), "--to", "night", "--bundle", str(bundle), "--detect-every", "0",
        "--out", str(tmp_path / "x.mp4"),
    )  # fmt: skip
    assert r.returncode == 2 and "--detect-every" in r.stderr and "Traceback" not in r.stderr
