"""Ultralytics adapter: any model Ultralytics loads (.pt, .onnx, .engine, .tflite) -> our ``Detection``.

Tracking gives each instance an ID; per ID we keep a smoothed box and a fixed style seed, so an instance
neither jitters nor changes look from frame to frame. The tracker is Ultralytics' own (ByteTrack by
default), fed with the model's predictions here rather than through ``model.track``, so that: a track that
started at ``conf`` is kept while its detections score at least ``keep_conf`` (ByteTrack's second
association, which a ``conf`` filter before the tracker disables: a car hovering at the threshold blinked
its instance patch on and off); the box pasted is the frame's detection, not the tracker's Kalman state (it
lagged a car entering at the frame's edge: 27 % of boxes under 0.8 IoU with the detection on the real clip);
and one object gets one box (``merge_iou``: YOLO's ``car`` and ``truck`` for one SUV were two tracks and two
pastes). benchmarks/instance_stability.py measures each (docs/RESULTS.md, "Instances on video").
Frames are RGB here; Ultralytics reads numpy arrays as BGR, so the adapter flips channels.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgecgl.errors import EdgecglError

DEFAULT_MODEL = "yolo26n.pt"
DEFAULT_CLASSES = ("car", "truck", "bus", "motorcycle", "bicycle", "person")


@dataclass(frozen=True)
class Detection:
    """One instance in full-frame pixel coordinates (x1, y1, x2, y2)."""

    box: tuple[float, float, float, float]
    cls: str
    conf: float
    track_id: int | None = None
    strength: float = 1.0  # how fully its instance is pasted: below 1 while a track fades in or out


class DetectorLike(Protocol):
    def __call__(self, frame: np.ndarray) -> list[Detection]: ...


@dataclass
class DetectorConfig:
    classes: tuple[str, ...] = DEFAULT_CLASSES
    conf: float = 0.35
    min_size: int = 16  # boxes smaller than this (either side, pixels) are not worth translating
    # a box on the frame's bottom edge at least this many times wider than high is the camera car's own
    # hood or dashboard, which YOLO calls a car (BDD100K: a 1271x173 "car"); None: keep such boxes
    hood_aspect: float | None = 4.0
    max_instances: int = 8
    imgsz: int = 640
    track: bool = True
    # Ultralytics' tracker, named: its default changes between releases, and 8.4's (TrackTrack: new tracks
    # only at >= 0.7 confidence, confirmed after 3 frames) kept 1.17 boxes a frame of the real clip where
    # predict finds 2.35 at conf 0.35; ByteTrack keeps 2.05 and has no global-motion step on the host.
    tracker: str = "bytetrack.yaml"
    smooth: float = 0.6  # EMA weight of the previous box; 0 = no smoothing
    # the EMA smooths a box side's moves up to this share of the box's size (detector jitter) and follows
    # larger ones at once (motion: a car entering at the frame's edge); None: every move is smoothed
    jitter: float | None = 0.03
    forget_after: int = 30  # frames a track may vanish before its smoothed box is dropped
    # with tracking: a track started at >= conf is kept while its detections score >= keep_conf; None: all >= conf
    keep_conf: float | None = 0.1
    merge_iou: float | None = 0.7  # boxes of any two classes overlapping this much are one object (None: off)
    box: str = "detection"  # what is pasted: the frame's detection, or "track" (the tracker's Kalman box)
    rank: str = "area"  # over max_instances: keep the largest (nearest) boxes, or "conf": the most confident
    frames_per_call: int = 1  # video frames between detector calls (--detect-every): see BoxSmoother
    # an .onnx detector on ONNX Runtime's CPU provider: intra-op threads (0 = one per core)
    ort_threads: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.conf <= 1.0:
            raise EdgecglError(
                f"detector confidence {self.conf:g} is outside 0..1", "give --conf a value such as 0.35"
            )
        if self.box not in ("detection", "track") or self.rank not in ("area", "conf"):
            raise ValueError(
                f"box must be detection|track and rank area|conf, got {self.box!r}, {self.rank!r}"
            )

    def min_conf(self, tracked: bool) -> float:
        """The score a detection needs: ``conf``, or ``keep_conf`` for one of a running track."""
        return min(self.conf, self.keep_conf) if tracked and self.keep_conf is not None else self.conf


@dataclass
class _Track:
    box: np.ndarray
    last_seen: int
    seed: int


@dataclass
class BoxSmoother:
    """Per-track EMA of boxes and a fixed style seed per track (derived from the track ID).

    ``step`` is the number of video frames since the last update (``--detect-every``): the previous box
    weighs ``smooth ** step``, so the smoothing's time constant in frames does not grow with the step.
    """

    smooth: float = 0.6
    forget_after: int = 30
    base_seed: int = 0
    jitter: float | None = None  # see DetectorConfig.jitter
    tracks: dict[int, _Track] = field(default_factory=dict)
    frame: int = 0

    def update(self, dets: list[Detection], step: int = 1) -> list[Detection]:
        self.frame += step
        keep = self.smooth**step
        out = []
        for d in dets:
            if d.track_id is None:
                out.append(d)
                continue
            box = np.asarray(d.box, dtype=np.float64)
            tr = self.tracks.get(d.track_id)
            if tr is None:
                tr = self.tracks[d.track_id] = _Track(box, self.frame, self.base_seed * 100003 + d.track_id)
            else:
                k = np.full(4, keep)
                if self.jitter is not None and self.jitter > 0:
                    w, h = tr.box[2] - tr.box[0], tr.box[3] - tr.box[1]
                    move = np.abs(box - tr.box) / np.maximum(np.array([w, h, w, h]), 1.0)
                    k *= np.clip(2.0 - move / self.jitter, 0.0, 1.0)  # full EMA to 1x jitter, none from 2x
                tr.box = k * tr.box + (1.0 - k) * box
                tr.last_seen = self.frame
            out.append(Detection(tuple(float(v) for v in tr.box), d.cls, d.conf, d.track_id))
        for tid in [t for t, tr in self.tracks.items() if self.frame - tr.last_seen > self.forget_after]:
            del self.tracks[tid]
        return out

    def seed(self, track_id: int) -> int:
        tr = self.tracks.get(track_id)
        return tr.seed if tr else self.base_seed * 100003 + track_id


def filter_detections(
    dets: list[Detection], cfg: DetectorConfig, frame_hw: tuple[int, int] | None = None
) -> list[Detection]:
    """Class filter, confidence (``keep_conf`` for tracked boxes), minimum size, not the camera car's own
    hood (``hood_aspect``, given ``frame_hw``); one box per object (``merge_iou``: the older track, else the
    more confident box, wins); then ``max_instances`` by ``rank``: the largest boxes (the nearest objects,
    what an augmented set needs most) or the most confident."""
    keep = [
        d
        for d in dets
        if d.cls in cfg.classes
        and d.conf >= cfg.min_conf(d.track_id is not None)
        and d.box[2] - d.box[0] >= cfg.min_size
        and d.box[3] - d.box[1] >= cfg.min_size
        and not is_hood(d.box, frame_hw, cfg.hood_aspect)
    ]
    if cfg.merge_iou is not None:
        keep.sort(key=lambda d: (d.track_id is None, d.track_id or 0, -d.conf))
        merged: list[Detection] = []
        for d in keep:
            if all(iou(d.box, m.box) < cfg.merge_iou for m in merged):
                merged.append(d)
        keep = merged
    if cfg.rank == "area":
        keep.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    else:
        keep.sort(key=lambda d: -d.conf)
    return keep[: cfg.max_instances]


def is_hood(
    box: tuple[float, float, float, float], frame_hw: tuple[int, int] | None, aspect: float | None
) -> bool:
    """A flat box on the frame's bottom edge (within 2 % of its height): the camera car's hood, not a car
    ahead. A car's box is at most ~3x wider than high, even a close one cut by the frame."""
    if frame_hw is None or aspect is None:
        return False
    x1, y1, x2, y2 = box
    return y2 >= 0.98 * frame_hw[0] and (x2 - x1) >= aspect * max(1.0, y2 - y1)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 for empty ones."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def results_to_detections(result: Any, names: dict[int, str]) -> list[Detection]:
    """One Ultralytics ``Results`` -> detections (boxes.xyxy, .conf, .cls, .id)."""
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return []
    xyxy = _np(boxes.xyxy).reshape(-1, 4)
    conf = _np(boxes.conf).reshape(-1)
    cls = _np(boxes.cls).reshape(-1).astype(int)
    ids = boxes.id
    tids = _np(ids).reshape(-1).astype(int) if ids is not None else [None] * len(xyxy)
    return [
        Detection(
            tuple(float(v) for v in b),
            names.get(int(c), str(int(c))),
            float(s),
            None if t is None else int(t),
        )
        for b, c, s, t in zip(xyxy, cls, conf, tids, strict=True)
    ]


def _np(x: Any) -> np.ndarray:
    return x.cpu().numpy() if hasattr(x, "cpu") else np.asarray(x)


class TrackerLike(Protocol):
    def update(self, results: Any, img: np.ndarray | None = None) -> np.ndarray: ...


def import_ultralytics() -> None:
    """Import Ultralytics, keeping the user's thread budget: its ``__init__`` sets OMP_NUM_THREADS=1 where
    it is unset (for its own training), and edgecgl reads that variable as the cap on the cores a run may
    use (ONNX Runtime's and OpenVINO's threads, the default --workers). An unset one stays unset; torch,
    loaded by that import, keeps the one thread Ultralytics gave it, as measured."""
    import sys

    if "ultralytics" in sys.modules:
        return
    unset = "OMP_NUM_THREADS" not in os.environ
    try:
        import ultralytics  # noqa: F401
    finally:
        if unset:
            os.environ.pop("OMP_NUM_THREADS", None)


def make_tracker(cfg: DetectorConfig) -> TrackerLike:
    """Ultralytics' tracker named by ``cfg.tracker`` (its YAML), thresholds set for ``conf``/``keep_conf``:
    new tracks at >= conf, first association at >= conf, second (keeping tracks) at >= keep_conf. Built the
    way Ultralytics' docs show ``BYTETracker(args).update(result.boxes.cpu().numpy(), img)``."""
    import yaml

    import_ultralytics()
    from ultralytics.trackers import BOTSORT, BYTETracker
    from ultralytics.utils import IterableSimpleNamespace
    from ultralytics.utils.checks import check_yaml

    try:
        args = yaml.safe_load(Path(check_yaml(cfg.tracker)).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise EdgecglError(
            f"tracker {cfg.tracker} not found", "name bytetrack.yaml, botsort.yaml or a tracker YAML file"
        ) from None
    if cfg.keep_conf is not None:
        args.update(
            track_high_thresh=cfg.conf, new_track_thresh=cfg.conf, track_low_thresh=cfg.min_conf(True)
        )
    kinds = {"bytetrack": BYTETracker, "botsort": BOTSORT}
    kind = kinds.get(str(args.get("tracker_type")))
    if kind is None:
        raise EdgecglError(f"tracker {cfg.tracker}: tracker_type must be one of {', '.join(kinds)}")
    return kind(args=IterableSimpleNamespace(**args))


class Detector:
    """Callable: RGB frame -> filtered, tracked, smoothed detections.

    ``tracker``: an object with Ultralytics' tracker ``update`` (rows ``x1 y1 x2 y2 id score cls index``);
    by default ``make_tracker(cfg)`` where tracking is on. Results that carry their own IDs (a model that
    tracks by itself) are taken as they are.
    """

    def __init__(
        self,
        model: Any,
        cfg: DetectorConfig | None = None,
        base_seed: int = 0,
        log: Callable[[str], None] | None = None,
        tracker: TrackerLike | None = None,
    ) -> None:
        self.model = model
        self.cfg = cfg or DetectorConfig()
        names = getattr(model, "names", None) or {}
        self.names: dict[int, str] = dict(names) if not isinstance(names, dict) else names
        ids = [i for i, n in self.names.items() if n in self.cfg.classes]
        self.class_ids = ids or None
        self.smoother = self._smoother(base_seed)
        self.tracking = self.cfg.track
        if self.tracking and tracker is None and importlib.util.find_spec("lap") is None:
            # Ultralytics' trackers need `lap` and try to pip-install it when missing; offline that fails.
            self.tracking = False
            if log:
                log("detector: `lap` is not installed, tracking off (pip install lap)")
        self._given_tracker = tracker
        self.tracker = self._tracker()

    def _smoother(self, base_seed: int) -> BoxSmoother:
        return BoxSmoother(self.cfg.smooth, self.cfg.forget_after, base_seed, self.cfg.jitter)

    def _tracker(self) -> TrackerLike | None:
        if not self.tracking:
            return None
        return self._given_tracker if self._given_tracker is not None else make_tracker(self.cfg)

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        bgr = np.ascontiguousarray(frame[..., ::-1])
        kw: dict[str, Any] = {
            "conf": self.cfg.min_conf(self.tracker is not None),  # the tracker keeps its tracks on less
            "classes": self.class_ids,
            "imgsz": self.cfg.imgsz,
            "verbose": False,
        }
        if self.cfg.merge_iou is not None:
            # one box per object before the tracker (NMS models; filter_detections merges after)
            kw["agnostic_nms"] = True
        result = self.model.predict(bgr, **kw)[0]
        if self.tracker is not None and getattr(result.boxes, "id", None) is None:
            dets = self._track(result, bgr)
        else:
            dets = results_to_detections(result, self.names)
        dets = filter_detections(dets, self.cfg, frame.shape[:2])
        return self.smoother.update(dets, max(1, self.cfg.frames_per_call))

    def _track(self, result: Any, bgr: np.ndarray) -> list[Detection]:
        boxes = result.boxes
        if boxes is None or self.tracker is None:
            return []
        boxes_np = boxes.cpu().numpy() if hasattr(boxes, "cpu") else boxes
        # every frame goes to the tracker, an empty one too: its lost tracks age and expire
        rows = np.asarray(self.tracker.update(boxes_np, bgr), np.float64).reshape(-1, 8)
        xyxy = _np(boxes_np.xyxy).reshape(-1, 4)
        out = []
        for r in rows:
            box = xyxy[int(r[7])] if self.cfg.box == "detection" else r[:4]
            cls = int(r[6])
            out.append(
                Detection(tuple(float(v) for v in box), self.names.get(cls, str(cls)), float(r[5]), int(r[4]))
            )
        return out

    def style_seed(self, track_id: int) -> int:
        return self.smoother.seed(track_id)

    def reset(self) -> None:
        """Forget every track before another video: a new clip's cars must not inherit the last clip's
        smoothed boxes or track IDs (which also seed instance styles)."""
        self.smoother = self._smoother(self.smoother.base_seed)
        if self._given_tracker is not None and hasattr(self._given_tracker, "reset"):
            self._given_tracker.reset()
        self.tracker = self._tracker()


def load_detector(
    path: str | Path | None,
    cfg: DetectorConfig | None = None,
    base_seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> Detector:
    """Load an Ultralytics model. The default name is fetched by Ultralytics where online."""
    spec = str(path) if path else DEFAULT_MODEL
    is_default_name = path is None
    if not is_default_name and not Path(spec).exists():
        raise EdgecglError(
            f"detector {spec} does not exist",
            "give an Ultralytics model file with --detector PATH (offline machines need a local file), or --no-instances",
        )
    if not is_default_name:
        # A local model needs no network. Without this, importing Ultralytics probes DNS, and where that
        # answers it may check PyPI for updates, auto-install packages and send usage events.
        os.environ.setdefault("YOLO_OFFLINE", "1")
    # Ultralytics logs to stdout, which is the CLI's result channel ("wrote X") and a ROS node's log: on
    # a fresh or read-only HOME it said three lines about its settings file. Its errors still raise.
    os.environ.setdefault("YOLO_VERBOSE", "False")
    try:
        import_ultralytics()
        from ultralytics import YOLO
    except ImportError:
        raise EdgecglError(
            "ultralytics is not installed", "pip install ultralytics, or use --no-instances"
        ) from None
    if not is_default_name:
        check_model_format(spec)
    try:
        model = YOLO(spec, task="detect")
        _ = model.names  # loads an exported model (.onnx, .engine) now, not on the first frame
    except Exception as exc:  # noqa: BLE001 - download/parse failures are the user's to fix
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        hint = (
            "this machine may be offline: give a local model with --detector PATH, or use --no-instances"
            if is_default_name
            else f"install {exc.name} to run this format, or give a .pt with --detector"
            if isinstance(exc, ModuleNotFoundError) and exc.name
            else f"--detector takes {MODEL_FORMS}; or use --no-instances"
        )
        raise EdgecglError(f"cannot load detector {spec}: {first}", hint) from None
    try:
        note = quiet_onnx_session(model, spec, (cfg or DetectorConfig()).ort_threads)
    except Exception as exc:  # noqa: BLE001 - an .onnx that loads but does not run is the user's to fix
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise EdgecglError(
            f"cannot run detector {spec}: {first}",
            "export it with Ultralytics (yolo export model=yolo26n.pt format=onnx), or give the .pt",
        ) from None
    detector = Detector(model, cfg, base_seed)  # its own `lap` line would follow one saying "tracking"
    if log:
        mode = "tracking" if detector.tracking else "no tracking"
        if not detector.tracking and (cfg is None or cfg.track):  # asked for, but `lap` is missing
            mode += ": `lap` is not installed, pip install lap"
        log(f"detector: {spec} ({mode}{note})")
    return detector


MODEL_FORMS = "a .pt, .onnx or .engine file, or another Ultralytics export format"


def check_model_format(spec: str) -> None:
    """Refuse a file that is no Ultralytics model format (say a .jpg) by its name, before the run.

    Ultralytics accepts any path when it builds the model and fails on the first frame with a TypeError;
    its own table of export suffixes (.pt, .onnx, .engine, _openvino_model, ...) decides what it can run.
    """
    import_ultralytics()
    from ultralytics.engine.exporter import export_formats

    suffixes = tuple(str(s) for s in export_formats()["Suffix"])
    name = Path(spec).name.lower()
    if not name.endswith(suffixes):
        raise EdgecglError(
            f"detector {spec} is not a model Ultralytics can load",
            f"--detector takes {MODEL_FORMS}; or use --no-instances",
        )


def quiet_onnx_session(model: Any, path: str, threads: int = 0) -> str:
    """Reopen an .onnx detector's ONNX Runtime CPU session with spin-waiting off; '' if not one.

    Ultralytics opens it with ORT's defaults, whose idle threads busy-wait after every call; on a CPU the
    detector runs on its own stage beside the translator's sessions (which never spin), and the spinning
    is CPU time taken from them (~13 ms a YOLOv8n call on a 2-core AMD EPYC: docs/PERFORMANCE.md, "The
    detector's own cost"). Ultralytics has no public option
    for the session, so this replaces ``predictor.model.backend.session`` once a warm-up call has set the
    predictor up; if a later Ultralytics lays it out otherwise, the detector runs as Ultralytics opened it
    (tests/unit/test_detect.py pins the layout of the installed version).
    """
    if not path.endswith(".onnx"):
        return ""
    model.predict(np.zeros((64, 64, 3), np.uint8), verbose=False)  # sets up the predictor
    inner = getattr(getattr(getattr(model, "predictor", None), "model", None), "backend", None)
    session = getattr(inner, "session", None)
    if session is None or list(session.get_providers()) != ["CPUExecutionProvider"]:
        return ""
    import onnxruntime as ort

    from edgecgl.backends.onnxruntime import ort_threads

    threads = threads or ort_threads()
    opts = ort.SessionOptions()
    if threads > 0:
        opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    inner.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return f"; ONNX Runtime CPU, {threads or 'one per core'} thread(s), no spin-wait"


def parse_classes(text: str | Sequence[str]) -> tuple[str, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    out = tuple(s.strip() for s in items if s.strip())
    if not out:
        raise EdgecglError("no detector classes given", f"e.g. --classes {','.join(DEFAULT_CLASSES)}")
    return out
