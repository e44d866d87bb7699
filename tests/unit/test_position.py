"""model.position: the frame's content encoder sees each pixel's row (a distance cue on a road camera)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from edgecgl.export.onnx import Dims, example_inputs, export_onnx
from edgecgl.export.verify import torch_parity
from edgecgl.train.nets import CGLModel, ContentEncoder, ModelConfig, row_ramp

from edgecgl.errors import EdgecglError


def _model(position: str, shared: bool = False) -> CGLModel:
    torch.manual_seed(0)
    return CGLModel(ModelConfig(preset="tiny", position=position, share_encoders=shared)).eval()


def test_row_ramp_runs_top_to_bottom_at_any_size() -> None:
    ramp = row_ramp(torch.zeros(2, 3, 5, 7))
    assert ramp.shape == (2, 1, 5, 7)
    assert torch.allclose(ramp[0, 0, :, 3], torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))
    assert torch.equal(ramp[1, 0, :, 0], ramp[0, 0, :, 6])  # the same in every column and image
    assert torch.equal(row_ramp(torch.zeros(1, 3, 1, 4)), torch.full((1, 1, 1, 4), -1.0))  # no 0/0


def test_rows_make_a_uniform_image_depend_on_position() -> None:
    """A flat grey frame has no content cue to where a pixel is: without rows its code is flat too."""
    flat = torch.full((1, 3, 32, 64), 0.2)
    with torch.no_grad():
        plain = _model("none").content_enc(flat)
        rows = _model("rows").content_enc(flat)
    assert (plain - plain[:, :, :1, :1]).abs().max() < 1e-5
    assert (rows[:, :, 0] - rows[:, :, -1]).abs().max() > 1e-2  # top and bottom rows differ
    assert (rows - rows[:, :, :, :1]).abs().max() < 1e-5  # ... but not left and right


def test_only_the_frame_encoder_gets_rows_unless_shared() -> None:
    m = _model("rows")
    assert m.content_enc.rows and not m.content_enc_inst.rows
    assert m.content_enc.net[0][1].in_channels == 4 and m.content_enc_inst.net[0][1].in_channels == 3
    assert _model("rows", shared=True).encoders("instance")[0].rows
    assert not ContentEncoder(ModelConfig(preset="tiny")).rows


def test_unknown_position_is_a_user_error() -> None:
    with pytest.raises(EdgecglError, match="model.position"):
        ModelConfig(preset="tiny", position="depth")


def _exported_rows_encoder(tmp_path: Path) -> tuple[CGLModel, Dims, Path]:
    m = _model("rows")
    dims = Dims(m.cfg.content_channels, m.cfg.style_dim, m.cfg.n_domains)
    example = example_inputs("content_encoder", dims, (32, 48))
    return m, dims, export_onnx(m.content_enc, "content_encoder", tmp_path / "c.onnx", example)


def test_onnx_keeps_the_ramp_at_every_size(tmp_path: Path) -> None:
    """Exported at one size, run at others: a ramp frozen at the export size would break the parity."""
    m, dims, p = _exported_rows_encoder(tmp_path)
    assert (
        torch_parity(m.content_enc, p, "content_encoder", dims, [((32, 32), 1), ((20, 36), 2), ((64, 16), 1)])
        < 1e-4
    )


def test_trainer_runs_and_export_keeps_the_option(tmp_path: Path) -> None:
    from edgecgl.train.inference import load_inference
    from edgecgl.train.trainer import Trainer

    from tests.unit.fake_data import FakeDataset
    from tests.unit.test_trainer import tiny_cfg

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Trainer(
            tiny_cfg(**{"model.position": "rows", "log.checkpoint_every": 2}), FakeDataset(), tmp_path
        ).run()
    finally:
        torch.set_num_threads(n)
    (model_pt,) = tmp_path.rglob("model.pt")
    back = load_inference(model_pt)
    assert back.cfg.position == "rows" and back.modules["content_enc"].rows


def test_fp16_graph_of_the_ramp_runs_in_onnxruntime(tmp_path: Path) -> None:
    """The FP16 pass turns float ops to half; ONNX Runtime has no half Range, so the ramp's Range is int."""
    import numpy as np
    import onnxruntime as ort
    from edgecgl.export.precision import convert_fp16

    m, dims, p = _exported_rows_encoder(tmp_path)
    half, _ = convert_fp16(p, tmp_path / "c.fp16.onnx", tool="edgecgl")
    sess = ort.InferenceSession(str(half), providers=["CPUExecutionProvider"])
    for h, w in ((32, 48), (40, 64)):
        x = example_inputs("content_encoder", dims, (h, w), seed=3)[0]
        with torch.no_grad():
            ref = m.content_enc(x).numpy()
        got = sess.run(None, {"image": x.numpy()})[0]
        assert np.abs(got - ref).max() < 0.05 * np.abs(ref).max(), (h, w)
