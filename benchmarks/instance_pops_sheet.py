"""The picture behind docs/RESULTS.md "Instances on video": the shared clip's distant white car (detected at
0.35-0.50, right at ``--conf``), frames 60-67 translated to night with the detector as it was in session 29
(top) and as it is (bottom), contrast x2.5, and the car's mean luma over frames 0-99 for both.

    OMP_NUM_THREADS=2 python -m benchmarks.instance_pops_sheet --bundle B --out docs/instance_pops_night.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import clip_frames, log
from benchmarks.instance_stability import CLIP, VARIANTS, pipeline
from edgecgl.backends import select_backend
from edgecgl.bundle import load_bundle
from edgecgl.translate import Translator

CAR = (slice(302, 322), slice(411, 441))  # the white car's box in frames 56-72 (y, x)
VIEW = (slice(282, 342), slice(371, 481))  # the crop shown around it
SHOWN = range(60, 68)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--to", default="night")
    ap.add_argument("--out", type=Path, default=Path("docs/instance_pops_night.jpg"))
    args = ap.parse_args(argv)
    bundle = load_bundle(args.bundle)
    tr = Translator(select_backend(bundle, "onnxruntime-cpu"), bundle, args.to)
    frames = clip_frames(CLIP, 100)
    rows = []
    for name in ("session 29", "default"):
        pipe = pipeline(VARIANTS[name], 2, tr)  # what edgecgl video runs (--detect-every 2), or session 29's
        luma, tiles = [], []
        for i, f in enumerate(frames):
            img = pipe(f).image
            luma.append(float(img[CAR].mean()))
            if i in SHOWN:
                crop = np.clip((img[VIEW].astype(np.float32) - 60.0) * 2.5 + 128.0, 0, 255).astype(np.uint8)
                tiles.append(cv2.resize(crop, (220, 120), interpolation=cv2.INTER_NEAREST))
        steps = np.abs(np.diff(luma))
        log(
            f"{name}: car luma frames 60-67 {np.round(luma[60:68], 1).tolist()}; mean |change| {steps.mean():.2f}"
        )
        rows.append(np.concatenate(tiles, 1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(
        str(args.out),
        cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, 90],
    )
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
