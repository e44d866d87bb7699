"""benchmarks/detector_cost.py: CPU time, not wall time, is what a busy box pays for a detector."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.detector_cost import measure


def _busy(ms: float) -> None:
    end = time.process_time() + ms / 1000.0
    while time.process_time() < end:
        pass


def test_measure_tells_cpu_work_from_waiting() -> None:
    def worker(_frame: np.ndarray) -> list:
        _busy(20)
        return [1]

    def sleeper(_frame: np.ndarray) -> list:
        time.sleep(0.02)
        return []

    frames = [np.zeros((4, 4, 3), np.uint8)] * 3
    res = measure({"busy": (worker, 0), "sleepy": (sleeper, 0)}, frames, rounds=2)
    assert res["busy"]["cpu_ms_per_call"] >= 15 and res["busy"]["boxes"] == 3
    assert res["sleepy"]["cpu_ms_per_call"] < 10 <= res["sleepy"]["wall_ms_per_call"]
    assert len(res["busy"]["cpu_ms_rounds"]) == 2
