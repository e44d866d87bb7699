"""benchmarks/paste_steps.py on the tiny random-init bundle: both variants see the same windows, the edge
membrane lowers the step, and the sheet is written."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.paste_steps import VARIANTS, compose_cost, measure, sheet
from edgecgl.backends import select_backend
from edgecgl.bundle import load_bundle
from edgecgl.detect import Detection
from edgecgl.translate import Translator
from tests.runtime_helpers import tiny_bundle_for
from tests.unit.test_quality import scene


def test_measure_and_sheet(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    bundle = load_bundle(tiny_bundle_for(tmp_path_factory))
    tr = Translator(select_backend(bundle, "onnxruntime-cpu"), bundle, bundle.domains[1])
    frames = [scene((180, 320), seed=s) for s in (0, 1)]
    boxes = [(60.0, 50.0, 140.0, 120.0), (190.0, 70.0, 260.0, 150.0)]

    def det(_frame: np.ndarray) -> list[Detection]:
        return [Detection(b, "car", 0.9) for b in boxes]

    stats, results, bare = measure(frames, tr, det)
    before, now = (stats[m] for m in VARIANTS)
    assert before["windows"] == now["windows"] == 4 and len(bare) == 2
    assert now["paste_step"]["median"] < before["paste_step"]["median"]
    assert now["compose_ms_per_frame"]["median"] is not None

    cost = compose_cost(frames[0], tr, det, rounds=1, calls=1)
    assert len(cost["windows"]) == 2 and all(cost[m] > 0 for m in VARIANTS)

    path = tmp_path / "sheet.jpg"
    sheet(path, frames, results, 0, width=600)
    img = cv2.imread(str(path))
    assert img is not None and img.shape[1] == 600 and img.shape[0] > 2 * 180 * 200 // 320
