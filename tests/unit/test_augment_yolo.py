"""Reading an Ultralytics (YOLO) detection dataset for ``edgecgl augment``: data.yaml variants, the label
path rule, instances from its labels, and the folder format refusing such a set (edgecgl.yolo_set)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from edgecgl.augment import (
    Dataset,
    Item,
    foreign_domains,
    instances_from_labels,
    open_augment_dataset,
    parse_spec,
)
from edgecgl.errors import EdgecglError
from edgecgl.yolo_set import label_path, open_yolo_set


def touch_image(path: Path, label: str | None = None) -> Path:
    """A file with an image name (the reader never decodes) and, optionally, its label where Ultralytics
    looks for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not decoded here")
    if label is not None:
        lab = label_path(path)
        lab.parent.mkdir(parents=True, exist_ok=True)
        lab.write_text(label)
    return path


def yolo_root(root: Path, yaml_text: str | None = None) -> Path:
    """ROOT/images/{train,val} + ROOT/labels/{train,val}; train/c.jpg has no label file."""
    touch_image(root / "images" / "train" / "a.jpg", "0 0.5 0.5 0.4 0.4\n")
    touch_image(root / "images" / "train" / "sub" / "b.png", "2 0.5 0.5 0.2 0.2\n")
    touch_image(root / "images" / "train" / "c.jpg")
    touch_image(root / "images" / "val" / "d.jpg", "1 0.3 0.3 0.2 0.2\n")
    if yaml_text is not None:
        (root / "data.yaml").write_text(yaml_text)
    return root


def test_label_path_is_ultralytics_rule() -> None:
    from ultralytics.data.utils import img2label_paths

    paths = [
        "/d/images/train/a.jpg",
        "/d/images/train/images/a.b.PNG",  # the last images/ counts
        "/d/train/images/x.jpg",  # Roboflow's split/images/
        "/d/frames/x.jpg",  # no images/: the label sits beside the image
        "rel/images/v/x.webp",
    ]
    assert [str(label_path(p)) for p in paths] == img2label_paths([p.replace("/", os.sep) for p in paths])


def test_data_yaml_folders_and_names(tmp_path: Path) -> None:
    root = yolo_root(tmp_path / "ds", "train: images/train\nval: images/val\nnames: [car, person, sign]\n")
    ys = open_yolo_set(root / "data.yaml")  # no path: the YAML's folder
    assert ys.root == root.resolve() and ys.splits == {"train": "train", "val": "val"}
    got = {(im.split, str(im.rel), im.label is not None) for im in ys.images}
    assert got == {
        ("train", "a.jpg", True),
        ("train", "sub/b.png", True),
        ("train", "c.jpg", False),
        ("val", "d.jpg", True),
    }
    assert ys.names == ["car", "person", "sign"] and ys.names_by_id == {0: "car", 1: "person", 2: "sign"}
    assert open_yolo_set(root).yaml_file == root / "data.yaml"  # a root reads its data.yaml


def test_data_yaml_path_lists_txt_and_a_repeated_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = yolo_root(tmp_path / "ds")
    touch_image(
        root / "more" / "images" / "train" / "a.jpg", "0 0.5 0.5 0.1 0.1\n"
    )  # same name, other folder
    (root / "val.txt").write_text(f"./images/val/d.jpg\n{root / 'images' / 'train' / 'a.jpg'}\n")
    cfg = tmp_path / "cfg" / "fleet.yaml"
    cfg.parent.mkdir()
    cfg.write_text(
        "path: ds\ntrain: [images/train, more/images/train]\nval: val.txt\ntest: [images/train, "
        "more/images/train]\nnames: {0: car, 1: person, 2: sign}\n"
    )
    monkeypatch.chdir(tmp_path)  # a relative path is read from the current folder, as Ultralytics reads it
    ys = open_yolo_set(cfg)
    assert ys.splits == {"train": "train", "val": "val", "test": "train"}  # test: train's folders, once
    train = sorted(str(im.rel) for im in ys.images if im.split == "train")
    assert train == ["train-2/a.jpg", "train/a.jpg", "train/c.jpg", "train/sub/b.png"]
    val = sorted(str(im.rel) for im in ys.images if im.split == "val")
    assert val == ["train/a.jpg", "val/d.jpg"]  # from the list: as below its images/ folder
    assert ys.names_by_id[2] == "sign"
    assert not any(im.split == "test" for im in ys.images)


def test_root_without_data_yaml_has_one_split_per_images_subfolder(tmp_path: Path) -> None:
    ys = open_yolo_set(yolo_root(tmp_path / "ds"))
    assert ys.yaml_file is None and ys.names is None and ys.splits == {"train": "train", "val": "val"}
    assert len(ys.images) == 4


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("train: [images/train\n", "cannot read"),
        ("- images/train\n", "is not an Ultralytics data.yaml"),
        ("names: [car]\n", "names no images"),
        ("train: images/nope\nval: images/val\n", "does not exist"),
        ("path: /no/such/root\ntrain: images/train\n", "path /no/such/root does not exist"),
        ("train: {a: 1}\n", "train must be a folder, a list of folders or a .txt list"),
        ("train: https://x.org/ds.zip\n", "is a URL"),
        ("train: images/train/a.jpg\n", "neither a folder nor a .txt list"),
        ("train: images/train\nnames: car\n", "names must be a list or a mapping"),
    ],
)
def test_bad_data_yaml_is_one_line(tmp_path: Path, yaml_text: str, message: str) -> None:
    root = yolo_root(tmp_path / "ds", yaml_text)
    with pytest.raises(EdgecglError, match=message) as err:
        open_augment_dataset(f"yolo:{root / 'data.yaml'}")
    assert "\n" not in str(err.value)


def test_other_yolo_specs_are_refused(tmp_path: Path) -> None:
    root = yolo_root(tmp_path / "ds")
    (root / "a.yaml").write_text("train: images/train\n")
    (root / "b.yaml").write_text("train: images/val\n")
    cases = [
        (root, "several YAML files"),
        (root / "images", "give yolo:" + str(root)),
        (tmp_path / "missing", "does not exist"),
        (root / "images" / "train" / "a.jpg", "is not an Ultralytics data.yaml"),
    ]
    for path, message in cases:
        with pytest.raises(EdgecglError, match=message) as err:
            open_augment_dataset(f"yolo:{path}")
        assert "\n" not in str(err.value)


def test_items_instances_and_unreadable_formats(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    touch_image(root / "images" / "train" / "a.jpg", "0 0.5 0.5 0.5 0.5\n7 0.5 0.5 0.9 0.9\n")
    poly = "1 0.1 0.1 0.5 0.1 0.5 0.3 0.1 0.3\n"  # a segment row: its bounding box
    touch_image(root / "images" / "train" / "b.jpg", poly)
    touch_image(root / "images" / "train" / "t.tif", "0 0.5 0.5 0.5 0.5\n")  # Ultralytics' format, not ours
    (root / "data.yaml").write_text(
        "train: images/train\nnames: [car, Pedestrian, x, x, x, x, x, stop_sign]\n"
    )
    ds = open_augment_dataset(f"yolo:{root}")
    assert ds.kind == "yolo" and ds.instance_classes == ["Pedestrian", "car"]  # the stop sign is not one
    a, b = sorted(ds.items, key=lambda it: it.name)
    assert (a.name, a.source, a.classes, a.label_file) == ("train/a", None, ["car"], label_path(a.image))
    assert b.classes == ["Pedestrian"] and b.boxes == [pytest.approx((0.3, 0.2, 0.4, 0.2))]
    assert [d.box for d in instances_from_labels(b, (100, 200))] == [pytest.approx((20.0, 10.0, 100.0, 30.0))]
    assert len(ds.skipped) == 1 and "t.tif" in ds.skipped[0]
    # names with no vehicle or person: every box is an instance; no names: every box too
    (root / "data.yaml").write_text("train: images/train\nnames: [pothole, x, x, x, x, x, x, lane]\n")
    ds = open_augment_dataset(f"yolo:{root}")
    assert ds.instance_classes is None and sorted(c for it in ds.items for c in it.classes) == [
        "lane",
        "pothole",
        "x",
    ]


def test_folder_format_refuses_an_ultralytics_set(tmp_path: Path) -> None:
    root = yolo_root(tmp_path / "ds")
    assert open_augment_dataset(str(root)).kind == "yolo"  # a plain path: recognised by its contents
    for spec in (f"folder:{root}", str(root / "images"), f"synth:{root / 'images'}"):
        with pytest.raises(EdgecglError, match="Ultralytics dataset") as err:
            open_augment_dataset(spec)
        assert f"give yolo:{root}" in str(err.value) and "\n" not in str(err.value)
    (root / "data.yaml").write_text("train: images/train\nval: images/val\n")
    with pytest.raises(EdgecglError, match=f"give yolo:{root / 'data.yaml'}"):
        open_augment_dataset(f"folder:{root}")


def test_a_bdd100k_root_is_not_taken_for_ultralytics(tmp_path: Path) -> None:
    """BDD100K's root also has images/ beside labels/, but its labels are JSON."""
    root = tmp_path / "bdd100k"
    touch_image(root / "images" / "100k" / "train" / "f0.jpg")
    (root / "labels").mkdir()
    (root / "labels" / "train.json").write_text('[{"name": "f0.jpg", "attributes": {}, "labels": []}]')
    assert open_augment_dataset(str(root)).kind == "bdd100k"


def test_foreign_domains_names_the_subfolders_a_bundle_lacks(tmp_path: Path) -> None:
    items = [Item(tmp_path / f"{d}.jpg", d, d, [], []) for d in ("sunny", "train", "val", "val")]
    ds = Dataset("folder", tmp_path, items)
    assert foreign_domains(ds, ("sunny", "night", "cloudy", "rainy")) == ["train", "val"]
    assert foreign_domains(ds, ("sunny", "train", "val")) == []


def test_a_split_without_images_is_one_line(tmp_path: Path) -> None:
    root = yolo_root(tmp_path / "ds", "train: images/train\nval: images/empty\n")
    (root / "images" / "empty").mkdir()
    with pytest.raises(EdgecglError, match="val .* holds no images") as err:
        open_augment_dataset(f"yolo:{root}")
    assert "\n" not in str(err.value)


def test_summary_counts_label_files_and_warns_when_there_are_none(tmp_path: Path) -> None:
    from edgecgl.augment import yolo_summary

    root = yolo_root(tmp_path / "ds", "train: images/train\nval: images/train\nnames: [car]\n")
    (line,) = yolo_summary(open_augment_dataset(f"yolo:{root}"))
    assert "splits: train, val (as train); 2 of 3 images have a label file; names: from" in line
    shutil.rmtree(root / "labels")
    lines = yolo_summary(open_augment_dataset(f"yolo:{root / 'data.yaml'}"))
    assert len(lines) == 2 and lines[1].startswith("warning: no image has a label file")
    assert str(label_path(root / "images" / "train" / "a.jpg")) in lines[1]


def test_training_and_stats_name_an_ultralytics_set_and_keep_a_folder_set_with_a_data_yaml(
    tmp_path: Path,
) -> None:
    """data stats / train read an Ultralytics root as the folder format (train/, val/ as weather domains,
    labels lost); a folder-format root that keeps a data.yaml beside its domain folders is still one."""
    from edgecgl.train.data.open import parse_spec as data_spec

    root = tmp_path / "fleet"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        Image.new("RGB", (32, 24)).save(root / "images" / split / "a.jpg")
        (root / "labels" / split / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("train: images/train\nval: images/val\n")
    for spec in (
        str(root),
        str(root / "images"),
        f"folder:{root / 'images'}",
        f"yolo:{root}",
        str(root / "data.yaml"),
    ):
        with pytest.raises(EdgecglError, match="Ultralytics dataset") as ei:
            data_spec(spec)
        assert "edgecgl augment yolo:" in str(ei.value), spec
    own = tmp_path / "own"
    (own / "sunny").mkdir(parents=True)
    Image.new("RGB", (32, 24)).save(own / "sunny" / "a.jpg")
    (own / "data.yaml").write_text("train: sunny\nnames: [car]\n")
    assert data_spec(str(own)) == ("folder", own) and parse_spec(f"folder:{own}") == ("folder", own)
