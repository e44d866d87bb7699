"""What one detector call costs the CPU: process CPU ms (user + sys) and wall ms, per detector file.

On a 2-core box where the translator's network already keeps both cores busy, the detector's *CPU time*
is what ``edgecgl video`` pays for it, not its wall time (which a second thread can shorten without doing
less work). Each spec is timed on the same frames of the real clip through ``edgecgl.detect.Detector``
(letterbox, network, NMS; no tracking), in interleaved rounds. Specs: ``FILE.pt@T`` (torch at T threads),
``FILE.onnx@T`` (ONNX Runtime reopened by ``load_detector``: T threads, no spin-wait),
``FILE.onnx@ultralytics`` (the session as Ultralytics opens it: one spinning thread per core).

    python -m benchmarks.detector_cost --specs yolov8n-coco.pt@1,yolov8n-coco.pt@2,yolov8n-coco.onnx@1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import load_average, log, write_results
from benchmarks.pipeline import CLIP, DETECTOR, clip_frames
from edgecgl.bench import machine_info
from edgecgl.detect import Detector, DetectorConfig, load_detector


def open_spec(spec: str) -> tuple[Detector, int]:
    """(detector, torch threads to set before each call) for ``FILE@T`` / ``FILE@ultralytics``."""
    path, _, opt = spec.partition("@")
    threads = int(opt) if opt.isdigit() else 0
    cfg = DetectorConfig(track=False, ort_threads=threads if path.endswith(".onnx") else 0)
    if opt == "ultralytics":
        from ultralytics import YOLO

        return Detector(YOLO(path, task="detect"), cfg), 0
    return load_detector(path, cfg), threads if path.endswith(".pt") else 0


def cpu_ms() -> float:
    t = os.times()
    return (t.user + t.system) * 1e3


def measure(dets: dict[str, tuple[Any, int]], frames: list[np.ndarray], rounds: int) -> dict[str, Any]:
    """Per spec: median CPU and wall ms per call over ``rounds`` interleaved passes over ``frames``."""
    import torch

    default_threads = torch.get_num_threads()
    specs = list(dets)
    cpu: dict[str, list[float]] = {s: [] for s in specs}
    wall: dict[str, list[float]] = {s: [] for s in specs}
    boxes: dict[str, int] = {}
    for r in range(rounds):
        for s in specs[r % len(specs) :] + specs[: r % len(specs)]:
            det, threads = dets[s]
            torch.set_num_threads(threads or default_threads)
            det(frames[0])  # warm-up: thread pools up, caches warm
            time.sleep(0.2)
            c0, w0 = cpu_ms(), time.perf_counter()
            found = sum(len(det(f)) for f in frames)
            cpu[s].append((cpu_ms() - c0) / len(frames))
            wall[s].append((time.perf_counter() - w0) * 1e3 / len(frames))
            boxes[s] = found
            log(f"  round {r + 1} {s}: cpu {cpu[s][-1]:.1f} ms, wall {wall[s][-1]:.1f} ms per call")
    torch.set_num_threads(default_threads)
    return {
        s: {
            "cpu_ms_per_call": round(statistics.median(cpu[s]), 2),
            "wall_ms_per_call": round(statistics.median(wall[s]), 2),
            "cpu_ms_rounds": [round(v, 2) for v in cpu[s]],
            "wall_ms_rounds": [round(v, 2) for v in wall[s]],
            "boxes": boxes[s],
        }
        for s in specs
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", default=f"{DETECTOR}@1,{DETECTOR}@2", help="comma list of FILE@T specs")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="detector_cost")
    a = ap.parse_args(argv)
    if not CLIP.is_file():
        raise SystemExit(f"needs the real clip {CLIP} (EDGECGL_ASSETS)")
    specs = [s for s in a.specs.split(",") if s]
    for s in specs:
        if not Path(s.partition("@")[0]).is_file():
            raise SystemExit(f"detector file {s.partition('@')[0]} does not exist")
    frames = clip_frames(a.frames)
    load0 = load_average()
    res = measure({s: open_spec(s) for s in specs}, frames, a.rounds)
    for s, r in res.items():
        log(
            f"{s}: {r['cpu_ms_per_call']} CPU ms, {r['wall_ms_per_call']} wall ms per call, {r['boxes']} boxes"
        )
    write_results(
        a.out,
        {
            "machine": machine_info(),
            "command": "python -m benchmarks.detector_cost "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "clip": CLIP.name,
            "frames": len(frames),
            "rounds": a.rounds,
            "load_average_before": load0,
            "load_average_after": load_average(),
            "specs": res,
        },
    )


if __name__ == "__main__":
    main()
