"""torch eager vs ONNX Runtime (fp32, and INT8 Q/DQ where the calibration code exists) on the same frames
and threads, interleaved with the dense fp32 matmul that defines the machine's limit.

One call = content encoder + generator on one frame at the working resolution (batch 1), the per-frame
work of ``edgecgl video``. Every variant and the matmul run once per round, in a rotating order, so they
see the same machine load; we report medians, ratios to torch eager, and achieved GFLOP/s as a fraction
of the matmul's.

    python -m benchmarks.backends --presets paper,small,tiny --size 256x512 --threads 2
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from edgecgl.train.inference import load_inference

from benchmarks.common import load_average, log, real_frames, toy_bundle, toy_checkpoint, write_results
from edgecgl.backends.onnxruntime import OnnxRuntimeBackend
from edgecgl.bench import frame_flops, machine_info, summarize, time_interleaved
from edgecgl.bundle import load_bundle
from edgecgl.domains import one_hot
from edgecgl.gemm_limit import GemmLimit, fraction_of_limit, split_times

DEFAULT_REPEATS = {"paper": 7, "small": 12, "tiny": 40}


def cycling(frames: np.ndarray) -> Callable[[], np.ndarray]:
    """Each call returns the next frame (batch 1), so every variant sees the same sequence of frames."""
    it = itertools.cycle(range(frames.shape[0]))
    return lambda: frames[next(it)][None]


def torch_variants(ckpt: Any, frames: np.ndarray, style: np.ndarray, dom: np.ndarray) -> dict[str, Any]:
    """torch eager fp32 (NCHW, the reference) and, where the CPU has bf16 matrix units (AMX / AVX512-BF16),
    bf16 autocast with channels_last (the layout oneDNN's bf16 convolutions want)."""
    import copy

    im = load_inference(ckpt)
    enc, gen = im.modules["content_enc"].eval(), im.modules["gen"].eval()
    st, dm = torch.from_numpy(style), torch.from_numpy(dom)
    nxt = cycling(frames)

    def eager() -> np.ndarray:
        with torch.inference_mode():
            return gen(enc(torch.from_numpy(nxt())), st, dm).numpy()

    out: dict[str, Any] = {"torch eager fp32": eager}
    if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        enc_cl = copy.deepcopy(enc).to(memory_format=torch.channels_last)
        gen_cl = copy.deepcopy(gen).to(memory_format=torch.channels_last)
        nxt_bf = cycling(frames)

        def bf16() -> np.ndarray:
            x = torch.from_numpy(nxt_bf()).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return gen_cl(enc_cl(x), st, dm).float().numpy()

        out["torch eager bf16 channels_last"] = bf16
    return out


def psnr_vs(ref: np.ndarray, out: np.ndarray) -> float:
    """PSNR (dB) of two [-1, 1] images after the runtime's uint8 conversion."""
    a = np.rint((np.clip(ref, -1, 1) + 1) * 127.5)
    b = np.rint((np.clip(out, -1, 1) + 1) * 127.5)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else round(10 * np.log10(255.0**2 / mse), 2)


def ort_variants(bundle: Any, frames: np.ndarray, style: np.ndarray, dom: np.ndarray, threads: int) -> dict:
    out = {}
    be = OnnxRuntimeBackend(bundle, "cpu", threads=threads)
    nxt = cycling(frames)
    out["onnxruntime fp32"] = lambda: be.generate(be.encode_content(nxt()), style, dom)
    return out


def bench_preset(preset: str, size: tuple[int, int], threads: int, repeats: int, warmup: int) -> dict:
    bpath = toy_bundle(preset, size)
    bundle = load_bundle(bpath)
    frames = real_frames(size)
    style = bundle.style(bundle.domains[1])[None].astype(np.float32)
    dom = one_hot(1, len(bundle.domains))
    fns: dict[str, Callable[[], object]] = {}
    fns.update(torch_variants(toy_checkpoint(bpath), frames, style, dom))
    fns.update(ort_variants(bundle, frames, style, dom, threads))
    first = {name: np.asarray(fn()) for name, fn in fns.items()}  # frame 0 through every variant
    psnr = {name: psnr_vs(first["torch eager fp32"], o) for name, o in first.items()}
    gemm = GemmLimit(2048, threads, reps=4)
    fns.update(gemm.fns())
    torch.set_num_threads(threads)
    flops = frame_flops(bundle, size)
    load0 = load_average()
    log(f"{preset} {size[0]}x{size[1]}: {flops['total']:.1f} GFLOP/frame; {list(fns)}; load {load0}")
    times = time_interleaved(fns, repeats, warmup, settle_s=0.1)
    limit = gemm.result(times)
    ref = statistics.median(times["torch eager fp32"])
    rows = {}
    for name, ms in split_times(times).items():
        med = statistics.median(ms)
        g = flops["total"] / (med / 1000)
        rows[name] = {
            **summarize(ms),
            "gflop_per_s": round(g, 1),
            "fraction_of_matmul": fraction_of_limit(g, limit)[0],
            "speedup_vs_torch_eager": round(ref / med, 3),
            "psnr_db_vs_torch_fp32": psnr.get(name),
        }
        log(
            f"  {name:<28} {med:9.1f} ms  {g:6.1f} GFLOP/s  {100 * rows[name]['fraction_of_matmul']:5.1f}% of limit  "
            f"x{ref / med:.2f} vs torch eager"
        )
    log(f"  limit {limit['gflop_per_s']:.1f} GFLOP/s ({limit['library']})")
    return {
        "preset": preset,
        "size": list(size),
        "threads": threads,
        "repeats": repeats,
        "warmup": warmup,
        "load_average_before": load0,
        "load_average_after": load_average(),
        "gflop_per_frame": {k: round(v, 3) for k, v in flops.items()},
        "matmul": limit,
        "variants": rows,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="paper,small,tiny")
    ap.add_argument("--size", default="256x512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=0, help="0: per-preset default")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--out", default="backends")
    a = ap.parse_args(argv)
    h, w = (int(v) for v in a.size.lower().split("x"))
    torch.set_num_threads(a.threads)
    res: dict[str, Any] = {
        "machine": machine_info(a.threads),
        "command": "python -m benchmarks.backends "
        + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
        "runs": [],
    }
    for p in a.presets.split(","):
        res["runs"].append(bench_preset(p, (h, w), a.threads, a.repeats or DEFAULT_REPEATS[p], a.warmup))
    write_results(a.out, res)


if __name__ == "__main__":
    main()
