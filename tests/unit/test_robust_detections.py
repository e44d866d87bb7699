"""Whatever a detector returns, the pipeline translates the frame and keeps its size (issue 9, "Detections").

A fake detector feeds the real Pipeline (tiny bundle, ONNX Runtime): no boxes, thousands, boxes
outside the frame, zero-area and non-finite boxes (dropped: nothing to translate), whole-frame boxes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecgl.backends import select_backend
from edgecgl.bundle import load_bundle
from edgecgl.detect import Detection
from edgecgl.pipeline import Pipeline
from edgecgl.translate import Translator

H, W = 60, 100


@pytest.fixture(scope="module")
def translator(tiny_bundle: Path) -> Translator:
    b = load_bundle(tiny_bundle)
    return Translator(select_backend(b, "onnxruntime-cpu"), b, "night")


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)


def run(translator: Translator, frame: np.ndarray, boxes: list[tuple[float, float, float, float]]):
    dets = [Detection(tuple(float(v) for v in b), "car", 0.9, i) for i, b in enumerate(boxes)]
    return Pipeline(translator, lambda _f: dets)(frame)


def test_no_detections_is_the_global_translation(translator: Translator, frame: np.ndarray) -> None:
    r = run(translator, frame, [])
    assert r.detections == [] and np.array_equal(r.image, translator.translate_frame(frame))


@pytest.mark.parametrize(
    "boxes",
    [
        [(150, 10, 180, 40), (-50, -50, -10, -10), (10, 70, 50, 90), (100, 0, 120, 60)],  # wholly outside
        [(20, 20, 20, 40), (30, 30, 50, 30), (40, 40, 40, 40)],  # zero area
        [(float("nan"), 0, 10, 10), (0, 0, float("inf"), 10), (-float("inf"), 0, 5, 5)],  # non-finite
    ],
    ids=["outside", "zero-area", "non-finite"],
)
def test_boxes_with_nothing_inside_the_frame_are_dropped(
    translator: Translator, frame: np.ndarray, boxes: list[tuple[float, float, float, float]]
) -> None:
    r = run(translator, frame, boxes)
    assert r.detections == [] and r.windows == []
    assert np.array_equal(r.image, translator.translate_frame(frame))  # not one pixel pasted


@pytest.mark.parametrize("box", [(0, 0, W, H), (-1e6, -1e6, 1e6, 1e6)], ids=["exact", "beyond"])
def test_whole_frame_box(translator: Translator, frame: np.ndarray, box: tuple[float, ...]) -> None:
    r = run(translator, frame, [box])
    assert r.image.shape == frame.shape and r.windows == [(0, 0, W, H)]
    assert not np.array_equal(r.image, translator.translate_frame(frame))  # the instance was pasted


def test_partly_outside_boxes_are_clipped(translator: Translator, frame: np.ndarray) -> None:
    r = run(translator, frame, [(-20, -10, 30, 25), (80, 40, 140, 90)])
    assert len(r.windows) == 2
    for x1, y1, x2, y2 in r.windows:
        assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H
    glob = translator.translate_frame(frame)
    outside = np.ones((H, W), bool)
    for x1, y1, x2, y2 in r.windows:
        outside[y1:y2, x1:x2] = False
    assert np.array_equal(r.image[outside], glob[outside])


def test_thousands_of_detections(translator: Translator, frame: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(-10, [W + 10, H + 10], (2000, 2))
    wh = rng.uniform(1, 40, (2000, 2))
    boxes = [tuple(b) for b in np.concatenate([xy, xy + wh], 1)]
    r = run(translator, frame, boxes)
    assert r.image.shape == frame.shape and r.image.dtype == np.uint8
    lo, hi = np.maximum(xy, 0), np.minimum(xy + wh, [W, H])
    visible = int(np.all(hi > lo, axis=1).sum())
    assert 1000 < visible < 2000 and len(r.detections) == visible  # only boxes wholly outside are dropped
    assert len(r.windows) == len(r.detections)
