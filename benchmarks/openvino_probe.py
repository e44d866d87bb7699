"""Would another CPU runtime close the fp32 gap, or beat INT8? OpenVINO next to ONNX Runtime, same rounds.

On the Intel Xeon with AMX (session 35) ONNX Runtime's convolutions run at the fp32 GEMM limit and the
frame still lands at 68-90 % of it: 20-32 % of the time is memory-bound work (InstanceNorm, reflect pads,
NCHW <-> NCHWc reorders, AdaIN) that its CPU provider does not fuse into the convolutions. OpenVINO's CPU
plugin (oneDNN, fusing norms and activations into convolutions) is the obvious other runtime, and on AMX
its bf16 mode runs the same ONNX graphs in bfloat16. This times a bundle's content encoder + generator on
ONNX Runtime fp32 and OpenVINO with an f32 and a bf16 inference precision (edgecgl's own backends:
``--backend onnxruntime-cpu``, ``openvino``, ``openvino-bf16``), interleaved on the same real frames,
with PSNR against ONNX Runtime fp32.

OpenVINO is an optional extra (``--backend openvino-bf16`` uses it); install it to run this:

    pip install -e '.[openvino]'
    python -m benchmarks.openvino_probe --preset small --threads 2
    python -m benchmarks.openvino_probe --bundle runs/my-bundle --threads 1   # a trained model's PSNR
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import display_path, load_average, log, real_frames, toy_bundle, write_results
from edgecgl.bench import machine_info, precision_view
from edgecgl.bundle import Bundle, load_bundle

Frame = Callable[[np.ndarray], np.ndarray]


def backend_frame(backend: Any, bundle: Bundle) -> Frame:
    """Content encoder + generator through an edgecgl backend, to the bundle's last domain, one fixed style."""
    style = np.random.default_rng(1).standard_normal((1, bundle.style_dim)).astype(np.float32)
    domain = np.eye(len(bundle.domains), dtype=np.float32)[[-1]]
    return lambda x: backend.generate(backend.encode_content(x), style, domain)


def psnr(a: np.ndarray, ref: np.ndarray) -> float:
    """dB on the [-1, 1] scale (peak-to-peak 2)."""
    mse = float(np.mean((a.astype(np.float64) - ref) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(4.0 / mse)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", help="random-init bundle of this preset (speed only)")
    ap.add_argument("--bundle", default="", help="an exported bundle instead (a trained model's PSNR)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--out", default="", help="results name (default: openvino_probe_<preset>_<threads>t)")
    a = ap.parse_args(argv)
    try:
        import openvino  # noqa: F401
    except ImportError:
        raise SystemExit(
            "openvino is not installed: pip install -e '.[openvino]' (or pip install openvino)"
        ) from None
    bundle = Path(a.bundle) if a.bundle else toy_bundle(a.preset)
    if not (bundle / "generator.onnx").is_file():
        raise SystemExit(f"{bundle} has no generator.onnx: give an exported bundle folder")
    frames = real_frames((256, 512), n=a.rounds)
    from edgecgl.backends.onnxruntime import OnnxRuntimeBackend
    from edgecgl.backends.openvino import OpenVinoBackend

    b = load_bundle(bundle)
    arms: dict[str, Frame] = {  # the runtime's own backends, as `edgecgl video` opens them (one stream)
        "onnxruntime fp32": backend_frame(
            OnnxRuntimeBackend(precision_view(b, "fp32"), threads=a.threads), b
        ),
        "openvino f32": backend_frame(OpenVinoBackend(b, "fp32", threads=a.threads), b),
        "openvino bf16": backend_frame(OpenVinoBackend(b, "bf16", threads=a.threads), b),
    }
    load0 = load_average()
    ref = [arms["onnxruntime fp32"](frames[i : i + 1]) for i in range(len(frames))]
    out: dict[str, dict[str, Any]] = {}
    for name, run in arms.items():
        run(frames[:1])  # warm-up (OpenVINO compiles lazily per shape)
        out[name] = {"ms": [], "psnr_db": [psnr(run(frames[i : i + 1]), ref[i]) for i in range(len(frames))]}
    for r in range(a.rounds):
        for name, run in arms.items():  # interleaved: every arm sees the same load
            i = r % len(frames)  # the assets hold 9 frames
            t0 = time.perf_counter()
            run(frames[i : i + 1])
            out[name]["ms"].append((time.perf_counter() - t0) * 1000.0)
    base = statistics.median(out["onnxruntime fp32"]["ms"])
    rows = {}
    for name, d in out.items():
        med = statistics.median(d["ms"])
        rows[name] = {
            "median_ms": round(med, 1),
            "min_ms": round(min(d["ms"]), 1),
            "speedup_vs_onnxruntime_fp32": round(base / med, 3),
            "psnr_db_min": round(min(d["psnr_db"]), 2),
            "psnr_db_mean": round(float(np.mean([p for p in d["psnr_db"] if np.isfinite(p)] or [np.inf])), 2),
        }
        log(
            f"{name:18s} {med:7.1f} ms  x{base / med:.2f}  PSNR vs ORT fp32 min {rows[name]['psnr_db_min']} dB"
        )
    import openvino

    info = machine_info(a.threads)
    info["versions"]["openvino"] = openvino.__version__
    name = a.out or f"openvino_probe_{bundle.name if a.bundle else a.preset}_{a.threads}t"
    write_results(
        name,
        {
            "bundle": display_path(bundle),
            "trained": bool(a.bundle),
            "size": [256, 512],
            "frames": "BDD100K frames from EDGECGL_ASSETS (synthetic where absent)",
            "rounds": a.rounds,
            "load_before_after": [load0, load_average()],
            "arms": rows,
            "machine": info,
        },
    )


if __name__ == "__main__":
    main()
