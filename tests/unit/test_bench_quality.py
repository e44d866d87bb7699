"""benchmarks/quality.py's own metric and arm syntax (the rest is train/eval/, tested there)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.quality import laplacian_variance, parse_arm, sharpness_ratio


def test_sharpness_ratio_is_one_for_itself_and_falls_with_blur() -> None:
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, 3, 32, 64, generator=g) * 2 - 1
    assert sharpness_ratio(img, img) == 1.0
    blurred = F.avg_pool2d(img, 3, 1, 1, count_include_pad=False)
    assert sharpness_ratio(blurred, img) < 0.3
    assert sharpness_ratio(img, blurred) > 3.0
    flat = torch.zeros(2, 3, 16, 16)
    assert laplacian_variance(flat).tolist() == [0.0, 0.0]


def test_parse_arm() -> None:
    assert parse_arm("ours") == ("ours", [])
    assert parse_arm("r=loss.gp.rule=norm;data.frame_size=[64,128]") == (
        "r",
        ["loss.gp.rule=norm", "data.frame_size=[64,128]"],
    )
