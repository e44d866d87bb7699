"""Do the labelled objects survive a translation? The check behind ``--keep-objects`` and
benchmarks/retention.py.

A translated frame keeps its input's boxes as labels, so a near car the fog hid becomes a label on empty
road. The same detector runs on the input and on the translation; an input box is kept when an output
box of the same class group overlaps it with IoU >= 0.5. Distance bands by box height over image height
(near >= 0.15, mid 0.05-0.15, far < 0.05): real fog does hide far objects, and should not hide near ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgecgl.detect import Detection

BANDS = (("near", 0.15, 1.01), ("mid", 0.05, 0.15), ("far", 0.0, 0.05))
GROUPS = {"car": "vehicle", "truck": "vehicle", "bus": "vehicle", "motorcycle": "two-wheeler"}
GROUPS |= {"bicycle": "two-wheeler", "person": "person"}


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def kept(ref: list[Detection], out: list[Detection], min_iou: float = 0.5) -> list[bool]:
    """Greedy one-to-one matching, largest input boxes first: which input boxes the output still has."""
    order = sorted(range(len(ref)), key=lambda i: -(ref[i].box[3] - ref[i].box[1]))
    free = set(range(len(out)))
    hit = [False] * len(ref)
    for i in order:
        best, best_j = min_iou, None
        for j in free:
            if GROUPS.get(out[j].cls, out[j].cls) != GROUPS.get(ref[i].cls, ref[i].cls):
                continue
            v = iou(ref[i].box, out[j].box)
            if v >= best:
                best, best_j = v, j
        if best_j is not None:
            free.discard(best_j)
            hit[i] = True
    return hit


def band(det: Detection, height: int) -> str:
    frac = (det.box[3] - det.box[1]) / height
    return next(name for name, lo, hi in BANDS if lo <= frac < hi)


def near(dets: list[Detection], height: int) -> list[Detection]:
    return [d for d in dets if band(d, height) == "near"]


def keep_objects(
    translate: Callable[[float], np.ndarray],
    detect: Callable[[np.ndarray], list[Detection]],
    ref: list[Detection],
    height: int,
    spread: float,
    tries: int = 3,
) -> tuple[np.ndarray, float]:
    """``translate(spread)`` until every near box of ``ref`` (the input's detections) is found again.

    Each retry halves the spread, so the same style draw moves towards the domain's mean: a lighter
    version of the same weather, not another one; the last try is the mean style (spread 0). Returns the
    translation and the spread it was made with. Far and mid boxes are not checked: real fog hides them.
    """
    want = near(ref, height)
    out = translate(spread)
    s = spread
    for t in range(1, tries + 1):
        if not want or all(kept(want, detect(out))):
            break
        s = 0.0 if t == tries else spread * 0.5**t
        out = translate(s)
    return out, s
