"""``edgecgl augment yolo:`` end to end on a generated Ultralytics dataset, checked with Ultralytics itself:
its label-path rule, its dataset scan and its data.yaml check (walkthrough s29, findings 1 and 2)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image

from tests.cli import edgecgl
from tests.integration.test_robust_inputs import assert_user_error
from tests.runtime_helpers import clip_frames

NAMES = ["car", "person", "traffic light", "truck", "bus", "c5", "c6", "stop sign"]
HW = (48, 80)
LABELS = {  # split/name -> label file text (None: no label file, a background image)
    "train/a.jpg": "0 0.5 0.5 0.4 0.5\n7 0.2 0.3 0.2 0.4\n",  # a car and a stop sign (not an instance)
    "train/b.png": "1 0.3 0.6 0.25 0.5\r\n",
    "train/c.jpg": None,
    "train/empty.jpg": "",  # labelled: nothing there
    # stored rotated (EXIF Orientation 6), labelled as displayed: 9.6x9.6 px shown, 5.8x16 px as stored
    "train/exif6.jpg": "0 0.5 0.5 0.12 0.2\n",
    "val/d.jpg": "0 0.5 0.5 0.3 0.3\n",
}
INSTANCES = 4  # one per image: a car, b person, exif6 car (only upright is it 8 px), d car


def ultralytics_dataset(root: Path) -> Path:
    frames = clip_frames(len(LABELS), HW)
    for (rel, text), frame in zip(LABELS.items(), frames, strict=True):
        split, name = rel.split("/")
        img = root / "images" / split / name
        img.parent.mkdir(parents=True, exist_ok=True)
        if name.startswith("exif6"):
            exif = Image.Exif()
            exif[0x0112] = 6  # shown turned 90 degrees clockwise: store it turned back
            Image.fromarray(frame).transpose(Image.Transpose.ROTATE_90).save(img, exif=exif, quality=95)
        else:
            cv2.imwrite(str(img), frame)
        if text is not None:
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split / f"{Path(name).stem}.txt").write_bytes(text.encode())
    (root / "data.yaml").write_text(f"train: images/train\nval: images/val\nnames: {NAMES}\n")
    return root


def images_under(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.suffix in (".jpg", ".png"))


def test_augment_yolo_is_an_ultralytics_dataset(tiny_bundle: Path, tmp_path: Path) -> None:
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset, img2label_paths

    src = ultralytics_dataset(tmp_path / "fleet")
    out = tmp_path / "fleet-aug"
    run = ("--to", "night,rainy", "--bundle", str(tiny_bundle), "--out", str(out))
    r = edgecgl("augment", f"yolo:{src / 'data.yaml'}", *run)
    assert r.returncode == 0, r.stderr[-3000:]
    log = " ".join(r.stderr.split())
    assert "5 of 6 images have a label file" in log and "warning" not in log
    assert f"{2 * INSTANCES} instances translated" in log  # the EXIF frame's box counted upright
    assert f"train: [{src.resolve() / 'images' / 'train'}, {out.resolve() / 'images' / 'train'}]" in log

    # every copy once per target, in its own split, a name of its own
    copies = [
        f"{Path(rel).parent}/{Path(rel).stem}_{t}{Path(rel).suffix}"
        for rel in LABELS
        for t in ("night", "rainy")
    ]
    assert images_under(out / "images") == sorted(str(out / "images" / c) for c in copies)
    # its labels where Ultralytics looks, byte for byte; none where the input had none
    for copy in copies:
        rel = copy.replace("_night", "").replace("_rainy", "")
        (want,) = img2label_paths([str(src / "images" / rel)])
        (got,) = img2label_paths([str(out / "images" / copy)])
        assert Path(got).is_file() == Path(want).is_file(), copy
        if Path(want).is_file():
            assert Path(got).read_bytes() == Path(want).read_bytes(), copy
        img = cv2.imread(str(out / "images" / copy))
        assert img.shape[:2] == HW, copy  # upright, as shown (EXIF applied)
    assert len(list((out / "labels").rglob("*.txt"))) == 2 * 5

    # data.yaml: loads in Ultralytics, names the final folder and the input's names
    data = check_det_dataset(str(out / "data.yaml"), autodownload=False)
    assert data["train"] == str(out.resolve() / "images" / "train")
    assert data["val"] == str(out.resolve() / "images" / "val")
    assert data["names"] == dict(enumerate(NAMES)) and data["nc"] == len(NAMES)

    # Ultralytics' scan of originals + copies (train: a list of folders): every copy has its boxes
    def scan(img_path: str | list[str]) -> dict[str, dict]:
        ds = YOLODataset(img_path=img_path, imgsz=64, data=data, augment=False, cache=False)
        return {Path(lb["im_file"]).relative_to(tmp_path).as_posix(): lb for lb in ds.labels}

    both = scan([data["train"].replace(str(out.resolve()), str(src.resolve())), data["train"]])
    assert len(both) == 3 * 5
    for name, lb in both.items():
        if "fleet-aug" in name:
            orig = both[name.replace("fleet-aug", "fleet").replace("_night", "").replace("_rainy", "")]
            assert np.array_equal(lb["cls"], orig["cls"]) and np.allclose(lb["bboxes"], orig["bboxes"]), name
            assert lb["shape"] == orig["shape"] == HW, name
    boxes = sum(len(lb["cls"]) for lb in both.values())
    train_boxes = sum(len(t.splitlines()) for rel, t in LABELS.items() if t and rel.startswith("train/"))
    assert boxes == 3 * train_boxes == 12
    assert {Path(n).name for n in scan(data["val"])} == {"d_night.jpg", "d_rainy.jpg"}  # splits stay apart

    assert (out / ".edgecgl-augment").is_file()
    written = (out / "data.yaml").read_text()
    r = edgecgl("augment", f"yolo:{src}", *run)  # the same command again: kept, data.yaml the same
    assert r.returncode == 0 and "copies already written with these settings, kept" in r.stderr, r.stderr
    assert (out / "data.yaml").read_text() == written
    assert "bundle:" not in r.stderr, r.stderr  # a finished set loads no network
    assert_user_error(edgecgl("augment", f"yolo:{src}", *run, "--style-seed", "2"), "other settings")
    r = edgecgl("augment", f"yolo:{src}", *run[:-1], str(src / "images" / "aug"))
    assert_user_error(r, "inside the dataset")


def test_augment_refuses_an_ultralytics_set_as_folders(tiny_bundle: Path, tmp_path: Path) -> None:
    src = ultralytics_dataset(tmp_path / "fleet")
    run = ("--to", "night", "--bundle", str(tiny_bundle), "--out", str(tmp_path / "o"))
    assert_user_error(
        edgecgl("augment", str(src / "images"), *run), "Ultralytics dataset", f"give yolo:{src}"
    )
    (src / "data.yaml").write_text("train: images/train\nval: images/nope\n")
    assert_user_error(edgecgl("augment", f"yolo:{src}", *run), "val:", "does not exist")
    assert not (tmp_path / "o").exists()


def test_augment_folder_warns_of_subfolders_the_bundle_lacks(tiny_bundle: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for dom, frame in zip(("sunny", "foggy"), clip_frames(2, HW), strict=True):
        (root / dom).mkdir(parents=True)
        cv2.imwrite(str(root / dom / "f.jpg"), frame)
    r = edgecgl("augment", f"folder:{root}", "--to", "night", "--bundle", str(tiny_bundle), "--out", str(tmp_path / "o"))  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    warnings = [ln for ln in r.stderr.splitlines() if "warning:" in ln]
    assert len(warnings) == 1 and "foggy" in warnings[0] and "sunny" not in warnings[0].split("bundle")[0]


def test_a_root_without_data_yaml_gets_one_ultralytics_takes_once_it_has_a_val(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    """yolo:ROOT with no data.yaml: the copy's data.yaml named no classes, which Ultralytics refuses; now
    each class id is named by its number, the log says what to add, and a val split makes it loadable."""
    from ultralytics.data.utils import check_det_dataset

    src = ultralytics_dataset(tmp_path / "fleet")
    (src / "data.yaml").unlink()
    shutil.rmtree(src / "images" / "val")
    out = tmp_path / "aug"
    r = edgecgl("augment", f"yolo:{src}", "--to", "night", "--bundle", str(tiny_bundle), "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    said = " ".join(r.stderr.split())
    assert "warning: the input names no classes" in said and "warning: the input has no val split" in said
    doc = yaml.safe_load((out / "data.yaml").read_text())
    ids = {int(ln.split()[0]) for t in LABELS.values() if t for ln in t.splitlines() if ln.strip()}
    assert doc["names"] == {i: str(i) for i in range(max(ids) + 1)}
    (out / "data.yaml").write_text(yaml.safe_dump({**doc, "val": doc["train"]}))
    assert check_det_dataset(str(out / "data.yaml"), autodownload=False)["nc"] == max(ids) + 1
