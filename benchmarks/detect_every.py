"""``--detect-every N``: how close the predicted boxes stay to every-frame detection, and what N saves.

On the real 960x540 clip, every frame goes through ``Pipeline.detect`` (the code ``edgecgl video`` runs)
with COCO YOLOv8n tracking, for several N. The reference is N=1 (today's boxes: tracked and smoothed)
and, second, the raw detections of every frame (no smoothing). Per reference box, the best one-to-one
match (greedy by IoU) among the N-run's boxes of the same frame; a reference box with no match counts 0.

Variants that justify the design: ``hold`` (boxes stay where the last detection put them, no velocity)
and ``ema-per-call`` (the EMA weight applied per detector call instead of per frame: more lag as N grows).

    OMP_NUM_THREADS=1 python -m benchmarks.detect_every --ns 1,2,3,4,5,6,8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np

from benchmarks.common import ASSETS, load_average, log, write_results
from edgecgl.bench import machine_info
from edgecgl.detect import Detection, DetectorConfig, iou, load_detector
from edgecgl.pipeline import Pipeline, PipelineConfig

CLIP = ASSETS / "video" / "highway_960x540_audio.mp4"
DETECTOR = ASSETS / "models" / "yolov8n-coco.pt"


def pairs(ref: list[Detection], got: list[Detection], min_iou: float = 0.0) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching by IoU (highest first): (index in ref, index in got, IoU) for every pair
    above ``min_iou``."""
    ranked = sorted(
        ((iou(r.box, g.box), i, j) for i, r in enumerate(ref) for j, g in enumerate(got)), reverse=True
    )
    out: list[tuple[int, int, float]] = []
    used_r: set[int] = set()
    used_g: set[int] = set()
    for v, i, j in ranked:
        if v <= min_iou or i in used_r or j in used_g:
            continue
        out.append((i, j, v))
        used_r.add(i)
        used_g.add(j)
    return out


def match(ref: list[Detection], got: list[Detection]) -> list[float]:
    """IoU of each reference box with its greedy one-to-one match in ``got`` (0 when unmatched)."""
    best = [0.0] * len(ref)
    for i, _, v in pairs(ref, got):
        best[i] = v
    return best


def run(frames: list[np.ndarray], n: int, variant: str = "") -> tuple[list[list[Detection]], float]:
    """Boxes per frame from ``Pipeline.detect`` with detect_every=n; ms of detection per frame."""
    smooth = 0.0 if variant == "raw" else DetectorConfig().smooth
    per_call = 1 if variant == "ema-per-call" else n
    det = load_detector(DETECTOR, DetectorConfig(smooth=smooth, frames_per_call=per_call))
    pipe = Pipeline(None, det, PipelineConfig(detect_every=n))  # type: ignore[arg-type] # detect() only
    if variant == "hold":
        pipe.predictor.predict = lambda _i: list(pipe.predictor.current)  # type: ignore[method-assign]
    out = []
    t0 = time.perf_counter()
    for f in frames:
        out.append(pipe.detect(f)[0])
    return out, (time.perf_counter() - t0) * 1000.0 / len(frames)


def score(ref: list[list[Detection]], got: list[list[Detection]], n: int) -> dict[str, Any]:
    all_iou: list[float] = []
    between: list[float] = []
    for i, (r, g) in enumerate(zip(ref, got, strict=True)):
        m = match(r, g)
        all_iou += m
        if i % n:
            between += m
    arr = np.array(all_iou) if all_iou else np.zeros(1)
    btw = np.array(between) if between else np.array([float("nan")])
    return {
        "boxes": len(all_iou),
        "mean_iou": round(float(arr.mean()), 4),
        "median_iou": round(float(np.median(arr)), 4),
        "frac_iou_ge_0.5": round(float((arr >= 0.5).mean()), 4),
        "frac_iou_ge_0.7": round(float((arr >= 0.7).mean()), 4),
        "mean_iou_predicted_frames": round(float(np.nanmean(btw)), 4) if between else None,
        "p10_iou_predicted_frames": round(float(np.nanpercentile(btw, 10)), 4) if between else None,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ns", default="1,2,3,4,5,6,8")
    ap.add_argument("--variants", default="hold,ema-per-call", help="comma list, '' for none")
    ap.add_argument("--max-frames", type=int, default=0, help="0: the whole clip")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for YOLO")
    ap.add_argument("--out", default="detect_every")
    a = ap.parse_args(argv)
    if not CLIP.is_file() or not DETECTOR.is_file():
        raise SystemExit(f"needs {CLIP} and {DETECTOR} (EDGECGL_ASSETS)")
    import av
    import torch

    torch.set_num_threads(a.threads)
    with av.open(str(CLIP)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    if a.max_frames:
        frames = frames[: a.max_frames]
    ns = [int(v) for v in a.ns.split(",")]
    variants = [v for v in a.variants.split(",") if v]
    load0 = load_average()
    log(f"{len(frames)} frames, load {load0}")
    ref, ms1 = run(frames, 1)
    raw, _ = run(frames, 1, "raw")
    rows: list[dict[str, Any]] = []
    for n in ns:
        for variant in ["", *variants] if n > 1 else [""]:
            got, ms = (ref, ms1) if n == 1 and not variant else run(frames, n, variant)
            row = {
                "n": n,
                "variant": variant or "predict",
                "detect_ms_per_frame": round(ms, 2),
                "boxes": sum(len(g) for g in got),
                "tracked_fraction": round(
                    sum(d.track_id is not None for g in got for d in g) / max(1, sum(len(g) for g in got)), 3
                ),
                "vs_every_frame_smoothed": score(ref, got, n),
                "vs_every_frame_raw": score(raw, got, n),
            }
            rows.append(row)
            s, r = row["vs_every_frame_smoothed"], row["vs_every_frame_raw"]
            log(
                f"N={n} {row['variant']:<12} {ms:6.1f} ms/frame  IoU vs smoothed {s['mean_iou']:.3f} "
                f"(predicted frames {s['mean_iou_predicted_frames']}, >=0.5 {s['frac_iou_ge_0.5']:.3f})  "
                f"vs raw {r['mean_iou']:.3f}"
            )
    write_results(
        a.out,
        {
            "machine": machine_info(a.threads),
            "command": "python -m benchmarks.detect_every "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "clip": CLIP.name,
            "frames": len(frames),
            "detector": DETECTOR.name,
            "torch_threads": a.threads,
            "load_average_before": load0,
            "load_average_after": load_average(),
            "boxes_per_frame_every_frame": round(statistics.mean(len(r) for r in ref), 2),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
