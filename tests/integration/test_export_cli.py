"""``edgecgl export`` in a subprocess, as a user runs it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from edgecgl.export.toy import make_toy_checkpoint

from edgecgl.errors import EdgecglError


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGECGL_NO_PROGRESS": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "edgecgl", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    for name in ("000-old", "001-new"):
        make_toy_checkpoint(root / "runs/train" / name / "checkpoints/model.pt", frame_size=(32, 64))
    return root


@pytest.mark.slow
def test_export_without_checkpoint_takes_the_newest_run(workdir: Path) -> None:
    r = run_cli("export", "--out", "bundles/fp32", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "001-new" in r.stderr
    m = json.loads((workdir / "bundles/fp32/manifest.json").read_text())
    assert m["precision"] == "fp32" and "001-new" in m["source"]["checkpoint"]
    assert m["models"]["generator"]["torch"] == "generator.pt2"
    from edgecgl.bundle import load_bundle

    assert load_bundle(workdir / "bundles/fp32").frame_size == (32, 64)
    again = run_cli("export", "--out", "bundles/fp32", cwd=workdir)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    r = run_cli("export", "--verify", "bundles/fp32", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "torch-cpu" in r.stdout and "yes" in r.stdout and "NO" not in r.stdout


def test_export_given_a_runs_root_takes_its_newest_run(workdir: Path) -> None:
    # `edgecgl train --out runs/train` writes runs/train/NNN-name/: the root itself is accepted too.
    r = run_cli("export", "runs/train", "--out", "bundles/from-root", "--no-pt2", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "taking its newest run" in r.stderr and "001-new" in r.stderr
    m = json.loads((workdir / "bundles/from-root/manifest.json").read_text())
    assert "001-new" in m["source"]["checkpoint"]


def test_export_decoder_form_fast_by_default_trained_on_request(workdir: Path) -> None:
    """Both forms compute the same frames (the default is the sub-pixel one); a bad form is one line."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    outs = {}
    for form in ("fast", "trained"):
        args = ["export", "runs/train/001-new", "--out", f"bundles/dec-{form}", "--no-pt2"]
        r = run_cli(*args, *(["--decoder", form] if form == "trained" else []), cwd=workdir)
        assert r.returncode == 0, r.stderr
        root = workdir / f"bundles/dec-{form}"
        m = json.loads((root / "manifest.json").read_text())
        ops = [n.op_type for n in onnx.load(str(root / "generator.onnx")).graph.node]
        rng = np.random.default_rng(0)
        feeds = {  # make_toy_checkpoint's tiny model: 32 content channels, style 8, 4 domains
            "content": rng.standard_normal((1, 32, 6, 10)).astype(np.float32),
            "style": rng.standard_normal((1, 8)).astype(np.float32),
            "domain": np.eye(4, dtype=np.float32)[:1],
        }
        sess = ort.InferenceSession(str(root / "generator.onnx"), providers=["CPUExecutionProvider"])
        outs[form] = sess.run(None, feeds)[0]
        if form == "fast":
            assert (
                m["decoder"] == "subpixel (from nearest_conv5, reflect), phase-domain output conv"
                and "DepthToSpace" in ops
            )
        else:
            assert m["decoder"] == "nearest_conv5" and "DepthToSpace" not in ops
    assert np.abs(outs["fast"] - outs["trained"]).max() < 1e-4
    r = run_cli("export", "runs/train/001-new", "--out", "bundles/x", "--decoder", "quick", cwd=workdir)
    assert r.returncode == 2 and "unknown decoder form 'quick'" in r.stderr
    assert not (workdir / "bundles/x").exists()


def test_resolve_checkpoint_of_a_runs_root(tmp_path: Path) -> None:
    from edgecgl.cli.export_cmd import resolve_checkpoint

    root = tmp_path / "runs"
    for name in ("004-a", "010-b"):
        make_toy_checkpoint(root / name / "checkpoints/model.pt", frame_size=(16, 16))
    (root / "011-crashed").mkdir()  # a newer run without a model is skipped
    assert resolve_checkpoint(root) == root / "010-b" / "checkpoints" / "model.pt"
    assert resolve_checkpoint(root / "004-a") == root / "004-a" / "checkpoints" / "model.pt"
    with pytest.raises(EdgecglError, match="holds no model.pt"):
        resolve_checkpoint(root / "011-crashed")


def test_user_errors_exit_2_with_one_line(workdir: Path) -> None:
    r = run_cli("export", "runs/train/nope", "--out", "b", cwd=workdir)
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = run_cli("export", "runs/train/001-new", cwd=workdir)
    assert r.returncode == 2 and "--out" in r.stderr
    r = run_cli("export", "runs/train/001-new", "--out", "b", "--fp16", "--int8", cwd=workdir)
    assert r.returncode == 2 and "exclude" in r.stderr


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_engine_without_tensorrt_says_so(workdir: Path) -> None:
    r = run_cli("export", "runs/train/001-new", "--out", "b", "--engine", cwd=workdir)
    assert r.returncode == 2 and "TensorRT is not installed" in r.stderr
    assert not (workdir / "b").exists()


@pytest.mark.slow
def test_calib_then_int8_export(workdir: Path) -> None:
    import cv2
    import numpy as np
    from edgecgl.calib.quantize import qdq_violations

    rng = np.random.default_rng(0)
    for d in ("sunny", "night", "cloudy", "rainy"):
        (workdir / "data" / d).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            cv2.imwrite(
                str(workdir / "data" / d / f"{i}.jpg"), rng.integers(0, 255, (40, 72, 3), dtype=np.uint8)
            )
    r = run_cli("calib", "folder:data", "--out", "calib.npz", "--n", "8", "--size", "32x64", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "sunny 2, night 2, cloudy 2, rainy 2" in r.stderr
    r = run_cli("export", "--int8", "--calib", "calib.npz", "--out", "b8", "--no-pt2", cwd=workdir)
    assert r.returncode == 0, r.stderr
    from edgecgl.bundle import load_bundle

    b = load_bundle(workdir / "b8")
    assert b.precision == "int8" and b.model_path("generator").name == "generator.int8.onnx"
    import onnx

    assert qdq_violations(onnx.load(str(b.model_path("generator")))) == []
    r = run_cli("calib", "folder:data", "--out", "calib.npz", cwd=workdir)
    assert r.returncode == 2 and "--overwrite" in r.stderr


def test_position_rows_model_exports_and_verifies_in_fp16(tmp_path: Path) -> None:
    """model.position=rows builds its ramp inside the graph; every precision must still load and match."""
    make_toy_checkpoint(
        tmp_path / "runs/train/000-rows/checkpoints/model.pt", frame_size=(32, 64), position="rows"
    )
    r = run_cli("export", "--fp16", "--out", "b", "--no-pt2", "--verify", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in (r.stdout + r.stderr).splitlines() if line.startswith("onnxruntime-cpu")]
    assert {(x[1], x[2]) for x in rows} >= {("fp16", "frame"), ("fp16", "instance")}
    assert all(x[-1] == "yes" for x in rows), r.stderr


@pytest.mark.slow
def test_int8_export_samples_calibration_data_with_the_models_domains(tmp_path: Path) -> None:
    """`edgecgl export --int8 --calib folder:DATA` on a model of its own domains (a fog model: sunny,
    foggy) labels the sampled set with those domains; it used to sample with the four BDD100K domains and
    then refuse its own set."""
    import cv2
    import numpy as np

    make_toy_checkpoint(
        tmp_path / "runs/train/000-fog/checkpoints/model.pt", frame_size=(32, 64), domains=("sunny", "foggy")
    )
    rng = np.random.default_rng(0)
    for d in ("sunny", "foggy"):
        (tmp_path / "data" / d).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(tmp_path / "data" / d / f"{i}.jpg"), rng.integers(0, 255, (40, 72, 3), np.uint8))
    r = run_cli("export", "--int8", "--calib", "folder:data", "--out", "b8", "--no-pt2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "calibration: 6 frames, 6 crops from folder:data" in r.stderr
    m = json.loads((tmp_path / "b8/manifest.json").read_text())
    assert m["models"]["generator"]["precision"] == "int8" and m["domains"] == ["sunny", "foggy"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--verify", "bundles/nope"], "bundle bundles/nope does not exist"),
        (["--engine", "bundles/nope"], "bundle bundles/nope does not exist"),
        (["--verify", "notabundle"], "notabundle is not a bundle: it has no manifest.json"),
        (["--verify", "runs/train/001-new"], "is a run, not a bundle: exporting it needs --out"),
    ],
)
def test_engine_or_verify_on_what_is_not_a_bundle(workdir: Path, args: list[str], fragment: str) -> None:
    """These said "no --out bundle folder given", which sent the user looking for the wrong mistake."""
    (workdir / "notabundle").mkdir(exist_ok=True)
    r = run_cli("export", *args, cwd=workdir)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 1 and fragment in errors[0], r.stderr
    assert "no --out bundle folder given" not in r.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--simplifier", "bogus"], "unknown simplifier 'bogus'"),
        (["--decoder", "bogus"], "unknown decoder form 'bogus'"),
        (["--int8", "--calib", "nope.npz"], "calibration file nope.npz does not exist"),
        (["--int8", "--calib", "nope"], "calibration data nope does not exist"),
        (["--int8", "--calib", "junk.mp4"], "cannot open video junk.mp4"),
        (["--int8", "--calib", "c.npz", "--quantizer", "bogus"], "unknown quantizer 'bogus'"),
    ],
)
def test_cheap_arguments_fail_before_the_export(workdir: Path, args: list[str], fragment: str) -> None:
    (workdir / "junk.mp4").write_text("not a video\n")
    (workdir / "c.npz").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: checked later, when loaded
    r = run_cli("export", "runs/train/001-new", "--out", "b-cheap", *args, cwd=workdir)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 1 and fragment in errors[0], r.stderr
    assert "exporting" not in r.stderr and ".onnx" not in r.stderr  # nothing was exported first
    assert not (workdir / "b-cheap").exists()
