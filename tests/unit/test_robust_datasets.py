"""Damaged datasets (issue 9, "Datasets"): corrupt images are skipped and counted, bad label values are
rejected and counted, and file names that climb out of the dataset (``../../etc/...``) are refused,
never opened."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from edgecgl.train.data import open_dataset
from edgecgl.train.data.folder import parse_yolo
from PIL import Image

from edgecgl.errors import EdgecglError

DOMAINS = ("sunny", "night", "cloudy", "rainy")


def folder(root: Path, per_domain: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for di, d in enumerate(DOMAINS):
        (root / d / "labels").mkdir(parents=True)
        for k in range(per_domain):
            img = (rng.random((32, 48, 3)) * 60 + di * 50).astype(np.uint8)
            Image.fromarray(img).save(root / d / f"{k}.png")
    return root


def test_corrupt_images_are_skipped_and_counted(tmp_path: Path) -> None:
    root = folder(tmp_path / "ds")
    (root / "night" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (root / "rainy" / "0.png").write_bytes(b"")
    ds = open_dataset(f"folder:{root}", size=(32, 32), split="all")
    assert len(ds) == 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        samples = [ds[i] for i in range(len(ds))]
    assert all(s.image.shape == (3, 32, 32) for s in samples)
    assert ds.skipped == 2
    assert not any(s.path.endswith(("night/0.png", "rainy/0.png")) for s in samples)  # replaced
    assert "2 unreadable images skipped" in ds.summary()


@pytest.mark.parametrize(
    "line",
    [
        "0 nan 0.5 0.2 0.2",
        "0 0.5 0.5 inf 0.2",
        "0 1.7 0.5 0.2 0.2",
        "0 0.5 -0.4 0.2 0.2",
        "0 0.5 0.5 0 0.2",
        "0 0.5 0.5 -0.1 0.2",
        "0 0.5 0.5 2.0 0.2",
        "-1 0.5 0.5 0.2 0.2",
        "1.5 0.5 0.5 0.2 0.2",
        "0 0.5 0.5",
        "car 0.5 0.5 0.2 0.2",
    ],
)
def test_bad_label_values_are_rejected(line: str) -> None:
    cls, boxes, rejected, _ = parse_yolo(f"{line}\n0 0.5 0.5 0.2 0.4\n")
    assert rejected == 1 and cls.tolist() == [0]
    assert np.allclose(boxes, [[0.4, 0.3, 0.6, 0.7]])


def test_bad_labels_in_a_dataset_are_counted_not_fatal(tmp_path: Path) -> None:
    root = folder(tmp_path / "ds")
    (root / "sunny" / "labels" / "0.txt").write_text("0 nan 0.5 0.2 0.2\n0 0.5 0.5 0.5 0.5\n3 9 9 9 9\n")
    with pytest.warns(UserWarning, match="2 malformed label line"):
        ds = open_dataset(f"folder:{root}", size=(32, 32), split="all")
    assert ds.report.rejected_labels == 2
    boxes = [r.boxes for r in ds.records if r.path.endswith("sunny/0.png")][0]
    assert len(boxes) == 1 and np.all(np.isfinite(boxes))


def bdd_labels(root: Path, name: str) -> Path:
    frames = [
        {"name": name, "attributes": {"weather": "clear", "timeofday": "night"}, "labels": []},
    ]
    p = root / "labels.json"
    p.write_text(json.dumps(frames))
    return p


@pytest.mark.parametrize(
    "name", ["../../secret.jpg", "../secret.jpg", "/etc/passwd", "images/../../secret.jpg"]
)
def test_bdd100k_names_that_leave_the_dataset_are_refused(tmp_path: Path, name: str) -> None:
    root = tmp_path / "a" / "b"
    root.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "secret.jpg")  # a real file the name points at
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.jpg")
    labels = bdd_labels(root, name)
    with pytest.raises(EdgecglError, match="leaves the dataset root|is absolute"):
        open_dataset(f"bdd100k:{labels}", size=None, split="all", domains=["night"])


def test_bdd100k_later_frame_that_leaves_the_dataset_is_refused(tmp_path: Path) -> None:
    """Every frame is checked, not just the first one used to find the image folder."""
    root = tmp_path / "ds"
    root.mkdir()
    Image.new("RGB", (8, 8)).save(root / "ok.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.jpg")
    frames = [
        {"name": n, "attributes": {"weather": "clear", "timeofday": "night"}, "labels": []}
        for n in ("ok.jpg", "../secret.jpg")
    ]
    (root / "labels.json").write_text(json.dumps(frames))
    with pytest.raises(EdgecglError, match="leaves the dataset root"):
        open_dataset(f"bdd100k:{root / 'labels.json'}", size=None, split="all", domains=["night"])


def test_init_image_path_that_leaves_the_dataset_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "init"
    root.mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.jpg")
    (root / "night_train.txt").write_text("# 1\n../secret.jpg\n3 8 8\n1\n1 1 1 5 5\n")
    with pytest.raises(EdgecglError, match="leaves the dataset folder"):
        open_dataset(f"init:{root}", size=None, split="all", domains=["night"])


def test_augment_bdd100k_names_with_separators_are_not_followed(tmp_path: Path) -> None:
    from edgecgl.augment import open_bdd100k

    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "images" / "ok.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.jpg")
    frames = [{"name": n, "attributes": {}, "labels": []} for n in ("ok.jpg", "../secret.jpg", "/etc/passwd")]
    (root / "labels.json").write_text(json.dumps(frames))
    ds = open_bdd100k(root / "labels.json")
    assert [it.image.name for it in ds.items] == ["ok.jpg"]
    assert len(ds.skipped) == 2
