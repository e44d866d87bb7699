"""INIT (Shen et al., CVPR 2019) text annotations, parsed strictly.

The format is documented only by third parties (e.g. joliGEN's INIT reader); this parser accepts
exactly this block structure and names file and line on anything else::

    # <index>                       a '#' line starts a block
    <image path>                    relative to the annotation file's folder (or its parent)
    <header lines>                  a line of 1-4 integers (e.g. "3 540 960": channels, height, width),
                                    then single-integer lines (e.g. "0"); the last one is the box count N
    <class> <x1> <y1> <x2> <y2>     N box lines, pixels; class 1 = car, 2 = sign, 3 = person
    <blank lines>

The domain of a frame is the first path component of its image path (or token of the annotation
file's name) that is a domain name. Image paths must stay inside the dataset folder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from edgecgl.train.data.records import LoadReport, Record

from edgecgl.errors import EdgecglError

INIT_CLASSES = {1: "car", 2: "sign", 3: "person"}
DEFAULT_CATEGORIES: tuple[str, ...] = ("car", "sign", "person")


def _is_int(tok: str) -> bool:
    try:
        int(tok)
    except ValueError:
        return False
    return True


def _annotation_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    # top level and one folder down (e.g. annotations/), never the YOLO labels/ folders
    cands = [*path.glob("*.txt"), *(p for p in path.glob("*/*.txt") if p.parent.name != "labels")]
    return sorted(p for p in cands if p.is_file() and _sniff(p))


def _sniff(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [ln.strip() for ln in fh.read(4096).splitlines() if ln.strip()][:4]
    except (OSError, UnicodeDecodeError):
        return False
    return (
        len(lines) >= 3
        and lines[0].startswith("#")
        and not lines[1].startswith("#")
        and _is_int(lines[2].split()[0])
    )


def looks_like_init(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".txt" and _sniff(path)
    return path.is_dir() and any(True for _ in _annotation_files(path))


def parse_init(path: Path) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    """-> [(image path as written, line number, classes [N], boxes [N, 4])]; EdgecglError names file:line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgecglError(f"cannot read INIT annotations {path}: {exc}") from None
    out = []
    i, n = 0, len(lines)

    def fail(lineno: int, what: str) -> EdgecglError:
        got = lines[lineno - 1].strip() if 0 < lineno <= n else "<end of file>"
        return EdgecglError(
            f"{path}:{lineno}: {what}, got '{got[:60]}'", "see the INIT format in train/data/init.py"
        )

    while i < n:
        if not lines[i].strip():
            i += 1
            continue
        if not lines[i].strip().startswith("#"):
            raise fail(i + 1, "expected '# <index>' starting an annotation block")
        block_line = i + 1
        i += 1
        if i >= n or not lines[i].strip() or lines[i].strip().startswith("#"):
            raise fail(i + 1, "expected an image path")
        img = lines[i].strip()
        i += 1
        header: list[list[str]] = []
        while i < n and lines[i].strip():
            toks = lines[i].split()
            # the first header line may hold several integers (e.g. "3 540 960"); later ones hold one
            if len(toks) > (4 if not header else 1) or not all(_is_int(t) for t in toks):
                break
            header.append(toks)
            i += 1
        if not header or len(header[-1]) != 1:
            raise fail(i + 1, "expected header lines of integers ending with the box count")
        count = int(header[-1][0])
        if count < 0:
            raise fail(i, "box count must not be negative")
        cls, boxes = [], []
        for _ in range(count):
            if i >= n:
                raise fail(i + 1, f"expected {count} box lines 'class x1 y1 x2 y2'")
            toks = lines[i].split()
            if len(toks) != 5:
                raise fail(i + 1, "expected a box line 'class x1 y1 x2 y2'")
            try:
                c = int(toks[0])
                x1, y1, x2, y2 = (float(t) for t in toks[1:])
            except ValueError:
                raise fail(i + 1, "expected numbers in the box line") from None
            if c not in INIT_CLASSES:
                raise fail(i + 1, f"unknown class {c} (1 = car, 2 = sign, 3 = person)")
            if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
                raise fail(i + 1, "expected a finite box with x2 > x1 and y2 > y1")
            cls.append(c)
            boxes.append((x1, y1, x2, y2))
            i += 1
        if i < n and lines[i].strip() and not lines[i].strip().startswith("#"):
            raise fail(i + 1, f"block has more box lines than its count {count}")
        out.append((img, block_line, np.asarray(cls, np.int64), np.asarray(boxes, np.float32).reshape(-1, 4)))
    return out


def _domain_of(img: str, ann: Path, domains: Sequence[str]) -> str | None:
    for part in Path(img).parts:
        if part.lower() in domains:
            return part.lower()
    for tok in ann.stem.lower().replace("-", "_").replace(".", "_").split("_"):
        if tok in domains:
            return tok
    return None


def load_init(
    path: Path, domains: Sequence[str], categories: Sequence[str] | None
) -> tuple[list[Record], LoadReport, set[str] | None]:
    path = Path(path)
    if not path.exists():
        raise EdgecglError(f"INIT path {path} does not exist")
    files = _annotation_files(path)
    if not files:
        raise EdgecglError(f"no INIT annotation files under {path}")
    keep = set(DEFAULT_CATEGORIES if categories is None else categories)
    unknown = keep - set(INIT_CLASSES.values())
    if unknown:
        raise EdgecglError(f"unknown INIT category '{sorted(unknown)[0]}'", "valid: car, sign, person")
    report = LoadReport()
    records: list[Record] = []
    for ann in files:
        root = ann.parent
        for img, lineno, cls, boxes in parse_init(ann):
            if Path(img).is_absolute() or ".." in Path(img).parts:
                raise EdgecglError(f"{ann}:{lineno + 1}: image path '{img}' leaves the dataset folder")
            cand = [root / img, root.parent / img]
            found = next((c for c in cand if c.is_file()), cand[0])
            dom = _domain_of(img, ann, domains)
            if dom is None:
                report.excluded_frames += 1
                continue
            names = [INIT_CLASSES[int(c)] for c in cls]
            mask = np.array([nm in keep for nm in names], bool)
            report.dropped_boxes += int((~mask).sum()) if len(mask) else 0
            records.append(
                Record(
                    path=str(found),
                    domain=list(domains).index(dom),
                    boxes=boxes[mask] if len(mask) else boxes,
                    name=Path(img).stem,
                    categories=tuple(nm for nm, k in zip(names, mask, strict=True) if k),
                )
            )
    return records, report, None
