"""TensorRT on a whole bundle without a GPU (issue 15 items 3, 6, 7, 8): engines and sidecars per role
(the upsampler included), the GPU identity that guards an engine, and the CUDA-graph cache of the
backend, run with fake ``tensorrt`` (from the real bindings) and a fake ``torch.cuda``."""

from __future__ import annotations

import contextlib
import ctypes
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from edgecgl.backends import device_id
from edgecgl.backends.device_id import device_identity, identity_from_driver, l4t_release
from edgecgl.backends.tensorrt import EngineRunner, TensorRTBackend, check_sidecar, padded_batch
from edgecgl.errors import EdgecglError
from tests.unit.trt_fake import FakeTRT

ORIN_NANO = {"gpu": "Orin", "compute_capability": "8.7", "sm_count": "8", "memory_gib": "7", "l4t": "36.4.3"}


def _upsampler_onnx(path: Path) -> None:
    """A stand-in with the upsampler's interface (guide, low_guide, low_image -> image)."""
    ins = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, h, w])
        for n, h, w in (("guide", "H", "W"), ("low_guide", "h", "w"), ("low_image", "h", "w"))
    ]
    out = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])
    nodes = [helper.make_node("Identity", ["guide"], ["image"])]
    model = helper.make_model(
        helper.make_graph(nodes, "up", ins, [out]), opset_imports=[helper.make_opsetid("", 17)]
    )
    onnx.save(model, str(path))


def test_bundle_engines_sidecars_and_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shared-encoder FP16 bundle + an upsampler in the manifest, built with the fake 10.13 module."""
    from edgecgl.export.bundle import write_bundle, write_manifest
    from edgecgl.export.tensorrt import build_bundle_engines
    from edgecgl.export.toy import make_toy_checkpoint

    from edgecgl.bundle import load_bundle

    monkeypatch.setenv("EDGECGL_CACHE", str(tmp_path / "cache"))
    ckpt = make_toy_checkpoint(tmp_path / "m.pt", share_encoders=True)
    b = write_bundle(ckpt, tmp_path / "b", precision="fp16", pt2=False)
    manifest = json.loads((b / "manifest.json").read_text())
    if "upsampler" not in manifest["models"]:
        _upsampler_onnx(b / "upsampler.onnx")
        manifest["models"]["upsampler"] = {
            "file": "upsampler.onnx",
            "precision": "fp32",
            "fp32": "upsampler.onnx",
        }
        write_manifest(b, manifest)
    built = build_bundle_engines(b, trt=FakeTRT("10.13.3.9"), identity=ORIN_NANO)
    roles = {"content_encoder", "style_encoder", "generator", "upsampler"}
    assert {p.name.split(".")[0] for p in built} == roles
    sides = {
        r: json.loads((b / f"{load_bundle(b).manifest['models'][r]['engine']}.json").read_text())
        for r in roles
    }
    for side in sides.values():  # item 8: the full identity, never "unknown"
        assert all(side[k] == v for k, v in ORIN_NANO.items()) and side["tensorrt"] == "10.13.3.9"
        assert side["plan"]["strongly_typed"] and side["plan"]["builder_flags"] == []
    assert list(sides["content_encoder"]["profiles"]) == ["frame", "crops"]  # item 7: shared encoder
    assert list(sides["generator"]["profiles"]) == ["frame", "crops"]  # item 3
    up = sides["upsampler"]["profiles"]
    assert up["output"]["guide"][1] == [1, 3, 720, 1280] and up["output"]["guide"][2] == [1, 3, 1920, 1920]
    assert list(up) == ["output", "crops"]  # the instance crops are guided back by the same engine
    assert list((tmp_path / "cache").glob("trt-timing-10.13.3.9-Orin-8.7-8.cache"))
    with pytest.raises(EdgecglError, match="already exists"):
        build_bundle_engines(b, trt=FakeTRT("10.13.3.9"), identity=ORIN_NANO)


def test_sidecar_identity_refuses_another_module() -> None:
    """Item 8: an AGX Orin engine (same sm_87) is refused on an Orin Nano; so is a sidecar without the SM count."""
    side = {"tensorrt": "10.3.0", **ORIN_NANO}
    check_sidecar(side, "10.3.0", ORIN_NANO, "g.engine")
    agx = ORIN_NANO | {"sm_count": "16", "memory_gib": "30"}
    with pytest.raises(EdgecglError, match="sm_count 8 .this GPU: 16.") as e:
        check_sidecar(side, "10.3.0", agx, "g.engine")
    assert "edgecgl export --engine" in str(e.value)
    with pytest.raises(EdgecglError, match="not recorded"):
        check_sidecar(
            {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7"}, "10.3.0", ORIN_NANO, "g"
        )
    with pytest.raises(EdgecglError, match="l4t"):
        check_sidecar(side, "10.3.0", ORIN_NANO | {"l4t": "36.3.0"}, "g.engine")
    with pytest.raises(EdgecglError, match="TensorRT 10.3.0"):
        check_sidecar(side, "10.13.3.9", ORIN_NANO, "g.engine")


class _FakeDriver:
    """The five CUDA driver calls, answering like an Orin Nano (8 GB module)."""

    def cuInit(self, flags: int) -> int:  # noqa: N802 - the driver's names
        return 0

    def cuDeviceGet(self, ref: Any, ordinal: int) -> int:  # noqa: N802
        ref._obj.value = ordinal
        return 0

    def cuDeviceGetName(self, buf: Any, n: int, dev: Any) -> int:  # noqa: N802
        buf.value = b"Orin"
        return 0

    def cuDeviceGetAttribute(self, ref: Any, attr: int, dev: Any) -> int:  # noqa: N802
        ref._obj.value = {16: 8, 75: 8, 76: 7}[attr]
        return 0

    def cuDeviceTotalMem_v2(self, ref: Any, dev: Any) -> int:  # noqa: N802
        ref._obj.value = int(7.4 * 2**30)
        return 0


def test_identity_from_the_driver_and_l4t(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rel = tmp_path / "nv_tegra_release"
    rel.write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64\n")
    assert l4t_release(rel) == "36.4.3" and l4t_release(tmp_path / "absent") == ""
    monkeypatch.setattr(device_id, "L4T_RELEASE_FILE", rel)
    monkeypatch.setattr(device_id, "l4t_release", lambda path=rel: l4t_release(path))
    assert identity_from_driver(_FakeDriver()) == ORIN_NANO | {"l4t": "36.4.3"}


def test_no_gpu_is_an_error_not_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 8: without a driver and without CUDA torch the old code wrote 'unknown' into the sidecar."""

    def no_driver(name: str) -> None:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_driver)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EdgecglError, match="cannot identify the GPU"):
        device_identity()


class _Graph:
    def __init__(self) -> None:
        self.replays = 0

    def replay(self) -> None:
        self.replays += 1


class _FakeCuda:
    """torch.cuda for the backend's graph path on the CPU: records captures and their mode."""

    def __init__(self) -> None:
        self.graphs: list[_Graph] = []
        self.modes: list[str] = []

    def device(self, d: Any) -> Any:
        return contextlib.nullcontext()

    def stream(self, s: Any) -> Any:
        return contextlib.nullcontext()

    def CUDAGraph(self) -> _Graph:  # noqa: N802 - torch's name
        g = _Graph()
        self.graphs.append(g)
        return g

    def graph(self, g: _Graph, stream: Any = None, capture_error_mode: str = "global") -> Any:
        self.modes.append(capture_error_mode)
        return contextlib.nullcontext()


class _FakeTorch:
    def __init__(self) -> None:
        self.cuda = _FakeCuda()

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)


class _Stream:
    cuda_stream = 99

    def synchronize(self) -> None:
        pass


def _generator_backend() -> tuple[TensorRTBackend, FakeTRT, _FakeTorch]:
    trt = FakeTRT("10.13.3.9")
    trt.io = [("content", True), ("style", True), ("domain", True), ("image", False)]
    frame = {"content": ((1, 8, 8, 16), (1, 8, 16, 32), (2, 8, 16, 32))}
    crops = {"content": ((1, 8, 4, 4), (4, 8, 8, 8), (8, 8, 8, 8))}
    for p in (frame, crops):
        lo, mid, hi = p["content"]
        p["style"] = tuple((s[0], 4) for s in (lo, mid, hi))
        p["domain"] = tuple((s[0], 3) for s in (lo, mid, hi))
    trt.profiles = [frame, crops]
    last: dict[str, tuple[int, ...]] = {}
    trt.script[("IExecutionContext", "set_input_shape")] = lambda n, s: last.__setitem__(n, s) or True
    trt.script[("IExecutionContext", "get_tensor_shape")] = lambda n: (
        last["content"][0],
        3,
        last["content"][2] * 4,
        last["content"][3] * 4,
    )
    be = TensorRTBackend.__new__(TensorRTBackend)
    fake_torch = _FakeTorch()
    be.trt, be.torch, be.device, be.cuda_graphs, be.name = (
        trt,
        fake_torch,
        torch.device("cpu"),
        True,
        "tensorrt",
    )
    be._graphs = {}
    be._runners = {"generator": (EngineRunner(trt, b"plan", "generator.fp16.engine"), _Stream())}
    return be, trt, fake_torch


def _gen(be: TensorRTBackend, batch: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(batch)
    return be.generate(
        rng.standard_normal((batch, 8, h, w)).astype(np.float32),
        rng.standard_normal((batch, 4)).astype(np.float32),
        np.eye(3, dtype=np.float32)[[0] * batch],
    )


def test_cuda_graphs_are_keyed_by_shapes_not_role() -> None:
    """Item 6: frame and crop calls alternate every frame; each shape is captured once, then replayed,
    on a context of its own, in the thread-local capture mode."""
    be, trt, fake_torch = _generator_backend()
    outs = []
    for _ in range(3):  # three video frames: the frame, then its crops (3 and 4 instances: one bucket)
        outs.append(_gen(be, 1, 16, 32))
        outs.append(_gen(be, 3, 8, 8))
        outs.append(_gen(be, 4, 8, 8))
    assert [o.shape for o in outs[:3]] == [(1, 3, 64, 128), (3, 3, 32, 32), (4, 3, 32, 32)]
    cuda = fake_torch.cuda
    assert len(cuda.graphs) == 2, "one capture per (role, shapes)"
    assert sum(g.replays for g in cuda.graphs) == 7
    assert cuda.modes == ["thread_local", "thread_local"]
    assert set(be._graphs) == {
        ("generator", ((1, 8, 16, 32), (1, 4), (1, 3))),
        ("generator", ((4, 8, 8, 8), (4, 4), (4, 3))),
    }
    contexts = [entry[3] for entry in be._graphs.values()]
    assert len({id(c) for c in contexts}) == 2
    runner = be._runners["generator"][0]
    assert not any(c is shared for c in contexts for shared in runner._contexts.values())


def test_padded_batch() -> None:
    assert [padded_batch(n, 8) for n in range(1, 9)] == [1, 2, 4, 4, 8, 8, 8, 8]
    assert padded_batch(3, 3) == 3 and padded_batch(2, 2) == 2


def test_batches_above_every_profile_run_in_chunks() -> None:
    """export --verify sends 8 frames at once; the frame profile takes 2: the backend splits the batch."""
    be, trt, _ = _generator_backend()
    be.cuda_graphs = False
    out = _gen(be, 5, 16, 32)
    assert out.shape == (5, 3, 64, 128)
    batches = [a[1][0] for c, n, a in trt.calls if n == "set_input_shape" and a[0] == "content"]
    assert batches == [2, 2, 1]
    with pytest.raises(EdgecglError, match="outside the engine's profiles"):
        _gen(be, 1, 40, 40)


def test_shapes_without_a_capture_context_run_uncaptured() -> None:
    """Where TensorRT refuses a second context on a profile, those shapes run without a graph (no error)."""
    be, trt, fake_torch = _generator_backend()
    _gen(be, 1, 16, 32)  # the shared frame context exists now; refuse any further profile assignment
    trt.script[("IExecutionContext", "set_optimization_profile_async")] = False
    key = next(iter(be._graphs))
    be._graphs.clear()
    for _ in range(2):
        assert _gen(be, 1, 16, 32).shape == (1, 3, 64, 128)
    assert be._graphs == {key: None} and len(fake_torch.cuda.graphs) == 1
