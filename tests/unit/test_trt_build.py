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


def test_frames_and_crops_alternate_under_cuda_graphs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 items 3, 6, 7: a shared-encoder bundle runs frames and crop batches on their own profiles;
    with CUDA graphs each (role, shapes) is captured once and replays match ONNX Runtime."""
    from edgecgl.export.bundle import write_bundle
    from edgecgl.export.tensorrt import build_bundle_engines
    from edgecgl.export.toy import make_toy_checkpoint

    from edgecgl.backends.onnxruntime import OnnxRuntimeBackend
    from edgecgl.backends.tensorrt import TensorRTBackend
    from edgecgl.bundle import load_bundle

    monkeypatch.setenv("EDGECGL_CACHE", str(tmp_path / "cache"))
    ckpt = make_toy_checkpoint(tmp_path / "m.pt", frame_size=(64, 96), share_encoders=True)
    b = write_bundle(ckpt, tmp_path / "b", precision="fp16", pt2=False)
    build_bundle_engines(b)
    bundle = load_bundle(b)
    trt_b, ort_b = TensorRTBackend(bundle, cuda_graphs=True), OnnxRuntimeBackend(bundle)
    rng = np.random.default_rng(0)
    inputs = {"global": rng.uniform(-1, 1, (1, 3, 64, 96)), "instance": rng.uniform(-1, 1, (3, 3, 32, 32))}
    for _ in range(3):
        for gran, img in inputs.items():
            img = img.astype(np.float32)
            n = len(img)
            style = np.repeat(bundle.style("night")[None], n, 0)
            dom = np.repeat(np.eye(4, dtype=np.float32)[[1]], n, 0)
            out_t = trt_b.generate(trt_b.encode_content(img, gran), style, dom)
            out_o = ort_b.generate(ort_b.encode_content(img, gran), style, dom)
            assert out_t.shape == out_o.shape == (n, 3, img.shape[2], img.shape[3])
            assert np.abs(out_t - out_o).max() < TOL["fp16"]
    assert len(trt_b._graphs) == 4  # content encoder and generator, each for frames and (padded) crops


def test_int8_engine_builds_strongly_typed_and_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15 item 4: the INT8 bundle's engines build (Q/DQ + FP16 graph on 10.x/11.x) and stay close to
    ONNX Runtime on the same INT8 graph (loose: a random-init model, INT8 kernels differ)."""
    import cv2
    from edgecgl.calib.sample import sample_calibration, save_calib
    from edgecgl.export.bundle import write_bundle
    from edgecgl.export.tensorrt import build_bundle_engines
    from edgecgl.export.toy import make_toy_checkpoint

    from edgecgl.backends.onnxruntime import OnnxRuntimeBackend
    from edgecgl.backends.tensorrt import TensorRTBackend
    from edgecgl.bench import _test_frame
    from edgecgl.bundle import load_bundle

    monkeypatch.setenv("EDGECGL_CACHE", str(tmp_path / "cache"))
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(8):
        cv2.imwrite(str(frames / f"f{i}.png"), _test_frame((128, 192), seed=i))
    calib = save_calib(
        tmp_path / "c.npz", sample_calibration(frames, n=8, size=(64, 96), instance_size=(32, 32))
    )
    ckpt = make_toy_checkpoint(tmp_path / "m.pt", frame_size=(64, 96))
    b = write_bundle(ckpt, tmp_path / "b", precision="int8", calib=calib, pt2=False)
    built = build_bundle_engines(b)
    assert any(p.name == "generator.int8.engine" for p in built)
    bundle = load_bundle(b)
    trt_b, ort_b = TensorRTBackend(bundle), OnnxRuntimeBackend(bundle)
    img = np.random.default_rng(1).uniform(-1, 1, (1, 3, 64, 96)).astype(np.float32)
    style, dom = bundle.style("night")[None], np.eye(4, dtype=np.float32)[[1]]
    out_t = trt_b.generate(trt_b.encode_content(img), style, dom)
    out_o = ort_b.generate(ort_b.encode_content(img), style, dom)
    assert out_t.shape == out_o.shape and np.isfinite(out_t).all()
    assert np.abs(out_t - out_o).mean() < 0.1
