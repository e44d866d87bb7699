"""Where an ONNX Runtime CPU frame goes, by op type: the convolutions against everything around them.

ONNX Runtime's own profiler (``SessionOptions.enable_profiling``) over a bundle's content encoder +
generator with the runtime's session options (ORT_ENABLE_ALL, spin-waiting off), on real frames at 256x512.
The machine's fp32 GEMM limit (``edgecgl.gemm_limit``) is timed between the frames. Convolutions at
that limit with the frame still under it mean the gap is the memory-bound passes
between them (InstanceNorm, reflect pads, NCHW <-> NCHWc reorders, AdaIN, activations), not the kernels.
``benchmarks/investigate.py`` does this for a preset's graph variants; this profiles the bundle as shipped.

    python -m benchmarks.ort_profile --preset small --threads 2
    python -m benchmarks.ort_profile --bundle runs/my-bundle --threads 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import display_path, load_average, log, real_frames, toy_bundle, write_results
from edgecgl.bench import frame_flops, machine_info
from edgecgl.bundle import load_bundle
from edgecgl.gemm_limit import GemmLimit

GROUPS = {  # how docs/PERFORMANCE.md sums the op types
    "InstanceNormalization": "norm",
    "Pad": "pad",
    "ReorderInput": "reorder",
    "ReorderOutput": "reorder",
    "Concat": "layout",
    "Slice": "layout",
    "DepthToSpace": "layout",
    "Add": "elementwise",
    "Mul": "elementwise",
    "Relu": "elementwise",
}


def op_times(events: list[dict[str, Any]], calls: int) -> Counter[str]:
    """ms per call by op type, from one session's profile events (kernel time only)."""
    out: Counter[str] = Counter()
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            out[e["args"]["op_name"]] += e["dur"] / 1000.0 / calls
    return out


def profile(
    bundle: Path, threads: int, frames: np.ndarray, limit: GemmLimit
) -> tuple[Counter[str], dict[str, Any]]:
    """ms per frame by op type, and the GEMM limit timed between the frames (same load, same run)."""
    import onnxruntime as ort

    def session(name: str) -> ort.InferenceSession:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as the runtime sets it
        opts.log_severity_level = 3
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tempfile.mkdtemp()) / name)
        return ort.InferenceSession(str(bundle / f"{name}.onnx"), opts, providers=["CPUExecutionProvider"])

    enc, gen = session("content_encoder"), session("generator")
    domains = int(next(i for i in gen.get_inputs() if i.name == "domain").shape[1])
    style = np.random.default_rng(1).standard_normal((1, 8)).astype(np.float32)
    domain = np.eye(domains, dtype=np.float32)[[-1]]
    times: dict[str, list[float]] = {k: [] for k in limit.fns()}
    for i in range(len(frames)):  # every call is profiled, the first (warm-up) included
        content = enc.run(None, {"image": frames[i : i + 1]})[0]
        gen.run(None, {"content": content, "style": style, "domain": domain})
        for k, fn in limit.fns().items():
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) * 1000.0)
    total: Counter[str] = Counter()
    for sess in (enc, gen):
        path = Path(sess.end_profiling())
        total.update(op_times(json.loads(path.read_text()), len(frames)))
        path.unlink()
    return total, limit.result(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", help="random-init bundle of this preset")
    ap.add_argument("--bundle", default="", help="an exported bundle instead")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--out", default="", help="results name (default: ort_profile_<preset>_<threads>t)")
    a = ap.parse_args(argv)
    bundle = Path(a.bundle) if a.bundle else toy_bundle(a.preset)
    frames = real_frames((256, 512), n=a.frames)
    load0 = load_average()
    ops, limit = profile(bundle, a.threads, frames, GemmLimit(threads=a.threads))
    frame_ms = sum(ops.values())
    groups: Counter[str] = Counter()
    for op, ms in ops.items():
        groups["conv" if op in ("Conv", "FusedConv") else GROUPS.get(op, "other")] += ms
    share = {k: round(v / frame_ms, 4) for k, v in groups.most_common()}
    gflop = frame_flops(load_bundle(bundle), (256, 512))["total"]  # nearly all of it convolutions
    conv_rate = gflop / (groups["conv"] / 1000.0)
    log(f"{frame_ms:.1f} ms a frame (sum of ops), {a.threads} thread(s), convolutions at {conv_rate:.0f} "
        f"GFLOP/s, limit {limit['gflop_per_s']:.0f} ({limit['winner']}): "
        + ", ".join(f"{k} {100 * v:.1f} %" for k, v in share.items()))  # fmt: skip
    name = a.out or f"ort_profile_{bundle.name if a.bundle else a.preset}_{a.threads}t"
    write_results(
        name,
        {
            "bundle": display_path(bundle),
            "size": [256, 512],
            "frames": len(frames),
            "frame_ms": round(frame_ms, 2),
            "gflop_per_frame": round(gflop, 2),
            "conv_gflop_per_s": round(conv_rate, 1),
            "limit": limit,
            "ms_by_op": {k: round(v, 2) for k, v in ops.most_common()},
            "share_by_group": share,
            "load_before_after": [load0, load_average()],
            "machine": machine_info(a.threads),
        },
    )


if __name__ == "__main__":
    main()
