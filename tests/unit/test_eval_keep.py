"""``edgecgl eval --keep-objects`` (train/eval/keep.py): a fake model whose fog thickens with the style
draw's distance from the mean, and a fake detector that finds the near box only while the picture still
has contrast. Checks that lost boxes are redrawn with the same draw, lighter, and counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from edgecgl.train.eval.keep import KeepObjects, to_uint8
from edgecgl.train.eval.run import EvalOptions, evaluate
from edgecgl.train.eval.translators import AtOutputResolution, SampledStyles

from edgecgl.bundle import StyleStats
from edgecgl.detect import Detection
from edgecgl.errors import EdgecglError

S = 4
NEAR = Detection((2.0, 2.0, 30.0, 14.0), "car", 0.9)  # 12 of 16 px high: near


class FoggyModel:
    """Fog amount = |style - mean| / 4 (clipped): wide draws white the picture out."""

    name = "fog"
    domains = ["sunny", "foggy"]
    random_styles = True
    frame_size = (16, 32)

    def style_stats(self, target: str) -> StyleStats:
        return StyleStats(np.zeros(S), np.eye(S))

    def translate_styles(self, images: torch.Tensor, target: str, styles: np.ndarray) -> torch.Tensor:
        a = torch.from_numpy(np.clip(np.linalg.norm(styles, axis=1) / 4.0, 0, 1)).float().view(-1, 1, 1, 1)
        return images * (1 - a) + 0.9 * a

    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        return images


def detect(frame: np.ndarray) -> list[Detection]:
    """The near car while the frame keeps some contrast."""
    assert frame.dtype == np.uint8 and frame.shape[2] == 3
    return [NEAR] if frame.std() > 12 else []


def inputs(n: int = 12) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, 16, 32, generator=g) * 2 - 1


def test_lost_near_boxes_are_redrawn_with_the_same_draw_lighter() -> None:
    x = inputs()
    plain = SampledStyles(FoggyModel(), seed=0, spread=3.0).translate(x, "foggy")
    lost = [i for i in range(len(x)) if not detect(to_uint8(plain[i]))]
    assert 0 < len(lost) < len(x)  # the fixture must have both kinds

    keep = KeepObjects(SampledStyles(FoggyModel(), seed=0, spread=3.0), detect)
    out = keep.translate(x, "foggy")
    c = keep.counts["foggy"]
    assert (c.images, c.redrawn, c.near) == (len(x), len(lost), len(x))
    assert c.near_kept == len(x)  # the last try is the mean style, which keeps everything here
    for i in range(len(x)):
        if i in lost:
            assert detect(to_uint8(out[i])) and not torch.equal(out[i], plain[i])
            # the same draw at one of the lighter spreads the rule tries, not another draw
            same = [SampledStyles(FoggyModel(), 0, s).translate(x[i : i + 1], "foggy", index=i)[0]
                    for s in (1.5, 0.75, 0.0)]  # fmt: skip
            assert any(torch.equal(out[i], y) for y in same)
        else:
            assert torch.equal(out[i], plain[i])


def test_batches_keep_each_images_own_draw() -> None:
    x = inputs(6)
    whole = KeepObjects(SampledStyles(FoggyModel(), 0, 3.0), detect).translate(x, "foggy")
    parts = KeepObjects(SampledStyles(FoggyModel(), 0, 3.0), detect)
    split = torch.cat([parts.translate(x[:4], "foggy"), parts.translate(x[4:], "foggy")])
    assert torch.equal(whole, split)


def test_at_output_resolution_checks_the_output_size_picture() -> None:
    seen: list[tuple[int, int]] = []

    def det(frame: np.ndarray) -> list[Detection]:
        seen.append(frame.shape[:2])
        return detect(frame)

    x = torch.nn.functional.interpolate(inputs(2), size=(32, 64), mode="nearest")
    keep = KeepObjects(AtOutputResolution(SampledStyles(FoggyModel(), 0, 3.0), (16, 32), "resize"), det)
    assert keep.translate(x, "foggy").shape == (2, 3, 32, 64)
    assert set(seen) == {(32, 64)}


def test_seeded_calls_and_bad_wrapping() -> None:
    x = inputs(2)
    keep = KeepObjects(SampledStyles(FoggyModel(), 0, 3.0), detect)
    assert torch.equal(keep.translate(x, "foggy", seed=1), x)  # LPIPS path: the prior, no check
    assert keep.counts == {}
    with pytest.raises(EdgecglError, match="sampled style"):
        KeepObjects(FoggyModel(), detect)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[3,H,W\]"):
        to_uint8(x)


def test_evaluate_needs_the_detector_and_notes_the_counts(tmp_path) -> None:  # noqa: ANN001
    from tests.eval_fixtures import write_paired_folder

    data = f"folder:{write_paired_folder(tmp_path / 'data', n=3)}"
    opts = EvalOptions(metrics=["paired"], split="all", targets=["night"], style="sample",
                       style_spread=3.0, keep_objects=True, baselines=False)  # fmt: skip

    class Night(FoggyModel):
        domains = ["sunny", "night", "cloudy", "rainy"]

    with pytest.raises(EdgecglError, match="needs a detector"):
        evaluate(data, [Night()], opts, log=lambda _m: None)
    _, extras = evaluate(data, [Night()], opts, log=lambda _m: None, detect=detect)
    counts = extras["meta"]["keep_objects"]["fog"]["night"]
    assert counts["images"] == 3 and counts["near"] == 3
    assert extras["meta"]["style"] == "sample (spread 3), --keep-objects"
    assert any(n.startswith("--keep-objects: fog -> night") for n in extras["meta"]["notes"])
