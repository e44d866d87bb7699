"""``loss.keep_objects``: the near-object structure term (docs/RESULTS.md, issue 14, session 13).

Fog may dim and veil a near car; it must not erase it. The term compares each picked labelled object
with its translation by ``structure_loss`` (local correlation that survives contrast cuts but not a
white-out), weighted by the box's distance band."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from edgecgl.train.losses import CGLLoss, LossConfig, structure_loss
from edgecgl.train.nets import CGLModel, ModelConfig
from edgecgl.train.trainer import StepSource, Trainer, near_weight

from edgecgl.errors import EdgecglError
from tests.unit.fake_data import FakeDataset
from tests.unit.test_losses import N_DOM, rand_batch, stub_model
from tests.unit.test_recipe import uninterrupted_and_resumed
from tests.unit.test_trainer import tiny_cfg


def edges(n: int = 2, hw: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, hw, hw, generator=g) * 2 - 1


def test_structure_ignores_brightness_and_contrast_but_not_a_veil() -> None:
    a, w = edges(), torch.ones(2)
    assert float(structure_loss(a, a, w)) == pytest.approx(0.0, abs=1e-5)
    assert float(structure_loss(a, a + 0.3, w)) == pytest.approx(0.0, abs=1e-5)  # brighter: free
    light, dense = 0.5 * a + 0.4, 0.1 * a + 0.7  # contrast cut to 50 % / 10 %, lifted towards white
    assert 0.02 < float(structure_loss(a, light, w)) < 0.15 < float(structure_loss(a, dense, w)) < 0.7
    flat = torch.full_like(a, 0.6)  # a white-out: no structure left
    assert float(structure_loss(a, flat, w)) > 0.99
    blurred = torch.nn.functional.avg_pool2d(a, 5, stride=1, padding=2)
    assert 0.3 < float(structure_loss(a, blurred, w)) < float(structure_loss(a, flat, w))
    assert float(structure_loss(a, flat, torch.zeros(2))) == 0.0  # weight 0: not counted
    assert float(structure_loss(a, flat, torch.tensor([1.0, 0.0]))) == pytest.approx(
        float(structure_loss(a, flat, w)) / 2, rel=0.05
    )
    with pytest.raises(ValueError):
        structure_loss(a, a[:, :, :8], w)
    with pytest.raises(ValueError):
        structure_loss(a, a, torch.ones(3))


def test_near_weight_follows_the_retention_bands() -> None:
    h = 100
    boxes = torch.tensor([[0, 0, 10, 3], [0, 0, 10, 10], [0, 0, 10, 15], [0, 0, 10, 60], [0, 0, 10, 60]])
    w = near_weight(boxes.float(), h, [True, True, True, True, False])
    torch.testing.assert_close(
        w, torch.tensor([0.0, 0.5, 1.0, 1.0, 0.0])
    )  # far, mid, near, near, random crop


def test_step_source_sends_boxes_only_when_on_and_draws_the_same_crops() -> None:
    off = StepSource(FakeDataset(), tiny_cfg())[3]
    on = StepSource(FakeDataset(), tiny_cfg(**{"loss.keep_objects": 1.0}))[3]
    assert "o_box" not in off and "o_near" not in off
    assert torch.equal(on["o"], off["o"]) and torch.equal(on["x"], off["x"])  # same draws as before
    n = on["x"].shape[0]
    assert on["o_box"].shape == (n, 4) and on["o_near"].shape == (n,)
    # FakeDataset: every other image has one box 50 % of the frame tall (near), the rest random crops
    assert set(on["o_near"].tolist()) <= {0.0, 1.0} and 0 < float(on["o_near"].sum()) < n
    # the box of a labelled crop is the dataset's box (in the frame's pixels)
    i = int(torch.nonzero(on["o_near"])[0])
    torch.testing.assert_close(on["o_box"][i], torch.tensor([16.0, 25.6, 38.4, 57.6]))


def test_term_enters_both_branches_with_its_weight() -> None:
    batch = rand_batch(hw=64)
    batch.o_box = torch.tensor([[4.0, 4.0, 60.0, 60.0]] * 4)
    batch.o_near = torch.tensor([1.0, 0.0, 1.0, 1.0])
    # the analytic translator only adds a colour per channel: every edge kept, nothing to pay
    _, t = CGLLoss(stub_model(), LossConfig(cgc=False, keep_objects=3.0)).generator_loss(batch)
    assert float(t["keep_global"]) == pytest.approx(0, abs=1e-5) and float(t["keep_instance"]) < 1e-5
    torch.manual_seed(0)
    model = CGLModel(ModelConfig(preset="tiny", n_domains=N_DOM))  # random init: redraws the edges
    base_total, base = CGLLoss(model, LossConfig(cgc=False)).generator_loss(batch)
    total, t = CGLLoss(model, LossConfig(cgc=False, keep_objects=3.0)).generator_loss(batch)
    assert "keep_global" not in base
    assert float(t["keep_global"]) > 0.05 and float(t["keep_instance"]) > 0.05
    expect = float(base_total) + 3.0 * float(t["keep_global"] + t["keep_instance"])
    assert float(total) == pytest.approx(expect, rel=1e-5)
    t["keep_instance"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.gen.parameters())
    batch.o_near = torch.zeros(4)
    _, t0 = CGLLoss(model, LossConfig(cgc=False, keep_objects=3.0)).generator_loss(batch)
    assert float(t0["keep_global"]) == 0.0


def test_config_errors() -> None:
    with pytest.raises(EdgecglError):
        LossConfig(keep_objects=-1.0).validate()
    with pytest.raises(EdgecglError):
        LossConfig(keep_objects=1.0, instances=False, cgc=False).validate()


def test_training_with_the_term_moves_the_generator_and_resumes_exactly(tmp_path) -> None:
    torch.set_num_threads(1)
    rows, resumed = uninterrupted_and_resumed({"loss.keep_objects": 2.0}, tmp_path)
    assert rows == resumed
    assert all(np.isfinite(r["keep_global"]) and np.isfinite(r["keep_instance"]) for r in rows)
    assert any(r["keep_instance"] > 0 for r in rows)
    Trainer(tiny_cfg(), FakeDataset(), tmp_path / "off").run()
