"""The FP16 pass: InstanceNormalization and graph I/O stay FP32, the rest is FP16, ORT output stays close.

Measured tolerance (ONNX Runtime CPU, tiny random-init model, 2x3x64x64): generator image max abs error
~1e-3 (mean ~2e-4) on a [-1, 1] output; content encoder ~4e-3 on N(0, 1) content codes. The tests allow
1e-2 / 2e-2 so they fail on a real precision bug (an FP16 InstanceNorm or a lost Cast), not on rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from edgecgl.export.onnx import Dims, example_inputs, export_onnx, roles_of
from edgecgl.export.precision import KEEP_FP32, convert_fp16, fp32_island_violations, to_fp16
from edgecgl.export.simplify import simplify
from edgecgl.export.verify import ort_session
from edgecgl.train.nets import CGLModel, ModelConfig
from onnx import TensorProto

TOL = {"generator": 1e-2, "content_encoder": 2e-2, "style_encoder": 1e-2}


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, Dims]]:
    torch.manual_seed(0)
    model = CGLModel(ModelConfig(preset="tiny")).eval()
    dims = Dims(model.cfg.content_channels, model.cfg.style_dim, model.cfg.n_domains)
    root = tmp_path_factory.mktemp("fp16")
    out = {}
    for role, mod in roles_of(model.generator_modules()).items():
        if role.endswith("_instance"):
            continue
        fp32 = export_onnx(mod, role, root / f"{role}.onnx", example_inputs(role, dims, (32, 32)))
        onnx.save(simplify(onnx.load(str(fp32)), "onnxslim"), str(fp32))
        out[role] = (fp32, convert_fp16(fp32, root / f"{role}.fp16.onnx", tool="edgecgl")[0], dims)
    return out


@pytest.mark.parametrize("role", ["generator", "content_encoder", "style_encoder"])
def test_instancenorm_and_io_stay_fp32(role: str, graphs: dict[str, tuple[Path, Path, Dims]]) -> None:
    m = onnx.load(str(graphs[role][1]))
    assert fp32_island_violations(m) == []
    assert all(v.type.tensor_type.elem_type == TensorProto.FLOAT for v in (*m.graph.input, *m.graph.output))
    conv_weights = {n.input[1] for n in m.graph.node if n.op_type == "Conv"}
    half = [i for i in m.graph.initializer if i.name in conv_weights]
    assert half and all(i.data_type == TensorProto.FLOAT16 for i in half), "convolutions must run in FP16"
    if role != "style_encoder":
        ins = [n for n in m.graph.node if n.op_type in KEEP_FP32]
        assert ins, "the model has InstanceNormalization layers"


def test_the_invariant_check_can_fail(graphs: dict[str, tuple[Path, Path, Dims]]) -> None:
    naive = to_fp16(onnx.load(str(graphs["generator"][0])), keep_fp32=())
    bad = fp32_island_violations(naive)
    assert bad and all("InstanceNormalization" in b for b in bad)


@pytest.mark.parametrize("role", ["generator", "content_encoder", "style_encoder"])
def test_ort_fp16_stays_close_to_fp32(role: str, graphs: dict[str, tuple[Path, Path, Dims]]) -> None:
    fp32, fp16, dims = graphs[role]
    ex = example_inputs(role, dims, (64, 64), batch=2, seed=3)
    s32, s16 = ort_session(fp32), ort_session(fp16)
    feed = {i.name: t.numpy() for i, t in zip(s32.get_inputs(), ex, strict=True)}
    a, b = s32.run(None, feed)[0], s16.run(None, feed)[0]
    assert b.dtype == np.float32 and b.shape == a.shape
    err = float(np.abs(a - b).max())
    assert 0 < err < TOL[role], err


def test_fp16_bundle_runs_fp16_graphs_and_keeps_the_fp32_reference(tmp_path: Path) -> None:
    from edgecgl.export.bundle import write_bundle
    from edgecgl.export.toy import make_toy_checkpoint

    from edgecgl.bundle import load_bundle

    ckpt = make_toy_checkpoint(tmp_path / "model.pt", share_encoders=True)
    b = load_bundle(write_bundle(ckpt, tmp_path / "b", precision="fp16", pt2=False))
    assert b.precision == "fp16"
    assert set(b.models) == {"content_encoder", "style_encoder", "generator", "upsampler"}  # shared encoders
    assert b.model_path("upsampler").name == "upsampler.onnx"  # FP32 in every bundle
    assert b.model_path("content_encoder_instance").name == "content_encoder.fp16.onnx"
    assert b.manifest["models"]["generator"]["fp32"] == "generator.onnx"
    assert fp32_island_violations(onnx.load(str(b.model_path("generator")))) == []


def test_autocast_runs_in_modelopt_interpreter(
    graphs: dict[str, tuple[Path, Path, Dims]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AutoCast through a stand-in ``modelopt`` on another interpreter: the arguments and the check after
    it (a converter that leaves InstanceNormalization in FP16 is refused)."""
    import json
    import sys

    from edgecgl.errors import EdgecglError

    pkg = tmp_path / "fake" / "modelopt" / "onnx" / "autocast"
    pkg.mkdir(parents=True)
    for d in (pkg.parent.parent, pkg.parent):
        (d / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text(
        "import json, os, onnx\n"
        "from edgecgl.export.precision import to_fp16\n"
        "def convert_to_mixed_precision(onnx_path, **kw):\n"
        "    json.dump(kw, open(os.environ['FAKE_LOG'], 'w'))\n"
        "    keep = () if os.environ.get('FAKE_BAD') else tuple(kw['op_types_to_exclude'])\n"
        "    return to_fp16(onnx.load(onnx_path), keep)\n"
    )
    exe = tmp_path / "python"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH={tmp_path / "fake"} exec {sys.executable} "$@"\n')
    exe.chmod(0o755)
    monkeypatch.setenv("EDGECGL_MODELOPT_PYTHON", str(exe))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "kw.json"))
    fp32 = graphs["generator"][0]
    out, tool = convert_fp16(fp32, tmp_path / "g.fp16.onnx")
    assert tool == "modelopt" and fp32_island_violations(onnx.load(str(out))) == []
    kw = json.loads((tmp_path / "kw.json").read_text())
    assert kw == {
        "low_precision_type": "fp16",
        "op_types_to_exclude": ["InstanceNormalization"],
        "keep_io_types": True,
    }
    monkeypatch.setenv("FAKE_BAD", "1")
    with pytest.raises(EdgecglError, match="breaks the FP32 rule"):
        convert_fp16(fp32, tmp_path / "bad.onnx")
