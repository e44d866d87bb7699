"""edgecgl/brightness.py and where it is used: per-image draws kept inside the target domain's
brightness (the bundle's ``StyleStats.luma``), redone lighter when they leave it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from edgecgl.train.eval.keep import KeepObjects, to_uint8
from edgecgl.train.eval.translators import (
    AtOutputResolution,
    ReferenceStyles,
    SampledStyles,
    sampled_styles,
)
from edgecgl.train.style_stats import mean_luma as mean_luma_t

from edgecgl.brightness import RangeCounts, first_in_range, mean_luma
from edgecgl.bundle import StyleStats, stats_to_json
from edgecgl.detect import Detection


def test_mean_luma_is_rec601_on_0_255_for_arrays_and_tensors() -> None:
    img = np.zeros((2, 3, 3), np.uint8)
    img[..., 1] = 100  # pure green
    assert mean_luma(img) == pytest.approx(58.7)
    t = torch.from_numpy(img).permute(2, 0, 1).float()[None] / 127.5 - 1.0
    assert float(mean_luma_t(t)[0]) == pytest.approx(58.7, abs=1e-3)
    with pytest.raises(ValueError):
        mean_luma(img[..., :2])


def fake(bright: dict[float, float]) -> tuple[list[float], object]:
    calls: list[float] = []

    def translate(s: float) -> float:
        calls.append(s)
        return bright[s]

    return calls, translate


def test_a_draw_inside_the_range_stands() -> None:
    calls, tr = fake({2.0: 120.0})
    assert first_in_range(tr, float, 2.0, (65.0, 200.0)) == (120.0, 2.0) and calls == [2.0]


def test_a_dark_draw_is_redone_lighter_until_inside() -> None:
    calls, tr = fake({2.0: 30.0, 1.0: 50.0, 0.5: 90.0, 0.0: 140.0})
    assert first_in_range(tr, float, 2.0, (65.0, 200.0)) == (90.0, 0.5) and calls == [2.0, 1.0, 0.5]


def test_the_mean_is_used_when_no_lighter_draw_is_inside() -> None:
    calls, tr = fake({2.0: 230.0, 1.0: 220.0, 0.5: 210.0, 0.0: 205.0})
    assert first_in_range(tr, float, 2.0, (65.0, 200.0)) == (205.0, 0.0) and calls[-1] == 0.0


def test_no_range_or_the_mean_itself_is_not_checked() -> None:
    calls, tr = fake({2.0: 10.0, 0.0: 10.0})
    assert first_in_range(tr, float, 2.0, None) == (10.0, 2.0)
    assert first_in_range(tr, float, 0.0, (65.0, 200.0)) == (10.0, 0.0)
    assert first_in_range(tr, float, 2.0, None, drawn=99.0) == (99.0, 2.0) and calls == [2.0, 0.0]


def test_counts() -> None:
    c = RangeCounts()
    c.add(2.0, 2.0)
    c.add(0.5, 2.0)
    assert (c.images, c.lighter) == (2, 1) and c.summary().startswith("1 of 2 per-image draw(s) outside")


def test_style_stats_carry_the_range_through_the_manifest() -> None:
    st = StyleStats(np.zeros(2), np.eye(2), (65.4, 199.6))
    back = StyleStats.from_dict(stats_to_json({"global": {"foggy": st}})["global"]["foggy"])
    assert back.luma == (65.4, 199.6) and np.array_equal(back.cov, np.eye(2))
    old = StyleStats.from_dict({"mean": [0.0, 0.0], "cov": [[1.0, 0.0], [0.0, 1.0]]})  # older bundles
    assert old.luma is None and "luma" not in old.to_dict()
    from_ckpt = StyleStats.from_dict(
        {"mean": torch.zeros(2), "cov": torch.eye(2), "luma": torch.tensor([1.0, 2.0])}
    )
    assert from_ckpt.luma == (1.0, 2.0)


S = 4


class DimModel:
    """Brightness falls with the style draw's distance from the mean: wide draws go night-dark."""

    name = "dim"
    domains = ["sunny", "foggy"]
    random_styles = True
    frame_size = (16, 32)

    def __init__(self, luma: tuple[float, float] | None) -> None:
        self.luma = luma

    def style_stats(self, target: str) -> StyleStats:
        return StyleStats(np.zeros(S), np.eye(S), self.luma)

    def translate_styles(self, images: torch.Tensor, target: str, styles: np.ndarray) -> torch.Tensor:
        level = 0.6 - np.clip(np.linalg.norm(styles, axis=1) / 5.0, 0, 1.5)  # mean style: 0.6 (~204)
        return torch.from_numpy(level).float().view(-1, 1, 1, 1).expand(-1, 3, *images.shape[2:]).clone()

    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        return images


def inputs(n: int = 10) -> torch.Tensor:
    return torch.zeros(n, 3, 16, 32)


def test_eval_redraws_dark_draws_lighter_as_image_does() -> None:
    x = inputs()
    plain = SampledStyles(DimModel(None), seed=0, spread=3.0).translate(x, "foggy")
    lum = mean_luma_t(plain)
    dark = [i for i in range(len(x)) if lum[i] < 65.0]
    assert 0 < len(dark) < len(x)  # the fixture must have both kinds

    m = SampledStyles(DimModel((65.0, 255.0)), seed=0, spread=3.0)
    out = m.translate(x, "foggy")
    assert (mean_luma_t(out) >= 65.0).all()
    assert (m.in_range["foggy"].images, m.in_range["foggy"].lighter) == (len(x), len(dark))
    for i in range(len(x)):
        if i in dark:
            assert m.spread_of("foggy", i) < 3.0 and not torch.equal(out[i], plain[i])
            again = m.translate(x[i : i + 1], "foggy", index=i, spread=m.spread_of("foggy", i))[0]
            assert torch.equal(out[i], again)  # the same draw, lighter
        else:
            assert m.spread_of("foggy", i) == 3.0 and torch.equal(out[i], plain[i])


def test_reference_styles_and_seeded_calls_are_not_checked() -> None:
    assert ReferenceStyles.check_brightness is False
    m = SampledStyles(DimModel((65.0, 255.0)), seed=0, spread=3.0)
    m.translate(inputs(), "foggy", seed=1)  # LPIPS diversity: the prior's styles
    assert not m.in_range


def test_keep_objects_starts_from_the_spread_the_brightness_check_left() -> None:
    near = Detection((2.0, 2.0, 30.0, 14.0), "car", 0.9)
    spreads: list[float] = []

    def detect(frame: np.ndarray) -> list[Detection]:
        return [near]  # always found: keep-objects redraws nothing

    sampled = SampledStyles(DimModel((65.0, 255.0)), seed=0, spread=3.0)
    keep = KeepObjects(sampled, detect)
    import edgecgl.train.eval.keep as keep_mod

    real = keep_mod.keep_objects

    def spy(translate, detect, ref, height, spread, tries=3):  # noqa: ANN001, ANN202
        spreads.append(spread)
        return real(translate, detect, ref, height, spread, tries)

    keep_mod.keep_objects = spy
    try:
        out = keep.translate(inputs(), "foggy")
    finally:
        keep_mod.keep_objects = real
    assert spreads == [sampled.spread_of("foggy", i) for i in range(10)] and min(spreads) < 3.0
    assert keep.counts["foggy"].redrawn == 0 and (mean_luma_t(out) >= 65.0).all()
    assert to_uint8(out[0]).dtype == np.uint8


def test_the_eval_notes_find_the_sampled_styles_inside_wrappers() -> None:
    sampled = SampledStyles(DimModel(None), seed=0, spread=1.0)
    wrapped = AtOutputResolution(sampled, (16, 32), "resize")
    assert sampled_styles(wrapped) is sampled and sampled_styles(object()) is None


@pytest.mark.parametrize("luma", [[1.0], [200.0, 100.0], [0.0, float("nan")]])
def test_a_malformed_range_in_a_manifest_is_one_clear_error(tmp_path: Path, luma: list[float]) -> None:
    from edgecgl.bundle import load_bundle
    from edgecgl.errors import EdgecglError
    from tests.runtime_helpers import make_tiny_bundle

    bundle = make_tiny_bundle(tmp_path / "b", pt2=False)
    m = json.loads((bundle / "manifest.json").read_text())
    m["style_stats"]["global"]["night"]["luma"] = luma
    (bundle / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(EdgecglError, match="malformed style statistics"):
        load_bundle(bundle)
