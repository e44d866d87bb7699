"""Instance crops: K crops translated in ONE batched call vs K separate calls (same crops, same threads).

Both paths go through the runtime's ``Translator.translate_crops`` (uint8 crops in, uint8 out: content
encoder for instances + the shared generator), on the ONNX Runtime CPU backend, interleaved.

    python -m benchmarks.instances --presets paper,small,tiny --k 8 --instance 128x128 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

import numpy as np

from benchmarks.common import ASSETS, load_average, log, toy_bundle, write_results
from edgecgl.backends.onnxruntime import OnnxRuntimeBackend
from edgecgl.bench import machine_info, summarize, time_interleaved
from edgecgl.bundle import load_bundle
from edgecgl.translate import Translator

DEFAULT_REPEATS = {"paper": 5, "small": 8, "tiny": 30}


def crops(k: int, size: tuple[int, int]) -> np.ndarray:
    """K real crops (tiles of a BDD100K frame) resized to the instance size; synthetic where absent."""
    import cv2

    paths = sorted((ASSETS / "frames").glob("*.jpg"))
    if paths:
        from edgecgl.translate import read_image

        img = read_image(paths[0])
    else:
        from edgecgl.bench import _test_frame

        img = _test_frame((720, 1280))
    h, w = img.shape[:2]
    out = []
    for i in range(k):
        y, x = (i * 97) % (h - 200), (i * 151) % (w - 200)
        out.append(
            cv2.resize(img[y : y + 200, x : x + 200], (size[1], size[0]), interpolation=cv2.INTER_AREA)
        )
    return np.stack(out)


def bench_preset(preset: str, k: int, inst: tuple[int, int], threads: int, repeats: int) -> dict[str, Any]:
    bundle = load_bundle(toy_bundle(preset, (256, 512), inst))
    tr = Translator(OnnxRuntimeBackend(bundle, "cpu", threads=threads), bundle, bundle.domains[1])
    batch = crops(k, inst)
    ref = tr.translate_crops(batch)
    singles = np.concatenate([tr.translate_crops(batch[i : i + 1]) for i in range(k)])
    max_diff = int(np.abs(ref.astype(int) - singles.astype(int)).max())  # same crops, same answer
    fns = {
        f"batched (1 call of {k})": lambda: tr.translate_crops(batch),
        f"{k} single calls": lambda: [tr.translate_crops(batch[i : i + 1]) for i in range(k)],
    }
    load0 = load_average()
    times = time_interleaved(fns, repeats, warmup=1, settle_s=0.1)
    b, s = (statistics.median(v) for v in times.values())
    log(
        f"{preset} K={k} {inst[0]}x{inst[1]}: batched {b:.1f} ms, singles {s:.1f} ms, x{s / b:.2f}; load {load0}"
    )
    return {
        "preset": preset,
        "k": k,
        "instance_size": list(inst),
        "threads": threads,
        "repeats": repeats,
        "load_average_before": load0,
        "load_average_after": load_average(),
        "max_abs_diff_uint8_batched_vs_single": max_diff,
        "variants": {n: summarize(v) for n, v in times.items()},
        "speedup_batched": round(s / b, 3),
        "speedup_batched_min": round(min(times[list(fns)[1]]) / min(times[list(fns)[0]]), 3),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="paper,small,tiny")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--instance", default="128x128")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=0)
    ap.add_argument("--out", default="instances")
    a = ap.parse_args(argv)
    inst = tuple(int(v) for v in a.instance.lower().split("x"))
    res: dict[str, Any] = {
        "machine": machine_info(a.threads),
        "command": "python -m benchmarks.instances " + " ".join(sys.argv[1:] if argv is None else argv),
        "runs": [
            bench_preset(p, a.k, inst, a.threads, a.repeats or DEFAULT_REPEATS[p])  # type: ignore[arg-type]
            for p in a.presets.split(",")
        ],
    }
    write_results(a.out, res)


if __name__ == "__main__":
    main()
