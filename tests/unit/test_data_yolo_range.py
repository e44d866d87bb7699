"""YOLO labels stay inside [0, 1]: when written (rounded to 6 decimals) and when read (clipped, counted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from edgecgl.train.data import open_dataset
from edgecgl.train.data.folder import format_yolo, parse_yolo

from tests.unit.test_data_folder import make_folder


def raw_edges(text: str) -> np.ndarray:
    """x1, y1, x2, y2 exactly as a reader computes them from the written text (float64, no clipping)."""
    rows = []
    for line in text.splitlines():
        _, cx, cy, w, h = (float(v) for v in line.split())
        rows.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def edge_boxes(rng: np.random.Generator, n: int, w: int, h: int) -> np.ndarray:
    """Random boxes, most of them touching a frame edge, some reaching past it (as detectors return)."""
    x1 = rng.uniform(-2, w, n)
    y1 = rng.uniform(-2, h, n)
    x2 = x1 + rng.uniform(0.5, w, n)
    y2 = y1 + rng.uniform(0.5, h, n)
    b = np.stack([x1, y1, x2, y2], 1)
    touch = rng.integers(0, 5, n)  # 0..3: snap that side to the edge; 4: leave it
    for side, edge in enumerate((0.0, 0.0, float(w), float(h))):
        b[touch == side, side] = edge
    return b


def test_written_labels_stay_inside_unit_square() -> None:
    rng = np.random.default_rng(0)
    for w, h in ((1280, 720), (960, 540), (1279, 719), (7, 3), (3_000_001, 17)):
        boxes = edge_boxes(rng, 4000, w, h)
        text = format_yolo([0] * len(boxes), boxes, w, h)
        e = raw_edges(text)
        assert (e >= 0).all() and (e <= 1).all(), (w, h, e.min(), e.max())
        # and the boxes are still the boxes (within the 6-decimal rounding)
        want = np.clip(boxes / [w, h, w, h], 0, 1)
        np.testing.assert_allclose(e, want, atol=2e-6)


def test_box_on_the_edge_round_trips() -> None:
    # a detector box flush with the right and bottom edges of an odd-sized frame
    text = format_yolo([2], np.array([[1100.3, 500.7, 1279.0, 719.0]]), 1279, 719)
    cls, boxes, rejected, clipped = parse_yolo(text)
    assert cls.tolist() == [2] and rejected == 0 and clipped == 0
    assert boxes[0, 2] <= 1 and boxes[0, 3] <= 1 and boxes[0, 2] > 0.999


def test_read_clips_and_counts_boxes_past_the_edge() -> None:
    # within the tolerance: accepted, but the box reaches 0.0005 past the left edge and 0.0004 past the bottom
    cls, boxes, rejected, clipped = parse_yolo(
        "0 0.0005 0.5 0.002 0.1\n1 0.5 0.9998 0.2 0.0012\n3 0.5 0.5 0.2 0.2\n"
    )
    assert rejected == 0 and clipped == 2 and cls.tolist() == [0, 1, 3]
    assert boxes.dtype == np.float32 and (boxes >= 0).all() and (boxes <= 1).all()
    np.testing.assert_allclose(boxes[0], [0.0, 0.45, 0.0015, 0.55], atol=1e-7)
    np.testing.assert_allclose(boxes[2], [0.4, 0.4, 0.6, 0.6], atol=1e-7)


def test_dataset_reports_clipped_boxes(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", n=1, h=40, w=80)
    (root / "sunny" / "labels").mkdir()
    (root / "sunny" / "labels" / "s000.txt").write_text("0 0.9995 0.5 0.5 0.5\n0 0.5 0.5 0.2 0.2\n")
    ds = open_dataset(str(root), size=None, split="all")
    assert ds.report.clipped_boxes == 1
    assert "1 label boxes past the frame edge clipped to it" in ds.summary()
    b = ds[0].boxes
    assert len(b) == 2 and float(b[:, 2].max()) <= 80 and float(b.min()) >= 0
