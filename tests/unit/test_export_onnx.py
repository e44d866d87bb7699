"""ONNX export: stable names, opset 17, dynamic batch/H/W, one file, parity with torch, both simplifiers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from edgecgl.export.onnx import OPSET, Dims, example_inputs, export_onnx, export_pt2, roles_of
from edgecgl.export.simplify import simplify
from edgecgl.export.verify import ort_session, torch_parity
from edgecgl.train.nets import CGLModel, ModelConfig

from edgecgl.bundle import IO_NAMES

SHAPES = [((32, 32), 1), ((64, 96), 2), ((20, 36), 3)]


@pytest.fixture(scope="module")
def model() -> CGLModel:
    torch.manual_seed(0)
    return CGLModel(ModelConfig(preset="tiny")).eval()


@pytest.fixture(scope="module")
def dims(model: CGLModel) -> Dims:
    return Dims(model.cfg.content_channels, model.cfg.style_dim, model.cfg.n_domains)


@pytest.fixture(scope="module")
def exported(model: CGLModel, dims: Dims, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx")
    return {
        role: export_onnx(mod, role, root / f"{role}.onnx", example_inputs(role, dims, (32, 48)))
        for role, mod in roles_of(model.generator_modules()).items()
    }


def _dims(v: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]


# The network's roles; the bundle's ``upsampler`` is not a part of the model (export/upsampler.py, its own tests).
NET_ROLES = [r for r in IO_NAMES if r != "upsampler"]


def test_every_role_is_exported_with_the_bundle_names(exported: dict[str, Path]) -> None:
    assert set(exported) == set(NET_ROLES)
    for role, path in exported.items():
        m = onnx.load(str(path))
        onnx.checker.check_model(m)
        ins, outs = IO_NAMES[role]
        assert [i.name for i in m.graph.input] == list(ins)
        assert [o.name for o in m.graph.output] == list(outs)
        assert next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) == OPSET
        assert not list(path.parent.glob(f"{path.name}.data")), "weights must stay inside the .onnx"


def test_batch_and_spatial_dims_are_dynamic(exported: dict[str, Path]) -> None:
    gen = onnx.load(str(exported["generator"]))
    assert _dims(gen.graph.input[0])[0] == "batch" and isinstance(_dims(gen.graph.input[0])[2], str)
    assert _dims(gen.graph.output[0]) == ["batch", 3, "height", "width"]
    enc = onnx.load(str(exported["content_encoder"]))
    assert _dims(enc.graph.input[0]) == ["batch", 3, "height", "width"]


@pytest.mark.parametrize("role", NET_ROLES)
def test_onnx_matches_torch_at_three_shapes(
    role: str, model: CGLModel, dims: Dims, exported: dict[str, Path]
) -> None:
    mod = roles_of(model.generator_modules())[role]
    assert torch_parity(mod, exported[role], role, dims, SHAPES) < 1e-4


@pytest.mark.parametrize("tool", ["onnxsim", "onnxslim"])
def test_simplifiers_keep_dynamic_dims_and_parity(
    tool: str, model: CGLModel, dims: Dims, exported: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip(tool)
    for role in ("generator", "content_encoder"):
        src = onnx.load(str(exported[role]))
        out = simplify(src, tool)
        assert len(out.graph.node) < len(src.graph.node)
        assert [_dims(i) for i in out.graph.input] == [_dims(i) for i in src.graph.input]
        p = tmp_path / f"{role}.onnx"
        onnx.save(out, str(p))
        mod = roles_of(model.generator_modules())[role]
        assert torch_parity(mod, p, role, dims, SHAPES) < 1e-4


def test_groupnorm_exports_as_instancenorm(exported: dict[str, Path]) -> None:
    """The decoder's LayerNorm (GroupNorm(1, C)) becomes InstanceNormalization at opset 17: the FP16
    pass keeping every InstanceNormalization in FP32 therefore covers it too."""
    ops = [n.op_type for n in onnx.load(str(exported["generator"])).graph.node]
    assert "GroupNormalization" not in ops
    # 2 AdaIN per res block (tiny: 1 block) + 2 upsampling LayerNorms
    assert ops.count("InstanceNormalization") == 4


def test_sizes_must_be_multiples_of_the_stride(dims: Dims) -> None:
    from edgecgl.errors import EdgecglError

    with pytest.raises(EdgecglError, match="multiple of 4"):
        example_inputs("content_encoder", dims, (30, 32))


def test_pt2_loads_without_training_code_and_takes_new_shapes(
    model: CGLModel, dims: Dims, tmp_path: Path
) -> None:
    gen = model.gen
    p = export_pt2(gen, "generator", tmp_path / "g.pt2", example_inputs("generator", dims, (32, 32), batch=2))
    prog = torch.export.load(str(p)).module()
    ex = example_inputs("generator", dims, (20, 36), batch=3, seed=5)
    with torch.no_grad():
        np.testing.assert_allclose(prog(*ex).numpy(), gen(*ex).numpy(), atol=1e-5)


def test_ort_session_runs_dynamic_batch(exported: dict[str, Path], dims: Dims) -> None:
    sess = ort_session(exported["content_encoder"])
    (img,) = example_inputs("content_encoder", dims, (24, 40), batch=5)
    (out,) = sess.run(None, {"image": img.numpy()})
    assert out.shape == (5, dims.content_channels, 6, 10)
