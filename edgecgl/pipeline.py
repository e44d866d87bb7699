"""One frame: detect -> translate the frame -> translate the instance crops -> compose.

With ``detect_every`` N the detector runs on every N-th frame and ``edgecgl.motion`` predicts the boxes
between. ``detect`` and ``render`` are the two halves, so the video loop can run them on separate threads.

The frame goes through the network letterboxed at the working resolution and comes back at the input's
full resolution (guided by the input, ``edgecgl.upsample``). Instance crops come from the *original*
frame (full detail), are translated in one batch with the global style (cross-granularity), go back to
their window's full size the same way (guided by the original crop), have their colours matched to the
frame's over the context margin and their remaining difference brought to zero at the window's border
(no step where the paste ends), and are pasted back with a feathered alpha.

Stages (``RunStats``; disjoint, so they add up): ``frame`` letterbox + the network on the frame,
``instances`` crops + the network on them, ``upsample`` every return to full resolution (the frame's and
each window's; ``edgecgl.upsample``), ``compose`` harmonize + feathered paste.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from edgecgl.compose import expand_box, paste_instances
from edgecgl.detect import Detection, DetectorLike
from edgecgl.errors import EdgecglError
from edgecgl.motion import BoxPredictor, InstanceFader
from edgecgl.translate import Translator

STAGES = ("decode", "detect", "predict", "frame", "instances", "upsample", "compose", "encode")
# Latencies kept per stage for p50/p95: about the last hour at 30 fps. A list per frame grew 0.1-0.2 MB
# per 1000 frames without bound (a day on the vehicle: up to 0.5 GB); a window keeps memory flat.
LATENCY_WINDOW = 100_000


@dataclass
class PipelineConfig:
    context: float = 0.1  # crop margin, fraction of the box size per side (training uses the same)
    min_feather: int = 2  # pixels of alpha ramp at least, where the context margin is thinner
    instance_style: str = (
        "global"  # "global" (cross-granularity) or "track" (a fixed sampled style per track)
    )
    harmonize: bool = (
        True  # match each crop's colours to the frame's over the margin (compose.harmonize_patch)
    )
    settle_edges: bool = True  # with harmonize: no step where a paste ends (compose.edge_membrane)
    fade_frames: int = 4  # a track's instance fades in / out over this many frames (motion.InstanceFader)
    detect_every: int = 1  # run the detector on every N-th frame; boxes between are predicted
    # edgecgl.video: translate the instance crops on their own thread, overlapping the frame's network
    # (where the backend runs concurrent calls: ONNX Runtime, torch; not TensorRT's one stream per role)
    overlap_instances: bool = False
    # edgecgl.video: frames rendered at once, each on its own thread; the CLI sets it only for ONNX Runtime
    # on the CPU, whose sessions then get 1/workers of the cores each (edgecgl.cli.runtime_opts)
    workers: int = 1


@dataclass
class FrameResult:
    image: np.ndarray  # uint8 HxWx3 RGB, the input's resolution
    detections: list[Detection]
    windows: list[tuple[int, int, int, int]]  # the crop window pasted for each detection
    ms: dict[str, float]


@dataclass
class Instances:
    """A frame's translated instance crops, ready to paste: one window and one image per detection."""

    windows: list[tuple[int, int, int, int]]  # x1, y1, x2, y2 in the frame
    images: list[np.ndarray]  # uint8 [y2-y1, x2-x1, 3] each
    ms: dict[str, float]  # "instances" (crops + network) and "upsample" (back to each window's size)


@dataclass
class RunStats:
    """What a run did: frame counts and per-stage latencies in milliseconds."""

    frames: int = 0
    frames_with_instances: int = 0
    instances: int = 0
    ms: dict[str, deque[float]] = field(
        default_factory=lambda: {s: deque(maxlen=LATENCY_WINDOW) for s in STAGES}
    )
    wall_s: float = 0.0

    def add(self, result: FrameResult) -> None:
        self.frames += 1
        n = len(result.detections)
        self.instances += n
        self.frames_with_instances += n > 0
        for k, v in result.ms.items():
            self.ms.setdefault(k, deque(maxlen=LATENCY_WINDOW)).append(v)

    def percentile(self, stage: str, q: float) -> float:
        vals = self.ms.get(stage) or []
        return float(np.percentile(vals, q)) if vals else float("nan")

    def summary(self) -> dict[str, object]:
        stages = {
            s: {
                "p50_ms": round(self.percentile(s, 50), 2),
                "p95_ms": round(self.percentile(s, 95), 2),
                "n": len(v),  # frames that ran the stage (within the latency window)
            }
            for s, v in self.ms.items()
            if v
        }
        fps = self.frames / self.wall_s if self.wall_s > 0 else float("nan")
        return {
            "frames": self.frames,
            "frames_with_instances": self.frames_with_instances,
            "instances": self.instances,
            "wall_s": round(self.wall_s, 3),
            "fps": round(fps, 2),
            "stages_ms": stages,
        }

    def lines(self) -> list[str]:
        s = self.summary()
        out = [
            f"{s['frames']} frames in {s['wall_s']} s ({s['fps']} frames/s); "
            f"{s['instances']} instances in {s['frames_with_instances']} frames"
        ]
        for stage, v in s["stages_ms"].items():  # type: ignore[union-attr]
            some = f"   ({v['n']} frames)" if v["n"] != s["frames"] else ""
            out.append(f"  {stage:<9} p50 {v['p50_ms']:8.2f} ms   p95 {v['p95_ms']:8.2f} ms{some}")
        return out


def _visible(box: tuple[float, float, float, float], frame_hw: tuple[int, int]) -> bool:
    """A box with finite corners and some area inside the frame; anything else has nothing to translate
    (a box wholly outside, or of zero area, would otherwise paste a 1-pixel sliver at the edge)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(np.isfinite((x1, y1, x2, y2))):
        return False
    H, W = frame_hw
    return min(x2, W) > max(x1, 0.0) and min(y2, H) > max(y1, 0.0)


@contextmanager
def _timed(ms: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    ms[stage] = ms.get(stage, 0.0) + (time.perf_counter() - t0) * 1000.0


def check_frame(frame: np.ndarray) -> None:
    """The pipeline's input, checked where a caller's array enters (a camera SDK's BGRA or grey frame
    otherwise failed deep inside the encoder with a tensor shape)."""
    shape, dtype = getattr(frame, "shape", None), getattr(frame, "dtype", None)
    if dtype != np.uint8 or shape is None or len(shape) != 3 or shape[2] != 3:
        raise EdgecglError(
            f"expected an RGB uint8 frame of shape HxWx3, got shape {shape} {dtype}",
            "convert it first, e.g. cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB) or COLOR_GRAY2RGB, "
            "and np.clip(x, 0, 255).astype(np.uint8)",
        )
    if shape[0] < 1 or shape[1] < 1:  # a camera SDK's dropped frame: the letterbox divided by zero
        raise EdgecglError(f"empty frame ({shape[0]}x{shape[1]})", "skip it")


class Pipeline:
    """Callable on one RGB frame. ``detector`` None means global-only translation (``--no-instances``).

    Stateful across calls when there is a detector (tracks, the frame count for ``detect_every``): feed
    one video's frames in order, through ``__call__`` or through ``detect`` then ``render``.
    """

    def __init__(
        self, translator: Translator, detector: DetectorLike | None = None, cfg: PipelineConfig | None = None
    ) -> None:
        self.translator = translator
        self.detector = detector
        self.cfg = cfg or PipelineConfig()
        if self.cfg.detect_every < 1:
            raise EdgecglError(f"--detect-every must be at least 1, got {self.cfg.detect_every}")
        if self.cfg.workers < 1:
            raise EdgecglError(f"--workers must be at least 1, got {self.cfg.workers}")
        self.predictor = BoxPredictor()
        self.fader = InstanceFader(self.cfg.fade_frames)
        self._frame = 0
        self._size: tuple[int, int] | None = None  # the frames' HxW since the last reset

    def reset(self) -> None:
        """Start another video: frame count, predicted motion and the detector's tracks from zero."""
        self._frame = 0
        self._size = None
        self.predictor = BoxPredictor()
        self.fader = InstanceFader(self.cfg.fade_frames)
        reset = getattr(self.detector, "reset", None)
        if reset is not None:
            reset()

    def warmup(self, size: tuple[int, int]) -> float:
        """Run one black HxW frame through every stage and reset; returns its milliseconds. The first call
        pays for lazy set-up (the detector's, the sessions' first allocations: 1-2 s on a CPU), which a
        real-time node should pay before its first camera frame."""
        t0 = time.perf_counter()
        self(np.zeros((*size, 3), np.uint8))
        self.reset()
        return (time.perf_counter() - t0) * 1000.0

    def __call__(self, frame: np.ndarray) -> FrameResult:
        check_frame(frame)
        dets, ms = self.detect(frame)
        return self.render(frame, dets, ms)

    def detect(self, frame: np.ndarray) -> tuple[list[Detection], dict[str, float]]:
        """This frame's instances: the detector's on every ``detect_every``-th frame, else predicted; tracks
        that start or end fade in or out (``Detection.strength``). Returns them with the time spent
        (``detect`` or ``predict`` ms)."""
        ms: dict[str, float] = {}
        if self.detector is None:
            return [], ms
        if self._size is not None and frame.shape[:2] != self._size:
            self.reset()  # another camera or resolution: tracks and their motion are in the old pixels
        self._size = frame.shape[:2]
        i = self._frame
        self._frame += 1
        if i % self.cfg.detect_every == 0:
            with _timed(ms, "detect"):
                dets = self.predictor.observe(self.detector(frame), i)
        else:
            with _timed(ms, "predict"):
                dets = self.predictor.predict(i)
        dets = self.fader.apply(dets, i, self.predictor.box_at)
        return [d for d in dets if _visible(d.box, frame.shape[:2])], ms

    def render(
        self,
        frame: np.ndarray,
        dets: list[Detection],
        ms: dict[str, float] | None = None,
        instances: Instances | None = None,
    ) -> FrameResult:
        """Translate the frame and the crops of ``dets``, compose. ``ms`` gets this frame's stage times.

        ``instances``: the crops already translated by ``translate_instances`` (on another thread, so
        they overlap this frame's network); their stage times are merged into this frame's."""
        ms = dict(ms or {})
        taken = self.translator.upsampler.take_ms
        taken()
        with _timed(ms, "frame"):
            out = self.translator.translate_frame(frame)
        ms["upsample"] = taken()
        ms["frame"] -= ms["upsample"]
        if instances is None:
            instances = self.translate_instances(frame, dets)
        windows = instances.windows
        if windows:
            for stage, v in instances.ms.items():
                ms[stage] = ms.get(stage, 0.0) + v
            with _timed(ms, "compose"):
                out = paste_instances(
                    out,
                    instances.images,
                    windows,
                    [d.box for d in dets],
                    self.cfg.min_feather,
                    self.cfg.harmonize,
                    self.cfg.settle_edges,
                    [d.strength for d in dets],
                )
        return FrameResult(out, dets, windows, ms)

    def translate_instances(self, frame: np.ndarray, dets: list[Detection]) -> Instances:
        """The crop window of each detection and its translation at the window's size (guided upsampler
        included), with the ``instances`` and ``upsample`` times. Thread-safe where the backend is."""
        if not dets:
            return Instances([], [], {})
        ms: dict[str, float] = {}
        taken = self.translator.instance_upsampler.take_ms
        taken()
        hw = frame.shape[:2]
        with _timed(ms, "instances"):
            windows = [expand_box(d.box, self.cfg.context, hw) for d in dets]
            images = self.translator.translate_windows(frame, windows, self._styles(dets))
        ms["upsample"] = taken()
        ms["instances"] -= ms["upsample"]
        return Instances(windows, images, ms)

    def _styles(self, dets: list[Detection]) -> np.ndarray | None:
        if self.cfg.instance_style == "global":
            return None
        tr = self.translator
        seed_of = getattr(self.detector, "style_seed", lambda t: t)
        styles = [
            tr.bundle.style(tr.domain, "instance", seed_of(d.track_id))
            if d.track_id is not None
            else tr.style
            for d in dets
        ]
        return np.stack(styles).astype(np.float32)
