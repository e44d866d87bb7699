"""benchmarks/quality.py's own metric and arm syntax (the rest is train/eval/, tested there)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.quality import laplacian_variance, parse_arm, sharpness_ratio, stability


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


def _block(kid: float, psnr: float) -> dict:
    return {
        "results": {"ours": {"kid": {"night": kid, "rainy": kid}, "psnr": {"night": psnr, "rainy": psnr}}}
    }


def test_stability_compares_the_final_stage_with_the_best() -> None:
    steady = {"0@1000": _block(0.30, 15.0), "0@2000": _block(0.20, 16.0), "0@3000": _block(0.21, 15.5)}
    collapsed = {"1@1000": _block(0.20, 16.0), "1@2000": _block(0.40, 12.0)}
    out = stability({**steady, **collapsed, "2@1000": _block(0.1, 1.0)}, ["ours", "absent"])
    s0, s1 = out["ours/s0"], out["ours/s1"]
    assert (s0["final_step"], s0["best_kid_step"], s0["best_psnr_step"]) == (3000, 2000, 2000)
    assert s0["kid_within_10pct"] and s0["psnr_within_1db"]
    assert not s1["kid_within_10pct"] and not s1["psnr_within_1db"]
    assert "ours/s2" not in out and not any(k.startswith("absent") for k in out)  # one stage: nothing to say
