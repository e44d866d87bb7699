"""Reinhard baseline moves Lab statistics; tables and the contact sheet have the paper's shape."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from edgecgl.train.eval.baselines import (
    DomainColourStats,
    identity,
    lab_stats,
    reinhard_lab,
    reinhard_transfer,
    rgb_to_lab,
)
from edgecgl.train.eval.lpips_div import Lpips, find_backbone, lpips_diversity, no_backbone_message
from edgecgl.train.eval.tables import build_table, contact_sheet, table_markdown, write_png, write_table


def _smooth(seed: int, bright: float, tint: tuple[float, float, float]) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 32), indexing="ij")
    base = 0.25 * torch.sin(3 * x + 2 * y + seed) + bright
    return torch.stack([base * t for t in tint]).clamp(-0.9, 0.9)


def test_reinhard_lab_sets_mean_and_std_exactly() -> None:
    lab = rgb_to_lab(_smooth(0, 0.2, (1.0, 0.9, 0.8)).numpy())
    tm, ts = np.array([30.0, 5.0, -10.0]), np.array([8.0, 3.0, 4.0])
    m, s = lab_stats(reinhard_lab(lab, tm, ts))
    np.testing.assert_allclose(m, tm, atol=1e-3)
    np.testing.assert_allclose(s, ts, atol=1e-3)


def test_reinhard_transfer_moves_rgb_images_to_the_target_domain() -> None:
    night = torch.stack([_smooth(i, -0.5, (0.6, 0.7, 1.0)) for i in range(3)])
    sunny = torch.stack([_smooth(i + 5, 0.3, (1.0, 0.95, 0.8)) for i in range(2)])
    target = DomainColourStats.fit(night)
    out = reinhard_transfer(sunny, target)
    assert out.shape == sunny.shape and out.min() >= -1 and out.max() <= 1
    for img in out:
        m, s = lab_stats(rgb_to_lab(img.numpy()))
        np.testing.assert_allclose(m, target.mean, atol=1.0)  # after the Lab->RGB->Lab round trip
        np.testing.assert_allclose(s, target.std, atol=1.0)
    before = lab_stats(rgb_to_lab(sunny[0].numpy()))[0]
    assert abs(before[0] - target.mean[0]) > 10  # it really moved (sunny is much brighter than night)
    assert torch.equal(identity(sunny), sunny)


def test_table_shape_average_and_missing_cells(tmp_path: Path) -> None:
    domains = ["night", "cloudy", "rainy"]
    results = {
        "identity": {"fid": {"night": 90.0, "cloudy": 30.0, "rainy": 60.0}},
        "ours": {"fid": {"night": 40.0, "cloudy": 20.0, "rainy": None}, "psnr": {"night": 21.0}},
    }
    table = build_table(results, domains, meta={"notes": ["LPIPS skipped: no backbone"]})
    assert table["columns"] == ["night", "cloudy", "rainy", "average"]
    assert table["metrics"]["fid"]["rows"]["identity"]["average"] == pytest.approx(60.0)
    assert table["metrics"]["fid"]["rows"]["ours"]["rainy"] is None
    assert table["metrics"]["fid"]["rows"]["ours"]["average"] == pytest.approx(30.0)
    assert table["metrics"]["fid"]["higher_is_better"] is False
    md = table_markdown(table)
    assert "| method | Night | Cloudy | Rainy | Average |" in md
    assert "| identity | 90.00 | 30.00 | 60.00 | 60.00 |" in md
    assert "| ours | 40.00 | 20.00 | – | 30.00 |" in md
    assert "LPIPS skipped" in md
    jpath, mpath = write_table(tmp_path, table)
    assert json.loads(jpath.read_text())["metrics"]["psnr"]["rows"]["ours"]["night"] == 21.0
    assert mpath.read_text() == md


def test_a_scratch_classifier_is_named_on_each_table_it_scores() -> None:
    results = {"ours": {"is": {"night": 1.5}, "domain_acc": {"night": 90.0}, "fid": {"night": 40.0}}}
    for pretrained, said in (("scratch", True), ("resnet18.pth", False)):
        md = table_markdown(build_table(results, ["night"], meta={"classifier": {"pretrained": pretrained}}))
        heads = [ln for ln in md.splitlines() if ln.startswith("### ")]
        assert [("trained from scratch" in h) for h in heads] == [False, said, said], heads  # FID: never


def test_contact_sheet_grid(tmp_path: Path) -> None:
    k, h, w = 2, 16, 20
    inputs = torch.zeros(k, 3, h, w)
    outs = {m: {d: torch.ones(k, 3, h, w) for d in ("night", "rainy")} for m in ("identity", "ours")}
    outs["ours"]["night"][1] = -1.0  # one black tile
    sheet = contact_sheet(inputs, outs, ["night", "rainy"], gap=2, min_height=32)
    zoom = 2  # 16 px tiles are enlarged to 32
    assert sheet.shape == (28 + k * (2 * (h * zoom + 4) + 4), (90 + 4) + 3 * (w * zoom + 4), 3)
    # Second input, second method ("ours"), night column: black.
    y = 28 + (h * zoom + 4) * 2 + 4 + (h * zoom + 4) + 2 + 5
    x = 94 + (w * zoom + 4) + 2 + 5
    assert (sheet[y, x] == 0).all()
    assert (sheet[y, x + w * zoom + 4] == 255).all()  # rainy tile of the same row: white
    p = write_png(tmp_path / "sheet.png", sheet)
    assert cv2.imread(str(p)).shape == sheet.shape


def test_lpips_with_a_backbone_file(tmp_path: Path) -> None:
    """The loading path is real (SqueezeNet: the smallest backbone); the backbone here is random (no ImageNet weights offline), so only
    identities are checked: d(x, x) = 0, d > 0 otherwise, and the diversity protocol's averaging."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path / "squeezenet.pth"
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), path)
    metric = Lpips(path, net="squeeze")
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    assert torch.allclose(metric(x, x), torch.zeros(2), atol=1e-6)
    assert (metric(x, -x) > 0).all()
    calls: list[int] = []

    def translate(imgs: torch.Tensor, seed: int) -> torch.Tensor:
        calls.append(seed)
        return imgs if seed % 2 == 0 else -imgs

    div = lpips_diversity(metric, translate, x, n_pairs=3)
    assert div == pytest.approx(float(metric(x, -x).mean()), rel=1e-5)
    assert calls == [0, 1, 2, 3, 4, 5]
    # Same style twice: zero diversity.
    assert lpips_diversity(metric, lambda i, s: i, x, n_pairs=2) == pytest.approx(0.0, abs=1e-6)


def test_lpips_backbone_lookup(tmp_path: Path) -> None:
    from edgecgl.errors import EdgecglError

    with pytest.raises(EdgecglError, match="do not exist"):
        find_backbone("alex", tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(EdgecglError, match="not a torchvision alex state dict"):
        Lpips(bad)
    assert "--lpips-backbone" in no_backbone_message()
