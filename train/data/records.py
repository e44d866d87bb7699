"""Annotations before decoding: what every loader produces (torch-free, so writers stay light)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Record:
    """One frame before decoding. ``boxes`` are xyxy pixels, or normalised to [0, 1] when ``normalized``."""

    path: str
    domain: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    normalized: bool = False
    name: str = ""  # groups paired frames (same scene in several domains) into the same split
    categories: tuple[str, ...] = ()


@dataclass
class LoadReport:
    """What a loader dropped while parsing, so the caller can log it once at start-up."""

    excluded_frames: int = 0  # e.g. BDD100K frames that match no domain rule
    rejected_labels: int = 0  # NaN / out-of-range / malformed label values
    dropped_boxes: int = 0  # other categories, boxes below min size in source pixels
    clipped_boxes: int = 0  # label boxes reaching past the frame edge, clipped to it
    notes: list[str] = field(default_factory=list)


def order_key(seed: int, name: str) -> str:
    return hashlib.sha1(f"{seed}:{name}".encode()).hexdigest()
