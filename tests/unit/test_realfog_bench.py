"""benchmarks/realfog.py: the held-out split, the plan, and ``--eval-only`` on tiny photos with a toy bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from benchmarks import realfog
from benchmarks.common import ROOT, display_path, write_results
from tests.conftest import assets_dir

SCRIPT = Path(realfog.__file__)


def test_split_holds_out_a_seeded_fifth_per_domain_disjoint_and_deterministic() -> None:
    names = [f"img_{i:03d}.jpg" for i in range(136)]
    train, held = realfog.split_heldout(names, 0.2, seed=0, domain="foggy")
    assert len(held) == 27 and len(train) == 109  # round(0.2 * 136)
    assert not set(train) & set(held) and sorted(train + held) == sorted(names)
    # same inputs (in any order) -> the same split; another seed or domain -> another one
    assert realfog.split_heldout(list(reversed(names)), 0.2, 0, "foggy") == (train, held)
    assert realfog.split_heldout(names, 0.2, 1, "foggy")[1] != held
    assert realfog.split_heldout(names, 0.2, 0, "sunny")[1] != held
    # not simply the first or last names
    assert held != sorted(names)[:27] and held != sorted(names)[-27:]


def test_split_keeps_one_photo_on_each_side() -> None:
    assert [len(p) for p in realfog.split_heldout(["a.jpg", "b.jpg"], 0.2, 0, "sunny")] == [1, 1]
    assert [len(p) for p in realfog.split_heldout(["a.jpg"], 0.2, 0, "sunny")] == [1, 0]
    with pytest.raises(ValueError):
        realfog.split_heldout(["a.jpg"], 0.0, 0, "sunny")


def test_make_split_links_every_photo_once(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for d, n in (("sunny", 10), ("foggy", 6)):
        (src / d).mkdir(parents=True)
        for i in range(n):
            (src / d / f"{d}{i}.jpg").write_bytes(b"x")
        (src / d / "notes.txt").write_text("not a photo")
    counts = realfog.make_split(src, tmp_path / "data", 0.2, seed=3)
    assert counts == {"sunny": {"train": 8, "heldout": 2}, "foggy": {"train": 5, "heldout": 1}}
    for d in ("sunny", "foggy"):
        tr = {p.name for p in (tmp_path / "data" / "train" / d).iterdir()}
        ho = {p.name for p in (tmp_path / "data" / "heldout" / d).iterdir()}
        assert not tr & ho and tr | ho == {p.name for p in (src / d).glob("*.jpg")}
        assert all((tmp_path / "data" / "train" / d / n).is_symlink() for n in tr)
    # a re-run links nothing new and keeps the split
    assert realfog.make_split(src, tmp_path / "data", 0.2, seed=3) == counts


def test_dry_run_prints_the_plan(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path / "w"), "--minutes", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    for word in ("data label", "edgecgl train --config realfog", "3.0 CPU minutes", "edgecgl export",
                 "classifier-train", "edgecgl eval", "--output-size 256x512", "edgecgl image",
                 "edgecgl video", "realfog.json", "--style sample", "[1.0, 1.5, 2.0, 2.5, 3.0, 4.0]"):  # fmt: skip
        assert word in r.stdout, word
    assert not (tmp_path / "w").exists()  # a plan writes nothing
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--eval-only", "bundle"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "--data" in r.stderr


def test_default_budget_is_what_the_config_trains(tmp_path: Path) -> None:
    """Without --minutes/--iterations the benchmark trains what ``edgecgl train --config X`` would."""
    cfg = tmp_path / "short.yaml"
    cfg.write_text("name: short\niters: 1234\n")
    args = realfog.parse_args(["--config", str(cfg), "--out", str(tmp_path / "w")])
    assert args.iterations == 1234 and args.minutes is None
    args = realfog.parse_args(["--config", str(cfg), "--set", "iters=77", "--out", str(tmp_path / "w")])
    assert args.iterations == 77
    assert realfog.parse_args(["--minutes", "5", "--out", str(tmp_path / "w")]).iterations == 0
    shipped = realfog.parse_args(["--out", str(tmp_path / "w")]).iterations
    assert shipped == yaml.safe_load((ROOT / "configs" / "realfog.yaml").read_text())["iters"]
    with pytest.raises(SystemExit, match="not found"):
        realfog.parse_args(["--config", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "w")])


def test_results_path_outside_the_repository_is_shown_as_given(tmp_path: Path) -> None:
    assert display_path(tmp_path / "r.json") == str(tmp_path / "r.json")
    assert display_path(ROOT / "benchmarks" / "results" / "x.json") == "benchmarks/results/x.json"


def test_results_are_replaced_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r.json"
    write_results(str(out), {"stage": 1})

    def crash(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt  # killed with the next stage's bytes half on disk

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        write_results(str(out), {"stage": 2})
    monkeypatch.undo()
    assert json.loads(out.read_text()) == {"stage": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def _photos(folder: Path, n: int, foggy: bool, seed: int) -> None:
    """Road-like pictures: sky over road with a few dark 'cars'; fog lowers contrast towards grey."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        h, w = 96, 192
        img = np.zeros((h, w, 3), np.float32)
        img[: h // 2] = (235, 180, 90) if not foggy else (200, 200, 200)  # BGR sky
        img[h // 2 :] = (90, 90, 95)
        for _ in range(3):
            x, y = int(rng.integers(0, w - 30)), int(rng.integers(h // 2, h - 16))
            img[y : y + 14, x : x + 28] = rng.uniform(20, 200, 3)
        img += rng.normal(0, 12, img.shape)
        if foggy:
            img = 0.45 * img + 0.55 * 190.0
        cv2.imwrite(str(folder / f"p{i}.jpg"), img.clip(0, 255).astype(np.uint8))


@pytest.mark.slow
def test_eval_only_measures_rows_and_floor_on_other_photos(tmp_path: Path) -> None:
    from edgecgl.export.bundle import write_bundle
    from edgecgl.export.toy import make_toy_checkpoint

    from tests.cli import edgecgl

    photos = tmp_path / "photos"
    _photos(photos / "sunny", 4, foggy=False, seed=0)
    _photos(photos / "foggy", 4, foggy=True, seed=1)
    ckpt = make_toy_checkpoint(tmp_path / "model.pt", "tiny", (64, 128), (32, 32), domains=("sunny", "foggy"))
    bundle = write_bundle(ckpt, tmp_path / "bundle", "fp32", "onnxslim", pt2=False)
    clf = tmp_path / "clf.pt"
    r = edgecgl("-q", "eval", "classifier-train", "--data", f"folder:{photos}", "--out", str(clf),
                "--epochs", "1", "--size", "32x64", "--batch-size", "4")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = tmp_path / "r.json"
    assets = assets_dir()  # --keep-objects needs a real detector
    det = assets / "models" / "yolov8n-coco.pt" if assets is not None else None
    keep = ["--keep-objects", "--detector", str(det)] if det is not None and det.is_file() else []
    r = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--eval-only",
            str(bundle),
            "--data",
            str(photos),
            "--classifier",
            str(clf),
            "--out",
            str(tmp_path / "work"),
            "--output-size",
            "128x256",
            "--json",
            str(out),
            "--style-seeds",
            "0,1",
            "--style-spread",
            "2",
            *keep,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["cpu"] and "realfog.py --eval-only" in res["command"]
    for where, size in (("working", [64, 128]), ("output", [128, 256])):
        row = res["summary"][where]
        assert row["size"] == size
        for method in ("identity", "reinhard", "ours"):
            assert np.isfinite(row[method]["kid_x100"])
            assert 0.0 <= row[method]["domain_acc"] <= 100.0
        assert np.isfinite(row["floor_kid_x100"])
        assert res["steps"]["floor"][where]["n"] == [2, 2]
    sampled = res["summary"]["output"]["ours, per-image styles (spread 2)"]
    assert sampled["style_seeds"] == 2 and np.isfinite(sampled["kid_x100"])
    lo, hi = sampled["kid_x100_range"]
    assert lo <= sampled["kid_x100"] <= hi
    if keep:
        kept = res["summary"]["output"]["ours, per-image styles + --keep-objects (spread 2)"]
        assert kept["style_seeds"] == 2 and np.isfinite(kept["kid_x100"])
        counts = res["steps"]["kept"]["rows"]["2"]["keep_objects"]
        assert counts["images"] == 4 * 2  # 4 sunny photos (--split all) x 2 style seeds
    # identity leaves the sunny photos sunny: further from fog than the fog halves are from each other
    assert res["summary"]["working"]["identity"]["kid_x100"] > res["summary"]["working"]["floor_kid_x100"]


def test_spread_choice_takes_the_lowest_kid_that_is_still_the_target_weather() -> None:
    tried = ["1", "2", "3", "4"]
    kid = {"1": 4.6, "2": 4.3, "3": 4.1, "4": 4.0}
    # every spread foggy enough: the lowest KID
    assert realfog.choose_spread(tried, kid, {k: 95.0 for k in tried}, 90.0) == "4"
    # wide draws fall below the floor (dusk, not fog): the best KID among the rest
    acc = {"1": 97.0, "2": 92.0, "3": 80.0, "4": 70.0}
    assert realfog.choose_spread(tried, kid, acc, 90.0) == "2"
    assert realfog.choose_spread(tried, kid, acc, 75.0) == "3"
    # none clears the floor: the most accurate one
    assert realfog.choose_spread(tried, kid, acc, 99.0) == "1"
    # no classifier: KID alone, as before
    assert realfog.choose_spread(tried, kid, {}, 90.0) == "4"
    # a floor on the near boxes kept: the dense draws that hide near cars are out first
    near = {"1": 92.0, "2": 85.0, "3": 78.0, "4": 60.0}
    assert realfog.choose_spread(tried, kid, {k: 95.0 for k in tried}, 90.0, near, 80.0) == "2"
    assert realfog.choose_spread(tried, kid, acc, 90.0, near, 80.0) == "2"
    assert realfog.choose_spread(tried, kid, acc, 95.0, near, 80.0) == "1"  # the accuracy floor still holds
    assert realfog.choose_spread(tried, kid, acc, 90.0, near, 95.0) == "1"  # none keeps enough: the most kept
    assert realfog.choose_spread(tried, kid, acc, 90.0, near, 0.0) == "2"  # off: as before
    assert realfog.choose_spread(tried, kid, {k: 95.0 for k in tried}, 90.0, near, 0.0) == "4"


def test_near_photos_are_the_ones_with_a_near_box(tmp_path: Path) -> None:
    from edgecgl.detect import Detection

    for i in range(6):
        cv2.imwrite(str(tmp_path / f"p{i}.png"), np.full((100, 200, 3), 40 * i, np.uint8))

    def detect(img: np.ndarray) -> list[Detection]:  # photo i: one box 5 * i % of the height tall
        h = int(img[0, 0, 0]) / 40 * 5
        return [Detection((10.0, 10.0, 50.0, 10.0 + h), "car", 0.9)]

    cache: dict = {}
    assert realfog.near_photos(detect, tmp_path, 10, cache) == ["p3.png", "p4.png", "p5.png"]
    assert set(cache) == {f"p{i}.png" for i in range(6)}  # each input detected once, kept for retention
    assert realfog.near_photos(detect, tmp_path, 2, {}) == ["p3.png", "p5.png"]  # evenly spaced


def test_pick_candidates_are_the_last_third_every_sixth(tmp_path: Path) -> None:
    ck = tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    for k in range(500, 6001, 500):
        (ck / f"model-{k:06d}.pt").write_bytes(b"")
    (ck / "model.pt").write_bytes(b"")
    assert [p.name for p in realfog.pick_candidates(tmp_path / "run")] == [
        "model-004000.pt",
        "model-005000.pt",
        "model-006000.pt",
    ]
    bare = tmp_path / "bare" / "checkpoints"
    bare.mkdir(parents=True)
    assert realfog.pick_candidates(tmp_path / "bare") == [bare / "model.pt"]


def test_lowest_row_and_seed_arguments(tmp_path: Path) -> None:
    res = {"metrics": {"kid": {"rows": {"a": {"foggy": 4.2}, "b": {"foggy": 3.9}, "c": {"foggy": 3.9}}}}}
    assert realfog.lowest_row(res) == ("b", 3.9)
    args = realfog.parse_args(["--out", str(tmp_path / "w"), "--iterations", "10"])
    assert args.train_seeds == [0, 1] and [realfog.train_key(args, s) for s in (0, 1)] == [
        "train-s0",
        "train-s1",
    ]
    one = realfog.parse_args(["--out", str(tmp_path / "w"), "--iterations", "10", "--train-seeds", "3"])
    assert realfog.train_key(one, 3) == "train"  # one training keeps the old JSON layout
    for bad in (["--set", "seed=2"], ["--train-seeds", "1,1"], ["--train-seeds", "x"]):
        with pytest.raises(SystemExit):
            realfog.parse_args(["--out", str(tmp_path / "w"), "--iterations", "10", *bad])


def test_cpu_is_counted_per_process_when_two_run_side_by_side(tmp_path: Path) -> None:
    burn = [sys.executable, "-c", "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass"]
    sleep = [sys.executable, "-c", "import time; time.sleep(0.3)"]
    with open(tmp_path / "log", "wb") as fh:
        rc_b, cpu_b = realfog.run_counted(burn, fh, dict(os.environ))
        rc_s, cpu_s = realfog.run_counted(sleep, fh, dict(os.environ))
        rc_f, _ = realfog.run_counted([sys.executable, "-c", "raise SystemExit(3)"], fh, dict(os.environ))
    assert (rc_b, rc_s, rc_f) == (0, 0, 3)
    assert cpu_b >= 0.3 and cpu_s < cpu_b


@pytest.mark.slow
def test_pick_exports_the_lowest_snapshot_of_two_runs(tmp_path: Path) -> None:
    """Two toy 'trainings' with snapshots: one eval scores them all as rows and the lowest is chosen."""
    from edgecgl.export.toy import make_toy_checkpoint

    photos = tmp_path / "photos"
    _photos(photos / "sunny", 4, foggy=False, seed=0)
    _photos(photos / "foggy", 4, foggy=True, seed=1)
    runs = []
    for s in (0, 1):
        ck = tmp_path / f"runs-s{s}" / "000-realfog" / "checkpoints"
        ck.mkdir(parents=True)
        for k in (2, 3):
            make_toy_checkpoint(ck / f"model-{k:06d}.pt", "tiny", (64, 128), (32, 32), domains=("sunny", "foggy"),
                                seed=10 * s + k)  # fmt: skip
        runs.append(ck.parent)
    args = realfog.parse_args(["--out", str(tmp_path / "w"), "--iterations", "3", "--output-size", "none"])
    b = realfog.Bench(args, tmp_path / "r.json")
    chosen = realfog.step_pick(b, runs, photos)
    pick = json.loads((tmp_path / "r.json").read_text())["steps"]["pick"]
    assert len(pick["rows"]) == 4 and pick["kid_x100"] == min(pick["rows"].values())
    assert (
        chosen == Path(pick["chosen"]) and chosen.is_file() and chosen.stem == pick["name"].rsplit("/", 1)[1]
    )
    assert pick["name"].startswith(("runs-s0/", "runs-s1/")) and pick["cpu_s"] > 0


def test_results_of_another_work_folder_are_not_resumed(tmp_path: Path) -> None:
    """The committed results name another --out: its 'done' steps must not skip this folder's split and label."""
    res = tmp_path / "r.json"
    res.write_text(json.dumps({"out": "/elsewhere", "steps": {"split": {"done": True}}}))
    args = realfog.parse_args(["--out", str(tmp_path / "w"), "--iterations", "3"])
    assert not realfog.Bench(args, res).done("split")
    res.write_text(json.dumps({"steps": {"split": {"done": True}}}))  # older files recorded no folder
    assert not realfog.Bench(args, res).done("split")
    res.write_text(json.dumps({"out": str(args.out), "steps": {"split": {"done": True}}}))
    assert realfog.Bench(args, res).done("split")
