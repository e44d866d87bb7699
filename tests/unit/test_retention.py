"""benchmarks/retention.py: which input boxes a translation keeps, by distance band."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from benchmarks.retention import band, kept, retention
from edgecgl.detect import Detection


def _d(box: tuple[float, float, float, float], cls: str = "car") -> Detection:
    return Detection(box, cls, 0.9)


def test_kept_matches_one_to_one_by_iou_and_class_group() -> None:
    ref = [_d((0, 0, 10, 10)), _d((0, 0, 10, 10.5)), _d((50, 50, 60, 60), "person")]
    # one output box for two overlapping inputs: only one of them is kept; a truck is a vehicle,
    # a car where a person was is not the person
    out = [_d((0, 0, 10, 10), "truck"), _d((50, 50, 60, 60), "car")]
    assert sorted(kept(ref, out)) == [False, False, True]
    assert kept(ref[2:], [_d((51, 51, 61, 61), "person")]) == [True]  # IoU 81/119
    assert kept(ref[2:], [_d((52, 52, 62, 62), "person")]) == [False]  # IoU 64/136 < 0.5
    assert kept([_d((0, 0, 10, 10))], [_d((5, 5, 15, 15))]) == [False]  # IoU 25/175
    assert kept([], [_d((0, 0, 1, 1))]) == [] and kept([_d((0, 0, 1, 1))], []) == [False]


def test_bands_by_box_height() -> None:
    assert band(_d((0, 0, 10, 20)), 100) == "near"
    assert band(_d((0, 0, 10, 10)), 100) == "mid"
    assert band(_d((0, 0, 10, 4)), 100) == "far"


def test_retention_counts_per_band_and_missing_outputs(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for name, value in (("a", 200), ("b", 100), ("c", 50)):
        cv2.imwrite(str(src / f"{name}.jpg"), np.full((100, 100, 3), value, np.uint8))
    cv2.imwrite(str(out / "a.png"), np.full((100, 100, 3), 200, np.uint8))  # kept its brightness
    cv2.imwrite(str(out / "b.png"), np.full((100, 100, 3), 10, np.uint8))  # too dark to detect

    def detect(img: np.ndarray) -> list[Detection]:  # a near car whenever the frame is bright enough
        return [_d((10, 10, 60, 60)), _d((0, 0, 3, 3))] if img.mean() > 40 else []

    r = retention(detect, sorted(src.iterdir()), out, {})
    assert r["images"] == 2 and r["missing_outputs"] == 1
    assert r["bands"]["near"] == {"kept": 1, "boxes": 2, "retention": 0.5}
    assert r["bands"]["far"]["boxes"] == 2 and r["bands"]["mid"]["retention"] is None
    assert r["bands"]["all"] == {"kept": 2, "boxes": 4, "retention": 0.5}


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, assets: Path) -> None:
    import pytest

    from benchmarks.retention import main

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    cv2.imwrite(str(src / "a.jpg"), np.full((64, 64, 3), 128, np.uint8))
    det = str(assets / "models" / "yolov8n-coco.pt")
    with pytest.raises(SystemExit) as e:  # not a folder
        main(["--inputs", str(tmp_path / "nope"), "--outputs", f"x={out}", "--detector", det])
    assert e.value.code == 2 and "is not a folder" in capsys.readouterr().err
    (out / "a.png").write_bytes(b"not a png")  # a half-written translation
    with pytest.raises(SystemExit) as e:
        main(
            [
                "--inputs",
                str(src),
                "--outputs",
                f"x={out}",
                "--detector",
                det,
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
    err = capsys.readouterr().err
    assert e.value.code == 2 and "cannot read image" in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()
