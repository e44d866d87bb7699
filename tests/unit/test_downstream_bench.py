"""benchmarks/downstream.py: the per-arm dataset assembly, the summary and ``--dry-run`` (no YOLO training)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks import downstream as ds

SCRIPT = Path(ds.__file__)
DOMAINS = ("sunny", "night", "rainy", "cloudy")


def fake_synth(root: Path, scenes: list[str]) -> None:
    """SynthWeather's layout: ROOT/<domain>/<scene>.png + labels/<scene>.txt (folder-format class ids)."""
    for d in DOMAINS:
        (root / d / "labels").mkdir(parents=True)
        for i, s in enumerate(scenes):
            (root / d / f"{s}.png").write_bytes(f"{d}-{s}".encode())
            (root / d / "labels" / f"{s}.txt").write_text(
                f"0 0.5 0.5 0.2 0.1\n3 0.25 0.5 0.05 0.2\n{i % 6} 0.1 0.1 0.1 0.1\n"
            )


def fake_copies(copies: Path, frames: list[str]) -> None:
    """What step_reinhard writes and edgecgl augment writes: <kind>/<w>/<w>/sunny_<name>.png + labels."""
    weather = ds.assign_weathers(frames)
    for kind in ("reinhard", *(ds.EXTRA_FOLDER[arm] for arm in ds.TRANSLATED_ARMS)):
        for n, w in weather.items():
            folder = copies / kind / w / w
            (folder / "labels").mkdir(parents=True, exist_ok=True)
            (folder / f"sunny_{n}.png").write_bytes(f"{kind}-{n}".encode())
            (folder / "labels" / f"sunny_{n}.txt").write_text("0 0.5 0.5 0.2 0.1\n3 0.25 0.5 0.05 0.2\n")


def test_coco_label_maps_folder_classes_to_coco_ids_and_keeps_boxes() -> None:
    text = "0 0.5 0.5 0.2 0.1\n1 0.1 0.2 0.3 0.4\n2 0.5 0.5 0.5 0.5\n3 0.1 0.1 0.1 0.1\n4 0.2 0.2 0.2 0.2\n5 0.3 0.3 0.1 0.1\n"
    out = ds.coco_label(text).splitlines()
    assert [int(line.split()[0]) for line in out] == [2, 7, 5, 0, 3, 1]
    assert [line.split()[1:] for line in out] == [line.split()[1:] for line in text.splitlines()]
    assert ds.coco_label("") == ""
    with pytest.raises(ValueError):
        ds.coco_label("6 0.5 0.5 0.1 0.1\n")


def test_frames_are_seeded_train_scenes_and_weathers_split_in_thirds() -> None:
    pairs = {"scenes": {f"{i:06d}": {} for i in range(30)}, "val": ["000003", "000010"]}
    train, test = ds.split_scenes(pairs)
    assert test == ["000003", "000010"] and len(train) == 28 and not set(train) & set(test)
    frames = ds.choose_frames(train, 12, seed=0)
    assert len(frames) == 12 and set(frames) <= set(train) and frames == sorted(frames)
    assert ds.choose_frames(list(reversed(train)), 12, seed=0) == frames
    assert ds.choose_frames(train, 12, seed=1) != frames
    counts = {w: list(ds.assign_weathers(frames).values()).count(w) for w in ds.WEATHERS}
    assert counts == {"night": 4, "rainy": 4, "cloudy": 4}
    with pytest.raises(SystemExit):
        ds.choose_frames(train, 29, seed=0)
    with pytest.raises(SystemExit):
        ds.split_scenes({"scenes": {"a": {}}, "val": []})


def test_every_arm_is_assembled_with_equal_counts_and_its_labels(tmp_path: Path) -> None:
    scenes = [f"{i:06d}" for i in range(9)]
    synth, copies = tmp_path / "synth", tmp_path / "copies"
    fake_synth(synth, scenes)
    fake_copies(copies, scenes)
    weather = ds.assign_weathers(scenes)
    names = {i: f"class{i}" for i in range(80)}
    counts = {}
    for arm in ds.ARMS:
        split = tmp_path / "yolo" / arm
        counts[arm] = ds.write_split(split, ds.arm_samples(arm, scenes, synth, copies))
        images = sorted((split / "images").iterdir())
        labels = sorted((split / "labels").iterdir())
        assert [p.stem for p in images] == [p.stem for p in labels]
        # every arm starts with the same sunny frames, labels rewritten to COCO ids
        for n in scenes:
            img = split / "images" / f"sunny_{n}.png"
            assert img.is_symlink() and img.resolve() == (synth / "sunny" / f"{n}.png").resolve()
            src = (synth / "sunny" / "labels" / f"{n}.txt").read_text()
            assert (split / "labels" / f"sunny_{n}.txt").read_text() == ds.coco_label(src)
        extra = [p for p in images if not p.stem.startswith("sunny_")]
        if arm == "a":
            assert not extra
            continue
        assert len(extra) == len(scenes)
        for p in extra:
            n = p.stem.rsplit("_", 1)[1]
            target = p.resolve().read_bytes()
            if arm == "b":
                assert target == f"sunny-{n}".encode()
            elif arm == "e":  # the real render of the same scene in its assigned weather
                assert target == f"{weather[n]}-{n}".encode() and weather[n] in p.stem
            else:
                kind = ds.EXTRA_FOLDER[arm]
                assert target == f"{kind}-{n}".encode() and weather[n] in p.stem
            label = (split / "labels" / f"{p.stem}.txt").read_text().splitlines()
            assert label and label[0].split()[0] == "2"  # car -> COCO 2
    assert counts["a"] == len(scenes)
    assert {counts[a] for a in "bcdefgh"} == {2 * len(scenes)}
    y = ds.dataset_yaml(tmp_path / "a.yaml", tmp_path / "yolo" / "a", tmp_path / "yolo" / "e", names)
    data = yaml.safe_load(y.read_text())
    assert Path(data["train"]).is_absolute() and data["train"].endswith("yolo/a")
    assert data["val"].endswith("yolo/e") and data["names"][2] == "class2" and len(data["names"]) == 80


def test_write_split_refuses_missing_files_and_duplicate_names(tmp_path: Path) -> None:
    fake_synth(tmp_path / "s", ["000000"])
    s = ds.folder_sample(tmp_path / "s", "sunny", "000000", "x")
    with pytest.raises(ValueError):
        ds.write_split(tmp_path / "o", [s, s])
    with pytest.raises(SystemExit):
        ds.write_split(tmp_path / "o", [ds.folder_sample(tmp_path / "s", "sunny", "missing", "y")])


def run(arm_scores: dict[str, float]) -> dict:
    scores = {
        d: {
            "map50": 2 * v,
            "map50_95": v,
            "ap50_car": v,
            "ap50_95_car": v,
            "ap50_person": None,
            "ap50_95_person": None,
        }
        for d, v in ((d, arm_scores[d]) for d in ds.TEST_DOMAINS)
    }
    return {"done": True, "scores": scores}


def test_summary_means_over_seeds_and_the_gap_d_closes() -> None:
    base = {"night": 0.1, "rainy": 0.2, "cloudy": 0.3, "sunny": 0.5}
    runs = {}
    for s, jitter in ((0, 0.0), (1, 0.02)):
        runs[f"a/s{s}"] = run({d: v + jitter for d, v in base.items()})
        runs[f"d/s{s}"] = run({d: v + 0.05 + jitter for d, v in base.items()})
        runs[f"e/s{s}"] = run({d: v + 0.2 + jitter for d, v in base.items()})
    summary = ds.summarise(runs, [0, 1])
    night_a = summary["table"]["a"]["night"]["map50_95"]
    assert night_a["mean"] == pytest.approx(0.11) and night_a["n"] == 2 and night_a["std"] > 0
    assert "ap50_person" not in summary["table"]["a"]["night"]  # absent class: no number invented
    assert summary["gap_closed_by_d"]["night"]["map50_95"] == pytest.approx(0.25)
    assert set(summary["table"]) == {"a", "d", "e"}
    assert summary["gap_closed_by_d_from_b"] == {}  # no (b) arm run: no number
    table = ds.markdown_table(summary)
    assert "(d) sunny + edgecgl augment copies" in table and "night +0.25" in table
    runs["b/s0"] = run({d: v + 0.04 for d, v in base.items()})
    runs["b/s1"] = run({d: v + 0.04 + 0.02 for d, v in base.items()})
    from_b = ds.summarise(runs, [0, 1])["gap_closed_by_d_from_b"]["night"]["map50_95"]
    assert from_b == pytest.approx(0.01 / 0.16, abs=1e-3)
    assert "(b) -> (e) mAP50-95 gap that (d) closes: night +0.06" in ds.markdown_table(
        ds.summarise(runs, [0, 1])
    )
    assert "gap_closed_by_f" not in ds.summarise(runs, [0, 1])  # arm (f) not run: no row, no number
    runs["f/s0"] = run({d: v + 0.15 for d, v in base.items()})
    runs["f/s1"] = run({d: v + 0.15 + 0.02 for d, v in base.items()})
    with_f = ds.summarise(runs, [0, 1])
    assert with_f["gap_closed_by_f"]["night"]["map50_95"] == pytest.approx(0.75)
    assert "(a) -> (e) mAP50-95 gap that (f) closes: night +0.75" in ds.markdown_table(with_f)
    # the oracle no better than (a): no fraction
    runs["e/s0"], runs["e/s1"] = run(base), run(base)
    assert ds.summarise(runs, [0, 1])["gap_closed_by_d"]["night"]["map50_95"] is None


def test_each_translated_arm_runs_augment_with_its_own_flags_into_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(d) the mean style, (f) per-image styles, (g) the instances' residual, (h) the frame's too."""
    scenes = [f"{i:06d}" for i in range(6)]
    fake_synth(tmp_path / "synth", scenes)
    calls: list[list[str]] = []
    monkeypatch.setattr(ds, "edgecgl", lambda argv, logfile: (calls.append(list(argv)), (1.0, 1.0))[1])
    rec = ds.Record(tmp_path / "r.json", ds.Plan(), fresh=False)
    for arm in ds.TRANSLATED_ARMS:
        calls.clear()
        ds.step_augment(rec, tmp_path, tmp_path / "synth", scenes, tmp_path / "bundle", arm)
        assert [c[c.index("--to") + 1] for c in calls] == list(ds.WEATHERS)
        for c in calls:
            assert c[c.index("--out") + 1].startswith(str(tmp_path / "copies" / ds.EXTRA_FOLDER[arm]))
            assert ("--style-per-image" in c) == (arm == "f")
            upsample = c[c.index("--upsample") + 1] if "--upsample" in c else "guided"
            assert upsample == {"g": "residual-instances", "h": "residual", "i": "local"}.get(arm, "guided")
        assert rec.done(ds.EXTRA_FOLDER[arm])
        ds.step_augment(rec, tmp_path, tmp_path / "synth", scenes, tmp_path / "bundle", arm)
        assert len(calls) == 3  # done: not run again


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        str(SCRIPT),
        "--dry-run",
        "--out",
        str(tmp_path / "w"),
        "--json",
        str(tmp_path / "r.json"),
    ]
    argv += ["--seeds", "0,1,2", "--train-images", "90", "--epochs", "2"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "arm (d)     sunny + edgecgl augment copies: 180 images" in r.stdout
    assert "arm (a)     sunny only: 90 images" in r.stdout
    assert "[0, 1, 2]: 27 fine-tunings" in r.stdout and "2 epochs" in r.stdout
    assert not (tmp_path / "w").exists() and not (tmp_path / "r.json").exists()
    r = subprocess.run([*argv, "--arms", "a,d"], capture_output=True, text=True, timeout=120)
    assert "[0, 1, 2]: 6 fine-tunings" in r.stdout and "arm (a)     sunny only: 90 images\n" in r.stdout
    assert (
        "arm (b)     sunny + the same sunny frames again: 180 images (not in this call: --arms)" in r.stdout
    )


def test_a_record_made_with_another_plan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    ds.Record(path, ds.Plan(epochs=3), fresh=False).save()
    ds.Record(path, ds.Plan(epochs=3, seeds=[0, 1]), fresh=False)  # more seeds: the same plan
    with pytest.raises(SystemExit):
        ds.Record(path, ds.Plan(epochs=5), fresh=False)
    assert ds.Record(path, ds.Plan(epochs=5), fresh=True).data["plan"]["epochs"] == 5


def test_the_fused_coco_checkpoint_is_unfolded_into_a_trainable_equivalent(tmp_path: Path) -> None:
    weights = ds.ASSETS / "models" / "yolov8n-coco.pt"
    if not weights.is_file():
        pytest.skip(f"no {weights} (EDGECGL_ASSETS)")
    import cv2
    import numpy as np
    import torch

    ds.yolo_offline(tmp_path)
    from ultralytics import YOLO

    rng = np.random.default_rng(0)
    calib = []
    for i in range(4):
        img = np.full((128, 256, 3), 90, np.uint8)
        cv2.rectangle(img, (40 + 20 * i, 60), (90 + 20 * i, 100), (int(rng.integers(0, 255)), 40, 200), -1)
        calib.append(tmp_path / f"c{i}.png")
        cv2.imwrite(str(calib[-1]), img)
    dst = ds.unfused_detector(weights, tmp_path / "unfused.pt", calib)
    fused, unfused = YOLO(str(weights)).model.float().eval(), YOLO(str(dst)).model.float().eval()
    assert fused.is_fused() and not unfused.is_fused()
    bns = [m for m in unfused.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) > 50 and not all(torch.allclose(b.weight, torch.ones_like(b.weight)) for b in bns)
    x = torch.rand(2, 3, 128, 256)
    with torch.no_grad():
        a, b = fused(x)[0], unfused(x)[0]
        assert (a - b).abs().max() < 2.0, float(
            (a - b).abs().max()
        )  # boxes in pixels; saved in FP16 (0.48 seen)
        # training normalises by batch statistics: on the calibration batch it must still compute the
        # fused network (an identity BatchNorm would renormalise every layer and lose the detector)
        cx = torch.stack([torch.from_numpy(cv2.imread(str(p))[..., ::-1].copy()) for p in calib]).permute(
            0, 3, 1, 2
        )
        cx = cx.float() / 255.0
        for m in bns:
            m.train()
        a, b = fused(cx)[0], unfused(cx)[0]
    assert (a - b).abs().max() < 5.0, float((a - b).abs().max())  # 0.41 seen; identity BNs: ~220
    assert unfused.names == fused.names


def test_records_of_calls_run_side_by_side_merge_into_one(tmp_path: Path) -> None:
    """Two cores: the translated arms in one call and the others in another, each with its own record."""
    plan = ds.Plan(seeds=[0, 1])
    run = {"done": True, "cpu_s": 10.0, "scores": {}}
    one = ds.Record(tmp_path / "dfg.json", plan, fresh=False)
    one.data["steps"] = {
        "data": {"done": True, "cpu_s": 5.0},
        "translator": {"done": True, "trained_here": True},
    }
    one.data["runs"] = {"d/s0": run, "d/s1": run, "f/s0": {"done": False}}
    one.data["commands"] = ["benchmarks/downstream.py --arms d,f"]
    one.save()
    two = ds.Record(tmp_path / "abce.json", ds.Plan(seeds=[0, 1], bundle="elsewhere"), fresh=False)
    two.data["steps"] = {"data": {"done": True, "reused": True}, "reinhard": {"done": True, "cpu_s": 2.0}}
    two.data["runs"] = {"a/s0": run, "a/s1": run, "d/s0": {"done": True, "cpu_s": 99.0}}
    two.save()
    merged = ds.merge_records([one.path, two.path], plan)
    assert sorted(merged["runs"]) == ["a/s0", "a/s1", "d/s0", "d/s1"]  # unfinished f/s0 left out
    assert merged["runs"]["d/s0"]["cpu_s"] == 10.0 and merged["steps"]["data"]["cpu_s"] == 5.0  # first wins
    assert merged["steps"]["reinhard"]["done"] and merged["steps"]["translator"]["trained_here"]
    assert [Path(p["json"]).name for p in merged["parts"]] == ["dfg.json", "abce.json"]
    assert merged["commands"] == ["benchmarks/downstream.py --arms d,f"]
    assert ds.cpu_total(merged) == 5.0 + 2.0 + 4 * 10.0
    other = ds.Record(tmp_path / "other.json", ds.Plan(epochs=3), fresh=False)
    other.save()
    with pytest.raises(SystemExit, match="another plan"):
        ds.merge_records([one.path, other.path], plan)


def test_the_sheet_is_skipped_with_a_line_when_the_detector_weights_are_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--merge of records whose YOLO runs were cleaned up: the table is still made, the sheet is not."""
    plan = ds.Plan(seeds=[0])
    rec = ds.Record(tmp_path / "r.json", plan, fresh=False)
    rec.data["runs"] = {
        f"{a}/s0": {"done": True, "weights": str(tmp_path / f"{a}.pt")} for a in ds.SHEET_ARMS
    }
    dst = tmp_path / "sheet.jpg"
    assert ds.step_sheet(rec, tmp_path, plan, tmp_path / "test", {}, 2, dst) is None
    assert not dst.exists()
    err = capsys.readouterr().err
    assert "sheet: skipped, the detector weights are gone: (a) " in err and "a.pt" in err
