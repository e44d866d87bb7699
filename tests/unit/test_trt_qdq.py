"""INT8 graphs for TensorRT (issue 15 items 4, 5, 10): what stays unquantized, the scale-axis rules, and
the Q/DQ + FP16 graph that strongly typed TensorRT (10.x, 11.x) builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from edgecgl.calib.quantize import _quantize_entry, excluded_nodes, int8_fp16, qdq_violations
from edgecgl.export.onnx import Dims, example_inputs, export_onnx
from edgecgl.export.simplify import simplify
from edgecgl.export.verify import ort_session
from edgecgl.train.nets import CGLModel, ModelConfig
from onnx import TensorProto, helper, numpy_helper


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The tiny generator and content encoder, quantized through the bundle's per-role step."""
    torch.manual_seed(0)
    model = CGLModel(ModelConfig(preset="tiny")).eval()
    dims = Dims(model.cfg.content_channels, model.cfg.style_dim, model.cfg.n_domains)
    root = tmp_path_factory.mktemp("qdq")
    entries: dict[str, dict[str, str]] = {}
    feeds = {}
    for role, mod in (("generator", model.gen), ("content_encoder", model.content_enc)):
        fp32 = root / f"{role}.onnx"
        export_onnx(mod, role, fp32, example_inputs(role, dims, (32, 32)))
        onnx.save(simplify(onnx.load(str(fp32)), "onnxslim"), str(fp32))
        names = [i.name for i in onnx.load(str(fp32)).graph.input]
        batches = []
        for seed in range(3):
            ex = example_inputs(role, dims, (32, 32), batch=4, seed=seed)
            ex = ex if isinstance(ex, tuple) else (ex,)
            batches.append({n: t.numpy() for n, t in zip(names, ex, strict=True)})
        entries[role] = {"file": fp32.name, "fp32": fp32.name, "precision": "fp32"}
        _quantize_entry(root, entries, role, batches, "minmax", lambda s: None)
        feeds[role] = batches[0]
    return {"root": root, "entries": entries, "feeds": feeds}


def _producers(m: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {o: n for n in m.graph.node for o in n.output}


def test_bundle_entry_records_both_int8_graphs(graphs: dict) -> None:
    e = graphs["entries"]["generator"]
    assert e["file"] == "generator.int8.onnx" and e["trt_file"] == "generator.int8-fp16.onnx"
    assert e["precision"] == "int8" and (graphs["root"] / e["trt_file"]).is_file()


@pytest.mark.parametrize("role", ["generator", "content_encoder"])
def test_style_mlp_first_and_last_convs_stay_float(graphs: dict, role: str) -> None:
    """Item 5: the style MLP's Gemms, the 3-channel first conv and the conv to RGB read no DQ."""
    m = onnx.load(str(graphs["root"] / graphs["entries"][role]["file"]))
    prod = _producers(m)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    skip = excluded_nodes(onnx.load(str(graphs["root"] / f"{role}.onnx")))
    assert skip, "the rule found nothing to exclude"
    for n in m.graph.node:
        reads_dq = any(t in prod and prod[t].op_type == "DequantizeLinear" for t in n.input)
        if n.op_type in ("Gemm", "MatMul"):
            assert not reads_dq, f"style MLP {n.name} is quantized"
        if n.op_type == "Conv":
            w = inits.get(n.input[1])
            if w is None:  # weight from a DQ: find its int8 initializer's shape
                w = inits[prod[n.input[1]].input[0]]
            rgb = w.shape[0] == 3 or w.shape[1] == 3
            assert reads_dq != rgb, f"{n.name} (weight {w.shape}): quantized={reads_dq}"
    if role == "generator":
        assert any(n.op_type == "Gemm" for n in m.graph.node)


def _with_attr(m: onnx.ModelProto, node: onnx.NodeProto, axis: int) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(m)
    for n in out.graph.node:
        if n.name == node.name:
            del n.attribute[:]
            n.attribute.append(helper.make_attribute("axis", axis))
    return out


def test_scale_axis_is_checked(graphs: dict) -> None:
    """Item 10: a per-channel weight scale must be on axis 0 with one value per output channel; an
    activation scale must be per-tensor."""
    m = onnx.load(str(graphs["root"] / "generator.int8.onnx"))
    assert qdq_violations(m) == []
    inits = {i.name for i in m.graph.initializer}
    wdq = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits)
    assert any("axis 1" in b for b in qdq_violations(_with_attr(m, wdq, 1)))
    # an activation Q with a per-channel scale
    act_q = next(n for n in m.graph.node if n.op_type == "QuantizeLinear")
    bad = onnx.ModelProto()
    bad.CopyFrom(m)
    for init in bad.graph.initializer:
        if init.name in (act_q.input[1], act_q.input[2]):
            arr = numpy_helper.to_array(init)
            init.CopyFrom(numpy_helper.from_array(np.repeat(arr.reshape(1), 4), init.name))
    assert any("per-tensor" in b for b in qdq_violations(bad))


def test_quantized_style_mlp_is_a_violation(graphs: dict) -> None:
    m = onnx.load(str(graphs["root"] / "generator.int8.onnx"))
    gemm = next(n for n in m.graph.node if n.op_type == "Gemm")
    w = next(i for i in m.graph.initializer if i.name == gemm.input[1])
    q = numpy_helper.from_array(np.zeros(numpy_helper.to_array(w).shape, np.int8), "w_q")
    s = numpy_helper.from_array(np.float32(0.1), "w_s")
    z = numpy_helper.from_array(np.int8(0), "w_z")
    m.graph.initializer.extend([q, s, z])
    m.graph.node.insert(0, helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w_dq"], name="dq_w"))
    gemm.input[1] = "w_dq"
    assert any("style MLP" in b for b in qdq_violations(m))


@pytest.mark.parametrize("role", ["generator", "content_encoder"])
def test_int8_fp16_graph_is_fp16_outside_qdq_and_norms(graphs: dict, role: str) -> None:
    """Item 4: convolutions and everything else FP16, norms and Q/DQ FP32, I/O FP32; runs, close to INT8."""
    root, e = graphs["root"], graphs["entries"][role]
    m = onnx.shape_inference.infer_shapes(onnx.load(str(root / e["trt_file"])))
    types = {
        v.name: v.type.tensor_type.elem_type for v in (*m.graph.value_info, *m.graph.input, *m.graph.output)
    }
    types |= {i.name: i.data_type for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type in ("Conv", "Relu", "Pad"):
            assert types.get(n.output[0]) == TensorProto.FLOAT16, f"{n.op_type} {n.name}"
        if n.op_type == "InstanceNormalization":
            assert all(types.get(t) == TensorProto.FLOAT for t in n.input if t)
        if n.op_type == "QuantizeLinear":
            assert types.get(n.input[0]) == TensorProto.FLOAT
    assert all(v.type.tensor_type.elem_type == TensorProto.FLOAT for v in (*m.graph.input, *m.graph.output))
    assert qdq_violations(m) == []
    feed = graphs["feeds"][role]
    a = ort_session(root / e["file"]).run(None, feed)[0]
    b = ort_session(root / e["trt_file"]).run(None, feed)[0]
    assert a.shape == b.shape and np.isfinite(b).all()
    assert np.abs(a - b).mean() < 0.05 * max(1.0, float(np.abs(a).mean()))


def test_int8_fp16_refuses_a_broken_fp32_rule(
    tmp_path: Path, graphs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgecgl.export.precision as precision

    from edgecgl.errors import EdgecglError

    monkeypatch.setattr(
        precision, "fp32_island_violations", lambda m, k: ["InstanceNormalization x is FLOAT16"]
    )
    with pytest.raises(EdgecglError, match="FP32 rule"):
        int8_fp16(graphs["root"] / "generator.int8.onnx", tmp_path / "x.onnx")
