"""The generic folder format (also what SynthWeather writes).

::

    ROOT/<domain>/<name>.jpg|jpeg|png          one folder per domain name (sunny, night, cloudy, rainy)
    ROOT/<domain>/labels/<name>.txt            optional YOLO labels: one ``cls cx cy w h`` line per box,
                                               normalised to [0, 1]; a 6th column (confidence) is ignored
    ROOT/pairs.json                            optional (SynthWeather): scene -> per-domain paths, and the
                                               held-out ``val`` scenes the loader uses as its val split

A missing label file means "no instances". Class ids index ``FOLDER_CLASSES``, or the dataset's own names
in ``ROOT/classes.txt`` (then only its vehicle and person classes are instances). Label lines with NaN,
values outside [0, 1] (beyond a small tolerance), non-positive sizes or the wrong column count are
rejected and counted, never fatal. Boxes that reach past the frame edge within that tolerance (a
detector's box on the edge, rounded to 6 decimals) are clipped to [0, 1] and counted.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath
from typing import NamedTuple

import numpy as np
from edgecgl.train.data.records import LoadReport, Record

# YOLO class ids of the folder format (and of `edgecgl data label`, which maps COCO to these), unless the
# dataset names its own in ROOT/classes.txt (edgecgl.classes).
from edgecgl.classes import folder_class_names, instance_ids, no_instance_names
from edgecgl.domains import IMAGE_SUFFIXES
from edgecgl.errors import EdgecglError

_TOL = 1e-3


def safe_name(name: str, what: str = "name") -> str:
    """A single path component: no separators, no '..', nothing absolute (path traversal)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise EdgecglError(f"bad {what} '{name}'", "a plain file or folder name is required (no '/' or '..')")
    return name


def inside(root: Path, rel: str) -> Path:
    """``root / rel`` for a relative name without '..', else a user error (path traversal). Checked on the
    name, not on the disk: a symlink inside the root (a subset built from linked images) is the user's own
    and is followed, as ``folder:`` and ``edgecgl augment`` follow them."""
    if Path(rel).is_absolute() or PureWindowsPath(rel).anchor:
        raise EdgecglError(f"path '{rel}' is absolute", f"paths must be relative to {root}")
    if ".." in PureWindowsPath(rel).parts:  # splits on '/' and '\\' alike
        raise EdgecglError(f"path '{rel}' leaves the dataset root {root}", "remove '..' from the path")
    return root / rel


class YoloLabels(NamedTuple):
    cls: np.ndarray  # [N] int64
    boxes: np.ndarray  # [N, 4] float32 normalised xyxy, inside [0, 1]
    rejected: int  # malformed lines dropped
    clipped: int  # boxes reaching past the frame edge (within the tolerance), clipped to it


def parse_yolo(text: str) -> YoloLabels:
    """Parse YOLO label text into normalised xyxy boxes that stay inside [0, 1]."""
    cls, boxes, rejected = [], [], 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) not in (5, 6):
            rejected += 1
            continue
        try:
            c = float(parts[0])
            cx, cy, w, h = (float(v) for v in parts[1:5])
        except ValueError:
            rejected += 1
            continue
        vals = (c, cx, cy, w, h)
        if not all(math.isfinite(v) for v in vals) or c < 0 or c != int(c):
            rejected += 1
            continue
        if not (
            -_TOL <= cx <= 1 + _TOL and -_TOL <= cy <= 1 + _TOL and 0 < w <= 1 + _TOL and 0 < h <= 1 + _TOL
        ):
            rejected += 1
            continue
        cls.append(int(c))
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    raw = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    inside_ = np.clip(raw, 0.0, 1.0)
    clipped = int((inside_ != raw).any(axis=1).sum())
    return YoloLabels(np.asarray(cls, dtype=np.int64), inside_.astype(np.float32), rejected, clipped)


_MICRO = 1_000_000  # YOLO label files carry 6 decimals


def format_yolo(cls: Sequence[int], boxes_xyxy: np.ndarray, width: int, height: int) -> str:
    """Pixel xyxy boxes -> YOLO label text (6 decimals, one line per box, trailing newline).

    Rounding is done in integer millionths so that ``cx - w/2 >= 0`` and ``cx + w/2 <= 1`` still hold
    for what is written: a box on the frame edge must not come back just outside [0, 1].
    """
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4) / np.array([width, height, width, height])
    b = np.clip(b, 0.0, 1.0)
    lines = []
    for c, (x1, y1, x2, y2) in zip(cls, b, strict=True):
        cx, w = _centre_size_micro(x1, x2)
        cy, h = _centre_size_micro(y1, y2)
        lines.append(f"{int(c)} {cx / _MICRO:.6f} {cy / _MICRO:.6f} {w / _MICRO:.6f} {h / _MICRO:.6f}")
    return "".join(line + "\n" for line in lines)


def _centre_size_micro(lo: float, hi: float) -> tuple[int, int]:
    """Centre and size in millionths, the size shrunk where rounding would push an edge outside [0, 1]."""
    c = round((lo + hi) / 2 * _MICRO)
    size = round((hi - lo) * _MICRO)
    return c, max(0, min(size, 2 * c, 2 * (_MICRO - c)))


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def looks_like_folder(root: Path, domains: Sequence[str]) -> bool:
    return root.is_dir() and any(list_images(root / d) for d in domains)


def read_val_names(root: Path) -> set[str] | None:
    """Held-out scene names from a SynthWeather ``pairs.json`` (None when absent)."""
    p = root / "pairs.json"
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EdgecglError(f"cannot read {p}: {exc}") from None
    val = data.get("val") if isinstance(data, dict) else None
    if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
        raise EdgecglError(f"{p} has no 'val' list of scene names")
    return set(val)


def load_folder(
    root: Path, domains: Sequence[str], categories: Sequence[str] | None
) -> tuple[list[Record], LoadReport, set[str] | None]:
    """Scan ``root`` into records (labels parsed now, images decoded later)."""
    root = Path(root)
    if not root.is_dir():
        raise EdgecglError(f"dataset folder {root} does not exist")
    names, own = folder_class_names(root)
    ids = instance_ids(names, own)
    if own and (said := no_instance_names(names)):
        warnings.warn(f"{root / 'classes.txt'}: {said.removeprefix('warning: ')}", stacklevel=2)
    if categories is not None:
        unknown = [c for c in categories if c not in {names[i] for i in ids}]
        if unknown:
            raise EdgecglError(
                f"unknown category '{unknown[0]}' for the folder format",
                f"valid: {', '.join(names[i] for i in ids)}"
                + (f" (the instance classes of {root / 'classes.txt'})" if own else ""),
            )
    keep_ids = set(ids) if categories is None else {i for i in ids if names[i] in categories}
    report = LoadReport()
    records: list[Record] = []
    bad_files: list[str] = []
    for di, d in enumerate(domains):
        safe_name(d, "domain name")
        for img in list_images(root / d):
            lab = root / d / "labels" / f"{img.stem}.txt"
            boxes = np.zeros((0, 4), np.float32)
            cats: tuple[str, ...] = ()
            if lab.is_file():
                try:
                    text = lab.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    report.rejected_labels += 1
                    bad_files.append(str(lab))
                    text = ""
                cls, boxes, rejected, clipped = parse_yolo(text)
                report.clipped_boxes += clipped
                if rejected:
                    report.rejected_labels += rejected
                    bad_files.append(str(lab))
                known = np.isin(cls, list(keep_ids))
                report.dropped_boxes += int((~known).sum())
                cls, boxes = cls[known], boxes[known]
                cats = tuple(names[c] for c in cls)
            records.append(
                Record(path=str(img), domain=di, boxes=boxes, normalized=True, name=img.stem, categories=cats)
            )
    if not records:
        found = sorted(p.name for p in root.iterdir() if p.is_dir() and list_images(p))
        raise EdgecglError(
            f"no images for the domains {', '.join(domains)} in {root}",
            f"expected {root}/<domain>/*.jpg; "
            + (f"folders with images there: {', '.join(found)}" if found else "no folder there has images"),
        )
    if bad_files:
        warnings.warn(
            f"{report.rejected_labels} malformed label line(s) rejected in {len(bad_files)} file(s), "
            f"e.g. {bad_files[0]}",
            stacklevel=2,
        )
    return records, report, read_val_names(root)
