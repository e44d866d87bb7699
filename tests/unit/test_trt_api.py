"""The TensorRT builder and runtime call sequences, run against fake ``tensorrt`` modules built from NVIDIA's
API name index (shared/trt-api) for 8.5, 8.6, 10.3, 10.13, 10.16 and 11.1.

A fake object only has the members its version's bindings define: touching anything else raises, and
every access is recorded and checked against the index. This proves the calls exist on each version's
path; it says nothing about numerics (the real builds are the ``trt``-marked tests).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from edgecgl.export.tensorrt import SUPPORTED, build_engine, plan_for, profile_shapes

from edgecgl.backends.tensorrt import EngineRunner, _torch_dtype, check_sidecar
from edgecgl.errors import EdgecglError

REPO = Path(__file__).resolve().parents[2]
_SHARED = Path(os.environ["EDGECGL_ASSETS"]).parent if os.environ.get("EDGECGL_ASSETS") else REPO.parent / "shared"
INDEX_DIR = Path(os.environ.get("EDGECGL_TRT_API", _SHARED / "trt-api"))


def load_index(version: str) -> dict[str, set[str]]:
    path = INDEX_DIR / f"tensorrt-{version}.txt"
    if not path.is_file():
        pytest.skip(f"TensorRT API index {path} is not available")
    out: dict[str, set[str]] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#") or ":" not in line:
            continue
        cls, _, members = line.partition(":")
        out[cls.strip()] = set(members.split())
    return out


class FakeTRT:
    """A ``tensorrt`` module stand-in: classes and enums with exactly the indexed member names."""

    def __init__(self, version: str, norm_layer: bool = True) -> None:
        self.__version__ = f"{version}.0"
        self._index = load_index(version)
        self._log: list[tuple[str, str]] = []
        self._norm_layer = norm_layer
        self._inputs = ["image"]  # the parsed ONNX's input names

    def __getattr__(self, cls: str) -> Any:
        if cls.startswith("_"):
            raise AttributeError(cls)
        if cls not in self._index:
            raise AttributeError(f"tensorrt {self.__version__} has no {cls}")
        return FakeClass(self, cls)

    def touched(self) -> set[tuple[str, str]]:
        return set(self._log)


class FakeClass:
    def __init__(self, trt: FakeTRT, cls: str) -> None:
        self._trt, self._cls = trt, cls

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        members = self._trt._index[self._cls]
        if name not in members:
            raise AttributeError(f"tensorrt {self._trt.__version__}: {self._cls}.{name} does not exist")
        self._trt._log.append((self._cls, name))
        return sorted(members).index(name)  # enum members as distinct ints

    def __call__(self, *args: Any) -> FakeObj:
        return FakeObj(self._trt, self._cls)


# (class, member) -> what calling it returns (a class name means a new FakeObj of that class)
RETURNS: dict[tuple[str, str], Any] = {
    ("Builder", "create_network"): "INetworkDefinition",
    ("Builder", "create_builder_config"): "IBuilderConfig",
    ("Builder", "create_optimization_profile"): "IOptimizationProfile",
    ("Builder", "build_serialized_network"): "IHostMemory",
    ("IBuilderConfig", "create_timing_cache"): "ITimingCache",
    ("IBuilderConfig", "get_timing_cache"): "ITimingCache",
    ("ITimingCache", "serialize"): "IHostMemory",
    ("Runtime", "deserialize_cuda_engine"): "ICudaEngine",
    ("ICudaEngine", "create_execution_context"): "IExecutionContext",
    ("IExecutionContext", "execute_async_v3"): True,
}
IO = {"image": (1, 3, 16, 16), "content": (1, 8, 4, 4)}


class FakeObj:
    def __init__(self, trt: FakeTRT, cls: str) -> None:
        object.__setattr__(self, "_trt", trt)
        object.__setattr__(self, "_cls", cls)

    def _check(self, name: str) -> None:
        if name not in self._trt._index.get(self._cls, set()):
            raise AttributeError(f"tensorrt {self._trt.__version__}: {self._cls}.{name} does not exist")
        self._trt._log.append((self._cls, name))

    def __setattr__(self, name: str, value: Any) -> None:
        self._check(name)

    def __bytes__(self) -> bytes:
        return b"fake-" + self._cls.encode()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self._check(name)
        trt, cls = self._trt, self._cls
        if (cls, name) in RETURNS:
            ret = RETURNS[(cls, name)]
            return lambda *a, **k: FakeObj(trt, ret) if isinstance(ret, str) else ret
        props: dict[tuple[str, str], Any] = {
            ("INetworkDefinition", "num_layers"): 2,
            ("INetworkDefinition", "num_inputs"): len(trt._inputs),
            ("OnnxParser", "num_errors"): 0,
            ("ICudaEngine", "num_io_tensors"): 2,
            ("ILayer", "num_outputs"): 1,
        }
        if (cls, name) == ("OnnxParser", "parse_from_file"):
            return lambda path: _parse(trt, Path(path))
        if (cls, name) in props:
            return props[(cls, name)]
        if (cls, name) == ("INetworkDefinition", "get_layer"):
            return lambda i: FakeLayer(
                trt, "/net/InstanceNormalization" if i and trt._norm_layer else f"/net/Conv_{i}"
            )
        if (cls, name) == ("INetworkDefinition", "get_input"):
            return lambda i: FakeTensor(trt, trt._inputs[i])
        if (cls, name) == ("ICudaEngine", "get_tensor_name"):
            return lambda i: ["image", "content"][i]
        if (cls, name) == ("ICudaEngine", "get_tensor_mode"):
            return lambda n: getattr(FakeClass(trt, "TensorIOMode"), "INPUT" if n == "image" else "OUTPUT")
        if (cls, name) == ("ICudaEngine", "get_tensor_dtype"):
            return lambda n: FakeClass(trt, "DataType").FLOAT
        if (cls, name) == ("ICudaEngine", "get_tensor_profile_shape"):
            return lambda n, p: [(1, 3, 8, 8), (1, 3, 16, 16), (2, 3, 32, 32)]
        if (cls, name) == ("IExecutionContext", "get_tensor_shape"):
            return lambda n: IO[n]
        return lambda *a, **k: None


class FakeLayer(FakeObj):
    def __init__(self, trt: FakeTRT, name: str) -> None:
        super().__init__(trt, "ILayer")
        object.__setattr__(self, "_name", name)

    def __getattr__(self, name: str) -> Any:
        if name == "name":
            self._check(name)
            return self._name
        if name == "type":
            self._check(name)
            return -1
        return super().__getattr__(name)


class FakeTensor(FakeObj):
    def __init__(self, trt: FakeTRT, name: str) -> None:
        super().__init__(trt, "ITensor")
        object.__setattr__(self, "_name", name)

    def __getattr__(self, name: str) -> Any:
        if name == "name":
            self._check(name)
            return self._name
        return super().__getattr__(name)


def _parse(trt: FakeTRT, path: Path) -> bool:
    if path.is_file():
        import onnx

        trt._inputs = [i.name for i in onnx.load(str(path), load_external_data=False).graph.input]
    return True


PROFILE = {"image": ((1, 3, 8, 8), (1, 3, 16, 16), (2, 3, 32, 32))}


@pytest.mark.parametrize("version", SUPPORTED)
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_builder_touches_only_what_the_version_has(version: str, precision: str) -> None:
    trt = FakeTRT(version)
    plan = plan_for(version, precision)
    engine, cache = build_engine(trt, Path("model.onnx"), plan, PROFILE, 1 << 20, b"")
    assert engine == b"fake-IHostMemory" and cache == b"fake-IHostMemory"
    index = load_index(version)
    touched = trt.touched()
    assert all(m in index[c] for c, m in touched)
    assert ("Builder", "build_serialized_network") in touched
    assert ("IBuilderConfig", "set_timing_cache") in touched
    assert ("IOptimizationProfile", "set_shape") in touched
    if plan.pin_norms:
        assert ("ILayer", "precision") in touched and ("ILayer", "set_output_type") in touched


def test_plans_follow_the_version_rules() -> None:
    for v in ("8.5", "8.6"):
        p = plan_for(v, "fp16")
        assert p.network_flags == ("EXPLICIT_BATCH",) and "FP16" in p.builder_flags and p.pin_norms
        assert "INT8" in plan_for(v, "int8").builder_flags
        assert plan_for(v, "fp32").builder_flags == ()
    for v in ("10.3", "10.13", "10.16"):
        assert plan_for(v, "fp16").strongly_typed and plan_for(v, "fp16").builder_flags == ()
        assert not plan_for(v, "int8").strongly_typed and plan_for(v, "int8").pin_norms
    for prec in ("fp32", "fp16", "int8"):
        p = plan_for("11.1", prec)
        assert p.strongly_typed and p.builder_flags == () and not p.pin_norms
    with pytest.raises(EdgecglError, match="too old"):
        plan_for("8.4.3", "fp32")


def test_the_fake_rejects_what_a_version_lacks() -> None:
    """An 8.x recipe on TensorRT 11 must fail: EXPLICIT_BATCH and the FP16 flag are gone."""
    with pytest.raises(AttributeError, match="EXPLICIT_BATCH"):
        build_engine(FakeTRT("11.1"), Path("m.onnx"), plan_for("8.5", "fp16"), PROFILE)
    with pytest.raises(AttributeError, match="STRONGLY_TYPED"):
        build_engine(FakeTRT("8.6"), Path("m.onnx"), plan_for("10.3", "fp16"), PROFILE)


@pytest.mark.parametrize("version", SUPPORTED)
def test_runtime_touches_only_what_the_version_has(version: str) -> None:
    trt = FakeTRT(version)
    runner = EngineRunner(trt, b"plan", "content_encoder.engine")
    assert runner.inputs == ["image"] and runner.outputs == ["content"]
    shapes = runner.set_inputs({"image": (1, 3, 16, 16)}, {"image": 1234})
    assert shapes == {"content": IO["content"]}
    runner.set_outputs({"content": 5678})
    runner.enqueue(0)
    with pytest.raises(EdgecglError, match="outside the engine's profile"):
        runner.set_inputs({"image": (4, 3, 16, 16)}, {"image": 1})
    for dt in ("FLOAT", "HALF", "INT32", "INT8", "BOOL"):
        _torch_dtype(trt, torch, getattr(trt.DataType, dt))
    index = load_index(version)
    touched = trt.touched()
    assert all(m in index[c] for c, m in touched)
    for call in ("num_io_tensors", "get_tensor_name", "get_tensor_mode"):
        assert ("ICudaEngine", call) in touched
    for call in ("set_input_shape", "set_tensor_address", "execute_async_v3"):
        assert ("IExecutionContext", call) in touched


def test_sidecar_mismatch_says_to_rebuild() -> None:
    side = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7"}
    check_sidecar(side, "10.3.0", "Orin", "8.7", "g.engine")
    with pytest.raises(EdgecglError, match="edgecgl export --engine") as e:
        check_sidecar(side, "10.13.0", "Orin", "8.7", "g.engine")
    assert "TensorRT 10.3.0" in str(e.value)
    with pytest.raises(EdgecglError, match="GPU Orin sm 8.7"):
        check_sidecar(side, "10.3.0", "NVIDIA H100", "9.0", "g.engine")


def test_profiles_come_from_the_bundle_resolutions() -> None:
    m = {"resolution": {"frame": [256, 512], "instance": [128, 128]}, "content_channels": 256, "style_dim": 8}
    m |= {"domains": ["a", "b", "c", "d"], "stride": 4}
    img = profile_shapes(m, "content_encoder")["image"]
    assert img == ((1, 3, 128, 256), (1, 3, 256, 512), (2, 3, 256, 512))
    gen = profile_shapes(m, "generator")
    assert gen["content"][0] == (1, 256, 16, 16) and gen["content"][1] == (1, 256, 64, 128)
    assert gen["style"] == ((1, 8), (1, 8), (16, 8)) and gen["domain"][2] == (16, 4)
    inst = profile_shapes(m, "style_encoder_instance")
    assert inst["image"][2] == (16, 3, 128, 128) and inst["domain"][0] == (1, 4)


def test_build_bundle_engines_writes_sidecars_and_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundle-level flow with the fake 10.3 module: engines, sidecars, checksums all recorded."""
    from edgecgl.export.bundle import write_bundle
    from edgecgl.export.tensorrt import build_bundle_engines
    from edgecgl.export.toy import make_toy_checkpoint

    from edgecgl.bundle import load_bundle

    monkeypatch.setenv("EDGECGL_CACHE", str(tmp_path / "cache"))
    ckpt = make_toy_checkpoint(tmp_path / "m.pt", share_encoders=True)
    b = write_bundle(ckpt, tmp_path / "b", precision="fp16", pt2=False)
    built = build_bundle_engines(b, trt=FakeTRT("10.3"))
    assert {p.name for p in built} == {
        f"{r}.fp16.engine" for r in ("content_encoder", "style_encoder", "generator")
    }
    side = json.loads((b / "generator.fp16.engine.json").read_text())
    assert (
        side["tensorrt"] == "10.3.0"
        and side["precision"] == "fp16"
        and side["plan"]["network_flags"] == ["STRONGLY_TYPED"]
    )
    loaded = load_bundle(b)
    assert loaded.manifest["models"]["generator"]["engine"] == "generator.fp16.engine"
    assert "generator.fp16.engine.json" in loaded.manifest["files"]
    assert list((tmp_path / "cache").glob("trt-timing-10.3.0-*.cache"))
    with pytest.raises(EdgecglError, match="already exists"):
        build_bundle_engines(b, trt=FakeTRT("10.3"))
