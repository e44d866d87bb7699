"""Paste steps on real footage: how far a pasted instance still changes the picture where its feather
ends, with the crops matched to the frame over the margin only (before) and with the edge membrane too
(the default), on the BDD100K frames (1280x720) and the shared dashcam clip (960x540), with pictures.

Per pasted window (the same detections for both): ``paste_step`` (grey levels just inside the box on the
window's sides inside the frame, against the frame's translation before pasting: the step the feather
spreads over the context margin; 0 = none), ``seam_ratio`` (gradients along the window's border; 1 = none)
and the change inside the box (what the instance path still does to the object); the compose stage's
time per frame (harmonize + paste, both variants in the same run), and on the frame with the most windows
the best of interleaved rounds (``compose_cost``: less at the mercy of other jobs).

    OMP_NUM_THREADS=1 python -m benchmarks.paste_steps --bundle B --to foggy --pictures docs/
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.common import ASSETS, load_average, log, real_footage, write_results
from edgecgl.backends import select_backend
from edgecgl.bundle import load_bundle
from edgecgl.compose import paste_instances
from edgecgl.detect import DetectorConfig, load_detector
from edgecgl.pipeline import FrameResult, Pipeline, PipelineConfig
from edgecgl.quality import luma, paste_step, seam_ratio
from edgecgl.translate import Translator

VARIANTS = {  # name -> PipelineConfig.settle_edges
    "margin match (before)": False,
    "margin match + edge membrane (default)": True,
}


def inside_change(translation: np.ndarray, output: np.ndarray, box: tuple[float, ...]) -> float:
    """Mean |luma change| of the paste inside the detection box: what the instance path does there."""
    H, W = output.shape[:2]
    x1, y1 = max(0, round(box[0])), max(0, round(box[1]))
    x2, y2 = min(W, round(box[2])), min(H, round(box[3]))
    if x2 <= x1 or y2 <= y1:
        return float("nan")
    return float(np.abs(luma(output[y1:y2, x1:x2]) - luma(translation[y1:y2, x1:x2])).mean())


def summary(values: list[float]) -> dict[str, float | None]:
    v = np.asarray([x for x in values if np.isfinite(x)])
    if not v.size:
        return {"median": None, "p90": None}
    return {"median": round(float(np.median(v)), 3), "p90": round(float(np.percentile(v, 90)), 3)}


def measure(
    frames: list[np.ndarray], tr: Translator, det: Any
) -> tuple[dict[str, Any], dict[str, list[FrameResult]], list[np.ndarray]]:
    keys = ("step", "seam", "inside", "compose_ms")
    per: dict[str, dict[str, list[float]]] = {m: {k: [] for k in keys} for m in VARIANTS}
    results: dict[str, list[FrameResult]] = {m: [] for m in VARIANTS}
    bare: list[np.ndarray] = []
    for f in frames:
        dets = det(f) if det is not None else []
        glob = tr.translate_frame(f)  # the same translation every variant pastes onto
        bare.append(glob)
        for m, settle in VARIANTS.items():
            r = Pipeline(tr, lambda _f, d=dets: d, PipelineConfig(settle_edges=settle))(f)
            results[m].append(r)
            if r.windows:
                per[m]["compose_ms"].append(r.ms["compose"])
            for w, d in zip(r.windows, r.detections, strict=True):
                per[m]["step"].append(paste_step(glob, r.image, w, d.box))
                per[m]["seam"].append(seam_ratio(f, r.image, w))
                per[m]["inside"].append(inside_change(glob, r.image, d.box))
    out: dict[str, Any] = {}
    for m, v in per.items():
        seams = np.asarray([s for s in v["seam"] if np.isfinite(s)])
        out[m] = {
            "windows": len(v["step"]),
            "paste_step": summary(v["step"]),
            "seam_ratio": summary(v["seam"]),
            "seam_within_10pct": round(float(np.mean(np.abs(seams - 1) <= 0.1)), 3) if seams.size else None,
            "inside_change": summary(v["inside"]),
            "compose_ms_per_frame": summary(v["compose_ms"]),  # harmonize + paste, frames with a window
        }
    return out, results, bare


def compose_cost(
    frame: np.ndarray, tr: Translator, det: Any, rounds: int = 5, calls: int = 10
) -> dict[str, Any]:
    """ms of one ``paste_instances`` call on ``frame``'s own crops, both variants in interleaved rounds
    (best round: the least disturbed by other jobs), and the window sizes it pasted."""
    dets = det(frame) if det is not None else []
    glob = tr.translate_frame(frame)
    inst = Pipeline(tr, lambda _f: dets, PipelineConfig()).translate_instances(frame, dets)
    boxes = [d.box for d in dets]
    best: dict[str, float] = {m: float("inf") for m in VARIANTS}
    for _ in range(rounds):
        for m, settle in VARIANTS.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                paste_instances(glob, inst.images, inst.windows, boxes, 2, True, settle)
            best[m] = min(best[m], (time.perf_counter() - t0) / calls * 1e3)
    sizes = [f"{x2 - x1}x{y2 - y1}" for x1, y1, x2, y2 in inst.windows]
    return {"windows": sizes, **{m: round(v, 3) for m, v in best.items()}}


def stretch(rgb: np.ndarray, gain: float = 2.5) -> np.ndarray:
    """Contrast around the picture's mean, so a step of a few grey levels shows as it does on a monitor
    turned up (fog and night pictures are low-contrast)."""
    x = rgb.astype(np.float32)
    return np.clip((x - x.mean()) * gain + 128.0, 0, 255).astype(np.uint8)


def label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
    cv2.rectangle(img, (4, 4), (12 + w, 12 + h + base), (0, 0, 0), -1)  # a dark plate: readable on fog too
    cv2.putText(img, text, (8, 8 + h), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def sheet(
    path: Path, frames: list[np.ndarray], results: dict[str, list[FrameResult]], k: int, width: int
) -> None:
    """Rows of one frame: input | before | default as they are, the two outputs stretched, and the pasted
    windows' region up close (stretched)."""
    before, now = (results[m][k].image for m in VARIANTS)
    marked = frames[k].copy()
    for x1, y1, x2, y2 in results["margin match (before)"][k].windows:
        cv2.rectangle(marked, (x1, y1), (x2 - 1, y2 - 1), (255, 255, 0), 2)
    h, w = frames[k].shape[:2]
    wins = results["margin match (before)"][k].windows  # up close: their region grown by 30 px
    x1, y1 = max(0, min(v[0] for v in wins) - 30), max(0, min(v[1] for v in wins) - 30)
    x2, y2 = min(w, max(v[2] for v in wins) + 30), min(h, max(v[3] for v in wins) + 30)
    rows = [
        [(marked, "input (pasted windows)"), (before, "before"), (now, "now")],
        [
            (frames[k], "input"),
            (stretch(before), "before, contrast x2.5"),
            (stretch(now), "now, contrast x2.5"),
        ],
        [
            (frames[k][y1:y2, x1:x2], "input, close up"),
            (stretch(before[y1:y2, x1:x2]), "before, close up, x2.5"),
            (stretch(now[y1:y2, x1:x2]), "now, close up, x2.5"),
        ],
    ]
    tw = width // 3

    def tile(img: np.ndarray, text: str) -> np.ndarray:  # labelled after scaling: one text size
        size = (tw, round(img.shape[0] * tw / img.shape[1]))
        interp = cv2.INTER_AREA if img.shape[1] > tw else cv2.INTER_LINEAR
        return label(cv2.resize(img, size, interpolation=interp), text)

    grid = np.concatenate([np.concatenate([tile(*t) for t in r], 1) for r in rows], 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    log(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--to", default="night")
    ap.add_argument(
        "--upsample", default="guided", help="--upsample of the runtime (e.g. residual-instances)"
    )
    ap.add_argument("--frames", type=int, default=40, help="Clip frames measured (every --step-th).")
    ap.add_argument("--step", type=int, default=5)
    ap.add_argument("--pictures", type=Path, default=None, help="Folder for the JPEG sheets (e.g. docs/).")
    ap.add_argument("--name", default="paste_steps")
    args = ap.parse_args(argv)
    bundle = load_bundle(args.bundle)
    tr = Translator(
        select_backend(bundle, "onnxruntime-cpu"), bundle, args.to, upsample=args.upsample, log=log
    )
    yolo = ASSETS / "models" / "yolov8n-coco.pt"
    if not yolo.is_file():
        raise SystemExit(f"needs the COCO detector at {yolo} (EDGECGL_ASSETS)")
    det = load_detector(yolo, DetectorConfig(imgsz=640, track=False), log=log)
    report: dict[str, Any] = {
        "bundle": str(args.bundle),
        "working_size": list(bundle.frame_size),
        "to": args.to,
        "upsample": args.upsample,
        "detector": str(yolo),
        "load_average": load_average(),
    }
    sets = real_footage(args.frames, args.step)
    for name, frames in sets.items():
        log(f"{name}: {len(frames)} frames at {frames[0].shape[1]}x{frames[0].shape[0]}")
        stats, results, bare = measure(frames, tr, det)
        report[name] = {"frames": len(frames), **stats}
        most = max(range(len(frames)), key=lambda i: len(results["margin match (before)"][i].windows))
        report[name]["compose_ms_frame_with_most_windows"] = compose_cost(frames[most], tr, det)
        log(f"  compose, frame {most}: {report[name]['compose_ms_frame_with_most_windows']}")
        for m, v in stats.items():
            log(f"  {m}: {v}")
        if args.pictures is not None and any(r.windows for r in results["margin match (before)"]):
            # the frame where the membrane took away the most: where "before" showed its rectangles
            gain = [
                float(np.abs(results["margin match (before)"][k].image.astype(np.int16) - r.image).mean())
                for k, r in enumerate(results["margin match + edge membrane (default)"])
            ]
            k = int(np.argmax(gain))  # has windows: nothing else differs between the two
            stem = "clip" if name.startswith("clip") else "bdd"
            path = args.pictures / f"paste_steps_{stem}_{args.to}.jpg"
            sheet(path, frames, results, k, width=1800)
            report[name]["picture"] = {"file": str(path), "frame": k}
        write_results(args.name, report)


if __name__ == "__main__":
    main()
