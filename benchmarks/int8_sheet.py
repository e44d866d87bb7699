"""What the CPU INT8 graph does to a picture: FP32, the bundle's CPU graph, and the same graph with the
generator's last stage in int8 (the export's choice before session 26), each with its difference to
FP32 x8, on the BDD100K frame where the older graph is worst.

    python -m benchmarks.int8_sheet --trained runs/bench/int8-small/runs/000-realfog --out docs/int8_cpu_last_stage.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from benchmarks.int8 import (
    ROLES,
    Pair,
    alternative,
    bdd_frames,
    cache_key,
    calib_set,
    int8_bundle,
    psnr,
    to_u8,
)
from edgecgl.atomic import atomic_path
from edgecgl.bundle import load_bundle


def _tile(img: np.ndarray, text: str) -> np.ndarray:
    img = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))
    bar = np.full((26, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, img])


def sheet(
    ckpt: Path, size: tuple[int, int], domain: str | None, n: int = 32
) -> tuple[np.ndarray, dict[str, float]]:
    """-> (RGB sheet, PSNR of each int8 graph on the frame shown)."""
    name = f"trained-{cache_key(ckpt)}"
    b = load_bundle(int8_bundle(ckpt, name, size, n))
    calib = calib_set(ckpt, b.domains, size, n)
    graphs = {
        "FP32": {r: b.root / b.manifest["models"][r]["fp32"] for r in ROLES},
        "now": {r: b.root / b.manifest["models"][r]["cpu_file"] for r in ROLES},
        "before": alternative(b, calib, "QOperator", "u8", last_stage_int8=True),
    }
    dom = domain or b.domains[-1]
    frames = bdd_frames(size)
    outs = {
        k: [to_u8(Pair(p, b, 2)(frames[i : i + 1], dom))[0].transpose(1, 2, 0) for i in range(len(frames))]
        for k, p in graphs.items()
    }
    i = int(np.argmin([psnr(a, c) for a, c in zip(outs["FP32"], outs["before"], strict=True)]))
    ref = outs["FP32"][i].astype(np.float32)
    db = {k: psnr(ref, outs[k][i]) for k in ("before", "now")}
    inp = to_u8(frames[i : i + 1])[0].transpose(1, 2, 0)
    rows = [
        [
            _tile(inp, f"input (BDD100K frame, {size[0]}x{size[1]})"),
            _tile(outs["before"][i], f"int8 CPU graph, last stage int8: {db['before']:.1f} dB"),
            _tile(np.abs(outs["before"][i] - ref) * 8, "|last stage int8 - FP32| x8"),
        ],
        [
            _tile(outs["FP32"][i], f"FP32 output (-> {dom})"),
            _tile(outs["now"][i], f"int8 CPU graph as exported: {db['now']:.1f} dB"),
            _tile(np.abs(outs["now"][i] - ref) * 8, "|as exported - FP32| x8"),
        ],
    ]
    return np.vstack([np.hstack(r) for r in rows]), db


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trained", required=True, help="a run folder or model.pt")
    ap.add_argument("--size", default="256x512")
    ap.add_argument("--domain", default=None, help="target domain (default: the model's last)")
    ap.add_argument("--out", type=Path, default=Path("docs/int8_cpu_last_stage.jpg"))
    a = ap.parse_args(argv)
    p = Path(a.trained)
    ckpt = p if p.is_file() else p / "checkpoints" / "model.pt"
    h, w = (int(v) for v in a.size.lower().split("x"))
    img, db = sheet(ckpt, (h, w), a.domain)
    with atomic_path(a.out) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {a.out}: last stage int8 {db['before']:.1f} dB, as exported {db['now']:.1f} dB")


if __name__ == "__main__":
    main()
