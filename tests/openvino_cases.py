"""OpenVINO on the CPU (``--backend openvino-bf16`` / ``openvino``) on a tiny exported bundle: the same
numbers as ONNX Runtime in fp32, close in bf16, per-thread requests, and one clear line without it.

Not collected by the main test run: ``tests/unit/test_backend_openvino.py`` runs this file in its own
pytest process. With OpenVINO's thread pool loaded, the test process segfaulted at a later fork (a
DataLoader's workers, a ``subprocess.run``) in 3 of 3 full runs, and in none of the halves; the runtime
never forks, the test suite does, so OpenVINO stays out of the suite's process."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest

from edgecgl.backends import select_backend
from edgecgl.bundle import load_bundle
from edgecgl.domains import one_hot
from edgecgl.errors import EdgecglError
from tests.runtime_helpers import FRAME, tiny_bundle_for

pytest.importorskip("openvino", reason="OpenVINO is part of the dev install (pyproject [openvino])")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    return load_bundle(tiny_bundle_for(tmp_path_factory))


def _frame(be, x: np.ndarray, granularity: str = "global") -> np.ndarray:
    dom = one_hot(1, 4, x.shape[0])
    c = be.encode_content(x, granularity)
    s = be.encode_style(x, dom, granularity)
    return be.generate(c, s, dom)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(4.0 / mse)


def test_openvino_fp32_gives_onnxruntimes_numbers(bundle) -> None:
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, *FRAME)).astype(np.float32)
    ref = select_backend(bundle, "onnxruntime-cpu")
    said: list[str] = []
    ov = select_backend(bundle, "openvino", log=said.append)
    assert ov.name == "openvino-cpu" and said[-1] == "backend: openvino-cpu, fp32"
    for g in ("global", "instance"):
        got, want = _frame(ov, x, g), _frame(ref, x, g)
        assert got.shape == want.shape == x.shape
        assert np.abs(got - want).max() < 2e-3, g  # fp32 on both; kernels differ in summation order


def test_openvino_bf16_runs_bf16_where_the_cpu_has_it_and_stays_close(bundle) -> None:
    """bf16 keeps 8 mantissa bits: the frame moves, but far less than a grey level on average. On a CPU
    without bf16 units OpenVINO runs f32 and the log says so."""
    import openvino as ov

    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, *FRAME)).astype(np.float32)
    said: list[str] = []
    be = select_backend(bundle, "openvino-bf16", log=said.append)
    from edgecgl.backends.openvino import cpu_has_bf16

    has_bf16 = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert be.precision == ("bf16" if has_bf16 else "fp32")
    assert cpu_has_bf16() in (has_bf16, None)  # what edgecgl bench reads without loading OpenVINO
    assert said[-1] == f"backend: openvino-cpu, {be.precision}"
    ref = _frame(select_backend(bundle, "onnxruntime-cpu"), x)
    assert _psnr(_frame(be, x), ref) > 30.0


def test_openvino_requests_are_per_thread(bundle) -> None:
    """Frames and instance crops call the backend from two threads at once (edgecgl.video); one infer
    request shared between them would mix their outputs."""
    be = select_backend(bundle, "openvino")
    rng = np.random.default_rng(2)
    xs = [rng.uniform(-1, 1, (1, 3, *FRAME)).astype(np.float32) for _ in range(4)]
    alone = [_frame(be, x) for x in xs]
    got: dict[int, list[np.ndarray]] = {}

    def run(i: int) -> None:
        got[i] = [_frame(be, xs[i]) for _ in range(3)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, outs in got.items():
        for out in outs:
            assert np.array_equal(out, alone[i]), i


def test_openvino_runs_an_int8_bundles_fp32_graphs(bundle) -> None:
    from edgecgl.bundle import fp32_graph

    models = dict(bundle.manifest["models"])
    g = dict(models["generator"])
    models["generator"] = {**g, "file": "generator.int8.onnx", "precision": "int8", "fp32": g["file"]}
    int8 = dataclasses.replace(bundle, precision="int8", manifest={**bundle.manifest, "models": models})
    assert fp32_graph(int8, "generator") == bundle.root / g["file"]
    only_int8 = {**models, "generator": {"file": "generator.int8.onnx", "precision": "int8"}}
    no_fp32 = dataclasses.replace(int8, manifest={**bundle.manifest, "models": only_int8})
    with pytest.raises(EdgecglError, match="has no FP32 'generator' graph"):
        select_backend(no_fp32, "openvino-bf16")


def test_no_openvino_is_one_line(bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a))
    with pytest.raises(EdgecglError, match="OpenVINO is not installed") as ei:
        select_backend(bundle, "openvino-bf16")
    assert "pip install" in (ei.value.hint or "")
    said: list[str] = []
    assert select_backend(bundle, "auto", log=said.append).name == "onnxruntime-cpu"  # never picked by auto


def test_cli_image_on_openvino_bf16(bundle, tmp_path: Path) -> None:
    import subprocess
    import sys

    import cv2

    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.random.default_rng(3).integers(0, 255, (64, 128, 3), dtype=np.uint8))
    out = tmp_path / "out.png"
    cmd = [sys.executable, "-m", "edgecgl", "image", str(src), "--bundle", str(bundle.root), "--to", "night",
           "--backend", "openvino-bf16", "--no-instances", "-o", str(out)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "backend: openvino-cpu" in r.stderr + r.stdout
    img = cv2.imread(str(out))
    assert img is not None and img.shape == (64, 128, 3)


def test_openvino_workers_compile_streams_and_stay_exact(bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    """``edgecgl video --workers 2`` on OpenVINO: two streams, each worker thread on its own request; the
    frames are the one-stream backend's. (Importing Ultralytics sets OMP_NUM_THREADS=1 where it is unset,
    which caps the threads and with them the streams: cleared here.)"""
    import openvino.properties as props

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    one = select_backend(bundle, "openvino")
    two = select_backend(bundle, "openvino", workers=2)
    assert two._compiled["generator"].get_property(props.num_streams) == 2
    x = np.random.default_rng(4).uniform(-1, 1, (1, 3, *FRAME)).astype(np.float32)
    got: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: got.append(_frame(two, x))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    want = _frame(one, x)
    assert len(got) == 2 and all(np.abs(g - want).max() < 1e-4 for g in got)


def test_openvino_keeps_to_omp_num_threads(bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    """OMP_NUM_THREADS caps the cores a run uses (README), OpenVINO's pool included: on a vehicle the
    perception stack keeps the rest."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    be = select_backend(bundle, "openvino")
    assert be._compiled["generator"].get_property("INFERENCE_NUM_THREADS") == 1
