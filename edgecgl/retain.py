"""Do the labelled objects survive a translation? The check behind ``--keep-objects`` and
benchmarks/retention.py.

A translated frame keeps its input's boxes as labels, so a near car the fog hid becomes a label on empty
road. The same detector runs on the input and on the translation; an input box is kept when an output
box of the same class group overlaps it with IoU >= 0.5. Distance bands by box height over image height
(near >= 0.15, mid 0.05-0.15, far < 0.05): real fog does hide far objects, and should not hide near ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from edgecgl.detect import Detection, iou

BANDS = (("near", 0.15, 1.01), ("mid", 0.05, 0.15), ("far", 0.0, 0.05))
GROUPS = {"car": "vehicle", "truck": "vehicle", "bus": "vehicle", "motorcycle": "two-wheeler"}
GROUPS |= {"bicycle": "two-wheeler", "person": "person"}


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


@dataclass(frozen=True)
class Choice:
    """What ``--keep-objects`` settled on: the spread used, and of the input's near boxes how many its
    translation still has (``kept == near``: all of them)."""

    spread: float
    kept: int
    near: int


@dataclass
class KeepCounts:
    """``--keep-objects`` over many images: how many were redrawn, and how many of their near boxes the
    pictures delivered still have (what image, augment and eval report)."""

    images: int = 0
    redrawn: int = 0  # images whose draw was made lighter
    near: int = 0  # near boxes detected on the inputs
    near_kept: int = 0  # of those, found again on the picture delivered
    short: int = 0  # images whose picture still misses some: no lighter draw found more of them

    def add(self, choice: Choice, spread: float) -> None:
        self.images += 1
        self.redrawn += choice.spread != spread
        self.near += choice.near
        self.near_kept += choice.kept
        self.short += choice.kept < choice.near

    def summary(self) -> str:
        still = f"; {self.short} image(s) still miss some, no lighter draw finding more" if self.short else ""
        return (
            f"--keep-objects: {self.redrawn} of {self.images} image(s) redrawn lighter; "
            f"{self.near_kept} of {self.near} near objects of the inputs found again{still}"
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def keep_objects(
    translate: Callable[[float], np.ndarray],
    detect: Callable[[np.ndarray], list[Detection]],
    ref: list[Detection],
    height: int,
    spread: float,
    tries: int = 3,
) -> tuple[np.ndarray, Choice]:
    """One image: ``keep_objects_clip`` with the image as its only probe. Returns the translation and the
    choice it was made with; each spread is translated once."""
    made: dict[float, np.ndarray] = {}

    def one(s: float) -> list[np.ndarray]:
        made[s] = translate(s)
        return [made[s]]

    choice = keep_objects_clip(one, detect, [ref], height, spread, tries)
    return made[choice.spread], choice


def keep_objects_clip(
    translate: Callable[[float], list[np.ndarray]],
    detect: Callable[[np.ndarray], list[Detection]],
    refs: list[list[Detection]],
    height: int,
    spread: float,
    tries: int = 3,
) -> Choice:
    """The first of ``lighter_spreads`` whose translations of the probe frames (``translate(spread)``, one
    per ``refs``, the input's detections) keep every near box; when none does, the one that kept the most,
    the lighter on a tie (a car the detector misses everywhere is still easiest to see in the lightest fog;
    docs/RESULTS.md, session 15). Far and mid boxes are not checked: real fog hides them. A clip gets one
    spread (a per-frame redraw would flicker)."""
    wants = [near(r, height) for r in refs]
    total = sum(len(w) for w in wants)
    best = Choice(spread, -1, total)
    for s in lighter_spreads(spread, tries):
        outs = translate(s)
        if len(outs) != len(wants):
            raise ValueError(f"{len(outs)} translations for {len(wants)} probe frames")
        n = sum(sum(kept(w, detect(o))) for w, o in zip(wants, outs, strict=True) if w)
        if n == total:
            return Choice(s, n, total)
        if n >= best.kept:  # spreads go from the draw to the mean: on a tie the lighter wins
            best = Choice(s, n, total)
    return best
