"""A ``--size`` outside the TensorRT engines' frame profiles is one user error before anything loads.

The engines take half to all of the bundle's working size (``export/tensorrt.py`` ``profile_shapes``);
TensorRT itself only said so at the first frame, after the bundle, detector and input were loaded, in
input shapes. The check reads the profiles the engine sidecars record, so it runs here without TensorRT:
engines are built by the real builder on a stand-in ``tensorrt``, and loading one fails the test.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from edgecgl.backends import select_backend
from edgecgl.bench import BenchOptions, bench_bundle
from edgecgl.bundle import load_bundle
from edgecgl.cli.runtime_opts import RuntimeArgs, build_pipeline
from edgecgl.errors import EdgecglError
from tests.unit.trt_fake import FakeTRT

ORIN = {"gpu": "Orin", "compute_capability": "8.7", "sm_count": "16", "memory_gib": "30", "l4t": "36.4.3"}
OUTSIDE = "--size 64x128 is outside the TensorRT engines' frame range 16x32..32x64"  # tiny bundle: 32x64


@pytest.fixture
def engine_bundle(tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the tiny bundle with engines + sidecars from ``build_bundle_engines``; TensorRT
    'installed', and loading its engines an AssertionError (the check must come first)."""
    from edgecgl.export.tensorrt import build_bundle_engines

    monkeypatch.setenv("EDGECGL_CACHE", str(tmp_path / "cache"))
    b = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    build_bundle_engines(b, trt=FakeTRT("10.13.3.9"), identity=ORIN)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name == "tensorrt" else find_spec(name, *a)
    )

    def no_engines(*_a: object) -> None:
        raise AssertionError("engines loaded before the size was checked")

    monkeypatch.setattr("edgecgl.backends.tensorrt.TensorRTBackend.__init__", no_engines)
    return b


def test_size_outside_the_engines_is_refused_before_the_detector_or_engines(
    engine_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_detector(*_a: object, **_k: object) -> None:
        raise AssertionError("the detector was loaded before the size was checked")

    monkeypatch.setattr("edgecgl.detect.load_detector", no_detector)
    args = RuntimeArgs(bundle=engine_bundle, to="night", backend="tensorrt", size="64x128")
    with pytest.raises(EdgecglError) as err:
        build_pipeline(args, log_fn=lambda _m: None)
    assert err.value.message == OUTSIDE
    assert "32x64" in (err.value.hint or "") and "--backend onnxruntime" in (err.value.hint or "")
    bundle = load_bundle(engine_bundle)
    for small in [(8, 64), (16, 16)]:  # below the profiles' minimum on one side
        with pytest.raises(EdgecglError, match="outside the TensorRT engines' frame range"):
            select_backend(bundle, "tensorrt", frame_size=small)


@pytest.mark.parametrize("size", [None, (16, 32), (32, 64), (24, 48), (16, 64)])
def test_sizes_inside_the_range_reach_the_engines(engine_bundle: Path, size: tuple[int, int] | None) -> None:
    """The control: the bundle's own size and anything from half of it up pass to the engine loader."""
    with pytest.raises(AssertionError, match="engines loaded"):
        select_backend(load_bundle(engine_bundle), "tensorrt", frame_size=size)


def test_auto_falls_back_and_says_why(engine_bundle: Path) -> None:
    said: list[str] = []
    be = select_backend(load_bundle(engine_bundle), "auto", log=said.append, frame_size=(64, 128))
    assert be.name.startswith("onnxruntime")
    assert any(f"tensorrt: {OUTSIDE}" in line for line in said), said


def test_bench_skips_tensorrt_with_the_same_message(engine_bundle: Path) -> None:
    said: list[str] = []
    opts = BenchOptions(size=(64, 128), repeats=1, warmup=0, only=["tensorrt"], end_to_end=False)
    with pytest.raises(EdgecglError, match="no backend of this bundle can run"):
        bench_bundle(load_bundle(engine_bundle), opts, log=said.append)
    assert any(line.startswith("skip tensorrt") and OUTSIDE in line for line in said), said


def test_sidecars_without_profiles_are_left_to_tensorrt(engine_bundle: Path) -> None:
    """Engines built before the sidecar recorded profiles: no range to check, TensorRT decides."""
    bundle = load_bundle(engine_bundle)  # (the manifest's checksums cover the sidecars)
    for side in engine_bundle.glob("*.engine.json"):
        data = json.loads(side.read_text())
        side.write_text(json.dumps({k: v for k, v in data.items() if k != "profiles"}))
    with pytest.raises(AssertionError, match="engines loaded"):
        select_backend(bundle, "tensorrt", frame_size=(64, 128))
