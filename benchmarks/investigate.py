"""Why ONNX Runtime fp32 lands where it does next to the matmul limit: settings, rewrites and a per-op profile.

Timed interleaved on the same frame (content encoder + generator, batch 1), with the matmul:
  - ORT as the runtime configures it (ORT_ENABLE_ALL, which includes the NCHWc layout transformer),
  - ORT_ENABLE_EXTENDED (no NCHWc layout: plain NCHW im2col + GEMM convolutions),
  - ORT with the thread pool's spin-waiting off (``session.intra_op.allow_spinning = 0``),
  - the graph with reflect pads folded into the convs (what the separate Pad nodes cost),
  - the graph with sub-pixel up-convolutions (what the x2-nearest + 5x5 conv formulation costs),
  - torch eager, NCHW and channels_last.
Then ORT's own profiler (``SessionOptions.enable_profiling``) splits the default session's time by op
type and gives each convolution's achieved GFLOP/s.

    python -m benchmarks.investigate --preset paper --size 256x512 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from edgecgl.train.inference import load_inference

from benchmarks.common import load_average, log, real_frames, toy_bundle, toy_checkpoint, write_results
from benchmarks.graph_variants import fold_reflect_pads, subpixel_upconvs
from edgecgl.bench import machine_info, onnx_node_flops, summarize, time_interleaved
from edgecgl.bundle import load_bundle
from edgecgl.domains import one_hot
from edgecgl.gemm_limit import GemmLimit, fraction_of_limit, split_times


def session(model: onnx.ModelProto, threads: int, level: str = "all", spin: bool = True, profile: str = ""):  # noqa: ANN201
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    so.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    }[level]
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = profile
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


class Frame:
    """content encoder session + generator session as one per-frame call."""

    def __init__(self, enc: Any, gen: Any, frames: np.ndarray, style: np.ndarray, dom: np.ndarray) -> None:
        self.enc, self.gen, self.frames, self.style, self.dom, self.i = enc, gen, frames, style, dom, 0

    def __call__(self) -> np.ndarray:
        x = self.frames[self.i % len(self.frames)][None]
        self.i += 1
        c = self.enc.run(["content"], {"image": x})[0]
        return self.gen.run(["image"], {"content": c, "style": self.style, "domain": self.dom})[0]


def profile_ops(
    enc: onnx.ModelProto,
    gen: onnx.ModelProto,
    threads: int,
    feeds: dict,
    size: tuple[int, int],
    runs: int = 3,
) -> dict[str, Any]:
    """Per op type ms/frame and per-conv GFLOP/s from ORT's profiler (first run dropped)."""
    h, w = size
    node_flops: dict[str, float] = {}
    out_to_conv: dict[str, str] = {}
    tmp = Path(tempfile.mkdtemp(prefix="ortprof-"))
    per_type: dict[str, float] = defaultdict(float)
    per_node: dict[str, float] = defaultdict(float)
    for name, model, inputs in (
        ("enc", enc, {"image": (1, 3, h, w)}),
        (
            "gen",
            gen,
            {
                "content": (1, feeds["content"].shape[1], h // 4, w // 4),
                "style": feeds["style"].shape,
                "domain": feeds["domain"].shape,
            },
        ),
    ):
        path = tmp / f"{name}.onnx"
        onnx.save(model, str(path))
        for node_name, (_op, f) in onnx_node_flops(path, inputs).items():
            node_flops[node_name] = f
        convs = {n.output[0]: n.name for n in model.graph.node if n.op_type == "Conv"}
        out_to_conv.update(convs)
        for n in model.graph.node:  # activations fused into a conv take the conv's place in the profile
            if n.op_type in ("Relu", "Tanh") and n.input[0] in convs:
                out_to_conv[n.output[0]] = convs[n.input[0]]
        sess = session(model, threads, profile=str(tmp / name))
        f = (
            {"image": feeds["image"]}
            if name == "enc"
            else {k: feeds[k] for k in ("content", "style", "domain")}
        )
        for _ in range(runs + 1):
            sess.run(None, f)
        events = json.loads(Path(sess.end_profiling()).read_text())
        starts = sorted({e["ts"] for e in events if e.get("name") == "model_run"})
        cutoff = starts[1] if len(starts) > 1 else 0
        for e in events:
            if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or e["ts"] < cutoff:
                continue
            per_type[e["args"]["op_name"]] += e["dur"] / 1000.0 / runs
            per_node[e["name"].removesuffix("_kernel_time")] += e["dur"] / 1000.0 / runs
    total = sum(per_type.values())
    convs_out = []
    for node, ms in per_node.items():
        key = node.removesuffix("_nchwc")
        conv = out_to_conv.get(key) or (key if key in node_flops else None)
        if conv and conv in node_flops:
            convs_out.append(
                {
                    "node": conv,
                    "ms": round(ms, 2),
                    "gflop": round(node_flops[conv] / 1e9, 3),
                    "gflop_per_s": round(node_flops[conv] / 1e9 / (ms / 1000), 1),
                }
            )
    return {
        "total_ms": round(total, 1),
        "by_op_type": {
            k: {"ms": round(v, 1), "share": round(v / total, 3)}
            for k, v in sorted(per_type.items(), key=lambda kv: -kv[1])
        },
        "convs": sorted(convs_out, key=lambda r: -r["ms"]),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--size", default="256x512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip", default="", help="comma-separated variant names to leave out")
    ap.add_argument("--out", default="investigate")
    a = ap.parse_args(argv)
    size = tuple(int(v) for v in a.size.lower().split("x"))
    torch.set_num_threads(a.threads)
    bpath = toy_bundle(a.preset, size)  # type: ignore[arg-type]
    bundle = load_bundle(bpath)
    enc = onnx.load(str(bundle.model_path("content_encoder")))
    gen = onnx.load(str(bundle.model_path("generator")))
    frames = real_frames(size)  # type: ignore[arg-type]
    style = bundle.style(bundle.domains[1])[None].astype(np.float32)
    dom = one_hot(1, len(bundle.domains))
    t = a.threads
    enc_fold, n_enc = fold_reflect_pads(enc)
    gen_fold, n_gen = fold_reflect_pads(gen)
    gen_sp, n_sp = subpixel_upconvs(gen)
    gen_both, _ = fold_reflect_pads(gen_sp)
    log(f"rewrites: {n_enc}+{n_gen} reflect pads folded, {n_sp} up-convs made sub-pixel")
    fns: dict[str, Any] = {
        "ort all (runtime default)": Frame(session(enc, t), session(gen, t), frames, style, dom),
        "ort extended (no NCHWc)": Frame(
            session(enc, t, "extended"), session(gen, t, "extended"), frames, style, dom
        ),
        "ort all, no spin-wait": Frame(
            session(enc, t, spin=False), session(gen, t, spin=False), frames, style, dom
        ),
        "ort all, reflect pads folded": Frame(session(enc_fold, t), session(gen_fold, t), frames, style, dom),
        "ort all, sub-pixel up-convs": Frame(session(enc, t), session(gen_sp, t), frames, style, dom),
        "ort all, both rewrites": Frame(session(enc_fold, t), session(gen_both, t), frames, style, dom),
    }
    im = load_inference(toy_checkpoint(bpath))
    tenc, tgen = im.modules["content_enc"].eval(), im.modules["gen"].eval()
    tst, tdm = torch.from_numpy(style), torch.from_numpy(dom)
    tframes = torch.from_numpy(frames)

    def torch_eager(cl: bool) -> Any:
        e, g = (tenc, tgen)
        if cl:
            import copy

            e = copy.deepcopy(tenc).to(memory_format=torch.channels_last)
            g = copy.deepcopy(tgen).to(memory_format=torch.channels_last)
        state = {"i": 0}

        def run() -> object:
            x = tframes[state["i"] % len(tframes)][None]
            state["i"] += 1
            if cl:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                return g(e(x), tst, tdm).numpy()

        return run

    fns["torch eager"] = torch_eager(False)
    fns["torch eager channels_last"] = torch_eager(True)
    for s in filter(None, a.skip.split(",")):
        fns.pop(s, None)
    gemm = GemmLimit(2048, t, reps=4)
    ref_out = fns["ort all (runtime default)"]()
    diffs = {}
    for name in ("ort all, reflect pads folded", "ort all, sub-pixel up-convs"):
        f = fns.get(name)
        if f is not None:
            f.i = fns["ort all (runtime default)"].i - 1
            d = np.abs(f() - ref_out)
            diffs[name] = {"max_abs": round(float(d.max()), 4), "mean_abs": round(float(d.mean()), 5)}
    from edgecgl.bench import frame_flops

    flops = frame_flops(bundle, size)  # type: ignore[arg-type]
    load0 = load_average()
    log(f"{a.preset} {size}: timing {list(fns)} x {a.repeats}; load {load0}")
    times = time_interleaved({**fns, **gemm.fns()}, a.repeats, warmup=1, settle_s=0.1)
    limit = gemm.result(times)
    base = statistics.median(times["ort all (runtime default)"])
    rows = {}
    for name, ms in split_times(times).items():
        med = statistics.median(ms)
        rows[name] = {
            **summarize(ms),
            "vs_ort_default": round(base / med, 3),
            "gflop_per_s_at_model_flops": round(flops["total"] / (med / 1000), 1),
            "fraction_of_matmul": fraction_of_limit(flops["total"] / (med / 1000), limit)[0],
        }
        log(
            f"  {name:<32} {med:9.1f} ms  x{base / med:.2f} vs ORT default  "
            f"{100 * rows[name]['fraction_of_matmul']:.1f}% of matmul"
        )
    log(f"  limit {limit['gflop_per_s']:.1f} GFLOP/s ({limit['library']})")
    x0 = frames[:1]
    c0 = fns["ort all (runtime default)"].enc.run(["content"], {"image": x0})[0]
    prof = profile_ops(enc, gen, t, {"image": x0, "content": c0, "style": style, "domain": dom}, size)  # type: ignore[arg-type]
    for k, v in list(prof["by_op_type"].items())[:8]:
        log(f"  profile {k:<24} {v['ms']:8.1f} ms  {100 * v['share']:5.1f}%")
    write_results(
        a.out,
        {
            "machine": machine_info(t),
            "command": "python -m benchmarks.investigate " + " ".join(sys.argv[1:] if argv is None else argv),
            "preset": a.preset,
            "size": list(size),
            "threads": t,
            "repeats": a.repeats,
            "load_average_before": load0,
            "load_average_after": load_average(),
            "gflop_per_frame": {k: round(v, 3) for k, v in flops.items()},
            "gflop_per_frame_subpixel": round(flops["total"] - _upconv_saving(gen, size), 3),
            "matmul": limit,
            "rewrite_output_diff_vs_default": diffs,
            "variants": rows,
            "ort_profile": prof,
        },
    )


def _upconv_saving(gen: onnx.ModelProto, size: tuple[int, int]) -> float:
    """GFLOP the sub-pixel form saves: each 5x5 conv at 2x resolution becomes a 3x3 conv with 4x outputs."""
    h, w = size
    saving, ch, res = 0.0, None, (h // 4, w // 4)
    for init in gen.graph.initializer:
        if len(init.dims) == 4 and tuple(init.dims[2:]) == (5, 5):
            cout, cin = init.dims[:2]
            ch = (cout, cin)
            hh, ww = res
            full = 2 * cout * cin * 25 * (2 * hh) * (2 * ww)
            sub = 2 * 4 * cout * cin * 9 * hh * ww
            saving += (full - sub) / 1e9
            res = (2 * hh, 2 * ww)
    del ch
    return saving


if __name__ == "__main__":
    main()
