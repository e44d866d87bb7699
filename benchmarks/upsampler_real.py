"""The guided upsampler on real footage: gradient correlation with the input and paste seams, guided vs
resize, on the shared dashcam clip (960x540) and the BDD100K frames (1280x720), with pictures.

Each frame goes through the runtime's Pipeline (ONNX Runtime CPU, the COCO YOLOv8n detector for the
instances) twice: ``--upsample resize`` and ``--upsample guided``. Per frame: ``gradient_correlation``
(input vs output); per pasted window: ``seam_ratio`` (1.0 = no rectangle; the issue's bar: within 10 %),
also on the frame before anything is pasted (the metric's floor), and for guided without the colour match.

    OMP_NUM_THREADS=1 python -m benchmarks.upsampler_real --bundle B --frames 40 --pictures docs/
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.common import ASSETS, load_average, log, real_footage, write_results
from edgecgl.backends import select_backend
from edgecgl.bundle import load_bundle
from edgecgl.detect import DetectorConfig, load_detector
from edgecgl.pipeline import FrameResult, Pipeline
from edgecgl.quality import gradient_correlation, seam_ratio
from edgecgl.translate import Translator

# name -> (--upsample, colour-match the crops to the frame before pasting)
VARIANTS = {
    "resize": ("resize", True),
    "guided": ("guided", True),
    "guided, no colour match": ("guided", False),
}


def measure(
    frames: list[np.ndarray], translators: dict[str, Translator], det: Any
) -> tuple[dict[str, Any], dict[str, list[FrameResult]]]:
    from edgecgl.pipeline import PipelineConfig

    """Both paths see the same detections (the detector runs once per frame)."""
    corr: dict[str, list[float]] = {m: [] for m in translators}
    seams: dict[str, list[float]] = {m: [] for m in translators}
    floor: dict[str, list[float]] = {m: [] for m in translators}  # same windows, nothing pasted
    results: dict[str, list[FrameResult]] = {m: [] for m in translators}
    for k, f in enumerate(frames):
        dets = det(f) if det is not None else []
        for m, tr in translators.items():
            cfg = PipelineConfig(harmonize=VARIANTS[m][1])
            r = Pipeline(tr, lambda _f, d=dets: d, cfg)(f)
            results[m].append(r)
            corr[m].append(gradient_correlation(f, r.image))
            seams[m] += [s for w in r.windows if np.isfinite(s := seam_ratio(f, r.image, w))]
            if r.windows:
                glob = tr.translate_frame(f)
                floor[m] += [s for w in r.windows if np.isfinite(s := seam_ratio(f, glob, w))]
        if (k + 1) % 10 == 0:
            log(f"  {k + 1}/{len(frames)} frames")
    out: dict[str, Any] = {}
    for m in translators:
        s = np.asarray(seams[m])
        g = np.asarray(floor[m])
        out[m] = {
            "grad_corr_mean": round(float(np.mean(corr[m])), 3),
            "grad_corr_min": round(float(np.min(corr[m])), 3),
            "windows": int(s.size),
            "seam_median": round(float(np.median(s)), 3) if s.size else None,
            "seam_within_10pct": round(float(np.mean(np.abs(s - 1) <= 0.1)), 3) if s.size else None,
            "seam_p10_p90": [round(float(np.percentile(s, q)), 3) for q in (10, 90)] if s.size else None,
            "no_paste_seam_median": round(float(np.median(g)), 3) if g.size else None,
            "no_paste_within_10pct": round(float(np.mean(np.abs(g - 1) <= 0.1)), 3) if g.size else None,
        }
    return out, results


def label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    cv2.putText(img, text, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(img, text, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
    return img


def save_jpg(path: Path, rgb: np.ndarray, quality: int = 85) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    log(f"wrote {path}")


def pictures(
    out_dir: Path, stem: str, frames: list[np.ndarray], results: dict[str, list[FrameResult]], width: int
) -> dict[str, str]:
    """input | resize | guided (stacked, scaled to ``width``), and a 2x zoom on the largest pasted window."""
    k = max(range(len(frames)), key=lambda i: (len(results["guided"][i].windows), -i))
    f = frames[k]
    rows = [
        label(f, "input"),
        label(results["resize"][k].image, "resize"),
        label(results["guided"][k].image, "guided"),
    ]
    scale = width / f.shape[1]
    stack = np.concatenate(
        [cv2.resize(r, (width, round(f.shape[0] * scale)), interpolation=cv2.INTER_AREA) for r in rows], 0
    )
    files = {"frames": str(out_dir / f"upsampler_{stem}.jpg")}
    save_jpg(out_dir / f"upsampler_{stem}.jpg", stack)
    wins = results["guided"][k].windows
    if wins:
        x1, y1, x2, y2 = max(wins, key=lambda w: (w[2] - w[0]) * (w[3] - w[1]))
        pad = max(x2 - x1, y2 - y1) // 2
        H, W = f.shape[:2]
        cx1, cy1, cx2, cy2 = max(0, x1 - pad), max(0, y1 - pad), min(W, x2 + pad), min(H, y2 + pad)
        tiles = []
        for name, img in (
            ("input", f),
            ("resize", results["resize"][k].image),
            ("guided", results["guided"][k].image),
        ):
            crop = img[cy1:cy2, cx1:cx2]
            z = max(1, min(3, 360 // max(1, cy2 - cy1)))
            crop = cv2.resize(crop, ((cx2 - cx1) * z, (cy2 - cy1) * z), interpolation=cv2.INTER_NEAREST)
            cv2.rectangle(
                crop,
                ((x1 - cx1) * z, (y1 - cy1) * z),
                ((x2 - cx1) * z - 1, (y2 - cy1) * z - 1),
                (255, 255, 0),
                1,
            )
            tiles.append(label(crop, name))
            tiles.append(np.full((crop.shape[0], 6, 3), 255, np.uint8))
        save_jpg(out_dir / f"upsampler_{stem}_car.jpg", np.concatenate(tiles[:-1], 1))
        files["car"] = str(out_dir / f"upsampler_{stem}_car.jpg")
    return files


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--to", default="night")
    ap.add_argument("--frames", type=int, default=40, help="Clip frames measured (every --step-th).")
    ap.add_argument("--step", type=int, default=5)
    ap.add_argument("--pictures", type=Path, default=None, help="Folder for the JPEGs (e.g. docs/).")
    ap.add_argument("--name", default="upsampler_real")
    args = ap.parse_args(argv)
    bundle = load_bundle(args.bundle)
    be = select_backend(bundle, "onnxruntime-cpu")
    yolo = ASSETS / "models" / "yolov8n-coco.pt"
    det = load_detector(yolo, DetectorConfig(imgsz=640, track=False), log=log) if yolo.is_file() else None
    by_mode = {u: Translator(be, bundle, args.to, upsample=u, log=log) for u in ("resize", "guided")}
    translators = {name: by_mode[u] for name, (u, _) in VARIANTS.items()}
    report: dict[str, Any] = {
        "bundle": str(args.bundle),
        "step": bundle.manifest.get("source", {}).get("step"),
        "upsampler": bundle.upsampler,
        "working_size": list(bundle.frame_size),
        "to": args.to,
        "detector": str(yolo) if det is not None else None,
        "load_average": load_average(),
    }
    sets = real_footage(args.frames, args.step, clip_first=True)
    for name, frames in sets.items():
        log(f"{name}: {len(frames)} frames at {frames[0].shape[1]}x{frames[0].shape[0]}")
        stats, results = measure(frames, translators, det)
        report[name] = {"frames": len(frames), "size": [frames[0].shape[0], frames[0].shape[1]], **stats}
        for m, v in stats.items():
            log(f"  {m:<7} {v}")
        if args.pictures is not None:
            stem = "clip" if name.startswith("clip") else "bdd"
            report[name]["pictures"] = pictures(args.pictures, stem, frames, results, width=960)
    write_results(args.name, report)


if __name__ == "__main__":
    main()
