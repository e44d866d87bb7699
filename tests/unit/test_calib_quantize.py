"""INT8 Q/DQ graphs: symmetric (all zero-points 0), no int32/uint8 dequantize, norms untouched, close to FP32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from edgecgl.calib.quantize import excluded_nodes, qdq_violations, quantize_int8
from edgecgl.export.onnx import Dims, example_inputs, export_onnx
from edgecgl.export.simplify import simplify
from edgecgl.export.verify import ort_session
from edgecgl.train.nets import CGLModel, ModelConfig


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Dims]:
    torch.manual_seed(0)
    model = CGLModel(ModelConfig(preset="tiny")).eval()
    dims = Dims(model.cfg.content_channels, model.cfg.style_dim, model.cfg.n_domains)
    root = tmp_path_factory.mktemp("int8")
    fp32 = export_onnx(model.gen, "generator", root / "g.onnx", example_inputs("generator", dims, (32, 32)))
    onnx.save(simplify(onnx.load(str(fp32)), "onnxslim"), str(fp32))
    batches = []
    for seed in range(4):
        c, s, d = example_inputs("generator", dims, (32, 32), batch=4, seed=seed)
        batches.append({"content": c.numpy(), "style": s.numpy(), "domain": d.numpy()})
    return fp32, quantize_int8(fp32, root / "g.int8.onnx", batches), dims


def test_qdq_graph_follows_tensorrt_rules(quantized: tuple[Path, Path, Dims]) -> None:
    from onnx import TensorProto, numpy_helper

    m = onnx.load(str(quantized[1]))
    assert qdq_violations(m) == []
    inits = {i.name: i for i in m.graph.initializer}
    dq = [n for n in m.graph.node if n.op_type == "DequantizeLinear"]
    assert dq
    for n in dq:
        zp = inits[n.input[2]]
        assert zp.data_type == TensorProto.INT8 and not numpy_helper.to_array(zp).any()
        if n.input[0] in inits:
            assert inits[n.input[0]].data_type == TensorProto.INT8
    convs = [n for n in m.graph.node if n.op_type == "Conv" and n.name not in excluded_nodes(m)]
    per_channel = [n for n in dq if n.input[0] in inits and numpy_helper.to_array(inits[n.input[1]]).size > 1]
    assert per_channel and len(per_channel) >= len(convs), "weights are quantized per channel"
    assert all(len(n.input) < 3 or n.input[2] not in [d.output[0] for d in dq] for n in convs), (
        "bias stays FP32"
    )


def test_norms_see_no_qdq(quantized: tuple[Path, Path, Dims]) -> None:
    m = onnx.load(str(quantized[1]))
    producer = {o: n.op_type for n in m.graph.node for o in n.output}
    norms = [n for n in m.graph.node if n.op_type == "InstanceNormalization"]
    assert norms and all(producer.get(n.input[0]) != "DequantizeLinear" for n in norms)


def test_checker_catches_asymmetric_uint8(quantized: tuple[Path, Path, Dims], tmp_path: Path) -> None:
    """What quantize_static does by default (uint8 activations with zero-points) must be caught."""
    from onnxruntime.quantization import QuantFormat, quantize_static

    fp32, _, dims = quantized
    c, s, d = example_inputs("generator", dims, (32, 32), batch=2)
    feeds = [{"content": c.numpy(), "style": s.numpy(), "domain": d.numpy()}]

    class R:
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self) -> dict | None:
            return next(self.it, None)

    quantize_static(str(fp32), str(tmp_path / "bad.onnx"), R(), quant_format=QuantFormat.QDQ)
    bad = qdq_violations(onnx.load(str(tmp_path / "bad.onnx")))
    assert any("UINT8" in b or "uint8" in b for b in bad)


def test_int8_output_tracks_fp32(quantized: tuple[Path, Path, Dims]) -> None:
    fp32, int8, dims = quantized
    ex = example_inputs("generator", dims, (32, 48), batch=2, seed=9)
    s32, s8 = ort_session(fp32), ort_session(int8)
    feed = {i.name: t.numpy() for i, t in zip(s32.get_inputs(), ex, strict=True)}
    a, b = s32.run(None, feed)[0], s8.run(None, feed)[0]
    err = np.abs(a - b)
    assert 0 < err.mean() < 0.05, err.mean()  # image range [-1, 1]; random-init model, held-out inputs


def test_modelopt_runs_in_its_own_interpreter(
    quantized: tuple[Path, Path, Dims], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ModelOpt path with a stand-in ``modelopt`` package on another interpreter's path: checks the
    process boundary and the arguments we pass, not ModelOpt itself (not installable next to onnx 1.23)."""
    import json
    import sys

    from edgecgl.calib.quantize import quantize_modelopt

    pkg = tmp_path / "fake" / "modelopt" / "onnx" / "quantization"
    pkg.mkdir(parents=True)
    for d in (pkg.parent.parent, pkg.parent):
        (d / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text(
        "import json, shutil\n"
        "def quantize(**kw):\n"
        "    shutil.copy(kw['onnx_path'], kw['output_path'])\n"
        "    kw['calibration_data'] = {k: list(v.shape) for k, v in kw['calibration_data'].items()}\n"
        "    json.dump(kw, open(kw['output_path'] + '.json', 'w'))\n"
    )
    exe = tmp_path / "python"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH={tmp_path / "fake"} exec {sys.executable} "$@"\n')
    exe.chmod(0o755)
    monkeypatch.setenv("EDGECGL_MODELOPT_PYTHON", str(exe))
    fp32, _, dims = quantized
    frames = [
        dict(
            zip(
                ("content", "style", "domain"),
                (t.numpy() for t in example_inputs("generator", dims, (32, 32), 2, s)),
                strict=True,
            )
        )
        for s in range(3)
    ]
    crops = [
        dict(
            zip(
                ("content", "style", "domain"),
                (t.numpy() for t in example_inputs("generator", dims, (16, 16), 2)),
                strict=True,
            )
        )
    ]
    out = quantize_modelopt(fp32, tmp_path / "m.onnx", frames + crops)
    kw = json.loads(Path(str(out) + ".json").read_text())
    assert kw["quantize_mode"] == "int8" and kw["use_zero_point"] is False
    assert kw["op_types_to_exclude"] == ["InstanceNormalization", "Gemm", "MatMul"]
    assert kw["calibration_eps"] == ["cpu"]
    assert kw["nodes_to_exclude"], "the conv to RGB stays unquantized"  # issue 15 item 5
    assert kw["calibration_data"]["content"] == [6, dims.content_channels, 8, 8]  # the frames' shape group


def test_modelopt_absent_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from edgecgl.calib.quantize import modelopt_python

    from edgecgl.errors import EdgecglError

    if importlib.util.find_spec("modelopt") is not None:
        pytest.skip("ModelOpt is installed here")
    monkeypatch.delenv("EDGECGL_MODELOPT_PYTHON", raising=False)
    with pytest.raises(EdgecglError, match="ModelOpt is not installed"):
        modelopt_python()


def test_the_phase_domain_output_conv_stays_float(tmp_path: Path) -> None:
    """The last conv to RGB stays float in its phase-domain form too (4x4 conv to 4 RGB phases), and so do
    the border strips' 7x7 convs; the up-convolutions are quantized."""
    from edgecgl.export.fast_decoder import subpixel_decoder

    torch.manual_seed(0)
    model = CGLModel(ModelConfig(preset="tiny")).eval()
    model.gen.decoder = subpixel_decoder(model.gen.decoder, "reflect")
    dims = Dims(model.cfg.content_channels, model.cfg.style_dim, model.cfg.n_domains)
    path = export_onnx(
        model.gen, "generator", tmp_path / "g.onnx", example_inputs("generator", dims, (32, 32))
    )
    m = simplify(onnx.load(str(path)), "onnxslim")
    keep = set(excluded_nodes(m))
    convs = [n.name for n in m.graph.node if n.op_type == "Conv"]
    phase = [n for n in convs if "/phase/" in n]
    strips = [n for n in convs if "/out" in n and "/up." in n]
    assert len(phase) == 1 and len(strips) == 4
    assert set(phase) | set(strips) <= keep
    assert any("/fast/" in n and n not in keep for n in convs)
