"""benchmarks/quality.py's own metric and arm syntax (the rest is train/eval/, tested there)."""

from __future__ import annotations

import numpy as np
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


# ---------------------------------------------------------------- benchmarks/product_quality.py
def _car_scene(lights: float) -> np.ndarray:
    """A dark 40x80 frame, a car box at x 20-60, y 10-30, with two 3x3 light blobs of ``lights``."""
    img = np.full((40, 80, 3), 0.05, np.float32)
    img[10:30, 20:60] = 0.15
    img[20:23, 24:27] = lights
    img[20:23, 53:56] = lights
    return img


def test_lights_score_is_one_for_the_render_and_zero_without_lights() -> None:
    from benchmarks.product_quality import lights_score

    gt = _car_scene(0.95)
    boxes = np.array([[20.0, 10.0, 60.0, 30.0]])
    out, ref = lights_score(gt, gt, boxes)
    assert out == ref and ref > 0.7
    dark, _ = lights_score(_car_scene(0.15), gt, boxes)
    assert abs(dark) < 1e-6
    half, _ = lights_score(_car_scene(0.55), gt, boxes)
    assert 0.4 < half / ref < 0.6
    assert lights_score(gt, _car_scene(0.15), boxes) is None  # the render has no lights: not scored


def test_product_score_folder_and_boxes(tmp_path) -> None:  # noqa: ANN001
    import cv2

    from benchmarks.product_quality import read_boxes, score_folder

    (tmp_path / "night" / "labels").mkdir(parents=True)
    gt = _car_scene(0.95)
    cv2.imwrite(str(tmp_path / "night" / "a.png"), (gt * 255).round().astype(np.uint8))
    (tmp_path / "night" / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n3 0.1 0.1 0.1 0.1\n")
    assert read_boxes(tmp_path / "night" / "labels" / "a.txt", 40, 80, (0,)).tolist() == [[20, 10, 60, 30]]
    assert len(read_boxes(tmp_path / "night" / "labels" / "a.txt", 40, 80)) == 2
    out = tmp_path / "out.png"
    cv2.imwrite(str(out), (_car_scene(0.15) * 255).round().astype(np.uint8))
    res = score_folder({"a": out}, tmp_path, ["a"], "night")
    assert res["lights"] == 0 and res["lights_scenes"] == 1
    same = score_folder({"a": tmp_path / "night" / "a.png"}, tmp_path, ["a"], "night")
    assert same["lights"] == 1 and same["psnr"] > 60


def test_train_arm_reuses_a_kept_stage_and_skips_one_it_is_past(tmp_path, monkeypatch) -> None:
    """A run trained earlier to 2500 (weights kept only at 2500) is reused at 2500 and not scored at 1000,
    instead of stopping the whole benchmark (session 7 lost a stage that way)."""
    import argparse

    import benchmarks.quality as q

    run = tmp_path / "runs" / "ours-s0" / "000-ours"
    (run / "checkpoints").mkdir(parents=True)
    for name in ("model.pt", "model-2500.pt"):
        (run / "checkpoints" / name).write_bytes(b"weights")
    monkeypatch.setattr(q, "run_step", lambda root: (run, 2500))
    rep = q.Report(tmp_path / "quality.json", {})
    args = argparse.Namespace(work=tmp_path)
    assert q.train_arm(args, tmp_path, "ours", [], 0, rep, 2500) == run / "checkpoints" / "model-2500.pt"
    assert q.train_arm(args, tmp_path, "ours", [], 0, rep, 1000) is None


def test_oracle_returns_each_inputs_render_through_the_working_size() -> None:
    """The ceiling rows: at the output size it is the render (guided excepted: an affine map of the input
    is not the render); shrunk, every mode loses the finest detail."""
    from types import SimpleNamespace

    from benchmarks.quality_upsampler import Oracle, oracle_pairs

    g = torch.Generator().manual_seed(1)
    inputs = torch.rand(3, 3, 32, 64, generator=g) * 2 - 1
    renders = torch.rand(3, 3, 32, 64, generator=g) * 2 - 1
    es = SimpleNamespace(inputs=inputs, input_names=["a", "b", "c"], real={"night": renders[[2, 0]]},
                         real_names={"night": ["c", "a"]})  # fmt: skip
    pairs = oracle_pairs(es, ["night"])
    assert len(pairs["night"]) == 2  # "b" has no render: it is not a pair
    for how in ("bilinear", "residual"):  # at the output size both give the render back
        full = Oracle(pairs, ["sunny", "night"], (32, 64), how).translate(inputs[[2, 0]], "night")
        assert torch.allclose(full, renders[[2, 0]], atol=1e-4), how
    for how in ("guided", "residual", "bilinear"):
        low = Oracle(pairs, ["sunny", "night"], (8, 16), how).translate(inputs[[0]], "night")
        assert low.shape == (1, 3, 32, 64) and sharpness_ratio(low, renders[[0]]) < 0.5
