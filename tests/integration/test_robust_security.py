"""Untrusted files cannot run code, and the runtime stays off the network (issue 9, "Security").

Crafted pickles whose ``__reduce__`` would create a marker file stand in for checkpoints; a YAML config
carries a python tag; the marker must never appear and each is one clean error. The network test runs
the real CLI in a fresh interpreter whose socket layer records and refuses every attempt.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REPO, assets_dir
from tests.integration.test_robust_inputs import ENV, RUNTIME, assert_user_error, cli


class Payload:
    """Unpickling this runs ``touch MARKER``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def crafted(path: Path, marker: Path, fmt: str) -> Path:
    import torch

    obj = {"format": "edgecgl-inference", "version": 1, "weights": Payload(marker)}
    if fmt == "torch":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj))
    return path


def test_the_payload_really_runs_when_unpickled(tmp_path: Path) -> None:
    """The control: without weights_only the file does run code, so the refusals below mean something."""
    marker = tmp_path / "pwned"
    pickle.loads(crafted(tmp_path / "x.pkl", marker, "pickle").read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("fmt", ["torch", "pickle"])
def test_export_refuses_a_crafted_checkpoint(tmp_path: Path, fmt: str) -> None:
    marker = tmp_path / "pwned"
    ckpt = crafted(tmp_path / "model.pt", marker, fmt)
    r = cli("export", str(ckpt), "--out", str(tmp_path / "bundle"), "--no-pt2")
    assert_user_error(r, "is not a loadable edgecgl checkpoint")
    assert "weights_only" not in r.stderr  # torch's advice to load it unsafely is not passed on
    assert not marker.exists() and not (tmp_path / "bundle").exists()


def test_export_of_a_script_names_what_to_give_and_never_unsafe_loading(tmp_path: Path) -> None:
    script = tmp_path / "mkbdd.py"
    script.write_text("import json\nprint(json.dumps([]))\n")
    r = cli("export", str(script), "--out", str(tmp_path / "bundle"), "--no-pt2")
    assert_user_error(
        r, "is not a loadable edgecgl checkpoint: not a file written by torch.save", "give a model.pt"
    )
    assert "weights_only" not in r.stderr and "Re-running" not in r.stderr, r.stderr


@pytest.mark.slow
def test_resume_refuses_a_crafted_checkpoint(tmp_path: Path) -> None:
    from edgecgl.train.launch import resolve_config

    from edgecgl.config import dump_yaml

    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for di, d in enumerate(("sunny", "night", "cloudy", "rainy")):
        (data / d).mkdir(parents=True)
        cv2.imwrite(str(data / d / "0.png"), (rng.random((64, 64, 3)) * 60 + 50 * di).astype(np.uint8))
    run = tmp_path / "runs" / "000-synth-tiny"
    (run / "checkpoints").mkdir(parents=True)
    cfg = resolve_config("synth-tiny", ["data.frame_size=[64,64]"], f"folder:{data}", 5, "cpu", None)
    (run / "config.yaml").write_text(dump_yaml(cfg))
    marker = tmp_path / "pwned"
    crafted(run / "checkpoints" / "last.pt", marker, "torch")
    r = cli("train", "--resume", str(run), "--iters", "6")
    assert_user_error(r, "is not a loadable resume checkpoint", "unsupported GLOBAL posix.system")
    assert "weights_only" not in r.stderr
    assert not marker.exists()


def test_yaml_config_with_a_python_tag_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    cfg = tmp_path / "evil.yaml"
    cfg.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\niters: 2\n')
    r = cli("train", "--config", str(cfg), "--dry-run")
    assert_user_error(r, "is not valid YAML")
    assert not marker.exists()


def _call_text(text: str, start: int) -> str:
    """The source of the call whose '(' is at ``start``, up to its matching ')'."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1]
    return text[start:]


def test_loaders_are_data_only() -> None:
    """Every torch.load in the product passes weights_only=True; no pickle/yaml.load/allow_pickle=True."""
    bad = []
    patterns = (
        r"\bpickle\.loads?\(",
        r"\byaml\.(unsafe_)?load\(",
        r"allow_pickle\s*=\s*True",
        r"\byaml\.Loader\b",
    )
    for folder in ("edgecgl", "train", "export", "calib"):
        for py in (REPO / folder).rglob("*.py"):
            text = py.read_text(encoding="utf-8")
            for m in re.finditer(r"\btorch\.load\(", text):
                if "weights_only=True" not in _call_text(text, m.end() - 1):
                    bad.append(f"{py.relative_to(REPO)}: torch.load without weights_only=True")
            bad += [f"{py.relative_to(REPO)}: {pat}" for pat in patterns if re.search(pat, text)]
    assert not bad, bad


NET_GUARD = r"""
import socket, sys
attempts = []
def refuse(*a, **k):
    attempts.append(repr(a[1:] or a)[:80])
    raise OSError("network access refused by the test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
import atexit
atexit.register(lambda: sys.stderr.write(f"\nNET_ATTEMPTS {len(attempts)} {attempts}\n"))
from edgecgl.cli import main
main(sys.argv[1:])
"""


def guarded_cli(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    r = subprocess.run(
        [sys.executable, "-c", NET_GUARD, *args], capture_output=True, text=True, env=ENV, timeout=300
    )
    line = [ln for ln in r.stderr.splitlines() if ln.startswith("NET_ATTEMPTS")]
    assert line, r.stderr[-2000:]
    return r, int(line[-1].split()[1])


def test_image_makes_no_network_access(tiny_bundle: Path, tmp_path: Path) -> None:
    src = tmp_path / "f.png"
    cv2.imwrite(str(src), np.random.default_rng(0).integers(0, 255, (40, 72, 3), np.uint8))
    r, attempts = guarded_cli("image", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME)
    assert r.returncode == 0, r.stderr[-2000:]
    assert attempts == 0, r.stderr[-500:]


@pytest.mark.assets
@pytest.mark.slow
def test_local_detector_makes_no_network_access(tiny_bundle: Path, tmp_path: Path) -> None:
    """With a local --detector, Ultralytics must not probe DNS, check PyPI or send events."""
    assets = assets_dir()
    if assets is None:
        pytest.skip("EDGECGL_ASSETS not set and ../shared/assets absent: real-asset test skipped")
    frame = sorted((assets / "frames").glob("*.jpg"))[0]
    r, attempts = guarded_cli(
        "image", str(frame), "--to", "night", "--bundle", str(tiny_bundle), "--backend", "onnxruntime-cpu",
        "--detector", str(assets / "models" / "yolov8n-coco.pt"), "--out", str(tmp_path / "o.jpg"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert "instance(s) translated" in r.stderr
    assert attempts == 0, r.stderr[-500:]
