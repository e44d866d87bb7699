"""INT8 on ONNX Runtime's CPU provider: an --int8 export writes a QOperator U8S8 graph per per-frame role
(``cpu_file``), the onnxruntime backend runs it on the CPU, and ``edgecgl bench`` offers it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from edgecgl.calib.quantize import cpu_float_nodes, cpu_int8_violations, excluded_nodes
from edgecgl.calib.sample import CalibSet, save_calib

from edgecgl.backends.onnxruntime import OnnxRuntimeBackend, cpu_graph, has_cpu_int8
from edgecgl.bench import PER_FRAME_ROLES, precision_view, variants
from edgecgl.bundle import load_bundle
from edgecgl.compose import to_nchw
from tests.runtime_helpers import FRAME, INSTANCE, clip_frames


@pytest.fixture(scope="module", params=["reflect", "replicate"])
def int8_bundle(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """reflect: the decoder as trained; replicate: exported in the sub-pixel form (DepthToSpace)."""
    from edgecgl.export.bundle import write_bundle
    from edgecgl.export.toy import make_toy_checkpoint

    root = tmp_path_factory.mktemp("cpu_int8")
    frames = np.stack(clip_frames(8, FRAME))
    crops = frames[:, : INSTANCE[0], : INSTANCE[1]].copy()
    dom = np.arange(8, dtype=np.int64) % 4
    calib = save_calib(root / "calib.npz", CalibSet(frames, dom, crops, dom, {"source": "test"}))
    ckpt = make_toy_checkpoint(root / "model.pt", "tiny", FRAME, INSTANCE, seed=0, padding=request.param)
    return write_bundle(ckpt, root / "b8", "int8", "onnxslim", calib=calib, pt2=False)


def test_export_writes_a_cpu_graph_per_int8_role(int8_bundle: Path) -> None:
    b = load_bundle(int8_bundle)
    int8_roles = [r for r, e in b.manifest["models"].items() if e.get("precision") == "int8"]
    assert "generator" in int8_roles and "content_encoder" in int8_roles
    assert set(int8_roles) <= set(PER_FRAME_ROLES)
    for role in int8_roles:
        e = b.manifest["models"][role]
        assert e["cpu_file"] == f"{role}.int8-cpu.onnx" and e["cpu_file"] in b.manifest["files"]
        m = onnx.load(str(int8_bundle / e["cpu_file"]))
        fp32 = onnx.load(str(int8_bundle / e["fp32"]))
        assert cpu_int8_violations(m, fp32) == []
        ops = [n.op_type for n in m.graph.node]
        keep = set(cpu_float_nodes(fp32))
        quantizable = [n for n in fp32.graph.node if n.op_type == "Conv" and n.name not in keep]
        assert quantizable and ops.count("QLinearConv") == len(quantizable)
        assert ops.count("Conv") == sum(n.op_type == "Conv" for n in fp32.graph.node) - len(quantizable)
        assert ops.count("InstanceNormalization") == sum(
            n.op_type == "InstanceNormalization" for n in fp32.graph.node
        )
    assert has_cpu_int8(b)


def test_cpu_graph_keeps_the_last_stage_float(int8_bundle: Path) -> None:
    """The generator's CPU graph keeps float the convolutions that feed the conv to RGB (their uint8
    output rounding reaches the pixels), and only those beyond ``excluded_nodes``: the residual blocks and
    the first up stage stay int8, and the content encoder has no such stage."""
    fp32 = onnx.load(str(int8_bundle / "generator.onnx"))
    extra = [n for n in cpu_float_nodes(fp32) if n not in set(excluded_nodes(fp32))]
    assert extra and all("/decoder/up/up.1/" in n for n in extra), extra
    up1 = {n.name for n in fp32.graph.node if n.op_type == "Conv" and "/decoder/up/up.1/" in n.name}
    assert set(extra) == up1 - set(excluded_nodes(fp32))
    enc = onnx.load(str(int8_bundle / "content_encoder.onnx"))
    assert cpu_float_nodes(enc) == excluded_nodes(enc)
    cpu = onnx.load(str(int8_bundle / "generator.int8-cpu.onnx"))
    assert {n.name for n in cpu.graph.node if n.op_type == "Conv"} >= set(extra)


def test_checker_catches_a_float_conv(int8_bundle: Path) -> None:
    fp32 = onnx.load(str(int8_bundle / "generator.onnx"))
    bad = cpu_int8_violations(fp32, fp32)  # nothing quantized
    assert bad and all("is not a QLinearConv" in x for x in bad)


def test_cpu_backend_runs_the_cpu_graph_close_to_fp32(int8_bundle: Path) -> None:
    b = load_bundle(int8_bundle)
    assert cpu_graph(b, b.model_path("generator")).name == "generator.int8-cpu.onnx"
    fp32_path = precision_view(b, "fp32").model_path("generator")
    assert cpu_graph(b, fp32_path) == fp32_path  # FP32 files are never swapped
    be8 = OnnxRuntimeBackend(b, "cpu", threads=1)
    assert {Path(k).name for k in be8._sessions} >= {
        "generator.int8-cpu.onnx",
        "content_encoder.int8-cpu.onnx",
    }
    be32 = OnnxRuntimeBackend(precision_view(b, "fp32"), "cpu", threads=1)
    x = to_nchw(np.stack(clip_frames(2, FRAME)))
    style = np.stack([b.style(d) for d in b.domains[:2]]).astype(np.float32)
    dom = np.eye(len(b.domains), dtype=np.float32)[:2]
    y8 = be8.generate(be8.encode_content(x), style, dom)
    y32 = be32.generate(be32.encode_content(x), style, dom)
    assert y8.shape == y32.shape
    mse = float(np.mean(((y8 - y32) * 127.5) ** 2))
    assert 10 * np.log10(255**2 / max(mse, 1e-12)) > 20  # a random-init toy: loose, but a broken scale fails


def test_bench_offers_cpu_int8_only_with_the_cpu_graph(int8_bundle: Path) -> None:
    b = load_bundle(int8_bundle)
    vs = {v.label: v for v in variants(b, threads=1)}
    assert vs["onnxruntime-cpu int8"].skipped is None
    m = json.loads(json.dumps(b.manifest))
    for e in m["models"].values():
        e.pop("cpu_file", None)  # a bundle exported before the CPU graph existed
    old = dataclasses.replace(b, manifest=m)
    assert not has_cpu_int8(old)
    skip = {v.label: v for v in variants(old, threads=1)}["onnxruntime-cpu int8"].skipped
    assert skip and "TensorRT Q/DQ" in skip and "edgecgl export --int8" in skip


def test_benchmark_sees_int8_kernels_run(int8_bundle: Path, tmp_path: Path) -> None:
    """benchmarks/int8.py's profile count: the CPU graph and the ORT-fused QDQ U8S8 graph run one
    QLinearConv per quantized convolution; the TensorRT Q/DQ graph runs none."""
    from benchmarks.int8 import ROLES, Pair, alternative, kernels

    b = load_bundle(int8_bundle)
    quantized = 0
    for r in ROLES:
        fp32 = onnx.load(str(int8_bundle / b.manifest["models"][r]["fp32"]))
        keep = set(cpu_float_nodes(fp32))
        quantized += sum(n.op_type == "Conv" and n.name not in keep for n in fp32.graph.node)
    x = to_nchw(np.stack(clip_frames(1, FRAME)))
    graphs = {
        "cpu": {r: cpu_graph(b, b.root / b.manifest["models"][r]["file"]) for r in ROLES},
        "qdq-u8": alternative(b, int8_bundle.parent / "calib.npz", "QDQ", "u8"),
        "trt": {r: b.root / b.manifest["models"][r]["file"] for r in ROLES},
    }
    counts = {}
    for name, paths in graphs.items():
        pair = Pair(paths, b, 1, profile=str(tmp_path / name))
        for d in b.domains[:2]:
            pair(x, d)
        counts[name] = kernels(pair, 2)["conv_kernels_per_frame"]
    assert counts["cpu"]["QLinearConv"] == quantized == counts["qdq-u8"]["QLinearConv"]
    assert "QLinearConv" not in counts["trt"] and counts["trt"]["Conv"] == quantized + counts["cpu"]["Conv"]


def test_benchmark_cache_key_is_per_checkpoint(tmp_path: Path) -> None:
    from benchmarks.int8 import cache_key

    # two bare model files in one folder once shared a key, so the second run measured the first's bundle
    a, b = tmp_path / "small-model.pt", tmp_path / "paper-model.pt"
    run_a = tmp_path / "x" / "runs" / "000-realfog" / "checkpoints" / "model.pt"
    run_b = tmp_path / "y" / "runs" / "000-realfog" / "checkpoints" / "model.pt"
    keys = {cache_key(p) for p in (a, b, run_a, run_b)}
    assert len(keys) == 4
    assert cache_key(a).startswith("small-model-") and cache_key(run_a).startswith("000-realfog-")
    assert cache_key(a) == cache_key(tmp_path / "." / "small-model.pt")  # same file, same key


def test_benchmark_can_quantize_the_last_stage_as_before(int8_bundle: Path) -> None:
    """benchmarks/int8.py --last-stage-int8 (and the int8 sheet) compare against the graph the export
    shipped before: the same CPU graph with the generator's last stage as QLinearConv too."""
    from benchmarks.int8 import alternative

    b = load_bundle(int8_bundle)
    fp32 = onnx.load(str(int8_bundle / "generator.onnx"))
    last = [n for n in cpu_float_nodes(fp32) if n not in set(excluded_nodes(fp32))]
    before = alternative(b, int8_bundle.parent / "calib.npz", "QOperator", "u8", last_stage_int8=True)
    now = onnx.load(str(int8_bundle / "generator.int8-cpu.onnx"))
    old = onnx.load(str(before["generator"]))
    count = lambda m: sum(n.op_type == "QLinearConv" for n in m.graph.node)  # noqa: E731
    assert count(old) == count(now) + len(last)
    assert {f"{n}_quant" for n in last} <= {n.name for n in old.graph.node if n.op_type == "QLinearConv"}
