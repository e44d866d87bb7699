"""The ONNX rewrites the performance investigation times must compute what they claim (toy graphs)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from benchmarks.graph_variants import fold_reflect_pads, subpixel_upconvs


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )[0]


def _graph(nodes: list, inits: list, cout: int) -> onnx.ModelProto:
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, None, None])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _upconv(mode: str = "reflect") -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 5, 5)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    pads = numpy_helper.from_array(np.array([0, 0, 2, 2, 0, 0, 2, 2], np.int64), "pads")
    nodes = [
        helper.make_node("Resize", ["x", "", "scales"], ["u"], mode="nearest", name="rs"),
        helper.make_node("Pad", ["u", "pads"], ["p"], mode=mode, name="pad"),
        helper.make_node("Conv", ["p", "w", "b"], ["y"], kernel_shape=[5, 5], name="conv"),
    ]
    return _graph(nodes, [w, b, scales, pads], 4)


def test_subpixel_upconv_is_exact_inside_and_cheaper() -> None:
    m = _upconv()
    sp, n = subpixel_upconvs(m)
    assert n == 1
    assert [node.op_type for node in sp.graph.node] == ["Pad", "Conv", "DepthToSpace"]
    x = np.random.default_rng(1).standard_normal((1, 3, 6, 10)).astype(np.float32)
    ref, out = _run(m, x), _run(sp, x)
    assert out.shape == ref.shape == (1, 4, 12, 20)
    np.testing.assert_allclose(out[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2], atol=1e-4)
    assert np.abs(out - ref).max() > 1e-3  # the reflect border really differs (said in the docstring)
    w3 = next(i for i in sp.graph.initializer if i.name.endswith("_sp_w"))
    assert list(w3.dims) == [16, 3, 3, 3]  # 4 phases x Cout, 3x3: 36 vs 100 MACs per low-res pixel


def test_subpixel_leaves_other_graphs_alone() -> None:
    m = _upconv(mode="constant")
    assert subpixel_upconvs(m)[1] == 0


def test_fold_reflect_pads_moves_the_padding_into_the_conv() -> None:
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect", name="pad"),
        helper.make_node("Conv", ["p", "w"], ["y"], kernel_shape=[3, 3], name="conv"),
    ]
    m = _graph(nodes, [numpy_helper.from_array(w, "w"), pads], 5)
    folded, n = fold_reflect_pads(m)
    assert n == 1 and [node.op_type for node in folded.graph.node] == ["Conv"]
    x = rng.standard_normal((1, 3, 7, 9)).astype(np.float32)
    zero_padded = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    np.testing.assert_allclose(_run(folded, x), zero_padded, atol=1e-4)
    with pytest.raises(AssertionError):  # and it is a different model than the reflect-padded one
        np.testing.assert_allclose(_run(m, x), zero_padded, atol=1e-4)
