"""``edgecgl augment`` on a small folder+YOLO dataset and a BDD100K-format one."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecgl.augment import Item, instances_from_labels, open_augment_dataset
from tests.cli import edgecgl
from tests.runtime_helpers import clip_frames, tiny_bundle_for, with_luma_range


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle_for(tmp_path_factory)


def folder_dataset(root: Path) -> Path:
    frames = clip_frames(3, (48, 80))
    for dom, name, f in (("sunny", "a", frames[0]), ("sunny", "b", frames[1]), ("night", "c", frames[2])):
        (root / dom / "labels").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / dom / f"{name}.png"), f)
    (root / "sunny" / "labels" / "a.txt").write_text("0 0.5 0.5 0.4 0.5\n3 0.2 0.3 0.2 0.4 0.9\n")
    (root / "night" / "labels" / "c.txt").write_text("1 0.6 0.6 0.3 0.3\n")
    return root


def bdd_stats(labels: Path) -> dict:
    """``edgecgl data stats bdd100k:LABELS --json`` through the real CLI."""
    r = edgecgl("data", "stats", f"bdd100k:{labels}", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_augment_folder_carries_labels(bundle_dir: Path, tmp_path: Path) -> None:
    root = folder_dataset(tmp_path / "ds")
    out = tmp_path / "aug"
    r = edgecgl(
        "augment", f"folder:{root}", "--to", "night,rainy", "--out", str(out), "--bundle", str(bundle_dir)
    )
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "night").glob("*.png")) == ["sunny_a.png", "sunny_b.png"]
    assert sorted(p.name for p in (out / "rainy").glob("*.png")) == [
        "night_c.png",
        "sunny_a.png",
        "sunny_b.png",
    ]
    assert (out / "rainy" / "labels" / "sunny_a.txt").read_bytes() == (
        root / "sunny" / "labels" / "a.txt"
    ).read_bytes()
    assert (out / "rainy" / "labels" / "night_c.txt").read_bytes() == (
        root / "night" / "labels" / "c.txt"
    ).read_bytes()
    assert not (out / "night" / "labels" / "sunny_b.txt").exists()  # no labels in, none out
    img = cv2.imread(str(out / "night" / "sunny_a.png"))
    assert img.shape == (48, 80, 3) and not np.array_equal(img, cv2.imread(str(root / "sunny" / "a.png")))
    assert "skipped 1 image(s) already in a target domain" in r.stderr
    assert "5 instances translated" in r.stderr  # a.png's 2 boxes twice (night, rainy) + c.png's 1 (rainy)
    assert "targets: night, rainy (style: mean)" in r.stderr  # the log named only night (s31 walkthrough)
    # re-running refuses to overwrite; the output may not live inside the dataset
    assert (
        edgecgl(
            "augment", str(root), "--to", "night", "--out", str(out), "--bundle", str(bundle_dir)
        ).returncode
        == 2
    )
    r = edgecgl(
        "augment", str(root), "--to", "night", "--out", str(root / "night2"), "--bundle", str(bundle_dir)
    )
    assert r.returncode == 2 and "inside the dataset" in r.stderr
    # --style-per-image: each image its own sampled style (a different look from the mean style)
    per = tmp_path / "aug-per"
    r = edgecgl(
        "augment", f"folder:{root}", "--to", "night", "--out", str(per), "--bundle", str(bundle_dir),
        "--style-per-image", "--style-spread", "2",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert not np.array_equal(cv2.imread(str(per / "night" / "sunny_a.png")), img)
    assert (per / "night" / "labels" / "sunny_a.txt").is_file()
    # a bundle whose night photos were all near-black: every per-image draw is redone down to the mean
    narrow = with_luma_range(bundle_dir, tmp_path / "narrow", "night", 0.0, 0.5)
    r = edgecgl(
        "augment", f"folder:{root}", "--to", "night", "--out", str(tmp_path / "aug-dim"), "--bundle",
        str(narrow), "--style-per-image", "--style-spread", "2",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "2 of 2 per-image draw(s) outside the target domain's brightness range" in r.stderr
    assert np.array_equal(cv2.imread(str(tmp_path / "aug-dim" / "night" / "sunny_a.png")), img)
    # --style-ref ROOT: the target's own photos (ROOT/night/ holds one, c.png) give each image its style
    refs = {}
    for name, ref in (("aug-refdir", root), ("aug-refone", root / "night" / "c.png")):
        r = edgecgl(
            "augment", f"folder:{root}", "--to", "night", "--out", str(tmp_path / name), "--bundle",
            str(bundle_dir), "--style-ref", str(ref),
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        refs[name] = cv2.imread(str(tmp_path / name / "night" / "sunny_a.png"))
    assert np.array_equal(refs["aug-refdir"], refs["aug-refone"])
    assert not np.array_equal(refs["aug-refdir"], img)
    r = edgecgl("augment", f"folder:{root}", "--to", "rainy", "--out", str(tmp_path / "aug-norain"),
                "--bundle", str(bundle_dir), "--style-ref", str(root))  # fmt: skip
    assert r.returncode == 2 and "no reference photos" in r.stderr  # no ROOT/rainy/, no photos in ROOT


def test_augment_keep_objects_needs_a_detector_and_a_sampled_style(bundle_dir: Path, tmp_path: Path) -> None:
    root = folder_dataset(tmp_path / "ds")
    for extra in (["--style-per-image"], ["--detector", "yolov8n.pt"]):  # no checker / nothing to redraw
        r = edgecgl("augment", f"folder:{root}", "--to", "night", "--out", str(tmp_path / "o"), "--bundle",
                    str(bundle_dir), "--keep-objects", *extra)  # fmt: skip
        assert r.returncode == 2 and "--keep-objects" in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "o").exists()


@pytest.mark.assets
@pytest.mark.slow
def test_augment_keep_objects_with_a_real_detector(assets: Path, bundle_dir: Path, tmp_path: Path) -> None:
    """A real BDD frame (near cars) and a synthetic one (nothing the detector knows): the redraw path runs
    and reports, labels are carried unchanged, and an image with no near object is translated exactly as
    without the flag (the style a redraw lightened is restored for the next image)."""
    root = tmp_path / "ds"
    (root / "sunny" / "labels").mkdir(parents=True)
    real = cv2.imread(str(assets / "frames" / "bdd_sunny_1.jpg"))
    cv2.imwrite(str(root / "sunny" / "a.jpg"), real)
    cv2.imwrite(str(root / "sunny" / "b.png"), clip_frames(1, (48, 80))[0])
    (root / "sunny" / "labels" / "a.txt").write_text("2 0.5 0.6 0.3 0.3\n")
    det = str(assets / "models" / "yolov8n-coco.pt")
    outs = {}
    for name, extra in (("plain", []), ("keep", ["--keep-objects"])):
        r = edgecgl("augment", f"folder:{root}", "--to", "night", "--out", str(tmp_path / name), "--bundle",
                    str(bundle_dir), "--detector", det, "--style-seed", "3", "--style-spread", "3", *extra)  # fmt: skip
        assert r.returncode == 0, r.stderr
        outs[name] = tmp_path / name / "night"
    m = re.search(r"(\d+) of 2 image\(s\) redrawn lighter; (\d+) of (\d+) near", r.stderr)
    assert m is not None, r.stderr
    assert int(m[1]) in (0, 1) and 0 <= int(m[2]) <= int(m[3])  # only the real frame has near cars
    assert (outs["keep"] / "labels" / "sunny_a.txt").read_text() == "2 0.5 0.6 0.3 0.3\n"
    assert np.array_equal(
        cv2.imread(str(outs["keep"] / "sunny_b.png")), cv2.imread(str(outs["plain"] / "sunny_b.png"))
    )


def test_augment_bdd100k(bundle_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "bdd"
    (root / "images" / "100k" / "val").mkdir(parents=True)
    (root / "labels").mkdir()
    frames = clip_frames(3, (36, 64))
    for i, f in enumerate(frames):
        cv2.imwrite(str(root / "images" / "100k" / "val" / f"f{i}.jpg"), f)
    labels = [
        {
            "name": "f0.jpg",
            "attributes": {"weather": "clear", "timeofday": "daytime", "scene": "highway"},
            "labels": [{"category": "car", "box2d": {"x1": 10, "y1": 8, "x2": 40, "y2": 30}}],
        },
        {"name": "f1.jpg", "attributes": {"weather": "rainy", "timeofday": "daytime"}, "labels": []},
        {"name": "missing.jpg", "attributes": {}, "labels": []},
        {"name": "f2.jpg", "attributes": {"weather": "snowy", "timeofday": "daytime"}, "labels": []},
    ]
    (root / "labels" / "bdd100k_labels_images_val.json").write_text(json.dumps(labels))
    out = tmp_path / "aug"
    r = edgecgl(
        "augment", f"bdd100k:{root / 'labels' / 'bdd100k_labels_images_val.json'}", "--to", "rainy",
        "--out", str(out), "--bundle", str(bundle_dir),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "rainy" / "images").iterdir()) == ["f0_rainy.jpg", "f2_rainy.jpg"]
    rainy = {
        **labels[0],
        "name": "f0_rainy.jpg",
        "attributes": {"weather": "rainy", "timeofday": "daytime", "scene": "highway"},
    }
    assert json.loads((out / "rainy" / "labels.json").read_text())[0] == rainy  # boxes as they were
    assert "skipped 1 unusable" in r.stderr and "missing.jpg" in r.stderr
    # a snowy frame is in no domain of the table: translated, and said (the folder format said so already)
    said = " ".join(r.stderr.split())
    assert "warning: 1 frame(s) match no domain of the BDD100K table (e.g. f2.jpg: snowy/daytime)" in said


def test_augment_bdd100k_copies_read_back_in_their_target_domain(bundle_dir: Path, tmp_path: Path) -> None:
    """BDD100K's attributes are the domain label: a night copy says clear + night (it said daytime), and
    data stats files every copy under the target. A rainy night frame (no Table 1 domain: the loader's
    rule, not augment's old 'night for any weather') is translated too."""
    root = tmp_path / "bdd"
    (root / "images").mkdir(parents=True)
    for i, f in enumerate(clip_frames(4, (36, 64))):
        cv2.imwrite(str(root / "images" / f"f{i}.jpg"), f)
    car = [
        {
            "category": "car",
            "id": 7,
            "attributes": {"occluded": False},
            "box2d": {"x1": 4, "y1": 6, "x2": 40, "y2": 30},
        }
    ]
    attrs = [
        {"weather": "clear", "timeofday": "daytime", "scene": "highway"},
        {"weather": "Partly Cloudy", "timeofday": "daytime", "scene": "city street"},
        {"weather": "rainy", "timeofday": "night"},
        {"weather": "clear", "timeofday": "night"},  # already night: skipped
    ]
    labels = [{"name": f"f{i}.jpg", "attributes": a, "labels": car} for i, a in enumerate(attrs)]
    (root / "labels.json").write_text(json.dumps(labels))
    out = tmp_path / "aug"
    r = edgecgl(
        "augment",
        f"bdd100k:{root / 'labels.json'}",
        "--to",
        "night",
        "--out",
        str(out),
        "--bundle",
        str(bundle_dir),
    )
    assert r.returncode == 0, r.stderr
    written = json.loads((out / "night" / "labels.json").read_text())
    assert [f["name"] for f in written] == ["f0_night.jpg", "f1_night.jpg", "f2_night.jpg"]
    assert [f["attributes"] for f in written] == [
        {"weather": "clear", "timeofday": "night", "scene": "highway"},
        {"weather": "clear", "timeofday": "night", "scene": "city street"},
        {"weather": "clear", "timeofday": "night"},
    ]
    assert all(f["labels"] == car for f in written)
    st = bdd_stats(out / "night" / "labels.json")
    assert {d: v["images"] for d, v in st["domains"].items()} == {
        "sunny": 0,
        "night": 3,
        "cloudy": 0,
        "rainy": 0,
    }
    assert st["excluded_frames"] == 0
    # the usual way to grow a BDD100K set: both JSONs joined, the images in one folder. The copies kept the
    # originals' names, so each name meant two frames (one image file) with different weather.
    grown = tmp_path / "grown"
    shutil.copytree(root / "images", grown / "images")
    for p in (out / "night" / "images").iterdir():
        shutil.copy(p, grown / "images" / p.name)
    (grown / "labels.json").write_text(json.dumps(labels + written))
    st = bdd_stats(grown / "labels.json")
    assert {d: v["images"] for d, v in st["domains"].items()} == {
        "sunny": 1,
        "night": 4,
        "cloudy": 1,
        "rainy": 0,
    }
    assert len({f["name"] for f in labels + written}) == 7
    assert st["excluded_frames"] == 1  # the original rainy night frame: no Table 1 domain


def test_label_boxes_become_instances(tmp_path: Path) -> None:
    item = Item(
        tmp_path / "x.png", "x", "sunny", [(0.5, 0.5, 0.5, 0.5), (0.1, 0.1, 0.01, 0.01)], ["car", "person"]
    )
    dets = instances_from_labels(item, (100, 200))
    assert len(dets) == 1 and dets[0].box == (50.0, 25.0, 150.0, 75.0) and dets[0].cls == "car"


def test_unknown_dataset_format(tmp_path: Path) -> None:
    from edgecgl.errors import EdgecglError

    (tmp_path / "x").mkdir()
    with pytest.raises(EdgecglError, match="cannot tell"):
        open_augment_dataset(str(tmp_path / "x"))
