"""What the guided upsampler costs at 720p and 1080p on ONNX Runtime CPU, next to the plain resize.

Per output frame, as ``Translator.translate_frame`` pays it after the network (uint8 in, uint8 out):
  resize           the network's output to uint8 at the working size, then cv2 bilinear resize
  guided           uint8 -> float NCHW (guide and low guide), the upsampler graph, float -> uint8
  guided graph     the graph alone (float32 inputs ready)
for each mode (channel: 6 planes upsampled, color: 12) and working size, interleaved, 1 and 2 threads.

    OMP_NUM_THREADS=1 python -m benchmarks.upsampler_cost --threads 1,2 --repeats 20
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from edgecgl.export.upsampler import UpsamplerConfig, export_upsampler

from benchmarks.common import load_average, log, write_results
from edgecgl.bench import machine_info, summarize, time_interleaved
from edgecgl.compose import resize, to_nchw, to_uint8
from edgecgl.upsample import OrtUpsampler, _hwc_uint8, _nchw

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920)}
WORKING = {"synth-tiny 64x128": (64, 128), "default 256x512": (256, 512)}


def frame(hw: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = hw
    small = rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)
    return np.clip(resize(small, hw).astype(np.int16) + rng.integers(-8, 8, (h, w, 3)), 0, 255).astype(
        np.uint8
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--modes", default="color,channel")
    ap.add_argument("--name", default="upsampler_cost")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="upsampler_cost_"))
    rows: list[dict[str, Any]] = []
    load_before = load_average()
    for threads in (int(t) for t in args.threads.split(",")):
        for wname, low_hw in WORKING.items():
            sessions = {}  # the graph a bundle of this working size gets (subsampled fit for 256x512)
            for mode in args.modes.split(","):
                cfg = UpsamplerConfig.for_working_size(low_hw, mode=mode)
                path = export_upsampler(cfg, tmp / f"{mode}-{low_hw[0]}.onnx")
                sessions[mode] = OrtUpsampler(path, threads=threads)
            for sname, hw in SIZES.items():
                img = frame(hw)
                low_guide = resize(img, low_hw)
                low_image = np.clip(to_nchw(low_guide)[0] * 0.6 - 0.2, -1, 1).astype(np.float32)
                g, lg, li = to_nchw(img), to_nchw(low_guide), low_image[None]
                fns = {"resize": lambda li=li, hw=hw: resize(to_uint8(li)[0], hw)}
                for mode, sess in sessions.items():
                    fns[f"guided {mode}"] = lambda s=sess, img=img, lo=low_guide, li=li: _hwc_uint8(
                        s(_nchw(img), to_nchw(lo), li)[0]
                    )  # what Upsampler.__call__ does
                    fns[f"guided graph {mode}"] = lambda s=sess, g=g, lg=lg, li=li: s(g, lg, li)
                ms = time_interleaved(fns, args.repeats, warmup=2, settle_s=0.02)
                for name, vals in ms.items():
                    row = {
                        "threads": threads,
                        "working": wname,
                        "output": sname,
                        "path": name,
                        **summarize(vals),
                    }
                    rows.append(row)
                    log(f"{threads} thr  {wname:<18} {sname:<6} {name:<22} {row['median_ms']:8.2f} ms")
    write_results(
        args.name,
        {
            "machine": machine_info(),
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "repeats": args.repeats,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
