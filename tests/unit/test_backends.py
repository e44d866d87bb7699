"""Backends on a tiny exported bundle: shapes, selection, and agreement with the torch modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecgl.backends import select_backend
from edgecgl.bundle import load_bundle
from edgecgl.domains import one_hot
from edgecgl.errors import EdgecglError
from tests.runtime_helpers import FRAME, INSTANCE, tiny_bundle_for, tiny_checkpoint


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    return load_bundle(tiny_bundle_for(tmp_path_factory))


def test_onnxruntime_cpu_shapes(bundle) -> None:
    be = select_backend(bundle, "onnxruntime-cpu")
    assert be.name == "onnxruntime-cpu"
    x = np.random.default_rng(0).uniform(-1, 1, (3, 3, *FRAME)).astype(np.float32)
    c = be.encode_content(x)
    assert c.shape[0] == 3 and c.shape[2:] == (FRAME[0] // 4, FRAME[1] // 4)
    ci = be.encode_content(x[:, :, :16, :16], "instance")
    assert ci.shape[2:] == (4, 4)
    dom = one_hot(1, 4, 3)
    s = be.encode_style(x, dom)
    assert s.shape == (3, bundle.style_dim)
    y = be.generate(c, s, dom)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1


def test_onnxruntime_rejects_bad_shapes(bundle) -> None:
    be = select_backend(bundle, "onnxruntime-cpu")
    with pytest.raises(ValueError, match="multiples of 4"):
        be.encode_content(np.zeros((1, 3, 30, 64), np.float32))
    with pytest.raises(ValueError, match="granularity"):
        be.encode_content(np.zeros((1, 3, 32, 64), np.float32), "object")


def test_auto_falls_back_to_cpu_and_logs(bundle) -> None:
    said: list[str] = []
    be = select_backend(bundle, "auto", log=said.append)
    assert be.name.startswith("onnxruntime")
    assert any("backend:" in m for m in said)


def test_unknown_backend_lists_choices(bundle) -> None:
    with pytest.raises(EdgecglError, match="unknown backend") as ei:
        select_backend(bundle, "mxnet")
    assert "onnxruntime-cpu" in (ei.value.hint or "")


def _reference(tmp_path_factory, x, s, dom):
    import torch
    from edgecgl.train.inference import load_inference

    im = load_inference(tiny_checkpoint(tiny_bundle_for(tmp_path_factory)))
    enc, _ = im.encoders("global")
    with torch.no_grad():
        return im.modules["gen"](enc(torch.from_numpy(x)), torch.from_numpy(s), torch.from_numpy(dom)).numpy()


def _inputs():
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, *FRAME)).astype(np.float32)
    s = np.random.default_rng(2).standard_normal((2, 8)).astype(np.float32)
    return x, s, one_hot(2, 4, 2)


def test_ort_matches_torch_modules(bundle, tmp_path_factory) -> None:
    """The ONNX graphs compute what the checkpoint's torch modules compute."""
    x, s, dom = _inputs()
    be = select_backend(bundle, "onnxruntime-cpu")
    got = be.generate(be.encode_content(x), s, dom)
    assert np.abs(got - _reference(tmp_path_factory, x, s, dom)).max() < 1e-4


def test_torch_backend_runs_pt2_programs(bundle, tmp_path_factory) -> None:
    x, s, dom = _inputs()
    be = select_backend(bundle, "torch")
    assert be.name.startswith("torch")
    got = be.generate(be.encode_content(x), s, dom)
    assert np.abs(got - _reference(tmp_path_factory, x, s, dom)).max() < 1e-4
    crops = x[:, :, : INSTANCE[0], : INSTANCE[1]]
    assert be.encode_style(crops, dom, "instance").shape == (2, bundle.style_dim)


def test_torch_backend_does_not_import_training_code(bundle) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from edgecgl.bundle import load_bundle; from edgecgl.backends import select_backend\n"
        f"select_backend(load_bundle({str(bundle.root)!r}), 'torch')\n"
        "print(','.join(m for m in sys.modules if m.startswith('edgecgl.train')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_torch_backend_unavailable_without_pt2(tmp_path: Path, tmp_path_factory) -> None:
    import json
    import shutil

    root = tmp_path / "b"
    shutil.copytree(tiny_bundle_for(tmp_path_factory), root)
    m = json.loads((root / "manifest.json").read_text())
    for entry in m["models"].values():
        entry.pop("torch", None)
    (root / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(EdgecglError, match=r"\.pt2"):
        select_backend(load_bundle(root), "torch")


def test_tensorrt_backend_clear_error_when_absent(bundle) -> None:
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    with pytest.raises(EdgecglError, match="TensorRT"):
        select_backend(bundle, "tensorrt")


def test_broken_onnx_is_a_user_error(tmp_path: Path, tmp_path_factory) -> None:
    import json
    import shutil

    from edgecgl.bundle import sha256_file

    root = tmp_path / "b"
    shutil.copytree(tiny_bundle_for(tmp_path_factory), root)
    (root / "generator.onnx").write_bytes(b"not onnx")
    m = json.loads((root / "manifest.json").read_text())
    m["files"]["generator.onnx"] = sha256_file(root / "generator.onnx")
    (root / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(EdgecglError, match="cannot load"):
        select_backend(load_bundle(root), "onnxruntime-cpu")


class _FakeTRT:
    name = "tensorrt"

    def __init__(self, bundle) -> None:  # noqa: ANN001
        self.bundle = bundle


def test_auto_prefers_tensorrt_when_importable(bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgecgl.backends as backends
    import edgecgl.backends.tensorrt as trt_backend

    real = backends.importlib.util.find_spec
    monkeypatch.setattr(
        backends.importlib.util, "find_spec", lambda n, *a: object() if n == "tensorrt" else real(n, *a)
    )
    monkeypatch.setattr(trt_backend, "TensorRTBackend", _FakeTRT)
    said: list[str] = []
    assert select_backend(bundle, "auto", log=said.append).name == "tensorrt"
    assert said[-1] == f"backend: tensorrt, {bundle.precision}"


def test_auto_falls_back_when_tensorrt_fails(bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgecgl.backends as backends
    import edgecgl.backends.tensorrt as trt_backend

    def no_engines(bundle):  # noqa: ANN001, ANN202
        raise EdgecglError("bundle has no TensorRT engines")

    real = backends.importlib.util.find_spec
    monkeypatch.setattr(
        backends.importlib.util, "find_spec", lambda n, *a: object() if n == "tensorrt" else real(n, *a)
    )
    monkeypatch.setattr(trt_backend, "TensorRTBackend", no_engines)
    said: list[str] = []
    assert select_backend(bundle, "auto", log=said.append).name.startswith("onnxruntime")
    assert any("tensorrt: bundle has no TensorRT engines" in m for m in said)


def test_the_log_says_what_precision_runs(bundle) -> None:
    """`backend: onnxruntime-cpu` alone did not say whether an INT8 bundle ran its 8-bit graph."""
    import dataclasses

    from edgecgl.backends import precision_run

    said: list[str] = []
    select_backend(bundle, "onnxruntime-cpu", log=said.append)
    assert said[-1] == "backend: onnxruntime-cpu, fp32"
    cpu = {"generator": {"file": "g.onnx", "precision": "int8", "cpu_file": "g.int8-cpu.onnx"}}
    int8 = dataclasses.replace(bundle, precision="int8", manifest={**bundle.manifest, "models": cpu})
    assert precision_run(int8, "onnxruntime-cpu") == "int8 (CPU graph)"
    qdq = dataclasses.replace(
        int8, manifest={**bundle.manifest, "models": {"generator": {"precision": "int8"}}}
    )
    assert precision_run(qdq, "onnxruntime-cpu") == "int8 (Q/DQ graph)"
    assert precision_run(int8, "torch-cpu") == "fp32 (.pt2 programs)"
    assert precision_run(int8, "tensorrt") == "int8"


def test_onnxruntime_beside_onnxruntime_gpu_is_named(bundle, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """PyPI's CPU onnxruntime pulled in beside NVIDIA's onnxruntime-gpu (a Jetson): one folder, the CPU
    build wins and --backend auto fell back to the CPU saying only "onnxruntime-cuda unavailable"."""
    import importlib.metadata as md

    from edgecgl.backends import onnxruntime as ortb
    from edgecgl.cli import main

    real = md.version
    monkeypatch.setattr(md, "version", lambda d: "1.20.0" if d == "onnxruntime-gpu" else real(d))
    problem = ortb.ort_install_problem()
    assert problem is not None and "onnxruntime-gpu 1.20.0 are both installed" in problem
    said: list[str] = []
    assert select_backend(bundle, "auto", log=said.append).name == "onnxruntime-cpu"
    assert any("onnxruntime-cuda unavailable (onnxruntime" in m and "pip uninstall -y" in m for m in said)
    with pytest.raises(SystemExit):
        main(["version"])
    out = capsys.readouterr().out
    assert "onnxruntime-gpu 1.20.0" in out and "warning: onnxruntime" in out and "providers: " in out
    monkeypatch.setattr(md, "version", real)
    assert ortb.ort_install_problem() is None  # this machine: PyPI's onnxruntime alone


def test_no_onnxruntime_is_one_line(bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "onnxruntime" else real(n, *a)
    )
    for name in ("onnxruntime-cpu", "auto"):
        with pytest.raises(EdgecglError, match="ONNX Runtime is not installed: on a Jetson install NVIDIA's"):
            select_backend(bundle, name)


def test_jetson_does_not_get_pypis_onnxruntime() -> None:
    """The dependency's marker: Linux aarch64 takes NVIDIA's onnxruntime-gpu instead, other machines PyPI's;
    the dev extra does not bring PyPI's back onto a Jetson (`make` installs it)."""
    import tomllib
    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    (req,) = [Requirement(r) for r in project["dependencies"] if r.startswith("onnxruntime")]
    env = {"platform_system": "Linux", "platform_machine": "aarch64"}
    assert req.marker is not None and not req.marker.evaluate(env)
    for other in ({"platform_machine": "x86_64"}, {"platform_system": "Darwin", "platform_machine": "arm64"}):
        assert req.marker.evaluate({**env, **other})
    assert project["optional-dependencies"]["ort-cpu"] == ["onnxruntime>=1.17"]
    assert not any("ort-cpu" in d or "onnxruntime" in d for d in project["optional-dependencies"]["dev"])
