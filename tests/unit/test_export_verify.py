"""``edgecgl export --verify``: each runnable path vs the FP32 ONNX Runtime reference, with PSNR limits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from edgecgl.export.bundle import write_bundle, write_manifest
from edgecgl.export.toy import make_toy_checkpoint
from edgecgl.export.verify import format_table, psnr, verify_bundle


def test_psnr_known_values() -> None:
    a = np.zeros((1, 3, 4, 4), np.float32)
    assert psnr(a, a) == float("inf")
    # a constant offset of 0.2 on the [-1, 1] scale is 0.1 on [0, 1]: 20 dB
    assert psnr(a, a + 0.2) == pytest.approx(20.0, abs=1e-4)


@pytest.fixture
def fp16_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDGECGL_ASSETS", str(tmp_path / "no-assets"))  # generated frames: same everywhere
    ckpt = make_toy_checkpoint(tmp_path / "m.pt", frame_size=(32, 48), share_encoders=True)
    return write_bundle(ckpt, tmp_path / "b", precision="fp16", pt2=False)


def test_fp16_bundle_passes(fp16_bundle: Path) -> None:
    rows = verify_bundle(fp16_bundle, n=2)
    assert [(r["backend"], r["precision"], r["input"]) for r in rows] == [
        ("onnxruntime-cpu", "fp16", "frame"),
        ("onnxruntime-cpu", "fp16", "instance"),
        ("onnxruntime-cpu", "fp32", "upsampler"),  # the upsampler graph vs torch at 720p and 1080p
    ]
    assert all(r["ok"] and 40 < r["psnr_db"] < 200 for r in rows), format_table(rows)
    assert "onnxruntime-cpu" in format_table(rows)


def test_a_wrong_graph_fails(fp16_bundle: Path, tmp_path: Path) -> None:
    """Swap in another model's generator (checksums refreshed, so only the numbers can catch it)."""
    import json

    other = write_bundle(
        make_toy_checkpoint(tmp_path / "o.pt", seed=7, share_encoders=True), tmp_path / "o", pt2=False
    )
    shutil.copy(other / "generator.onnx", fp16_bundle / "generator.fp16.onnx")
    write_manifest(fp16_bundle, json.loads((fp16_bundle / "manifest.json").read_text()))
    rows = verify_bundle(fp16_bundle, n=2)
    assert rows and not any(r["ok"] for r in rows if r["input"] != "upsampler")


def test_an_upsampler_that_does_not_match_its_manifest_fails(fp16_bundle: Path) -> None:
    import json

    m = json.loads((fp16_bundle / "manifest.json").read_text())
    m["upsampler"]["eps"] = m["upsampler"]["eps"] * 10  # the graph bakes the old eps in
    write_manifest(fp16_bundle, m)
    rows = [r for r in verify_bundle(fp16_bundle, n=2) if r["input"] == "upsampler"]
    assert len(rows) == 1 and not rows[0]["ok"], format_table(rows)
