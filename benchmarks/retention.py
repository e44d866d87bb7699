"""Do the objects survive the translation? Detector recall of each input's own detections in its output.

A translated frame is only a valid training sample for a detector if the input's boxes are still true of
it: a near car that the fog (or night) hides keeps its label and teaches the detector to see through
what no camera sees through. KID cannot tell (a veil that hides everything can be closer to real fog in
Inception features), so this measures it directly: the same detector runs on each input photo and on its
translation (matched by file name); an input box counts as kept when an output box of the same class
group overlaps it with IoU >= 0.5. Reported per distance band (box height over image height: near >= 0.15,
mid 0.05-0.15, far < 0.05), since real fog does hide far objects and should not hide near ones.

    python -m benchmarks.retention --inputs runs/realfog/data/heldout/sunny \\
        --outputs mean=runs/realfog/image_foggy per-image=runs/realfog/image_foggy_per_image \\
        --detector ../shared/assets/models/yolov8n-coco.pt --out retention_realfog
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks.common import log, write_results
from edgecgl.bench import machine_info
from edgecgl.detect import Detection, DetectorConfig, load_detector
from edgecgl.domains import IMAGE_SUFFIXES
from edgecgl.errors import EdgecglError
from edgecgl.retain import BANDS, band, kept
from edgecgl.translate import read_image


def retention_detector(path: str | Path, conf: float = 0.35) -> Any:
    """Every box at ``conf``, untracked and unsmoothed: each photo is judged on its own."""
    return load_detector(
        path, DetectorConfig(conf=conf, track=False, smooth=0.0, min_size=8, max_instances=100)
    )


def retention(
    detect: Any, inputs: list[Path], outputs: Path, ref_cache: dict[str, list[Detection]]
) -> dict[str, Any]:
    counts = {name: [0, 0] for name, _, _ in BANDS}  # band -> [kept, total]
    missing = 0
    for src in inputs:
        dst = next(
            (outputs / (src.stem + s) for s in IMAGE_SUFFIXES if (outputs / (src.stem + s)).is_file()), None
        )
        if dst is None:
            missing += 1
            continue
        img = read_image(src)
        if src.name not in ref_cache:
            ref_cache[src.name] = detect(img)
        ref = ref_cache[src.name]
        out_img = read_image(dst)
        if out_img.shape[:2] != img.shape[:2]:
            raise SystemExit(
                f"{dst} is {out_img.shape[1]}x{out_img.shape[0]}, its input {img.shape[1]}x{img.shape[0]}"
            )
        for det, ok in zip(ref, kept(ref, detect(out_img)), strict=True):
            c = counts[band(det, img.shape[0])]
            c[0] += int(ok)
            c[1] += 1
    rows = {
        name: {"kept": k, "boxes": n, "retention": round(k / n, 4) if n else None}
        for name, (k, n) in counts.items()
    }
    k_all = sum(k for k, _ in counts.values())
    n_all = sum(n for _, n in counts.values())
    rows["all"] = {"kept": k_all, "boxes": n_all, "retention": round(k_all / n_all, 4) if n_all else None}
    return {"bands": rows, "images": len(inputs) - missing, "missing_outputs": missing}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=Path, required=True, help="folder of input photos")
    ap.add_argument(
        "--outputs", nargs="+", required=True, help="NAME=FOLDER of translations (same file stems)"
    )
    ap.add_argument("--detector", required=True, help="Ultralytics model file")
    ap.add_argument("--conf", type=float, default=0.35, help="detection confidence, inputs and outputs alike")
    ap.add_argument("--out", default="retention", help="name of the JSON in benchmarks/results/")
    args = ap.parse_args(argv)
    pairs = [o.split("=", 1) for o in args.outputs]
    if any(len(p) != 2 for p in pairs):
        ap.error("--outputs takes NAME=FOLDER")
    for folder in [args.inputs, *(Path(f) for _, f in pairs)]:
        if not folder.is_dir():
            ap.error(f"{folder} is not a folder")
    inputs = sorted(p for p in args.inputs.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not inputs:
        ap.error(f"no images in {args.inputs}")
    cache: dict[str, list[Detection]] = {}
    results = {}
    try:
        det = retention_detector(args.detector, args.conf)
        for name, folder in pairs:
            results[name] = retention(det, inputs, Path(folder), cache)
    except EdgecglError as exc:  # an unreadable photo or detector: one line, exit 2
        ap.exit(2, f"error: {exc}\n")
    for name in results:
        b = results[name]["bands"]
        log(
            f"{name:24s} "
            + "  ".join(f"{k} {v['retention']} ({v['kept']}/{v['boxes']})" for k, v in b.items())
        )
    data = {
        "what": "detector recall of each input's own detections in its translation (IoU >= 0.5, same class group)",
        "inputs": str(args.inputs),
        "outputs": dict(pairs),
        "detector": str(args.detector),
        "conf": args.conf,
        "bands": {name: [lo, hi] for name, lo, hi in BANDS},
        "machine": machine_info(1),
        "results": results,
    }
    write_results(args.out, data)
    return data


if __name__ == "__main__":
    main()
