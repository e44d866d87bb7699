"""The trainer on an in-memory fake dataset: outputs, NaN stop, full disk, sampling rules."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import torch
from edgecgl.train.checkpoint import load_checkpoint
from edgecgl.train.config import TrainConfig
from edgecgl.train.inference import load_inference
from edgecgl.train.trainer import StepSource, Trainer

from edgecgl.config import from_dict
from edgecgl.errors import EdgecglError
from tests.unit.fake_data import FakeDataset


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def tiny_cfg(**over) -> TrainConfig:
    raw = {
        "name": "t",
        "iters": 2,
        "threads": 1,
        "model": {"preset": "tiny"},
        "data": {"frame_size": [64, 64], "instance_size": [32, 32]},
        "log": {"every": 1, "sample_every": 0, "checkpoint_every": 100, "style_stats_images": 2},
    }
    for k, v in over.items():
        node = raw
        *path, last = k.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = v
    return from_dict(TrainConfig, raw)


def test_two_steps_write_every_output(tmp_path: Path) -> None:
    cfg = tiny_cfg(**{"log.sample_every": 2})
    res = Trainer(cfg, FakeDataset(), tmp_path).run()
    assert res.step == 2
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2]
    for key in (
        "d_adv_global", "d_gp_instance", "d_cls_global", "g_adv_instance", "g_cls_global", "rec_image",
        "rec_instance", "cc_global", "cc_instance", "cgc_global", "cgc_instance", "rec_content",
        "rec_style", "lambda_gp_global", "lambda_gp_instance", "lr", "it_s",
    ):  # fmt: skip
        assert key in lines[-1], key
    assert (tmp_path / "samples" / "000002.png").is_file()
    assert "preset: tiny" in (tmp_path / "config.yaml").read_text()
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["step"] == 2 and state["gp"]["global"]["value"] > 0
    inf = load_inference(tmp_path / "checkpoints" / "model.pt")
    assert inf.step == 2 and inf.frame_size == (64, 64) and inf.instance_size == (32, 32)
    assert set(inf.style_stats["global"]) == set(FakeDataset().domains)
    mean, cov = inf.style_stats["instance"]["night"]["mean"], inf.style_stats["instance"]["night"]["cov"]
    assert mean.shape == (8,) and cov.shape == (8, 8) and torch.allclose(cov, cov.T)
    luma = inf.style_stats["global"]["night"]["luma"]  # the frames' brightness range, for per-image draws
    assert luma.shape == (2,) and 0 <= float(luma[0]) <= float(luma[1]) <= 255
    assert "luma" not in inf.style_stats["instance"]["night"]


def test_global_only_and_no_cgc_variants_train(tmp_path: Path) -> None:
    cfg = tiny_cfg(iters=1, **{"loss.instances": False, "loss.cgc": False})
    t = Trainer(cfg, FakeDataset(), tmp_path / "g")
    t.run()
    rec = json.loads((tmp_path / "g" / "metrics.jsonl").read_text().splitlines()[-1])
    assert not any("instance" in k or "cgc" in k for k in rec)
    cfg = tiny_cfg(iters=1, **{"loss.cgc": False})
    Trainer(cfg, FakeDataset(), tmp_path / "n").run()
    rec = json.loads((tmp_path / "n" / "metrics.jsonl").read_text().splitlines()[-1])
    assert "cc_instance" in rec and "cgc_global" not in rec


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    t = Trainer(tiny_cfg(iters=1), FakeDataset(), tmp_path)
    t.run()
    t.loss.cfg.rec = float("nan")
    with pytest.raises(EdgecglError, match="non-finite loss at step 2") as exc:
        t.run(3)
    assert "--resume" in str(exc.value) and "is kept" in str(exc.value)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 1
    fresh = Trainer(tiny_cfg(iters=1), FakeDataset(), tmp_path / "fresh")  # at step 1: nothing to resume
    fresh.loss.cfg.rec = float("nan")
    with pytest.raises(EdgecglError, match="no checkpoint was written yet") as exc:
        fresh.run()
    assert "--resume" not in str(exc.value)  # it used to send the user to a resume that is refused


def test_full_disk_is_a_clear_error_and_keeps_previous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = Trainer(tiny_cfg(iters=1), FakeDataset(), tmp_path)
    t.run()
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("edgecgl.train.checkpoint.torch.save", full)
    with pytest.raises(EdgecglError, match="disk is full") as exc:
        t.run(2)
    assert "previous last.pt is kept" in str(exc.value)
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if "partial" in p.name]


def test_pair_sampling_is_two_distinct_domains_and_deterministic() -> None:
    ds = FakeDataset()
    src = StepSource(ds, tiny_cfg(batch=2), rank=0)
    seen = set()
    for key in range(12):
        item = src[key]
        d = item["d"].tolist()
        assert d[0] == d[1] and d[2] == d[3] and d[0] != d[2]
        seen.add((d[0], d[2]))
        assert item["o"].shape == (4, 3, 32, 32) and item["cgc_o"].shape == (2, 3, 32, 32)
    assert len(seen) > 3
    again = src[5]
    assert torch.equal(again["x"], src[5]["x"]) and torch.equal(again["o"], src[5]["o"])
    other_rank = StepSource(ds, tiny_cfg(batch=2), rank=1)[5]
    assert not torch.equal(other_rank["x"], again["x"])


def test_fallback_crop_for_images_without_boxes() -> None:
    src = StepSource(FakeDataset(), tiny_cfg(), rank=0)
    import numpy as np

    boxes = src.pick_boxes(
        [torch.zeros((0, 4)), torch.tensor([[1.0, 2.0, 3.0, 4.0]])], 64, 128, np.random.default_rng(0)
    )
    x0, y0, x1, y1 = boxes[0][0].tolist()
    assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 64
    assert (
        0.25 * 64 - 1e-4 <= y1 - y0 <= 0.5 * 64 + 1e-4 and abs((x1 - x0) - (y1 - y0)) < 1e-4
    )  # square (32x32)
    assert boxes[1].tolist() == [[1.0, 2.0, 3.0, 4.0]]


def test_one_domain_is_a_user_error() -> None:
    ds = FakeDataset()
    ds.items = [s for s in ds.items if s.domain == 0]
    with pytest.raises(EdgecglError, match="at least two domains"):
        StepSource(ds, tiny_cfg())


def test_sizes_too_small_for_the_discriminators_are_config_errors() -> None:
    with pytest.raises(EdgecglError, match="instance_size .* too small for a 5-layer discriminator"):
        tiny_cfg(**{"data.instance_size": [16, 16]})
    with pytest.raises(EdgecglError, match="frame_size .* too small for a 6-layer discriminator"):
        tiny_cfg(**{"data.frame_size": [32, 64]})


def test_resume_from_a_checkpoint_of_another_model_is_a_clean_error(tmp_path: Path) -> None:
    Trainer(tiny_cfg(), FakeDataset(), tmp_path / "a").run()
    other = Trainer(tiny_cfg(**{"model.preset": "custom", "model.dim": 4}), FakeDataset(), tmp_path / "b")
    with pytest.raises(EdgecglError, match="does not fit this run's model"):
        other.resume(tmp_path / "a" / "checkpoints" / "last.pt")
