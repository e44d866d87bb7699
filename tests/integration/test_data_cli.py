"""`edgecgl data` end to end in a subprocess: synth -> stats, determinism, loading the output."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgecgl.domains import DOMAINS


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGECGL_NO_PROGRESS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "edgecgl", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    r = run_cli("data", "synth", "--out", str(out), "--n", "6", "--seed", "7", "--size", "64x128")
    assert r.returncode == 0, r.stderr
    return out


def test_synth_writes_folder_format_and_pairs(synth_dir: Path) -> None:
    pairs = json.loads((synth_dir / "pairs.json").read_text())
    assert pairs["domains"] == list(DOMAINS) and pairs["size"] == [64, 128]
    assert len(pairs["scenes"]) == 6 and len(pairs["val"]) == 1
    for name, per in pairs["scenes"].items():
        for d in DOMAINS:
            assert (synth_dir / per[d]).is_file()
            assert (synth_dir / d / "labels" / f"{name}.txt").is_file()
    labels = {(synth_dir / d / "labels" / "000000.txt").read_text() for d in DOMAINS}
    assert len(labels) == 1  # identical boxes in every domain (paired ground truth)
    assert not list(synth_dir.parent.glob(".*partial*"))


@pytest.mark.slow
def test_synth_passes_stats(synth_dir: Path) -> None:
    r = run_cli("data", "stats", str(synth_dir), "--json", "--check")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["source"].startswith("folder:")
    assert st["unreadable"] == 0 and st["rejected_labels"] == 0
    for d in DOMAINS:
        row = st["domains"][d]
        assert row["images"] == 6 and row["boxes"] > 0
        assert 2 <= row["box_w_median"] <= 128
    table = run_cli("data", "stats", f"folder:{synth_dir}")
    assert table.returncode == 0 and "night" in table.stdout and "images" in table.stdout


@pytest.mark.slow
def test_same_seed_gives_byte_identical_files(synth_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    r = run_cli(
        "data", "synth", "--out", str(again), "--n", "6", "--seed", "7", "--size", "64x128", "--workers", "1"
    )
    assert r.returncode == 0, r.stderr
    assert tree_digest(again) == tree_digest(synth_dir)
    other = tmp_path / "other"
    r = run_cli(
        "data", "synth", "--out", str(other), "--n", "6", "--seed", "8", "--size", "64x128", "--workers", "1"
    )
    assert r.returncode == 0, r.stderr
    assert tree_digest(other)["sunny/000000.png"] != tree_digest(synth_dir)["sunny/000000.png"]


def test_synth_refuses_to_overwrite(synth_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EDGECGL_NO_PROGRESS"}  # progress bars on
    r = subprocess.run(
        [sys.executable, "-m", "edgecgl", "data", "synth", "--out", str(synth_dir), "--n", "1", "--size", "32x64"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.lstrip().startswith("error:"), r.stderr  # refused before a "synth 0/1" bar shows
    r = run_cli("data", "synth", "--out", str(synth_dir), "--n", "1", "--size", "32xfoo")
    assert r.returncode == 2 and "bad size" in r.stderr


def test_synth_output_loads_with_val_split(synth_dir: Path) -> None:
    from edgecgl.train.data import collate_samples, open_dataset

    va = open_dataset(str(synth_dir), split="val", size=(64, 128))
    tr = open_dataset(str(synth_dir), split="train", size=(64, 128))
    assert len(va) == 4 and len(tr) == 20
    images, domains, boxes, _ = collate_samples([va[i] for i in range(4)])
    assert images.shape == (4, 3, 64, 128) and sorted(domains.tolist()) == [0, 1, 2, 3]
    assert all(len(b) == len(boxes[0]) for b in boxes)


def test_stats_on_unknown_folder_is_a_clean_error(tmp_path: Path) -> None:
    r = run_cli("data", "stats", str(tmp_path))
    assert r.returncode == 2 and "cannot tell which dataset format" in r.stderr


def test_label_without_detector_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "sunny").mkdir()
    (tmp_path / "sunny" / "a.png").write_bytes(b"x")
    r = run_cli("data", "label", str(tmp_path), "--detector", str(tmp_path / "missing.pt"))
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_synth_video_with_audio(tmp_path: Path) -> None:
    import av

    out = tmp_path / "clips"
    r = run_cli("data", "synth", "--video", "--out", str(out), "--frames", "5", "--size", "32x64", "--audio")
    assert r.returncode == 0, r.stderr
    for d in DOMAINS:
        with av.open(str(out / f"{d}.mp4")) as c:
            assert len(c.streams.audio) == 1
            assert sum(1 for _ in c.decode(video=0)) == 5
    assert len(json.loads((out / "boxes.json").read_text())["boxes"]) == 5


def test_stats_count_labelled_bdd100k_frames_without_an_image_as_missing(tmp_path: Path) -> None:
    """A frame whose image file does not exist was counted among its domain's images (training then
    skips it); it is counted as missing and named."""
    import cv2
    import numpy as np

    root = tmp_path / "bdd"
    frames = []
    for name, weather, tod in (("a.jpg", "clear", "daytime"), ("b.jpg", "clear", "night"),
                               ("gone.jpg", "clear", "daytime")):  # fmt: skip
        frames.append({"name": name, "attributes": {"weather": weather, "timeofday": tod}, "labels": []})
        if name != "gone.jpg":
            (root / "images" / "100k" / "val").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "images" / "100k" / "val" / name), np.full((36, 64, 3), 90, np.uint8))
    labels = root / "labels" / "bdd100k_labels_images_val.json"
    labels.parent.mkdir(parents=True)
    labels.write_text(json.dumps(frames))
    r = run_cli("data", "stats", f"bdd100k:{labels}", "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["domains"]["sunny"]["images"] == 1 and st["domains"]["night"]["images"] == 1
    assert st["missing_images"] == 1 and st["missing_example"].endswith("gone.jpg")
    r = run_cli("data", "stats", f"bdd100k:{labels}")
    said = [ln for ln in (r.stdout + r.stderr).splitlines() if "do not exist" in ln]
    assert r.returncode == 0 and len(said) == 1, r.stdout + r.stderr
    assert said[0].startswith("warning: 1 labelled image(s) do not exist, e.g.") and "gone.jpg" in said[0]
