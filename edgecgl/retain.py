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


def lighter_spreads(spread: float, tries: int = 3) -> list[float]:
    """The spreads ``--keep-objects`` tries in turn: the draw's own, then halved ``tries - 1`` times, then
    the domain's mean (0): the same draw moving towards the mean, a lighter version of the same weather."""
    return [spread] + [spread * 0.5**t for t in range(1, tries)] + [0.0]


def keep_objects(
    translate: Callable[[float], np.ndarray],
    detect: Callable[[np.ndarray], list[Detection]],
    ref: list[Detection],
    height: int,
    spread: float,
    tries: int = 3,
) -> tuple[np.ndarray, float]:
    """One image: ``keep_objects_clip`` with the image as its only probe. Returns the translation and the
    spread it was made with; each spread is translated once."""
    made: dict[float, np.ndarray] = {}

    def one(s: float) -> list[np.ndarray]:
        made[s] = translate(s)
        return [made[s]]

    used = keep_objects_clip(one, detect, [ref], height, spread, tries)
    return (made[used] if used in made else translate(used)), used


def keep_objects_clip(
    translate: Callable[[float], list[np.ndarray]],
    detect: Callable[[np.ndarray], list[Detection]],
    refs: list[list[Detection]],
    height: int,
    spread: float,
    tries: int = 3,
) -> float:
    """The first of ``lighter_spreads`` whose translations of the probe frames (``translate(spread)``, one
    per ``refs``, the input's detections) keep every near box, else the mean (0), which is not checked.
    Far and mid boxes are not checked: real fog hides them. A clip gets one spread (a per-frame redraw
    would flicker)."""
    wants = [near(r, height) for r in refs]
    *checked, mean = lighter_spreads(spread, tries)
    for s in checked:
        outs = translate(s)
        if len(outs) != len(wants):
            raise ValueError(f"{len(outs)} translations for {len(wants)} probe frames")
        if all(not w or all(kept(w, detect(o))) for w, o in zip(wants, outs, strict=True)):
            return s
    return mean
