"""Instances fade in and out with their tracks instead of popping (motion.InstanceFader, the paste's
strengths)."""

from __future__ import annotations

import numpy as np
import pytest

from edgecgl.compose import paste_instances
from edgecgl.detect import Detection
from edgecgl.motion import InstanceFader
from edgecgl.pipeline import Pipeline, PipelineConfig

CAR = Detection((10.0, 10.0, 50.0, 40.0), "car", 0.9, 1)
VAN = Detection((60.0, 10.0, 90.0, 40.0), "car", 0.9, 2)


def strengths(fader: InstanceFader, frames: list[list[Detection]]) -> list[dict[int, float]]:
    return [
        {d.track_id: round(d.strength, 3) for d in fader.apply(dets, i) if d.track_id is not None}
        for i, dets in enumerate(frames)
    ]


def test_a_new_track_fades_in_and_a_lost_one_fades_out_where_it_was() -> None:
    fader = InstanceFader(frames=4)
    got = strengths(fader, [[CAR], [CAR, VAN], [CAR, VAN], [CAR, VAN], [CAR, VAN], [CAR], [CAR], [CAR]])
    assert [g.get(1) for g in got] == [1.0] * 8  # there from the first frame: nothing popped in
    assert [g.get(2) for g in got] == [None, 0.25, 0.5, 0.75, 1.0, 0.75, 0.5, 0.25]
    held = [d for d in fader.apply([CAR], 8) if d.track_id == 2]
    assert held == []  # faded out: gone
    fader = InstanceFader(frames=4)
    fader.apply([CAR, VAN], 0)
    (gone,) = [d for d in fader.apply([CAR], 1) if d.track_id == 2]
    assert gone.box == VAN.box and gone.strength == pytest.approx(0.75)


def test_a_track_missed_once_dips_and_recovers() -> None:
    """A detection missed for one detector call (2 frames at --detect-every 2) no longer blinks off."""
    fader = InstanceFader(frames=4)
    got = strengths(fader, [[CAR], [CAR], [], [], [CAR], [CAR], [CAR]])
    assert [g.get(1) for g in got] == [1.0, 1.0, 0.75, 0.5, 0.75, 1.0, 1.0]


def test_untracked_detections_and_one_frame_fades_are_left_alone() -> None:
    still = Detection((0.0, 0.0, 10.0, 10.0), "car", 0.9)
    assert InstanceFader(frames=4).apply([still], 5) == [still]
    assert InstanceFader(frames=1).apply([VAN], 3) == [VAN]


def test_strength_scales_the_paste() -> None:
    frame = np.full((50, 100, 3), 100, np.uint8)
    crop = np.full((30, 40, 3), 200, np.uint8)
    window, box = (10, 10, 50, 40), (14.0, 13.0, 46.0, 37.0)
    full = paste_instances(frame, [crop], [window], [box])
    half = paste_instances(frame, [crop], [window], [box], strengths=[0.5])
    none = paste_instances(frame, [crop], [window], [box], strengths=[0.0])
    assert full[25, 30, 0] == 200 and half[25, 30, 0] == 150 and (none == frame).all()


class _Detector:
    """Finds the car on frames 0-3, nothing after."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        self.n += 1
        return [CAR] if self.n <= 4 else []


def test_pipeline_fades_a_lost_track_out() -> None:
    pipe = Pipeline(None, _Detector(), PipelineConfig(fade_frames=4))  # type: ignore[arg-type] # detect() only
    frame = np.zeros((60, 100, 3), np.uint8)
    got = [[round(d.strength, 2) for d in pipe.detect(frame)[0]] for _ in range(9)]
    assert got == [[1.0], [1.0], [1.0], [1.0], [0.75], [0.5], [0.25], [], []]
    pipe.reset()
    assert pipe.fader.tracks == {}


def test_benchmark_counts_pops_flashes_and_switch_moments() -> None:
    from benchmarks.instance_stability import events, runs, score

    far = Detection((200.0, 10.0, 230.0, 30.0), "car", 0.4, 3)
    frames = [[CAR], [CAR, far], [CAR], [CAR], [CAR, far], [CAR, far], [CAR]]
    assert sorted(runs(frames)) == [1, 2, 7]
    assert [t for t, _ in events(frames)] == [1, 2, 4, 6]
    s = score(frames, [[CAR, far]] * len(frames))
    assert s["pops_per_100_frames"] == pytest.approx(4 * 100 / 6, abs=0.1)
    assert s["flashes_per_100_frames"] == pytest.approx(2 * 100 / 6, abs=0.1)
    assert s["duplicates_per_100_frames"] == 0 and s["coverage_iou_median"] == 1.0
