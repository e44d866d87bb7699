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
        self.module.Runtime = self._runtime

    @staticmethod
    def _runtime(*a: object) -> object:
        raise AssertionError("a mismatched engine must be refused before it is deserialized")


@pytest.fixture
def engine_bundle(tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The tiny bundle with engines recorded for every role, built on an 'Orin' with TensorRT 10.3.0."""
    import torch

    b = load_bundle(tiny_bundle)
    b.root = tmp_path  # engines and sidecars live here; the ONNX files stay where they are
    for role, entry in b.manifest["models"].items():
        entry["engine"] = f"{role}.fp32.engine"
        (tmp_path / entry["engine"]).write_bytes(b"plan")
        side = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7"}
        (tmp_path / f"{entry['engine']}.json").write_text(json.dumps(side))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Orin")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: (8, 7))
    monkeypatch.setattr(torch.cuda, "device", lambda *_: contextlib.nullcontext())
    return b


@pytest.mark.parametrize(
    ("trt_version", "gpu", "cap", "fragment"),
    [
        ("10.13.0", "Orin", (8, 7), "TensorRT 10.3.0 (this machine has 10.13.0)"),
        ("10.3.0", "NVIDIA H100 80GB HBM3", (9, 0), "GPU Orin sm 8.7 (this is NVIDIA H100 80GB HBM3 sm 9.0)"),
    ],
)
def test_engine_for_another_gpu_or_tensorrt_is_refused(
    engine_bundle,
    monkeypatch: pytest.MonkeyPatch,
    trt_version: str,
    gpu: str,
    cap: tuple[int, int],
    fragment: str,
) -> None:
    import sys

    import torch

    from edgecgl.backends.tensorrt import TensorRTBackend

    monkeypatch.setitem(sys.modules, "tensorrt", _NeverDeserialize(trt_version).module)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: gpu)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: cap)
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
