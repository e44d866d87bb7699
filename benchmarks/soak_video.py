"""Soak: a long synthetic video through ``edgecgl video``; does resident memory stay flat?

Generates a small H.264 clip (default 10,000 frames at 64x128, one frame at a time), runs the real CLI
on it in a subprocess and samples the child's RSS from /proc every ``--every`` seconds. Reports RSS
after warm-up (10 % of the run) against the end of the run (last 10 %), the peak, and the growth per
1,000 frames between them. The bundle is a random-init tiny export (speed and memory do not depend on
the weights), unless ``--bundle`` names one.

    python benchmarks/soak_video.py --frames 10000 --json benchmarks/results/soak_video.json
"""

from __future__ import annotations

import argparse
import fractions
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def write_clip(path: Path, n: int, hw: tuple[int, int], fps: int = 25) -> Path:
    """Moving gradient + a bright square, encoded frame by frame (memory stays small for any n)."""
    import av

    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(n):
            f = np.stack([(xx * 2 + 3 * i) % 256, (yy * 3 + i) % 256, np.full_like(xx, 90)], -1).astype(
                np.uint8
            )
            x0 = (2 * i) % max(1, w - h // 2)
            f[h // 4 : 3 * h // 4, x0 : x0 + h // 2] = (230, 40, 40)
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = i, fractions.Fraction(1, fps)
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
    return path


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def soak(clip: Path, bundle: Path, out: Path, every: float, extra: list[str]) -> dict:
    env = {**os.environ, "EDGECGL_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "edgecgl", "video", str(clip), "--to", "night", "--bundle", str(bundle)]
    cmd += ["--backend", "onnxruntime-cpu", "--preset", "ultrafast", "--out", str(out), "--overwrite"]
    cmd += ["--stats-json", str(out.with_suffix(".json")), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    samples: list[tuple[float, float]] = []
    while proc.poll() is None:
        r = rss_mb(proc.pid)
        if r is not None:
            samples.append((time.perf_counter() - t0, r))
        time.sleep(every)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"edgecgl video failed ({proc.returncode}):\n{stderr[-3000:]}")
    stats = json.loads(out.with_suffix(".json").read_text())
    wall = time.perf_counter() - t0
    rs = np.array([s[1] for s in samples])  # evenly spaced in time: index windows = time windows
    n = len(rs)
    warm = rs[n // 10 : max(n // 5, n // 10 + 1)]
    end = rs[min(9 * n // 10, n - 1) :]
    frames = int(stats["frames"])
    warm_mb, end_mb = float(np.median(warm)), float(np.median(end))
    span_frames = 0.75 * frames  # between the middles of the two windows, at a steady frame rate
    return {
        "frames": frames,
        "wall_s": round(wall, 1),
        "fps": stats["fps"],
        "rss_warm_mb": round(warm_mb, 1),
        "rss_end_mb": round(end_mb, 1),
        "rss_peak_mb": round(float(rs.max()), 1),
        "growth_mb_per_1000_frames": round((end_mb - warm_mb) / span_frames * 1000, 3),
        "samples": len(samples),
        "args": extra,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--size", default="64x128", help="HxW of the generated clip")
    ap.add_argument("--bundle", type=Path, default=None, help="default: a tiny random-init export")
    ap.add_argument("--every", type=float, default=0.5, help="RSS sampling period, seconds")
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    ap.add_argument("extra", nargs="*", help="more edgecgl video options (after --), e.g. -- --detector y.pt")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))
    extra = args.extra or ["--no-instances"]
    with tempfile.TemporaryDirectory(prefix="edgecgl-soak-") as tmp:
        d = Path(tmp)
        sys.path.insert(0, str(REPO))
        bundle = args.bundle
        if bundle is None:
            from tests.runtime_helpers import make_tiny_bundle

            bundle = make_tiny_bundle(d / "bundle", pt2=False)
        t = time.perf_counter()
        clip = write_clip(d / "soak.mp4", args.frames, (h, w))
        print(f"clip: {args.frames} frames {w}x{h} in {time.perf_counter() - t:.1f} s", flush=True)
        res = soak(clip, bundle, d / "out.mp4", args.every, extra)
    res["clip"] = f"{w}x{h}"
    print(json.dumps(res, indent=1))
    print(
        f"RSS {res['rss_warm_mb']} MB after warm-up -> {res['rss_end_mb']} MB at the end of {res['frames']} "
        f"frames (peak {res['rss_peak_mb']} MB, {res['growth_mb_per_1000_frames']:+} MB per 1000 frames)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
