"""Real TensorRT builds and runs (skip where TensorRT or CUDA is absent): engines match ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.trt, pytest.mark.gpu]

# FP16 engines: image error bound as for ORT FP16 (see test_export_fp16), doubled for kernel differences.
TOL = {"fp32": 1e-3, "fp16": 2e-2}


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_matches_onnxruntime(precision: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgecgl.export.bundle import write_bundle
    from edgecgl.export.tensorrt import build_bundle_engines
    from edgecgl.export.toy import make_toy_checkpoint

    from edgecgl.backends.onnxruntime import OnnxRuntimeBackend
    from edgecgl.backends.tensorrt import TensorRTBackend
    from edgecgl.bundle import load_bundle

    monkeypatch.setenv("EDGECGL_CACHE", str(tmp_path / "cache"))
    ckpt = make_toy_checkpoint(tmp_path / "m.pt", frame_size=(64, 96))
    b = write_bundle(ckpt, tmp_path / "b", precision=precision, pt2=False)
    build_bundle_engines(b)
    bundle = load_bundle(b)
    trt_b, ort_b = TensorRTBackend(bundle, cuda_graphs=True), OnnxRuntimeBackend(bundle)
    rng = np.random.default_rng(0)
    img = rng.uniform(-1, 1, (1, 3, 64, 96)).astype(np.float32)
    dom = np.eye(4, dtype=np.float32)[[1]]
    for _ in range(2):  # the second call replays the captured CUDA graph
        c_t, c_o = trt_b.encode_content(img), ort_b.encode_content(img)
        style = bundle.style("night")[None]
        out_t, out_o = trt_b.generate(c_t, style, dom), ort_b.generate(c_o, style, dom)
        assert out_t.shape == out_o.shape == (1, 3, 64, 96)
        assert np.abs(out_t - out_o).max() < TOL[precision]
