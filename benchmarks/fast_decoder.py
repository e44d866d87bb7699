"""What the decoder's speed options buy on ONNX Runtime CPU: model.upsample and model.padding.

Each arm is a random-init model of ``--preset`` built with its options and exported as ``edgecgl export`` writes it
(a ``nearest_conv5`` decoder in its exact sub-pixel form, export/fast_decoder.py), against the reference arm:
the default network exported as it trains (nearest x2 + 5x5 conv, what bundles held before session 12),
and timed per frame (content encoder + generator, batch 1, ORT_ENABLE_ALL, spin-wait off) in the same
interleaved rounds as every dense fp32 GEMM reference of the device (edgecgl.gemm_limit): frames/s, the
ratio to the default arm, GFLOP/s and the fraction of the fastest GEMM.

``--streams N`` also times each arm as N frames at once, each on threads // N ORT threads (what ``edgecgl
video --workers N`` does), in frames/s of throughput, against a limit that also includes N GEMMs at once.

    OMP_NUM_THREADS=1 python -m benchmarks.fast_decoder --preset small --size 256x512 --threads 1
    python -m benchmarks.fast_decoder --preset small --threads 2 --arms 2,6   # the phase-domain tail
    python -m benchmarks.fast_decoder --preset small --threads 2 --arms 6 --streams 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from edgecgl.export.fast_decoder import can_rewrite, subpixel_decoder
from edgecgl.export.onnx import Dims, example_inputs, export_onnx
from edgecgl.export.simplify import simplify
from edgecgl.train.nets import CGLModel, ModelConfig

from benchmarks.common import load_average, log, write_results
from edgecgl.bench import at_once, machine_info, onnx_flops, summarize, time_interleaved
from edgecgl.gemm_limit import GemmLimit, fraction_of_limit, split_times

# name -> (model.upsample, model.padding, rewritten by the export, with the phase-domain tail); the first
# arm is the reference: the default network in the form it trains in (every bundle before session 12).
# Arm 2 is what bundles of sessions 12-22 hold; arm 6 what `edgecgl export` writes since session 23.
ARMS = {
    "default (nearest_conv5, reflect) as trained": ("nearest_conv5", "reflect", False, False),
    "default (nearest_conv5, reflect), exported sub-pixel + exact edges": (
        "nearest_conv5",
        "reflect",
        True,
        False,
    ),
    "nearest_conv5, replicate (exported sub-pixel)": ("nearest_conv5", "replicate", True, False),
    "nearest_conv5, zero (exported sub-pixel)": ("nearest_conv5", "zero", True, False),
    "subpixel, reflect": ("subpixel", "reflect", True, False),
    "default (nearest_conv5, reflect), exported sub-pixel + phase-domain output conv": (
        "nearest_conv5",
        "reflect",
        True,
        True,
    ),
}


def _session(path: Path, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def build_arm(
    preset: str,
    arm: tuple[str, str, bool, bool],
    size: tuple[int, int],
    threads: int,
    root: Path,
    streams: int = 1,
) -> dict[str, Any]:
    """Export the arm's per-frame roles; -> {fn, gflop} with fn running content encoder + generator, and
    with ``streams`` > 1 {fn_streams}: that many frames at once on threads // streams each."""
    upsample, padding, rewrite, tail = arm
    torch.manual_seed(0)
    model = CGLModel(ModelConfig(preset=preset, upsample=upsample, padding=padding)).eval()
    cfg = model.cfg
    if rewrite and can_rewrite(model.gen.decoder, padding, upsample):  # what edgecgl export writes
        model.gen.decoder = subpixel_decoder(model.gen.decoder, padding, tail)
    dims = Dims(cfg.content_channels, cfg.style_dim, cfg.n_domains)
    enc_ex = example_inputs("content_encoder", dims, size)
    gen_ex = example_inputs("generator", dims, size)
    tag = f"{upsample}-{padding}-{int(rewrite)}{int(tail)}"
    enc_p = export_onnx(model.content_enc, "content_encoder", root / f"enc-{tag}.onnx", enc_ex)
    gen_p = export_onnx(model.gen, "generator", root / f"gen-{tag}.onnx", gen_ex)
    for p in (enc_p, gen_p):  # what a bundle ships (export/bundle.py's default simplifier)
        onnx.save(simplify(onnx.load(str(p)), "onnxslim"), str(p))
    enc, gen = _session(enc_p, threads), _session(gen_p, threads)
    gen_names = [i.name for i in gen.get_inputs()]
    image = enc_ex[0].numpy()
    style, domain = gen_ex[1].numpy(), gen_ex[2].numpy()

    def run(e: ort.InferenceSession, g: ort.InferenceSession) -> np.ndarray:
        (content,) = e.run(None, {e.get_inputs()[0].name: image})
        return g.run(None, dict(zip(gen_names, (content, style, domain), strict=True)))[0]

    def frame() -> np.ndarray:
        return run(enc, gen)

    extra: dict[str, Any] = {}
    if streams > 1:
        each = max(1, threads // streams)
        enc_s, gen_s = _session(enc_p, each), _session(gen_p, each)
        extra["fn_streams"] = at_once(lambda: run(enc_s, gen_s), streams)

    h, w = size
    flops = onnx_flops(enc_p, {"image": (1, 3, h, w)})["total"]
    flops += onnx_flops(
        gen_p,
        {
            gen_names[0]: tuple(gen_ex[0].shape),
            gen_names[1]: tuple(style.shape),
            gen_names[2]: tuple(domain.shape),
        },
    )["total"]
    return {"fn": frame, "gflop": flops / 1e9, **extra}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--size", default="256x512", help="HxW")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", default="fast_decoder", help="name of the JSON in benchmarks/results/")
    ap.add_argument("--arms", default="", help="comma-separated arm numbers (1 = the reference, always run)")
    ap.add_argument("--streams", type=int, default=1, help="also time N frames at once, threads // N each")
    args = ap.parse_args(argv)
    names = list(ARMS)
    picked = [int(v) for v in args.arms.split(",") if v.strip()] if args.arms else range(1, len(names) + 1)
    arms_wanted = list(dict.fromkeys([names[0], *(names[i - 1] for i in picked)]))
    h, w = (int(v) for v in args.size.lower().split("x"))
    torch.set_num_threads(args.threads)
    load_start = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        arms = {
            name: build_arm(args.preset, ARMS[name], (h, w), args.threads, Path(tmp), args.streams)
            for name in arms_wanted
        }
        if args.streams > 1:  # N frames a call: per-frame ms and FLOPs below are per call / N
            for name in list(arms):
                a = arms[name]
                arms[f"{name} [{args.streams} at once]"] = {"fn": a.pop("fn_streams"), "gflop": a["gflop"]}
        limit = GemmLimit(threads=args.threads, streams=args.streams)
        log(f"timing {len(arms)} arms + {len(limit.refs)} GEMM references, {args.repeats} rounds")
        times = time_interleaved(
            {**{n: a["fn"] for n, a in arms.items()}, **limit.fns()},
            args.repeats,
            warmup=2,
            settle_s=0.1,  # thread pools spin a while after a call (docs/PERFORMANCE.md, pitfalls)
        )
    lim = limit.result(times)
    nets = split_times(times)
    per = f" [{args.streams} at once]"
    nets = {k: [v / args.streams for v in t] if k.endswith(per) else t for k, t in nets.items()}
    first = names[0]
    base = statistics.median(nets[first])
    rows = {}
    for name, a in arms.items():
        med = statistics.median(nets[name])
        rate = a["gflop"] / (med / 1000.0)
        frac, above = fraction_of_limit(rate, lim)
        # the default's work done in this arm's time: what the frame costs against the limit whatever
        # the graph's own FLOPs (a sub-pixel decoder does 24 % fewer for the same function)
        eq_frac, eq_above = fraction_of_limit(arms[first]["gflop"] / (med / 1000.0), lim)
        arm = ARMS[name.removesuffix(per)]
        rows[name] = {
            "upsample": arm[0],
            "padding": arm[1],
            "exported_subpixel": arm[2],
            "phase_tail": arm[3],
            "streams": args.streams if name.endswith(per) else 1,
            "ms": summarize(nets[name]),
            "frames_per_s": round(1000.0 / med, 2),
            "speedup_vs_default": round(base / med, 3),
            "gflop_per_frame": round(a["gflop"], 2),
            "gflop_per_s": round(rate, 1),
            "fraction_of_limit": frac,
            "above_limit": above,
            "fraction_of_limit_default_work": eq_frac,
            "default_work_above_limit": eq_above,
        }
        log(
            f"{name:46s} {1000.0 / med:6.2f} frames/s  x{base / med:.2f}  {a['gflop']:.1f} GFLOP  {rate:.0f} GFLOP/s  {100 * frac:.1f}% of limit ({100 * eq_frac:.1f}% in the default's work)"
        )
    log(f"limit {lim['gflop_per_s']} GFLOP/s ({lim['library']})")
    write_results(
        args.out,
        {
            "what": "content encoder + generator per frame, ONNX Runtime CPU fp32 (onnxslim, ORT_ENABLE_ALL, no spin-wait), random init",
            "preset": args.preset,
            "size": [h, w],
            "repeats": args.repeats,
            "streams": args.streams,
            "machine": machine_info(args.threads),
            "load_average_start": load_start,
            "load_average_end": load_average(),
            "limit": lim,
            "arms": rows,
        },
    )


if __name__ == "__main__":
    main()
