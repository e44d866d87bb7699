"""Boxes between detections (``--detect-every N``): constant-velocity prediction per track.

The detector runs on every N-th frame. On the frames between, each track seen at the last detection moves
on at its velocity, estimated from its smoothed boxes at successive detections (pixels per frame, an EMA
over detections). Ultralytics' trackers keep a Kalman state too, but only as undocumented attributes of
its predictor, in units of tracker calls, and only for Ultralytics models; this works on any detector's
tracked output. Untracked detections (no ID) have no velocity: they hold still until the next detection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from edgecgl.detect import Detection


@dataclass
class _Motion:
    det: Detection  # the track's last observed (smoothed) detection
    frame: int  # the frame it was observed at
    velocity: np.ndarray | None = None  # (x1, y1, x2, y2) pixels per frame; None until seen twice


@dataclass
class BoxPredictor:
    """Observe detections at detection frames, predict boxes at the frames between."""

    velocity_smooth: float = 0.5  # EMA weight of the previous velocity estimate; 0 = last pair only
    forget_after: int = 30  # frames a track may go undetected before its motion is dropped
    tracks: dict[int, _Motion] = field(default_factory=dict)
    current: list[Detection] = field(default_factory=list)  # what the last detection frame returned
    frame: int = -1  # the last detection frame

    def observe(self, dets: list[Detection], frame: int) -> list[Detection]:
        """Record the detections of detection frame ``frame``; returns them unchanged."""
        for d in dets:
            if d.track_id is None:
                continue
            box = np.asarray(d.box, dtype=np.float64)
            m = self.tracks.get(d.track_id)
            if m is not None and frame > m.frame:
                v = (box - np.asarray(m.det.box, dtype=np.float64)) / (frame - m.frame)
                if m.velocity is not None:
                    v = self.velocity_smooth * m.velocity + (1.0 - self.velocity_smooth) * v
                m.det, m.frame, m.velocity = d, frame, v
            else:
                self.tracks[d.track_id] = _Motion(d, frame)
        for tid in [t for t, m in self.tracks.items() if frame - m.frame > self.forget_after]:
            del self.tracks[tid]
        self.current = list(dets)
        self.frame = frame
        return list(dets)

    def box_at(self, track_id: int, frame: int) -> tuple[float, float, float, float] | None:
        """Where a track seen before would be at ``frame`` (its last box moved on at its velocity), or
        None if its motion is unknown or forgotten."""
        m = self.tracks.get(track_id)
        if m is None:
            return None
        box = np.asarray(m.det.box, dtype=np.float64)
        if m.velocity is not None and frame > m.frame:
            box = box + m.velocity * (frame - m.frame)
        return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))

    def predict(self, frame: int) -> list[Detection]:
        """The last detection frame's instances moved on to ``frame`` (same order, IDs, classes)."""
        dt = frame - self.frame
        out = []
        for d in self.current:
            m = self.tracks.get(d.track_id) if d.track_id is not None else None
            if m is None or m.velocity is None or dt <= 0:
                out.append(d)
                continue
            box = np.asarray(m.det.box, dtype=np.float64) + m.velocity * dt
            out.append(Detection(tuple(float(v) for v in box), d.cls, d.conf, d.track_id))
        return out


@dataclass
class _Fade:
    det: Detection  # the track's last detection (held where it was while the track fades out)
    strength: float
    frame: int


@dataclass
class InstanceFader:
    """A track's instance fades in over ``frames`` frames when the track starts and out over as many when
    it ends, instead of switching on or off in one frame: a patch 10 grey levels off the frame that pops in
    or out reads as a flash (docs/RESULTS.md, "Instances on video").

    Each track's strength moves toward 1 while it is detected and toward 0 once it is not, by ``1 / frames``
    per video frame; a track that is gone fades where ``where(track_id, frame)`` puts it (the box predictor's
    motion), else at its last box. Tracks present at the first frame start at full strength (nothing popped
    in); untracked detections (stills) are left at 1.
    """

    frames: int = 4
    tracks: dict[int, _Fade] = field(default_factory=dict)
    started: bool = False

    def apply(
        self,
        dets: list[Detection],
        frame: int,
        where: Callable[[int, int], tuple[float, float, float, float] | None] | None = None,
    ) -> list[Detection]:
        if self.frames <= 1:
            return dets
        rate = 1.0 / self.frames
        out: list[Detection] = []
        seen: set[int] = set()
        for d in dets:
            if d.track_id is None:
                out.append(d)
                continue
            seen.add(d.track_id)
            f = self.tracks.get(d.track_id)
            if f is None:
                s = 1.0 if not self.started else rate
            else:
                s = min(1.0, f.strength + rate * max(1, frame - f.frame))
            self.tracks[d.track_id] = _Fade(d, s, frame)
            out.append(replace(d, strength=d.strength * s))
        self.started = True
        for tid, f in list(self.tracks.items()):
            if tid in seen:
                continue
            s = f.strength - rate * max(1, frame - f.frame)
            if s <= 0.0:
                del self.tracks[tid]
                continue
            self.tracks[tid] = _Fade(f.det, s, frame)
            box = where(tid, frame) if where is not None else None
            out.append(replace(f.det, box=box or f.det.box, strength=f.det.strength * s))
        return out
