"""Folder format: layout, YOLO labels, splits, resize/crop/flip geometry, bad data, real frames."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from edgecgl.train.data import Sample, collate_samples, open_dataset
from edgecgl.train.data.folder import parse_yolo
from edgecgl.train.data.transforms import hflip, resize_crop

from edgecgl.domains import DOMAINS
from edgecgl.errors import EdgecglError


def write_img(path: Path, h: int = 40, w: int = 80, value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((h, w, 3), value, np.uint8)
    img[:, : w // 2, 0] = 255  # left half red (RGB) -> flips are visible
    assert cv2.imwrite(str(path), img[:, :, ::-1])


def make_folder(root: Path, n: int = 3, domains=DOMAINS, h: int = 40, w: int = 80) -> Path:
    for d in domains:
        for i in range(n):
            write_img(root / d / f"s{i:03d}.png", h, w)
    return root


def test_loads_every_domain_with_labels(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    lab = root / "night" / "labels" / "s000.txt"
    lab.parent.mkdir(parents=True)
    lab.write_text("0 0.5 0.5 0.25 0.5\n3 0.1 0.1 0.1 0.2\n")
    ds = open_dataset(f"folder:{root}", size=None, split="all")
    assert ds.domains == list(DOMAINS)
    assert len(ds) == 12 and ds.domain_indices() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    s = ds[3]
    assert isinstance(s, Sample) and s.domain == 1 and s.path.endswith("night/s000.png")
    assert s.image.shape == (3, 40, 80) and s.image.dtype == torch.float32
    assert s.image.min() >= -1.0 and s.image.max() <= 1.0
    assert torch.allclose(s.image[0, 0, 0], torch.tensor(1.0))  # red = 255 -> 1.0
    # cx=0.5 cy=0.5 w=0.25 h=0.5 on 80x40 -> x 30..50, y 10..30
    torch.testing.assert_close(s.boxes[0], torch.tensor([30.0, 10.0, 50.0, 30.0]))
    assert s.boxes.shape == (2, 4)
    assert ds[0].boxes.shape == (0, 4)  # missing label file = no instances


def test_plain_path_is_recognised_and_unknown_rejected(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", n=2)
    assert len(open_dataset(str(root), size=None, split="all")) == 8
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("hello")
    with pytest.raises(EdgecglError, match="cannot tell which dataset format"):
        open_dataset(str(tmp_path / "junk"))
    with pytest.raises(EdgecglError, match="does not exist"):
        open_dataset(str(tmp_path / "nope"))
    with pytest.raises(EdgecglError, match="unknown dataset kind"):
        open_dataset("coco:" + str(tmp_path / "nope"))


def test_empty_domain_fails_at_start(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", n=2, domains=("sunny", "night", "cloudy"))
    with pytest.raises(EdgecglError, match="domain 'rainy' has no images"):
        open_dataset(f"folder:{root}", domains=list(DOMAINS))
    # without a configured list the domains are the folders that hold images
    assert open_dataset(f"folder:{root}", size=None, split="all").domains == ["sunny", "night", "cloudy"]
    ds = open_dataset(f"folder:{root}", domains=["night", "sunny"], size=None, split="all")
    assert ds.domains == ["night", "sunny"] and sorted(set(ds.domain_indices())) == [0, 1]
    with pytest.raises(EdgecglError, match="bad domain name"):
        open_dataset(f"folder:{root}", domains=["..", "sunny"])


def test_no_image_for_any_domain_names_what_is_there(tmp_path: Path) -> None:
    """A folder of other domains (a fog model calibrated on BDD folders) says which it looked for."""
    root = make_folder(tmp_path / "ds", n=1, domains=("sunny", "night"))
    with pytest.raises(EdgecglError, match="no images for the domains clear, foggy") as e:
        open_dataset(f"folder:{root}", domains=["clear", "foggy"], size=None, split="all")
    assert "folders with images there: night, sunny" in str(e.value.hint)


def test_split_is_disjoint_paired_and_deterministic(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", n=10)
    tr = open_dataset(f"folder:{root}", split="train", val_fraction=0.2, seed=3)
    va = open_dataset(f"folder:{root}", split="val", val_fraction=0.2, seed=3)
    assert len(tr) == 32 and len(va) == 8
    tr_paths = {r.path for r in tr.records}
    assert not tr_paths & {r.path for r in va.records}
    # the same scene names are held out in every domain (paired frames stay together)
    names = {d: {Path(r.path).stem for r in va.records if r.domain == i} for i, d in enumerate(DOMAINS)}
    assert len({frozenset(v) for v in names.values()}) == 1
    again = open_dataset(f"folder:{root}", split="val", val_fraction=0.2, seed=3)
    assert [r.path for r in again.records] == [r.path for r in va.records]
    other = open_dataset(f"folder:{root}", split="val", val_fraction=0.2, seed=4)
    assert [r.path for r in other.records] != [r.path for r in va.records]


def test_pairs_json_fixes_val_split(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", n=4)
    (root / "pairs.json").write_text('{"scenes": {}, "val": ["s001"]}')
    va = open_dataset(f"folder:{root}", split="val", size=None)
    assert {Path(r.path).stem for r in va.records} == {"s001"} and len(va) == 4
    assert len(open_dataset(f"synth:{root}", split="train", size=None)) == 12  # synth: = folder + pairs.json
    (root / "pairs.json").unlink()
    with pytest.raises(EdgecglError, match="not a SynthWeather folder"):
        open_dataset(f"synth:{root}")


def test_resize_crop_moves_boxes() -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    img[20:40, 50:90] = 255
    boxes = np.array([[50, 20, 90, 40]], np.float32)
    out, b = resize_crop(img, boxes, (32, 32), random_crop=False)
    # scale = max(32/100, 32/200) = 0.32 -> 64x32 ... centre crop x0 = 16
    assert out.shape == (32, 32, 3)
    np.testing.assert_allclose(b[0], [50 * 0.32 - 16, 20 * 0.32, 90 * 0.32 - 16, 40 * 0.32], atol=1e-4)
    f, fb = hflip(out, b)
    np.testing.assert_allclose(fb[0], [32 - b[0, 2], b[0, 1], 32 - b[0, 0], b[0, 3]])
    assert (f[:, ::-1] == out).all()


def test_flip_and_random_crop_keep_boxes_on_content(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for d in DOMAINS:
        img = np.zeros((60, 120, 3), np.uint8)
        img[20:40, 10:50] = 255  # white box, label matches it
        (root / d / "labels").mkdir(parents=True)
        cv2.imwrite(str(root / d / "a.png"), img)
        (root / d / "labels" / "a.txt").write_text(f"0 {30 / 120} {30 / 60} {40 / 120} {20 / 60}\n")
    ds = open_dataset(str(root), size=(48, 48), split="train", flip=True, min_box=1)
    random.seed(0)
    checked = 0
    for _ in range(20):
        s = ds[0]
        assert s.image.shape == (3, 48, 48)
        for x1, y1, x2, y2 in s.boxes.tolist():
            inner = s.image[:, int(y1) + 2 : int(y2) - 2, int(x1) + 2 : int(x2) - 2]
            if inner.numel():  # a box cut by the crop edge can be too thin to have an inside
                checked += 1
                assert inner.min() > 0.9  # the box still covers the white block
            outside = s.image.clone()
            outside[:, int(y1) : int(y2) + 1, int(x1) : int(x2) + 1] = -1
            assert outside.max() < -0.9  # and nothing white is left outside it
    assert checked >= 10


def test_bad_labels_rejected_and_counted(tmp_path: Path) -> None:
    cls, boxes, rejected, _ = parse_yolo(
        "0 0.5 0.5 0.2 0.2\nnan 0.5 0.5 0.2 0.2\n0 nan 0.5 0.1 0.1\n1 1.7 0.5 0.1 0.1\n"
        "2 0.5 0.5 -0.1 0.1\nfoo bar\n0 0.5 0.5 0.1\n1.5 0.5 0.5 0.1 0.1\n# comment\n\n4 0.2 0.2 0.1 0.1 0.93\n"
    )
    assert cls.tolist() == [0, 4] and rejected == 7
    np.testing.assert_allclose(boxes[0], [0.4, 0.4, 0.6, 0.6], atol=1e-6)
    root = make_folder(tmp_path / "ds", n=1)
    (root / "sunny" / "labels").mkdir()
    (root / "sunny" / "labels" / "s000.txt").write_text("0 0.5 0.5 0.2 0.2\n0 inf 0 1 1\n")
    with pytest.warns(UserWarning, match="1 malformed label line"):
        ds = open_dataset(str(root), size=None, split="all")
    assert ds.report.rejected_labels == 1 and len(ds[0].boxes) == 1


def test_boxes_clipped_and_small_dropped(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", n=1, h=40, w=80)
    (root / "sunny" / "labels").mkdir()
    # half outside on the right (clipped), 1 px wide (dropped by min_box=4)
    (root / "sunny" / "labels" / "s000.txt").write_text("0 1.0 0.5 0.5 0.5\n0 0.5 0.5 0.0125 0.5\n")
    s = open_dataset(str(root), size=None, split="all", min_box=4)[0]
    torch.testing.assert_close(s.boxes, torch.tensor([[60.0, 10.0, 80.0, 30.0]]))


def test_categories_filter(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", n=1)
    (root / "sunny" / "labels").mkdir()
    (root / "sunny" / "labels" / "s000.txt").write_text("0 0.5 0.5 0.2 0.2\n3 0.3 0.5 0.2 0.2\n")
    s = open_dataset(str(root), size=None, split="all", categories=["person"])[0]
    assert len(s.boxes) == 1 and s.boxes[0, 0] < 30
    with pytest.raises(EdgecglError, match="unknown category 'tree'"):
        open_dataset(str(root), categories=["tree"])


def test_unreadable_images_skipped_and_counted(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", n=3)
    bad = root / "night" / "s001.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    (root / "night" / "s002.png").write_bytes(b"not an image")
    ds = open_dataset(str(root), size=(16, 16), split="all")
    with pytest.warns(UserWarning, match="skipped unreadable"):
        got = [ds[i] for i in range(len(ds))]
    assert ds.skipped == 2
    assert all(s.domain == ds.records[i].domain for i, s in enumerate(got))  # replaced within the domain
    assert got[4].path.endswith("night/s000.png")
    for d in ("s000.png",):
        (root / "night" / d).write_bytes(b"")
    ds2 = open_dataset(str(root), size=(16, 16), split="all")
    with (
        pytest.warns(UserWarning),
        pytest.raises(EdgecglError, match="no readable image left in domain 'night'"),
    ):
        ds2[3]


def test_collate(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", n=1)
    ds = open_dataset(str(root), size=(16, 24), split="all")
    images, domains, boxes, paths = collate_samples([ds[i] for i in range(4)])
    assert images.shape == (4, 3, 16, 24) and domains.tolist() == [0, 1, 2, 3]
    assert len(boxes) == 4 and len(paths) == 4
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate_samples)
    assert next(iter(loader))[0].shape == (2, 3, 16, 24)


@pytest.mark.assets
def test_real_bdd_frames_load_through_folder_loader(assets: Path, tmp_path: Path) -> None:
    frames = sorted((assets / "frames").glob("bdd_*_*.jpg"))
    assert len(frames) >= 4
    for f in frames:
        domain = f.stem.split("_")[1]
        (tmp_path / domain).mkdir(exist_ok=True)
        shutil.copy(f, tmp_path / domain / f.name)
    ds = open_dataset(str(tmp_path), size=(128, 256), split="all")
    assert ds.counts() == {d: len([f for f in frames if f.stem.split("_")[1] == d]) for d in DOMAINS}
    for i in range(len(ds)):
        s = ds[i]
        assert s.image.shape == (3, 128, 256)
        assert s.domain == DOMAINS.index(Path(s.path).stem.split("_")[1])
        assert s.image.std() > 0.05  # a real picture, not a blank
    native = open_dataset(str(tmp_path), size=None, split="all")[0]
    assert native.image.shape == (3, 720, 1280)
    assert ds.skipped == 0


def test_skipped_count_reaches_the_main_process_from_workers(tmp_path: Path) -> None:
    import pickle

    root = make_folder(tmp_path / "ds", n=3)
    (root / "night" / "s001.png").write_bytes(b"broken")
    (root / "rainy" / "s002.png").write_bytes(b"")
    ds = open_dataset(str(root), size=(16, 16), split="all")
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate_samples)
    n = sum(len(b[0]) for b in loader)  # workers warn in their own processes
    assert n == 12 and ds.skipped == 2
    copy = pickle.loads(pickle.dumps(ds))  # spawn-style copy: keeps the count, counts on its own
    assert copy.skipped == 2 and len(copy) == 12


def test_an_empty_domain_names_the_set_flag_and_the_domains_that_have_images(tmp_path: Path) -> None:
    """The hint said 'domains=[...]', which no command takes; train's flag is --set data.domains=[...]."""
    root = make_folder(tmp_path / "ds", domains=("sunny", "night"))
    (root / "cloudy").mkdir()
    with pytest.raises(EdgecglError, match="domain 'cloudy' has no images") as ei:
        open_dataset(f"folder:{root}", size=None, split="all", domains=["sunny", "night", "cloudy"])
    assert (
        ei.value.hint
        == "add images for it, or train only the domains you have: --set data.domains=[sunny,night]"
    )


def test_exif_rotated_jpegs_load_upright_with_their_labels(tmp_path: Path) -> None:
    """A frame stored sideways with EXIF orientation 6 (phones, re-exported frames), labelled as shown
    (labelling tools, OpenCV, Ultralytics and augment all turn it upright): training read it as stored
    and put the car's box on road and bonnet."""
    from edgecgl.train.data.stats import dataset_stats
    from PIL import Image

    shown = np.zeros((720, 1280, 3), np.uint8)
    shown[300:420, 400:720] = 255  # the "car", as displayed
    img = tmp_path / "sunny" / "turned.jpg"
    img.parent.mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(np.ascontiguousarray(np.rot90(shown, 1))).save(img, exif=exif, quality=95)
    assert cv2.imread(str(img)).shape == (720, 1280, 3)  # what OpenCV (and augment) shows
    (img.parent / "labels").mkdir()
    (img.parent / "labels" / "turned.txt").write_text(
        f"0 {560 / 1280} {360 / 720} {320 / 1280} {120 / 720}\n"
    )
    for size, scale in ((None, 1.0), ((72, 128), 0.1)):  # full decode, and JPEG draft decoding at 1/8
        s = open_dataset(f"folder:{tmp_path}", size=size, split="all", domains=["sunny"])[0]
        assert s.image.shape[1:] == (round(720 * scale), round(1280 * scale))
        x1, y1, x2, y2 = s.boxes[0].numpy().round().astype(int)
        assert (x1, y1, x2, y2) == tuple(round(v * scale) for v in (400, 300, 720, 420))
        assert s.image[:, y1 + 1 : y2 - 1, x1 + 1 : x2 - 1].min() > 0.5  # the box holds the car's pixels
    row = dataset_stats(f"folder:{tmp_path}", domains=["sunny"])["domains"]["sunny"]
    assert (row["box_w_median"], row["box_h_median"]) == pytest.approx((320, 120))  # shown pixels
