"""`data label`: YOLO fills missing label files on real frames; existing ones are kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from edgecgl.train.data import open_dataset
from edgecgl.train.data.folder import parse_yolo
from edgecgl.train.data.label import class_map, label_folder

from edgecgl.errors import EdgecglError


def test_class_map_by_name() -> None:
    coco = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck", 9: "traffic light"}
    assert class_map(coco) == {0: 3, 1: 5, 2: 0, 3: 4, 5: 2, 7: 1}
    with pytest.raises(EdgecglError, match="knows none of the classes"):
        class_map(["cat", "dog"])


def test_missing_detector_and_empty_root(tmp_path: Path) -> None:
    (tmp_path / "sunny").mkdir()
    (tmp_path / "sunny" / "a.jpg").write_bytes(b"x")
    with pytest.raises(EdgecglError, match="does not exist"):
        label_folder(tmp_path, tmp_path / "nope.pt")
    with pytest.raises(EdgecglError, match="no images under"):
        label_folder(tmp_path / "sunny", tmp_path / "nope.pt")


@pytest.mark.assets
def test_label_real_frames_with_yolov8n(assets: Path, tmp_path: Path) -> None:
    for name in ("bdd_sunny_1.jpg", "bdd_night_1.jpg", "bdd_cloudy_1.jpg"):
        d = name.split("_")[1]
        (tmp_path / d).mkdir()
        shutil.copy(assets / "frames" / name, tmp_path / d / name)
    (tmp_path / "rainy").mkdir()
    (tmp_path / "rainy" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    mine = tmp_path / "cloudy" / "labels" / "bdd_cloudy_1.txt"
    mine.parent.mkdir()
    mine.write_text("3 0.5 0.5 0.1 0.2\n")
    model = assets / "models" / "yolov8n-coco.pt"
    rep = label_folder(tmp_path, model, imgsz=480)
    assert rep.labelled == 2 and rep.kept == 1 and rep.unreadable == 1
    assert mine.read_text() == "3 0.5 0.5 0.1 0.2\n"  # never overwritten without overwrite=True
    cls, boxes, rejected, _ = parse_yolo((tmp_path / "sunny" / "labels" / "bdd_sunny_1.txt").read_text())
    assert rejected == 0 and (cls == 0).sum() >= 3  # the sunny frame has several cars
    assert ((boxes >= 0) & (boxes <= 1)).all()
    assert not list(tmp_path.rglob("*.partial*"))
    rep2 = label_folder(tmp_path, model, imgsz=480, overwrite=True, domains=["cloudy"])
    assert rep2.labelled == 1 and mine.read_text() != "3 0.5 0.5 0.1 0.2\n"
    ds = open_dataset(str(tmp_path), size=(128, 256), split="all", domains=["sunny", "night", "cloudy"])
    assert sum(len(ds[i].boxes) for i in range(len(ds))) >= 5
