"""BDD100K: images plus a labels JSON (the 100k ``bdd100k_labels_images_*.json`` or det_20 ``det_*.json``).

Each frame is ``{"name", "attributes": {"weather", "timeofday", "scene"}, "labels": [{"category",
"box2d": {"x1", "y1", "x2", "y2"}}]}``. The domain comes from ``attributes`` through a rule table
(``edgecgl.domains.BddRules``, shared with ``edgecgl augment``, which writes it back; default = the paper's
Table 1; ``data.bdd_rules`` / ``--bdd-rules`` replace it); frames matching no rule are excluded and counted.

``bdd100k:PATH`` takes a labels JSON file or a BDD100K root. Images are looked up, in order, next to
the JSON, in ``images/`` beside it, and in ``images/100k/<split>`` / ``images/<split>`` of the root
(split = ``train``/``val``/``test`` read from the JSON's name); the first folder that holds the first
frame is used for all of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from edgecgl.train.data.folder import inside
from edgecgl.train.data.records import LoadReport, Record

from edgecgl.domains import BddRule, BddRules, bdd_rules
from edgecgl.errors import EdgecglError

# The rule table lives in edgecgl.domains (augment, on the vehicle-side install, reads and writes it too).
__all__ = ["BddRule", "BddRules", "DEFAULT_CATEGORIES", "load_bdd100k", "looks_like_bdd100k"]


# 100k names and det_20 names of the instance classes we translate.
DEFAULT_CATEGORIES: tuple[str, ...] = (
    "car", "truck", "bus", "person", "pedestrian", "rider", "bike", "bicycle", "motor", "motorcycle",
)  # fmt: skip

_SPLITS = ("train", "val", "test")


def _label_files(root: Path) -> list[Path]:
    cands = [
        *sorted(root.glob("labels/det_20/det_*.json")),
        *sorted(root.glob("labels/bdd100k_labels_images_*.json")),
        *sorted(root.glob("labels/*.json")),
        *sorted(root.glob("*.json")),
    ]
    seen: list[Path] = []
    for c in cands:
        if c not in seen and c.name != "pairs.json":
            seen.append(c)
    return seen


def _sniff(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(65536)
    except (OSError, UnicodeDecodeError):
        return False
    return (
        head.lstrip().startswith("[") and '"name"' in head and ('"attributes"' in head or '"labels"' in head)
    )


def looks_like_bdd100k(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".json" and _sniff(path)
    return path.is_dir() and any(_sniff(p) for p in _label_files(path)[:4])


def _image_dirs(json_path: Path) -> list[Path]:
    split = next((s for s in _SPLITS if s in json_path.stem.lower()), None)
    base = json_path.parent
    roots = [base, base.parent, base.parent.parent]
    dirs = [base, base / "images"]
    for r in roots:
        if split:
            dirs += [r / "images" / "100k" / split, r / "images" / split]
    return [d for i, d in enumerate(dirs) if d not in dirs[:i]]


def _read_json(path: Path) -> list:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise EdgecglError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgecglError(f"cannot read BDD100K labels {path}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("frames"), list):  # scalabel dataset wrapper
        data = data["frames"]
    if not isinstance(data, list):
        raise EdgecglError(f"{path}: expected a JSON list of frames", "see DESIGN.md §3 for the schema")
    return data


def load_bdd100k(
    path: Path,
    domains: Sequence[str],
    categories: Sequence[str] | None,
    rules: BddRules | list | dict | None = None,
) -> tuple[list[Record], LoadReport, set[str] | None]:
    path = Path(path)
    if path.is_dir():
        files = [p for p in _label_files(path) if _sniff(p)]
        if not files:
            raise EdgecglError(
                f"no BDD100K labels JSON found under {path}", "give the labels file: bdd100k:FILE.json"
            )
    elif path.is_file():
        files = [path]
    else:
        raise EdgecglError(f"BDD100K path {path} does not exist")
    table = bdd_rules(rules)
    keep = set(DEFAULT_CATEGORIES if categories is None else categories)
    report = LoadReport()
    records: list[Record] = []
    for jf in files:
        frames = _read_json(jf)
        img_dir = None
        for i, fr in enumerate(frames):
            if not isinstance(fr, dict) or not isinstance(fr.get("name"), str) or not fr["name"]:
                raise EdgecglError(
                    f"{jf}: frame #{i} has no 'name'", "each frame needs name, attributes, labels"
                )
            name = fr["name"]
            if img_dir is None:
                inside(jf.parent, name)  # rejects absolute names and '..'
                img_dir = next((d for d in _image_dirs(jf) if (d / name).is_file()), None)
                if img_dir is None:
                    tried = ", ".join(str(d) for d in _image_dirs(jf))
                    raise EdgecglError(f"image {name} (first frame of {jf}) not found", f"looked in: {tried}")
            attrs = fr.get("attributes") or {}
            dom = table.domain_of(attrs)
            if dom is None or dom not in domains:
                report.excluded_frames += 1
                continue
            img = inside(img_dir, name)
            boxes, cats = [], []
            for lab in fr.get("labels") or []:
                if not isinstance(lab, dict) or not isinstance(lab.get("box2d"), dict):
                    continue  # lanes, drivable area: not instances
                cat = str(lab.get("category", ""))
                b = lab["box2d"]
                try:
                    x1, y1, x2, y2 = (float(b[k]) for k in ("x1", "y1", "x2", "y2"))
                except (KeyError, TypeError, ValueError):
                    report.rejected_labels += 1
                    continue
                if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
                    report.rejected_labels += 1
                    continue
                if cat not in keep:
                    report.dropped_boxes += 1
                    continue
                boxes.append((x1, y1, x2, y2))
                cats.append(cat)
            records.append(
                Record(
                    path=str(img),
                    domain=list(domains).index(dom),
                    boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                    name=Path(name).stem,
                    categories=tuple(cats),
                )
            )
    if report.excluded_frames:
        report.notes.append(f"{report.excluded_frames} frame(s) matched no domain rule (or an unused domain)")
    return records, report, None
