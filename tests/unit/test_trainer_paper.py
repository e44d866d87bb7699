"""The paper preset at 256x256: one full training step (critic + generator update) on CPU, all finite."""

from __future__ import annotations

import pytest
import torch
from edgecgl.train.trainer import Trainer

from tests.unit.fake_data import FakeDataset
from tests.unit.test_trainer import tiny_cfg


@pytest.mark.slow
def test_paper_preset_full_step_on_cpu(tmp_path) -> None:
    # batch 1 per domain (2 images per step) keeps this CPU test at half the paper's batch-2 cost
    cfg = tiny_cfg(
        iters=1,
        threads=0,
        batch=1,
        **{"model.preset": "paper", "data.frame_size": [256, 256], "data.instance_size": [64, 64]},
    )
    t = Trainer(cfg, FakeDataset(size=(256, 256), per_domain=1), tmp_path)
    before = t.model.gen.decoder.up[-2].weight.detach().clone()
    d_before = t.model.dis_global.src.weight.detach().clone()
    terms = t.train_step([t.source[0]])
    assert t.step == 1
    assert len(terms) == 22  # 20 loss terms + the critic gradient norms (d_gradnorm_*)
    bad = {k: float(v) for k, v in terms.items() if not torch.isfinite(v)}
    assert not bad, bad
    assert not torch.equal(before, t.model.gen.decoder.up[-2].weight)  # generator updated
    assert not torch.equal(d_before, t.model.dis_global.src.weight)  # critic updated


@pytest.mark.parametrize("amp", ["bf16", pytest.param("fp16", marks=pytest.mark.slow)])
def test_autocast_step_on_cpu_is_finite(tmp_path, amp: str) -> None:
    t = Trainer(tiny_cfg(iters=1, amp=amp), FakeDataset(), tmp_path)
    terms = t.train_step([t.source[0]])
    assert all(torch.isfinite(v) for v in terms.values())
    assert t.scaler_g.is_enabled() == (amp == "fp16")
