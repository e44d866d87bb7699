"""Per-run statistics stay bounded on day-long runs (issue 9, soak: memory stays flat)."""

from __future__ import annotations

import numpy as np

from edgecgl.pipeline import LATENCY_WINDOW, FrameResult, RunStats


def test_latency_history_is_a_bounded_window() -> None:
    stats = RunStats()
    img = np.zeros((1, 1, 3), np.uint8)
    n = LATENCY_WINDOW + 5000
    for i in range(n):
        stats.add(FrameResult(img, [], [], {"frame": float(i), "encode": 1.0}))
    assert stats.frames == n
    assert len(stats.ms["frame"]) == LATENCY_WINDOW and len(stats.ms["encode"]) == LATENCY_WINDOW
    assert stats.ms["frame"][0] == 5000.0  # the oldest samples were dropped, the newest kept
    s = stats.summary()
    assert s["frames"] == n and s["stages_ms"]["frame"]["p50_ms"] > 5000
