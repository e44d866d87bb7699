"""The Ultralytics adapter: filtering, tracking IDs, EMA-smoothed boxes, fixed style seeds, errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgecgl.detect import (
    Detection,
    Detector,
    DetectorConfig,
    filter_detections,
    load_detector,
    quiet_onnx_session,
)
from edgecgl.errors import EdgecglError

NAMES = {0: "person", 2: "car", 9: "traffic light"}


class FakeYOLO:
    """Duck-typed Ultralytics model: returns queued results; records what it was called with."""

    names = NAMES

    def __init__(self, frames: list[list[tuple[tuple[float, ...], int, float, int | None]]]) -> None:
        self.frames, self.calls = list(frames), []

    def _result(self):  # noqa: ANN202
        dets = self.frames.pop(0)
        ids = [d[3] for d in dets]
        boxes = SimpleNamespace(
            xyxy=np.array([d[0] for d in dets], np.float32).reshape(-1, 4),
            conf=np.array([d[2] for d in dets], np.float32),
            cls=np.array([d[1] for d in dets], np.float32),
            id=None if not dets or ids[0] is None else np.array(ids, np.float32),
        )
        return [SimpleNamespace(boxes=_Boxes(boxes, len(dets)))]

    def predict(self, frame: np.ndarray, **kw):  # noqa: ANN201
        self.calls.append(("predict", frame, None, kw))
        return self._result()


class _Boxes:
    def __init__(self, ns: SimpleNamespace, n: int) -> None:
        self.xyxy, self.conf, self.cls, self.id, self._n = ns.xyxy, ns.conf, ns.cls, ns.id, n

    def __len__(self) -> int:
        return self._n


class ScriptedTracker:
    """Ultralytics' tracker interface: gives the boxes of each call the IDs scripted for it (None: the box
    is not tracked yet) and records the scores it was shown."""

    def __init__(self, ids: list[list[int | None]]) -> None:
        self.ids, self.seen, self.resets = list(ids), [], 0

    def update(self, boxes: _Boxes, img: np.ndarray | None = None) -> np.ndarray:
        ids = self.ids.pop(0)
        self.seen.append(list(np.asarray(boxes.conf)))
        rows = [
            [*np.asarray(boxes.xyxy)[i], t, float(boxes.conf[i]), float(boxes.cls[i]), i]
            for i, t in enumerate(ids)
            if t is not None
        ]
        return np.asarray(rows, np.float32).reshape(-1, 8)

    def reset(self) -> None:
        self.resets += 1


def test_filter_class_conf_size_and_count() -> None:
    cfg = DetectorConfig(conf=0.5, min_size=10, max_instances=2)
    dets = [
        Detection((0, 0, 50, 50), "car", 0.9),
        Detection((0, 0, 50, 50), "traffic light", 0.99),  # class not wanted
        Detection((0, 0, 50, 50), "person", 0.4),  # low confidence
        Detection((0, 0, 5, 50), "car", 0.95),  # too thin
        Detection((0, 0, 40, 40), "bus", 0.6),
        Detection((0, 0, 30, 30), "truck", 0.7),
    ]
    kept = filter_detections(dets, cfg)
    assert [d.conf for d in kept] == [0.9, 0.6]  # the two largest boxes (the nearest objects)
    assert [d.conf for d in filter_detections(dets, DetectorConfig(**{**vars(cfg), "rank": "conf"}))] == [
        0.9,
        0.7,
    ]


def test_one_box_per_object_and_tracks_kept_on_less() -> None:
    """YOLO's ``car`` and ``truck`` for one SUV are one object (the older track wins); a running track's
    detection passes at keep_conf, an untracked one needs conf."""
    cfg = DetectorConfig(conf=0.35, keep_conf=0.1)
    suv = [Detection((0, 0, 50, 40), "truck", 0.6, 9), Detection((1, 0, 50, 41), "car", 0.5, 3)]
    assert filter_detections(suv, cfg) == [suv[1]]
    assert len(filter_detections(suv, DetectorConfig(merge_iou=None))) == 2
    weak = [Detection((0, 0, 50, 40), "car", 0.2, 4), Detection((60, 0, 110, 40), "car", 0.2)]
    assert filter_detections(weak, cfg) == [weak[0]]
    assert filter_detections(weak, DetectorConfig(keep_conf=None)) == []


def test_detector_feeds_the_tracker_low_scores_and_pastes_the_detection_box() -> None:
    """The model runs at keep_conf (the tracker keeps running tracks on those) with class-agnostic NMS, in
    BGR; the box given back is the frame's detection, and a track's weak detection stays."""
    model = FakeYOLO([[((10, 10, 60, 60), 2, 0.9, None)], [((12, 10, 64, 60), 2, 0.2, None)]])
    tracker = ScriptedTracker([[7], [7]])
    det = Detector(model, DetectorConfig(smooth=0.0), tracker=tracker)
    frame = np.zeros((80, 100, 3), np.uint8)
    frame[..., 0] = 255  # red in RGB
    out = det(frame)
    kind, seen, _, kw = model.calls[0]
    assert kind == "predict" and kw["conf"] == pytest.approx(0.1) and kw["agnostic_nms"] is True
    assert seen[0, 0, 2] == 255 and seen[0, 0, 0] == 0  # Ultralytics gets BGR
    assert kw["classes"] == [0, 2] and kw["verbose"] is False
    assert out == [Detection((10.0, 10.0, 60.0, 60.0), "car", pytest.approx(0.9), 7)]
    assert det(frame) == [Detection((12.0, 10.0, 64.0, 60.0), "car", pytest.approx(0.2), 7)]
    untracked = Detector(FakeYOLO([[((10, 10, 60, 60), 2, 0.9, None)]]), DetectorConfig(track=False))
    untracked(frame)
    assert untracked.model.calls[0][3]["conf"] == pytest.approx(0.35)  # no tracker: conf for everything


def test_make_tracker_sets_thresholds_from_conf(tmp_path: Path) -> None:
    if importlib.util.find_spec("lap") is None:
        pytest.skip("lap is not installed: no tracking")
    from edgecgl.detect import make_tracker

    args = make_tracker(DetectorConfig(conf=0.4, keep_conf=0.15)).args
    assert (args.track_high_thresh, args.new_track_thresh, args.track_low_thresh) == (0.4, 0.4, 0.15)
    assert args.track_buffer == 30  # the rest from Ultralytics' bytetrack.yaml
    with pytest.raises(EdgecglError, match="not found"):
        make_tracker(DetectorConfig(tracker=str(tmp_path / "nonexistent_tracker.yaml")))
    other = tmp_path / "ocsort.yaml"
    other.write_text("tracker_type: ocsort\n")
    with pytest.raises(EdgecglError, match="tracker_type"):
        make_tracker(DetectorConfig(tracker=str(other)))


def test_boxes_are_smoothed_per_track_and_seeds_fixed() -> None:
    model = FakeYOLO(
        [[((0, 0, 40, 40), 2, 0.9, 1)], [((10, 0, 50, 40), 2, 0.9, 1)], [((10, 0, 50, 40), 2, 0.9, 2)]]
    )
    det = Detector(model, DetectorConfig(smooth=0.5, jitter=None), base_seed=3)
    det(np.zeros((60, 60, 3), np.uint8))
    second = det(np.zeros((60, 60, 3), np.uint8))[0]
    assert second.box == (5.0, 0.0, 45.0, 40.0)  # halfway: EMA with weight 0.5
    new_track = det(np.zeros((60, 60, 3), np.uint8))[0]
    assert new_track.box == (10.0, 0.0, 50.0, 40.0)  # a new ID starts from its own box
    assert det.style_seed(1) != det.style_seed(2)
    assert det.style_seed(1) == Detector(FakeYOLO([]), base_seed=3).style_seed(1)


def test_smoothing_takes_jitter_out_and_follows_motion() -> None:
    """A side that moves 1 px on a 100-px box is jitter (smoothed); one that moves 20 px is a car
    entering the frame (followed at once, not lagged behind)."""
    model = FakeYOLO([[((0, 0, 100, 100), 2, 0.9, 1)], [((0, 1, 120, 100), 2, 0.9, 1)]])
    det = Detector(model, DetectorConfig(smooth=0.5, jitter=0.03))
    det(np.zeros((60, 60, 3), np.uint8))
    (d,) = det(np.zeros((60, 60, 3), np.uint8))
    assert d.box == (0.0, 0.5, 120.0, 100.0)


def test_reset_forgets_tracks_before_another_video() -> None:
    """A folder of clips runs one detector: the next clip must not smooth its cars toward the last
    clip's boxes, and the tracker starts over."""
    model = FakeYOLO([[((0, 0, 40, 40), 2, 0.9, None)], [((20, 0, 60, 40), 2, 0.9, None)]])
    tracker = ScriptedTracker([[1], [1]])
    det = Detector(model, DetectorConfig(smooth=0.5), base_seed=3, tracker=tracker)
    det(np.zeros((60, 60, 3), np.uint8))
    seed = det.style_seed(1)
    det.reset()
    assert tracker.resets == 1
    assert det(np.zeros((60, 60, 3), np.uint8))[0].box == (20.0, 0.0, 60.0, 40.0)  # not halfway from clip 1
    assert det.style_seed(1) == seed  # the same run's seeds


@pytest.mark.assets
def test_real_tracker_ids_start_over_after_reset(assets: Path) -> None:
    """The real tracker after one clip: without a reset, the next clip's cars are new tracks in a running
    tracker (unconfirmed on their first frame, so no instances at all); after it, confirmed from 1."""
    import cv2

    from benchmarks.common import clip_frames

    if importlib.util.find_spec("lap") is None:
        pytest.skip("lap is not installed: no tracking")
    det = load_detector(assets / "models" / "yolov8n-coco.pt", DetectorConfig(imgsz=320))
    for f in clip_frames(assets / "video" / "highway_960x540_audio.mp4", 12):
        det(f)
    det.reset()
    frame = cv2.cvtColor(cv2.imread(str(assets / "frames" / "bdd_sunny_1.jpg")), cv2.COLOR_BGR2RGB)
    ids = [d.track_id for d in det(frame)]
    assert ids and min(ids) == 1, ids


def test_no_detections_and_untracked_results() -> None:
    model = FakeYOLO([[], [((0, 0, 30, 30), 0, 0.8, None)]])
    det = Detector(model, DetectorConfig(track=False))
    assert det(np.zeros((40, 40, 3), np.uint8)) == []
    (d,) = det(np.zeros((40, 40, 3), np.uint8))
    assert d.track_id is None and d.cls == "person"


def test_missing_detector_path_gives_offline_hint(tmp_path: Path) -> None:
    with pytest.raises(EdgecglError, match="does not exist") as ei:
        load_detector(tmp_path / "nope.pt")
    assert "offline" in (ei.value.hint or "") and "--no-instances" in (ei.value.hint or "")


@pytest.mark.assets
@pytest.mark.slow
def test_real_yolo_finds_and_tracks_cars(assets: Path) -> None:
    import cv2

    det = load_detector(assets / "models" / "yolov8n-coco.pt", DetectorConfig(imgsz=320))
    frame = cv2.cvtColor(cv2.imread(str(assets / "frames" / "bdd_sunny_1.jpg")), cv2.COLOR_BGR2RGB)
    first = det(frame)
    again = det(frame)
    assert first and all(d.cls in DetectorConfig().classes for d in first)
    assert any(d.cls == "car" for d in first)
    if det.tracking:
        assert {d.track_id for d in again} & {d.track_id for d in first}


@pytest.mark.assets
@pytest.mark.slow
def test_tracking_keeps_the_cars_that_detection_finds(assets: Path) -> None:
    """The tracker must not drop what the detector finds: Ultralytics 8.4's default tracker (TrackTrack)
    returned half the boxes of predict on the real clip. Over the clip's first frames the tracked boxes
    stay close to the detected ones (a new track waits one frame to be confirmed)."""
    from benchmarks.common import clip_frames

    if importlib.util.find_spec("lap") is None:
        pytest.skip("lap is not installed: no tracking")
    frames = clip_frames(assets / "video" / "highway_960x540_audio.mp4", 24)
    model = assets / "models" / "yolov8n-coco.pt"
    found = [len(load_detector(model, DetectorConfig(track=False))(f)) for f in frames]
    tracker = load_detector(model, DetectorConfig(smooth=0.0))
    kept = [len(tracker(f)) for f in frames]
    assert sum(found) >= 24 and sum(kept) >= 0.8 * sum(found), (found, kept)


@pytest.mark.assets
@pytest.mark.slow
def test_onnx_detector_runs_without_spin_wait_and_finds_what_the_pt_finds(
    assets: Path, tmp_path: Path
) -> None:
    """An .onnx detector's ORT session is reopened quiet (spinning off, N threads): this pins the layout
    of the installed Ultralytics (predictor.model.backend.session) and checks the boxes do not change."""
    import shutil

    import cv2
    from ultralytics import YOLO

    pt = tmp_path / "yolo.pt"
    shutil.copy(assets / "models" / "yolov8n-coco.pt", pt)
    onnx_path = Path(YOLO(str(pt)).export(format="onnx", imgsz=(192, 320), verbose=False))
    det = load_detector(onnx_path, DetectorConfig(imgsz=320, ort_threads=1, track=False))
    session = det.model.predictor.model.backend.session
    opts = session.get_session_options()
    assert opts.intra_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"

    frame = cv2.cvtColor(cv2.imread(str(assets / "frames" / "bdd_sunny_1.jpg")), cv2.COLOR_BGR2RGB)
    ref = load_detector(pt, DetectorConfig(imgsz=320, track=False))(frame)
    got = det(frame)
    cars = [d for d in ref if d.cls == "car"]
    assert cars and len(got) == len(ref)

    def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / union

    for d in cars:  # same network, same letterbox: the boxes agree up to float rounding
        assert max(iou(d.box, g.box) for g in got if g.cls == "car") > 0.95


def test_quiet_onnx_session_leaves_other_models_alone() -> None:
    model = FakeYOLO([[]])
    assert quiet_onnx_session(model, "yolo.pt") == ""
    assert model.calls == []  # a .pt (or .engine) model is not touched, not even warmed up


def test_an_onnx_that_is_no_detector_is_one_clear_error(tiny_bundle: Path) -> None:
    with pytest.raises(EdgecglError, match="detector") as ei:
        load_detector(tiny_bundle / "content_encoder.onnx")
    assert ei.value.hint


def test_the_camera_cars_hood_is_not_an_instance() -> None:
    """YOLO calls the camera car's hood a car (BDD100K bdd_sunny_2: 1271x173 at the bottom edge, 0.37); kept
    by the largest-first rank it was pasted first and turned the hood black. A close car cut by the frame's
    edge is not flat, and a flat box above the bottom edge is not the hood."""
    hw = (720, 1280)
    hood = Detection((2.0, 537.0, 1273.0, 711.0), "car", 0.37)
    close = Detection((1117.0, 335.0, 1280.0, 720.0), "car", 0.44)
    flat_far = Detection((100.0, 300.0, 600.0, 400.0), "bus", 0.8)
    cfg = DetectorConfig()
    assert filter_detections([hood, close, flat_far], cfg, hw) == [close, flat_far]
    assert hood in filter_detections([hood], cfg)  # no frame size given: nothing to judge by
    assert hood in filter_detections([hood], DetectorConfig(hood_aspect=None), hw)


@pytest.mark.assets
def test_missing_lap_is_said_in_the_detector_line(assets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without `lap` the log said "detector: ... (tracking)" and then "tracking off" (README walkthrough
    s31): one line now says what runs."""
    from edgecgl import detect

    real = detect.importlib.util.find_spec
    monkeypatch.setattr(detect.importlib.util, "find_spec", lambda n, *a: None if n == "lap" else real(n, *a))
    lines: list[str] = []
    det = load_detector(assets / "models" / "yolov8n-coco.pt", DetectorConfig(imgsz=320), log=lines.append)
    assert not det.tracking
    assert len(lines) == 1 and "(no tracking: `lap` is not installed, pip install lap" in lines[0], lines
    lines.clear()
    load_detector(
        assets / "models" / "yolov8n-coco.pt", DetectorConfig(imgsz=320, track=False), log=lines.append
    )
    assert len(lines) == 1 and "(no tracking" in lines[0] and "lap" not in lines[0], lines


def test_importing_ultralytics_leaves_the_thread_budget_unset() -> None:
    """Ultralytics' __init__ sets OMP_NUM_THREADS=1 where it is unset; edgecgl reads that variable as the
    user's cap, so a run that loaded the detector first got one ONNX Runtime / OpenVINO thread and one
    worker. Checked in a fresh interpreter (this one may have Ultralytics loaded already); a set value is
    the user's and stays."""
    import os
    import subprocess
    import sys

    code = (
        "import os; from edgecgl.detect import import_ultralytics; import_ultralytics(); "
        "import ultralytics, sys; print(os.environ.get('OMP_NUM_THREADS', 'unset'), 'ultralytics' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["unset", "True"], out.stderr[-800:]
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "OMP_NUM_THREADS": "3"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.split() == ["3", "True"], out.stderr[-800:]
