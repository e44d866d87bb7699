"""A folder dataset's own class ids (``ROOT/classes.txt``): counted and trained under their names, only
vehicle and person classes as instances (walkthrough s29: a fleet's pedestrians were counted as trucks and
its traffic lights trained as bus instances)."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgecgl.train.data import open_dataset
from edgecgl.train.data.stats import dataset_stats
from PIL import Image

from edgecgl.augment import open_augment_dataset
from edgecgl.classes import FOLDER_CLASSES, folder_class_names, instance_ids
from edgecgl.errors import EdgecglError

LABEL = "0 0.3 0.5 0.2 0.3\n1 0.6 0.5 0.1 0.4\n2 0.8 0.2 0.05 0.1\n"  # a car, a pedestrian, a traffic light


def fleet(root: Path, classes: str | None) -> Path:
    (root / "sunny" / "labels").mkdir(parents=True)
    Image.new("RGB", (96, 64), (90, 90, 90)).save(root / "sunny" / "f0.jpg")
    (root / "sunny" / "labels" / "f0.txt").write_text(LABEL)
    if classes is not None:
        (root / "classes.txt").write_text(classes)
    return root


def test_the_datasets_names_and_its_instance_classes(tmp_path: Path) -> None:
    root = fleet(tmp_path / "fleet", "car\npedestrian\ntraffic light\n\n")
    names, own = folder_class_names(root)
    assert names == ("car", "pedestrian", "traffic light") and own and instance_ids(names, own) == [0, 1]
    ds = open_dataset(f"folder:{root}", size=None, split="all", domains=["sunny"], min_box=0)
    assert ds.records[0].categories == ("car", "pedestrian") and len(ds.records[0].boxes) == 2
    st = dataset_stats(f"folder:{root}", domains=["sunny"])
    assert st["categories"] == {"car": 1, "pedestrian": 1} and st["dropped_boxes"] == 1  # the traffic light
    aug = open_augment_dataset(f"folder:{root}")
    assert aug.items[0].classes == ["car", "pedestrian"] and aug.instance_classes == ["car", "pedestrian"]
    only_cars = open_dataset(
        f"folder:{root}", size=None, split="all", domains=["sunny"], categories=["car"], min_box=0
    )
    assert only_cars.records[0].categories == ("car",)
    with pytest.raises(EdgecglError, match=r"unknown category 'truck'.*valid: car, pedestrian.*classes.txt"):
        open_dataset(f"folder:{root}", size=None, split="all", domains=["sunny"], categories=["truck"])


def test_without_classes_txt_the_fixed_table(tmp_path: Path) -> None:
    root = fleet(tmp_path / "fleet", None)
    assert folder_class_names(root) == (FOLDER_CLASSES, False)
    ds = open_dataset(f"folder:{root}", size=None, split="all", domains=["sunny"], min_box=0)
    assert ds.records[0].categories == ("car", "truck", "bus")  # every id of the table is an instance


@pytest.mark.parametrize("text", ["", "\n\n", "car\n\nbus\n"])
def test_a_classes_txt_without_names_is_one_line(tmp_path: Path, text: str) -> None:
    root = fleet(tmp_path / "fleet", text)
    with pytest.raises(EdgecglError, match="classes.txt names no classes"):
        open_dataset(f"folder:{root}", size=None, split="all", domains=["sunny"])


def test_plural_and_spelled_names_and_none_known(tmp_path: Path) -> None:
    from edgecgl.classes import is_instance, no_instance_names

    assert all(
        map(is_instance, ["cars", "Pedestrians", "trucks", "buses", "Motor_Bikes", "vehicles", "people"])
    )
    assert not any(map(is_instance, ["traffic lights", "bus stop", "sign"]))
    root = fleet(tmp_path / "fleet", "pole\nsign\nlight\n")  # no vehicle or person name: every class, said so
    assert instance_ids(*folder_class_names(root)) == [0, 1, 2]
    assert "every class's boxes are instances" in str(no_instance_names(["pole", "sign", "light"]))
    with pytest.warns(UserWarning, match="none of the class names pole, sign, light"):
        ds = open_dataset(f"folder:{root}", size=None, split="all", domains=["sunny"], min_box=0)
    assert len(ds.records[0].boxes) == 3
    assert open_augment_dataset(f"folder:{root}").class_warning is not None
