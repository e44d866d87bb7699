"""`edgecgl video` frames/s per CPU backend on the real clip: the real CLI, each arm in turn, rounds rotated.

What a user sees choosing ``--backend``: ONNX Runtime on an FP32 bundle, on an INT8 bundle (its CPU
graph), and OpenVINO in bf16 (``--backend openvino-bf16``, on the FP32 bundle), with and without instances,
default ``--workers``. Frames/s come from each run's ``--stats-json`` (wall time of the whole run, decode
and encode included); the first arm's output is the reference for the others' PSNR (decoded frames, so
x264's loss is in it too).

    python -m benchmarks.video_backends --fp32 BUNDLE --int8 BUNDLE --frames 60 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ASSETS, display_path, load_average, log, write_results
from edgecgl.bench import machine_info


def decoded(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def psnr_db(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Mean over frames, 8-bit peak."""
    vals = [
        10 * np.log10(255.0**2 / max(np.mean((x.astype(np.float64) - y) ** 2), 1e-12))
        for x, y in zip(a, b, strict=True)
    ]
    return float(np.mean(vals))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fp32", required=True, help="an FP32 bundle")
    ap.add_argument("--int8", default="", help="the same model's INT8 bundle (edgecgl export --int8)")
    ap.add_argument("--to", default="", help="target domain (default: the bundle's last)")
    ap.add_argument("--size", default="256x512")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default="video_backends")
    a = ap.parse_args(argv)
    clip = next(iter(sorted((ASSETS / "video").glob("*.mp4"))), None)
    detector = next(iter(sorted((ASSETS / "models").glob("*.pt"))), None)
    if clip is None or detector is None:
        raise SystemExit(f"needs a clip and YOLO weights under {ASSETS} (EDGECGL_ASSETS)")
    manifest = json.loads((Path(a.fp32) / "manifest.json").read_text())
    to = a.to or manifest["domains"][-1]
    arms = [("onnxruntime-cpu fp32", a.fp32, "onnxruntime-cpu")]
    if a.int8:
        arms.append(("onnxruntime-cpu int8", a.int8, "onnxruntime-cpu"))
    arms.append(("openvino-cpu bf16", a.fp32, "openvino-bf16"))
    scratch = tempfile.TemporaryDirectory(prefix="video_backends_")  # the runs' videos, gone at the end
    tmp = Path(scratch.name)
    runs: dict[str, dict[str, Any]] = {}
    load0 = load_average()
    for r in range(a.rounds):
        order = arms[r % len(arms) :] + arms[: r % len(arms)]  # rotated: no arm always runs first
        for label, bundle, backend in order:
            for instances in (True, False):
                key = f"{label}{'' if instances else ', no instances'}"
                out, stats = tmp / f"{len(runs)}_{r}.mp4", tmp / f"{len(runs)}_{r}.json"
                cmd = [sys.executable, "-m", "edgecgl", "-q", "video", str(clip), "--bundle", bundle, "--to", to,
                       "--size", a.size, "--backend", backend, "--detector", str(detector), "--max-frames",
                       str(a.frames), "--style-seed", "0", "-o", str(out), "--overwrite", "--stats-json", str(stats),
                       *([] if instances else ["--no-instances"])]  # fmt: skip
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"{key}: edgecgl video failed: {done.stderr.strip()[-400:]}")
                st = json.loads(stats.read_text())
                entry = runs.setdefault(
                    key, {"bundle": display_path(Path(bundle)), "backend": backend, "fps": []}
                )
                entry["fps"].append(st["fps"])
                entry.setdefault("video", str(out))
                log(f"round {r + 1} {key}: {st['fps']} frames/s")
    ref = {inst: decoded(Path(runs[arms[0][0] + inst]["video"])) for inst in ("", ", no instances")}
    for key, entry in runs.items():
        inst = ", no instances" if key.endswith(", no instances") else ""
        video = Path(entry.pop("video"))
        first = key.startswith(arms[0][0])
        entry["psnr_db_vs_first_arm"] = None if first else round(psnr_db(decoded(video), ref[inst]), 2)
    scratch.cleanup()
    write_results(
        a.out,
        {
            "clip": clip.name,
            "detector": detector.name,
            "to": to,
            "size": a.size,
            "frames": a.frames,
            "rounds": a.rounds,
            "runs": runs,
            "load_before_after": [load0, load_average()],
            "machine": machine_info(),
        },
    )


if __name__ == "__main__":
    main()
