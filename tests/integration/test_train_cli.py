"""`edgecgl train` end to end in a subprocess: dry run, user errors, train, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ENV = {**os.environ, "EDGECGL_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}


def edgecgl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecgl", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=300,
    )


def folder_dataset(root: Path, per_domain: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for di, d in enumerate(("sunny", "night", "cloudy", "rainy")):
        (root / d).mkdir(parents=True)
        for k in range(per_domain):
            Image.fromarray((rng.random((64, 64, 3)) * 60 + di * 50).astype(np.uint8)).save(
                root / d / f"{k}.png"
            )
            if k == 0:
                (root / d / f"{k}.txt").write_text("0 0.5 0.5 0.4 0.5\n")
    return root


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real CLI entry point in-process (a subprocess costs seconds of imports per call)."""
    from edgecgl.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_dry_run_prints_config_and_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, "train", "--config", "paper", "--dry-run", "--set", "optim.lr=2e-4")
    assert rc == 0, err
    assert "lr: 0.0002" in out and "preset: paper" in out
    assert "E^c + E^s + M + G: 15.04 M parameters" in out
    total = [ln for ln in out.splitlines() if ln.startswith("total")][0]
    assert 110 < float(total.split()[-1]) < 125  # MB, the paper's 119 MB


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "nope"], "config 'nope' not found"),
        (["--config", "synth-tiny", "--set", "optim.nope=1"], "unknown config key 'optim.nope'"),
        (["--config", "synth-tiny", "--out", "x"], "no dataset given"),
        (["--resume", "--out", "/nonexistent-edgecgl"], "no run with checkpoints/last.pt"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli(capsys, "train", *args)
    assert rc == 2, err
    assert message in " ".join(err.split()) and "Traceback" not in err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("model.preset=huge", "unknown model.preset 'huge' (choose paper, small, tiny or custom)"),
        ("optim.lr=-1", "optim.lr must be > 0, got -1.0"),
        ("ema.decay=2", "ema.decay must be in [0, 1), got 2.0"),
        ("threads=-1", "threads must be >= 0, got -1 (0 keeps torch's default)"),
        ("optim.beta2=1", "optim.beta2 must be in [0, 1)"),
        ("optim.lr_step=0", "optim.lr_step must be >= 1"),
        ("loss.cgc_instance=-1", "loss.cgc_instance must be >= 0"),
        ("log.sample_every=-5", "log.sample_every must be >= 0"),
        ("data.domains=[sunny]", "training needs images of at least two domains"),
    ],
)
def test_bad_config_values_are_one_line_and_leave_no_run_folder(
    value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each was a traceback (preset, lr: after an empty runs/000-x/ was made, so the next run was 001) or
    accepted silently (ema.decay=2 froze the EMA copy at its initial weights)."""
    data = folder_dataset(tmp_path / "data")
    runs = tmp_path / "runs"
    rc, _, err = run_cli(
        capsys, "train", "--config", "synth-tiny", "--data", f"folder:{data}", "--out", str(runs),
        "--iters", "1", "--set", "data.frame_size=[64,64]", "--set", "log.style_stats_images=2", "--set", value,
    )  # fmt: skip
    assert rc == 2 and "Traceback" not in err, err
    assert message in " ".join(err.split()), err
    assert not runs.exists() or not any(runs.iterdir())
    assert "run folder" not in err, err  # it named a folder it then removed (README walkthrough s31)


def test_resume_of_a_run_that_never_saved_names_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A run stopped before its first checkpoint (a non-finite loss at step 1): --resume of its runs folder
    named the runs folder, as if it held no run (README walkthrough s31)."""
    run = tmp_path / "runs" / "000-synth-tiny"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: synth-tiny\n")
    rc, _, err = run_cli(capsys, "train", "--resume", str(tmp_path / "runs"), "--iters", "2")
    assert rc == 2 and f"{run} has no checkpoints/last.pt" in " ".join(err.split()), err
    assert "train it again without --resume" in " ".join(err.split()), err
    rc, _, err = run_cli(capsys, "train", "--resume", str(tmp_path), "--iters", "2")  # not a run at all
    assert rc == 2 and "give a run folder" in " ".join(err.split()), err


def test_threads_0_keeps_torchs_default(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, "train", "--config", "synth-tiny", "--dry-run", "--set", "threads=0")
    assert rc == 0 and "threads: 0" in out, err


@pytest.mark.slow
def test_unreadable_images_are_one_log_line_not_a_python_warning(tmp_path: Path) -> None:
    data = folder_dataset(tmp_path / "data")
    (data / "pairs.json").write_text('{"val": []}')  # every image trains (no held-out split)
    (data / "night" / "1.png").write_bytes(b"not a png")  # met at the latest by the style statistics
    r = edgecgl("train", "--config", "synth-tiny", "--data", f"folder:{data}", "--out", str(tmp_path / "runs"),
                "--iters", "2", "--set", "data.frame_size=[64,64]", "--set", "log.style_stats_images=2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "UserWarning" not in r.stderr and "trainer.py" not in r.stderr, r.stderr
    said = [ln for ln in r.stderr.splitlines() if "skipped" in ln]
    assert len(said) == 1 and said[0].startswith("warning: skipped 1 unreadable image(s)"), r.stderr
    assert str(data / "night" / "1.png") in said[0]


@pytest.mark.slow
def test_train_then_resume(tmp_path: Path) -> None:
    data = folder_dataset(tmp_path / "data")
    common = ["--set", "data.frame_size=[64,64]", "--set", "log.style_stats_images=2", "--set", "log.every=1"]
    r = edgecgl("train", "--config", "synth-tiny", "--data", f"folder:{data}", "--out", str(tmp_path / "runs"),
                "--iters", "2", *common)  # fmt: skip
    assert r.returncode == 0, r.stderr
    run = tmp_path / "runs" / "000-synth-tiny"
    assert (run / "checkpoints" / "model.pt").is_file() and (run / "checkpoints" / "last.pt").is_file()
    assert (run / "samples" / "000002.png").is_file()
    r = edgecgl("train", "--resume", str(run), "--iters", "3")
    assert r.returncode == 0, r.stderr
    steps = [json.loads(s)["step"] for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    from edgecgl.train.inference import load_inference

    assert load_inference(run / "checkpoints" / "model.pt").step == 3
    # --resume given the runs root (what --out was) takes its newest run and says so
    # (the same command as the first plus --resume: --config naming the run's own config is fine)
    r = edgecgl("train", "--resume", str(tmp_path / "runs"), "--config", "synth-tiny", "--iters", "4")
    assert r.returncode == 0, r.stderr
    assert "taking its newest run" in r.stderr and "000-synth-tiny" in r.stderr
    assert load_inference(run / "checkpoints" / "model.pt").step == 4
    assert not (tmp_path / "runs" / "001-synth-tiny").exists()
    # --config beside --resume was silently ignored (the run's config.yaml is what resumes)
    r = edgecgl("train", "--resume", str(run), "--config", "paper", "--iters", "5")
    assert r.returncode == 2 and "was trained with config 'synth-tiny', not 'paper'" in r.stderr, r.stderr
    assert load_inference(run / "checkpoints" / "model.pt").step == 4
    # a run already at or past --iters: it said nothing (a 4/2 bar) and exited 0
    for its in ("2", "4"):
        r = edgecgl("train", "--resume", str(run), "--iters", its)
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert (
            len(errors) == 1
            and f"is already at step 4, and --iters {its} ends there: nothing was trained" in errors[0]
        )
        assert "pass --iters above 4" in r.stderr
    assert load_inference(run / "checkpoints" / "model.pt").step == 4
