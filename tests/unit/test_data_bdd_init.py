"""BDD100K and INIT loaders on small fixture files written here (schemas per DESIGN.md §3)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from edgecgl.train.data import open_dataset
from edgecgl.train.data.bdd100k import BddRule, BddRules
from edgecgl.train.data.init import parse_init

from edgecgl.errors import EdgecglError


def img(path: Path, h: int = 72, w: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))


def frame(name: str, weather: str, tod: str, labels: list | None = None) -> dict:
    return {
        "name": name,
        "attributes": {"weather": weather, "timeofday": tod, "scene": "city street"},
        "labels": labels,
    }


def box(cat: str, x1: float, y1: float, x2: float, y2: float) -> dict:
    return {"category": cat, "box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2}}


@pytest.fixture
def bdd_root(tmp_path: Path) -> Path:
    root = tmp_path / "bdd100k"
    frames = [
        frame("a.jpg", "clear", "daytime", [box("car", 10, 10, 50, 40), box("traffic sign", 1, 1, 9, 9)]),
        frame(
            "b.jpg", "clear", "night", [box("pedestrian", 60, 20, 70, 60), {"category": "lane", "poly2d": []}]
        ),
        frame("c.jpg", "overcast", "daytime", None),
        frame("d.jpg", "partly cloudy", "daytime", [box("truck", 0, 0, 128, 72)]),
        frame("e.jpg", "rainy", "daytime", [box("bus", 5, 5, 3, 9), box("car", 1, 2, 30, float("nan"))]),
        frame("f.jpg", "snowy", "daytime", []),
        frame("g.jpg", "clear", "dawn/dusk", []),
        frame("h.jpg", "rainy", "night", []),
    ]
    for f in frames:
        img(root / "images" / "100k" / "train" / f["name"])
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "bdd100k_labels_images_train.json").write_text(json.dumps(frames))
    return root


def test_bdd_table1_domains_categories_and_exclusions(bdd_root: Path) -> None:
    ds = open_dataset(f"bdd100k:{bdd_root}", size=None, split="all", min_box=1)
    names = {Path(r.path).name: ds.domains[r.domain] for r in ds.records}
    assert names == {
        "a.jpg": "sunny",
        "b.jpg": "night",
        "c.jpg": "cloudy",
        "d.jpg": "cloudy",
        "e.jpg": "rainy",
    }
    assert ds.report.excluded_frames == 3  # snowy, dawn/dusk, rainy night
    assert ds.report.rejected_labels == 2  # x2 < x1, NaN
    assert ds.report.dropped_boxes == 1  # traffic sign
    line = ds.summary()
    assert "5 images (sunny 1, night 1, cloudy 2, rainy 1)" in line and "3 frames excluded" in line
    assert "2 malformed label values rejected" in line
    by = {Path(r.path).name: r for r in ds.records}
    np.testing.assert_allclose(by["a.jpg"].boxes, [[10, 10, 50, 40]])
    assert by["b.jpg"].categories == ("pedestrian",) and len(by["c.jpg"].boxes) == 0
    s = ds[[Path(r.path).name for r in ds.records].index("a.jpg")]
    assert s.image.shape == (3, 72, 128) and s.boxes.tolist() == [[10.0, 10.0, 50.0, 40.0]]


def test_bdd_plain_path_json_file_and_rules(bdd_root: Path) -> None:
    labels = bdd_root / "labels" / "bdd100k_labels_images_train.json"
    assert len(open_dataset(str(bdd_root), size=None, split="all")) == 5  # recognised by contents
    assert len(open_dataset(str(labels), size=None, split="all")) == 5
    ds = open_dataset(
        f"bdd100k:{labels}", size=None, split="all", categories=["car"], domains=["sunny", "night"],
        allow_empty_domains=False,
    )  # fmt: skip
    assert len(ds) == 2 and ds.report.excluded_frames == 6
    rules = BddRules(
        [BddRule("night", ["clear", "rainy"], ["night"]), BddRule("sunny", ["clear"], ["daytime"])]
    )
    ds = open_dataset(
        f"bdd100k:{labels}", size=None, split="all", domains=["sunny", "night"], bdd_rules=rules
    )
    assert sorted(Path(r.path).name for r in ds.records) == ["a.jpg", "b.jpg", "h.jpg"]
    as_dict = {"rules": [{"domain": "sunny", "weather": ["snowy"], "timeofday": ["daytime"]}]}
    ds = open_dataset(f"bdd100k:{labels}", size=None, split="all", domains=["sunny"], bdd_rules=as_dict)
    assert [Path(r.path).name for r in ds.records] == ["f.jpg"]


def test_bdd_malformed(tmp_path: Path) -> None:
    bad = tmp_path / "labels.json"
    bad.write_text('[{"name": "a.jpg", "attributes": {}')
    with pytest.raises(EdgecglError, match=r"labels.json:1: not valid JSON"):
        open_dataset(f"bdd100k:{bad}")
    bad.write_text('{"name": "a.jpg"}')
    with pytest.raises(EdgecglError, match="expected a JSON list"):
        open_dataset(f"bdd100k:{bad}")
    bad.write_text('[{"attributes": {}}]')
    with pytest.raises(EdgecglError, match="frame #0 has no 'name'"):
        open_dataset(f"bdd100k:{bad}")
    bad.write_text(json.dumps([frame("../../etc/passwd", "clear", "daytime")]))
    with pytest.raises(EdgecglError, match="leaves the dataset root"):
        open_dataset(f"bdd100k:{bad}")
    bad.write_text(json.dumps([frame("missing.jpg", "clear", "daytime")]))
    with pytest.raises(EdgecglError, match="missing.jpg .* not found"):
        open_dataset(f"bdd100k:{bad}")


INIT_OK = """# 0
sunny/s1.jpg
3 72 128
0
2
1 10 10 40 30
3 50 20 60 60


# 1
night/n1.jpg
3 72 128
0
1
2 5 5 15 15


# 2
rainy/r1.jpg
3 72 128
0
0


# 3
cloudy/c1.jpg
3 72 128
0
1
1 0 0 20 20
"""


@pytest.fixture
def init_root(tmp_path: Path) -> Path:
    root = tmp_path / "init"
    for d, n in (("sunny", "s1"), ("night", "n1"), ("rainy", "r1"), ("cloudy", "c1")):
        img(root / d / f"{n}.jpg")
    (root / "train.txt").write_text(INIT_OK)
    return root


def test_init_parses_blocks(init_root: Path) -> None:
    blocks = parse_init(init_root / "train.txt")
    assert [b[0] for b in blocks] == ["sunny/s1.jpg", "night/n1.jpg", "rainy/r1.jpg", "cloudy/c1.jpg"]
    assert blocks[0][2].tolist() == [1, 3] and blocks[2][3].shape == (0, 4)
    ds = open_dataset(f"init:{init_root}", size=None, split="all", min_box=1)
    assert ds.counts() == {"sunny": 1, "night": 1, "cloudy": 1, "rainy": 1}
    by = {Path(r.path).name: r for r in ds.records}
    assert by["s1.jpg"].categories == ("car", "person") and by["n1.jpg"].categories == ("sign",)
    ds2 = open_dataset(str(init_root / "train.txt"), size=None, split="all", categories=["car"])
    assert sum(len(r.boxes) for r in ds2.records) == 2 and ds2.report.dropped_boxes == 2
    assert ds2[0].image.shape == (3, 72, 128)


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("sunny/a.jpg\n3 72 128\n0\n0\n", 1, "expected '# <index>'"),
        ("# 0\n\n", 2, "expected an image path"),
        ("# 0\nsunny/a.jpg\nthree\n", 3, "header lines"),
        ("# 0\nsunny/a.jpg\n3 72 128\n0\n2\n1 1 1 5 5\n", 7, "expected 2 box lines"),
        ("# 0\nsunny/a.jpg\n3 72 128\n0\n1\n1 1 1 5\n", 6, "expected a box line"),
        ("# 0\nsunny/a.jpg\n3 72 128\n0\n1\n7 1 1 5 5\n", 6, "unknown class 7"),
        ("# 0\nsunny/a.jpg\n3 72 128\n0\n1\n1 1 1 nan 5\n", 6, "finite box"),
        ("# 0\nsunny/a.jpg\n3 72 128\n0\n1\n1 9 1 5 5\n", 6, "x2 > x1"),
        ("# 0\nsunny/a.jpg\n3 72 128\n0\n1\n1 1 1 5 5\n1 1 1 5 5\n", 7, "more box lines than its count 1"),
        ("# 0\nsunny/a.jpg\n3 72 128\n0\n1\n1 a 1 5 5\n", 6, "expected numbers"),
    ],
)
def test_init_malformed_names_file_and_line(tmp_path: Path, text: str, line: int, what: str) -> None:
    f = tmp_path / "bad.txt"
    f.write_text(text)
    with pytest.raises(EdgecglError, match=rf"bad.txt:{line}: .*{what}"):
        parse_init(f)


def test_init_rejects_traversal(tmp_path: Path) -> None:
    f = tmp_path / "ann.txt"
    f.write_text("# 0\n../sunny/a.jpg\n3 72 128\n0\n0\n")
    with pytest.raises(EdgecglError, match="leaves the dataset folder"):
        open_dataset(f"init:{f}")


def test_init_root_with_domain_folders_is_recognised_as_init(init_root: Path) -> None:
    ds = open_dataset(str(init_root), size=None, split="all")
    assert ds.source.startswith("init:") and len(ds) == 4


def test_pixel_boxes_follow_reduced_jpeg_decoding(tmp_path: Path) -> None:
    """Large JPEGs decode at 1/4 or 1/8 scale for small training sizes; pixel boxes must follow."""
    im = np.zeros((720, 1280, 3), np.uint8)
    im[300:420, 400:720] = 255
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "big.jpg"), im)
    (tmp_path / "labels.json").write_text(
        json.dumps([frame("big.jpg", "clear", "daytime", [box("car", 400, 300, 720, 420)])])
    )
    ds = open_dataset(str(tmp_path / "labels.json"), size=(72, 128), split="all", domains=["sunny"])
    s = ds[0]
    np.testing.assert_allclose(s.boxes[0].numpy(), [40, 30, 72, 42], atol=0.01)  # 1280x720 -> 128x72
    inner = s.image[0, 32:40, 42:70]
    assert inner.min() > 0.8 and s.image[0, :25].max() < -0.8
