"""``bdd100k:`` through the CLI: a domain table of the user's (``--bdd-rules``, ``data.bdd_rules``) in every
command that reads it, and image subsets made of symlinks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FOG = """# BDD100K's own foggy frames as a domain (the first matching rule wins)
- {domain: sunny, weather: [clear], timeofday: [daytime]}
- {domain: foggy, weather: [foggy], timeofday: [daytime, dawn/dusk]}
"""


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real CLI entry point in-process (a subprocess costs seconds of imports per call)."""
    from edgecgl.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


@pytest.fixture
def bdd(tmp_path: Path) -> Path:
    """3 sunny frames, 2 foggy (daytime, dawn/dusk), 1 snowy; a car on each."""
    root = tmp_path / "bdd"
    (root / "images").mkdir(parents=True)
    attrs = [("clear", "daytime")] * 3 + [("foggy", "daytime"), ("Foggy", "dawn/dusk"), ("snowy", "daytime")]
    frames = []
    rng = np.random.default_rng(0)
    for i, (w, t) in enumerate(attrs):
        Image.fromarray((rng.random((32, 48, 3)) * 255).astype(np.uint8)).save(root / "images" / f"f{i}.jpg")
        box = {"category": "car", "box2d": {"x1": 2, "y1": 3, "x2": 30, "y2": 20}}
        frames.append({"name": f"f{i}.jpg", "attributes": {"weather": w, "timeofday": t}, "labels": [box]})
    (root / "labels.json").write_text(json.dumps(frames))
    (tmp_path / "fog.yaml").write_text(FOG)
    return root


def counts(out: str) -> dict[str, int]:
    return {d: v["images"] for d, v in json.loads(out)["domains"].items()}


def test_data_stats_counts_a_domain_of_the_users_table(bdd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, rules = f"bdd100k:{bdd / 'labels.json'}", str(bdd.parent / "fog.yaml")
    rc, out, err = run_cli(capsys, "data", "stats", spec, "--json")
    assert rc == 0, err
    assert counts(out) == {"sunny": 3, "night": 0, "cloudy": 0, "rainy": 0}  # Table 1: no foggy
    rc, out, err = run_cli(capsys, "data", "stats", spec, "--json", "--bdd-rules", rules)
    assert rc == 0, err
    assert counts(out) == {"sunny": 3, "foggy": 2} and json.loads(out)["excluded_frames"] == 1  # snowy
    bad = bdd.parent / "bad.yaml"
    bad.write_text("- {domain: foggy, weather: [foggy]}\n")
    rc, out, err = run_cli(capsys, "data", "stats", spec, "--bdd-rules", str(bad))
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("error: ") and "(foggy) needs weather and timeofday" in " ".join(err.split())


def test_train_calib_and_eval_take_the_table(bdd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, rules = f"bdd100k:{bdd / 'labels.json'}", str(bdd.parent / "fog.yaml")
    table = "[{domain: sunny, weather: [clear], timeofday: [daytime]}, {domain: foggy, weather: [foggy], timeofday: [daytime]}]"
    for how in (["--set", f"data.bdd_rules={table}"], ["--bdd-rules", rules]):
        rc, out, err = run_cli(capsys, "train", "--config", "synth-tiny", "--data", spec, "--dry-run", *how)
        assert rc == 0, err
        assert "- sunny\n  - foggy\n" in out and "domain: foggy" in out and "n_domains: 2" in out
    rc, _, err = run_cli(capsys, "train", "--config", "synth-tiny", "--data", spec, "--dry-run", "--set",
                         "data.bdd_rules=[{domain: foggy, weather: [foggy], timeofday: []}]")  # fmt: skip
    assert rc == 2 and "data.bdd_rules[0] (foggy) needs weather and timeofday" in " ".join(err.split())
    out_npz = bdd.parent / "c.npz"
    rc, _, err = run_cli(capsys, "calib", spec, "--out", str(out_npz), "--n", "4", "--size", "16x32",
                         "--instance-size", "8x8", "--bdd-rules", rules)  # fmt: skip
    assert rc == 0, err
    from edgecgl.calib.sample import load_calib

    cs = load_calib(out_npz)
    assert cs.meta["domains"] == ["sunny", "foggy"] and sorted(cs.meta["per_domain"].values()) == [2, 2]
    rc, _, err = run_cli(capsys, "eval", "classifier-train", "--data", spec, "--out", str(bdd.parent / "c.pt"),
                         "--size", "16x32", "--epochs", "1", "--bdd-rules", rules)  # fmt: skip
    assert rc == 0, err
    assert "foggy" in err and "'foggy': 0" not in err


def test_symlinked_images_are_a_dataset(bdd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A subset made by linking image files is read, not refused as leaving the dataset root."""
    sub = bdd.parent / "subset"
    (sub / "images").mkdir(parents=True)
    for i in range(3):
        (sub / "images" / f"f{i}.jpg").symlink_to(bdd / "images" / f"f{i}.jpg")
    frames = json.loads((bdd / "labels.json").read_text())[:3]
    (sub / "labels.json").write_text(json.dumps(frames))
    rc, out, err = run_cli(capsys, "data", "stats", f"bdd100k:{sub / 'labels.json'}", "--json", "--check")
    assert rc == 0, err
    assert counts(out)["sunny"] == 3 and json.loads(out)["unreadable"] == 0


def test_int8_export_calibrates_on_the_models_own_table(
    bdd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sunny/foggy model calibrated from bdd100k: reads the table it was trained with (its run's
    config.yaml); with Table 1 the foggy frames were silently left out of the INT8 ranges."""
    from edgecgl.export.toy import make_toy_checkpoint

    run = bdd.parent / "run"
    ckpt = make_toy_checkpoint(
        run / "checkpoints" / "model.pt", "tiny", (32, 64), (16, 16), domains=("sunny", "foggy")
    )
    (run / "config.yaml").write_text(
        "name: x\ndata:\n  bdd_rules:\n" + FOG.split("\n", 1)[1].replace("- ", "  - ")
    )
    spec = f"bdd100k:{bdd / 'labels.json'}"
    rc, _, err = run_cli(
        capsys, "export", str(run), "--int8", "--calib", spec, "--out", str(bdd.parent / "b"), "--no-pt2"
    )
    assert rc == 0, err
    assert (
        "domains from data.bdd_rules in" in err and "calibration: 5 frames" in err and "no foggy" not in err
    )
    rc, _, err = run_cli(capsys, "export", str(ckpt), "--fp16", "--out", str(bdd.parent / "b2"), "--bdd-rules", str(bdd.parent / "fog.yaml"))  # fmt: skip
    assert rc == 2 and "--bdd-rules is read only with --int8 --calib bdd100k:" in err
    assert not (bdd.parent / "b2").exists()


def test_calibration_says_which_model_domains_it_has_no_frames_of(bdd: Path) -> None:
    from edgecgl.calib.sample import sample_calibration

    from edgecgl.domains import load_bdd_rules

    said: list[str] = []
    spec = f"bdd100k:{bdd / 'labels.json'}"
    cs = sample_calibration(spec, 8, (16, 32), (8, 8), domains=["sunny", "foggy"], log=said.append)
    assert cs.meta["per_domain"] == {"sunny": 3}
    assert any("warning: calibration has no foggy frames in" in s and "--bdd-rules" in s for s in said)
    said.clear()
    rules = load_bdd_rules(bdd.parent / "fog.yaml")
    cs = sample_calibration(
        spec, 8, (16, 32), (8, 8), domains=["sunny", "foggy"], log=said.append, bdd_rules=rules
    )
    assert cs.meta["per_domain"] == {"sunny": 3, "foggy": 2} and not any("no foggy" in s for s in said)
