"""An engine built for another GPU or TensorRT version is refused before TensorRT touches it (issue 9).

Runs without a GPU: a stand-in ``tensorrt`` module and a pretend CUDA device drive the real
``TensorRTBackend`` up to the sidecar check, which must name both sides and the rebuild command.
"""

from __future__ import annotations

import contextlib
import json
import types
from pathlib import Path

import pytest

from edgecgl.bundle import load_bundle
from edgecgl.errors import EdgecglError


class _NeverDeserialize:
    """A ``tensorrt`` stand-in whose Runtime fails the test if the mismatched engine is ever loaded."""

    def __init__(self, version: str) -> None:
        self.module = types.ModuleType("tensorrt")
        self.module.__version__ = version
        self.module.Logger = lambda *a: object()
        self.module.init_libnvinfer_plugins = lambda *a: True
        self.module.Runtime = self._runtime

    @staticmethod
    def _runtime(*a: object) -> object:
        raise AssertionError("a mismatched engine must be refused before it is deserialized")


ORIN = {"gpu": "Orin", "compute_capability": "8.7", "sm_count": "16", "memory_gib": "30", "l4t": "36.4.3"}
H100 = {
    "gpu": "NVIDIA H100 80GB HBM3",
    "compute_capability": "9.0",
    "sm_count": "132",
    "memory_gib": "79",
    "l4t": "",
}


@pytest.fixture
def engine_bundle(tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The tiny bundle with engines recorded for every role, built on an 'Orin' with TensorRT 10.3.0."""
    import torch

    b = load_bundle(tiny_bundle)
    b.root = tmp_path  # engines and sidecars live here; the ONNX files stay where they are
    for role, entry in b.manifest["models"].items():
        entry["engine"] = f"{role}.fp32.engine"
        (tmp_path / entry["engine"]).write_bytes(b"plan")
        side = {"tensorrt": "10.3.0", **ORIN}
        (tmp_path / f"{entry['engine']}.json").write_text(json.dumps(side))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device", lambda *_: contextlib.nullcontext())
    monkeypatch.setattr("edgecgl.backends.tensorrt.device_identity", lambda *_: dict(ORIN))
    return b


@pytest.mark.parametrize(
    ("trt_version", "identity", "fragment"),
    [
        ("10.13.0", ORIN, "TensorRT 10.3.0 (this machine has 10.13.0)"),
        (
            "10.3.0",
            H100,
            "gpu Orin (this GPU: NVIDIA H100 80GB HBM3); compute_capability 8.7 (this GPU: 9.0)",
        ),
        # every Orin module is sm_87: an AGX Orin engine on an Orin Nano differs in SMs and memory
        ("10.3.0", ORIN | {"sm_count": "8", "memory_gib": "7"}, "sm_count 16 (this GPU: 8)"),
    ],
)
def test_engine_for_another_gpu_or_tensorrt_is_refused(
    engine_bundle,
    monkeypatch: pytest.MonkeyPatch,
    trt_version: str,
    identity: dict[str, str],
    fragment: str,
) -> None:
    import sys

    from edgecgl.backends.tensorrt import TensorRTBackend

    monkeypatch.setitem(sys.modules, "tensorrt", _NeverDeserialize(trt_version).module)
    monkeypatch.setattr("edgecgl.backends.tensorrt.device_identity", lambda *_: dict(identity))
    with pytest.raises(EdgecglError) as err:
        TensorRTBackend(engine_bundle)
    text = str(err.value)
    assert fragment in text and "edgecgl export --engine BUNDLE" in text


def test_matching_engine_passes_the_check(engine_bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: same GPU and version get past the sidecar check (to the deserializer)."""
    import sys

    from edgecgl.backends.tensorrt import TensorRTBackend

    monkeypatch.setitem(sys.modules, "tensorrt", _NeverDeserialize("10.3.0").module)
    with pytest.raises(AssertionError, match="before it is deserialized"):
        TensorRTBackend(engine_bundle)


def test_missing_sidecar_is_refused(engine_bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from edgecgl.backends.tensorrt import TensorRTBackend

    for side in engine_bundle.root.glob("*.engine.json"):
        side.unlink()
    monkeypatch.setitem(sys.modules, "tensorrt", _NeverDeserialize("10.3.0").module)
    with pytest.raises(EdgecglError, match="missing .* or its sidecar"):
        TensorRTBackend(engine_bundle)
