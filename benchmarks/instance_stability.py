"""Instances on video: do the pasted boxes stay put, cover their objects, and paste each object once?

On the real 960x540 clip, the boxes ``Pipeline.detect`` gives every frame (the code ``edgecgl video``
runs: COCO YOLOv8n, tracking, ``--detect-every 2``), for detector settings given as variants. Per variant:

- pops per 100 frames: boxes with no box of IoU >= 0.3 in the previous frame (appeared) plus boxes with
  none in the next (vanished). Each one is an instance patch switching on or off;
- flashes per 100 frames: runs of one object's box that last at most 2 frames (on, then off again: a car
  whose look blinks when its detection hovers around the threshold);
- duplicates per 100 frames: pairs of boxes in one frame with IoU >= 0.7 (one vehicle pasted twice, e.g.
  as ``car`` and as ``truck``);
- box motion: for each box matched to one in the previous frame (greedy by IoU, >= 0.3), its largest
  side move as a share of its size; median and 90th percentile (steadier boxes: lower; the clip's cars
  move, so not zero);
- pop step (with ``--bundle``): at each moment a box appears or vanishes without the fade, the largest
  frame-to-frame change of the instances' contribution to the picture over that box (grey levels), median
  and 90th percentile: how abruptly a patch switches on or off;
- coverage: each raw detection of the frame (the detector alone, every frame, no tracking, conf >= 0.35)
  against its one-to-one match among the pasted boxes (IoU, 0 when unmatched): median and the share below
  0.8 (a car only partly given the instance look).

    OMP_NUM_THREADS=1 python -m benchmarks.instance_stability --bundle B --name instance_stability_amd
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ASSETS, clip_frames, load_average, log, write_results
from benchmarks.detect_every import match, pairs
from edgecgl.bench import machine_info
from edgecgl.detect import Detection, DetectorConfig, iou, load_detector
from edgecgl.pipeline import Pipeline, PipelineConfig
from edgecgl.quality import luma
from edgecgl.translate import Translator

CLIP = ASSETS / "video" / "highway_960x540_audio.mp4"
DETECTOR = ASSETS / "models" / "yolov8n-coco.pt"
# name -> DetectorConfig fields (and PipelineConfig's fade_frames); "session 29" is the detector and the
# pipeline as they were before session 30's changes
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "session 29": {
        "keep_conf": None,
        "merge_iou": None,
        "box": "track",
        "rank": "conf",
        "jitter": None,
        "fade_frames": 1,
    },
    "without fade": {"fade_frames": 1},
    "without keep_conf": {"keep_conf": None},
    "without merge_iou": {"merge_iou": None},
    "tracker's box": {"box": "track"},
    "EMA at every move": {"jitter": None},
}


def pipeline(fields: dict[str, Any], n: int, translator: Translator | None = None) -> Pipeline:
    det_fields = {k: v for k, v in fields.items() if k != "fade_frames"}
    det = load_detector(DETECTOR, DetectorConfig(frames_per_call=n, **det_fields))
    cfg = PipelineConfig(detect_every=n, fade_frames=fields.get("fade_frames", PipelineConfig.fade_frames))
    return Pipeline(translator, det, cfg)  # type: ignore[arg-type] # detect() only without a translator


def boxes_per_frame(frames: list[np.ndarray], fields: dict[str, Any], n: int) -> list[list[Detection]]:
    """The boxes pasted each frame (a fading track's counted while its strength is at least 1/2)."""
    pipe = pipeline(fields, n)
    return [[d for d in pipe.detect(f)[0] if d.strength >= 0.5] for f in frames]


def events(per_frame: list[list[Detection]], thr: float = 0.3) -> list[tuple[int, tuple[float, ...]]]:
    """(frame, box) of every box that appears at a frame or vanishes at it (the box it had before)."""
    out: list[tuple[int, tuple[float, ...]]] = []
    for t in range(1, len(per_frame)):
        prev, cur = per_frame[t - 1], per_frame[t]
        out += [(t, d.box) for d in cur if all(iou(d.box, p.box) < thr for p in prev)]
        out += [(t, p.box) for p in prev if all(iou(p.box, d.box) < thr for d in cur)]
    return out


def pop_steps(
    frames: list[np.ndarray],
    fields: dict[str, Any],
    n: int,
    tr: Translator,
    evs: list[tuple[int, tuple[float, ...]]],
    span: tuple[int, int] = (-2, 6),
) -> dict[str, Any]:
    """How abruptly the picture changes where instances appear or vanish: per event, the instances'
    contribution C = luma(output) - luma(the frame's translation alone), averaged over the event's box, and
    the largest change of that mean from one frame to the next within ``span`` frames of the event."""
    pipe = pipeline(fields, n, tr)
    need: dict[int, list[int]] = {}
    for e, (t, _) in enumerate(evs):
        for k in range(max(0, t + span[0]), min(len(frames), t + span[1])):
            need.setdefault(k, []).append(e)
    means: dict[int, dict[int, float]] = {e: {} for e in range(len(evs))}
    for k, f in enumerate(frames):
        out = pipe(f).image  # every frame: the pipeline keeps state
        if k not in need:
            continue
        c = luma(out) - luma(tr.translate_frame(f))
        for e in need[k]:
            x1, y1, x2, y2 = (int(round(v)) for v in evs[e][1])
            region = c[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)]
            means[e][k] = float(region.mean()) if region.size else 0.0
    steps = [
        max(abs(m[k + 1] - m[k]) for k in sorted(m)[:-1] if k + 1 in m) for m in means.values() if len(m) > 1
    ]
    return {
        "pop_events": len(steps),
        "pop_step_median": round(float(np.median(steps)), 3) if steps else None,
        "pop_step_p90": round(float(np.percentile(steps, 90)), 3) if steps else None,
    }


def runs(per_frame: list[list[Detection]], thr: float = 0.3) -> list[int]:
    """Lengths of the runs of frames each box lives through (chained by IoU >= ``thr`` frame to frame)."""
    lengths: list[int] = []
    alive: list[tuple[Detection, int]] = []  # (box at the last frame, run length so far)
    for dets in per_frame:
        nxt: list[tuple[Detection, int]] = []
        used: set[int] = set()
        for d in dets:
            best, j = 0.0, -1
            for k, (p, _) in enumerate(alive):
                if k not in used and (v := iou(p.box, d.box)) > best:
                    best, j = v, k
            if best >= thr:
                used.add(j)
                nxt.append((d, alive[j][1] + 1))
            else:
                nxt.append((d, 1))
        lengths += [n for k, (_, n) in enumerate(alive) if k not in used]
        alive = nxt
    return lengths + [n for _, n in alive]


def score(per_frame: list[list[Detection]], raw: list[list[Detection]]) -> dict[str, Any]:
    frames = len(per_frame)
    pops = 0
    for t in range(1, frames):
        prev, cur = per_frame[t - 1], per_frame[t]
        pops += sum(all(iou(d.box, p.box) < 0.3 for p in prev) for d in cur)
        pops += sum(all(iou(p.box, d.box) < 0.3 for d in cur) for p in prev)
    lengths = runs(per_frame)
    flashes = sum(n <= 2 for n in lengths)
    dups = sum(
        iou(a.box, b.box) >= 0.7 for dets in per_frame for i, a in enumerate(dets) for b in dets[i + 1 :]
    )
    cover = [v for r, g in zip(raw, per_frame, strict=True) for v in match(r, g)]
    moves = []
    for t in range(1, frames):
        for i, j, v in pairs(per_frame[t - 1], per_frame[t]):
            if v < 0.3:
                continue
            a, b = np.asarray(per_frame[t - 1][i].box), np.asarray(per_frame[t][j].box)
            size = max(1.0, float(max(a[2] - a[0], a[3] - a[1])))
            moves.append(float(np.abs(b - a).max()) / size)
    per100 = 100.0 / max(1, frames - 1)
    return {
        "boxes_per_frame": round(sum(map(len, per_frame)) / frames, 2),
        "pops_per_100_frames": round(pops * per100, 1),
        "flashes_per_100_frames": round(flashes * per100, 1),
        "duplicates_per_100_frames": round(dups * per100, 1),
        "box_motion_median": round(float(np.median(moves)), 4) if moves else None,
        "box_motion_p90": round(float(np.percentile(moves, 90)), 4) if moves else None,
        "coverage_iou_median": round(float(np.median(cover)), 3) if cover else None,
        "coverage_below_0.8": round(float(np.mean(np.asarray(cover) < 0.8)), 3) if cover else None,
        "raw_boxes": len(cover),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=221, help="Frames of the clip (all 221 by default).")
    ap.add_argument("--detect-every", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="Comma-separated names of VARIANTS.")
    ap.add_argument("--name", default="instance_stability")
    ap.add_argument(
        "--bundle", type=Path, default=None, help="Also measure instance flicker with this bundle."
    )
    ap.add_argument("--to", default="night")
    args = ap.parse_args(argv)
    if not CLIP.is_file() or not DETECTOR.is_file():
        sys.exit(f"needs {CLIP} and {DETECTOR} (EDGECGL_ASSETS)")
    frames = clip_frames(CLIP, args.frames)
    report: dict[str, Any] = {
        "clip": CLIP.name,
        "frames": len(frames),
        "detect_every": args.detect_every,
        "machine": machine_info(),
        "load_average": load_average(),
        "variants": {},
    }
    tr = None
    if args.bundle is not None:
        from edgecgl.backends import select_backend
        from edgecgl.bundle import load_bundle

        bundle = load_bundle(args.bundle)
        tr = Translator(select_backend(bundle, "onnxruntime-cpu"), bundle, args.to)
        report.update(bundle=str(args.bundle), to=args.to)
    raw_det = load_detector(DETECTOR, DetectorConfig(track=False, max_instances=100))
    raw = [raw_det(f) for f in frames]  # the objects as the detector sees each frame
    # the moments instances switch on or off without the fade: where every variant's steps are measured
    evs = events(boxes_per_frame(frames, VARIANTS["without fade"], args.detect_every)) if tr else []
    for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
        t0 = time.perf_counter()
        got = boxes_per_frame(frames, VARIANTS[name], args.detect_every)
        report["variants"][name] = {"fields": VARIANTS[name], **score(got, raw)}
        if tr is not None:
            report["variants"][name].update(pop_steps(frames, VARIANTS[name], args.detect_every, tr, evs))
        log(f"{name}: {report['variants'][name]} ({time.perf_counter() - t0:.0f} s)")
        write_results(args.name, report)


if __name__ == "__main__":
    main()
