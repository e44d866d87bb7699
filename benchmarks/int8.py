"""INT8 vs FP32 on ONNX Runtime's CPU provider, on trained models: which int8 graph ORT fuses, which
kernels run, how fast (content encoder + generator per frame, interleaved rounds in one process, 1 and 2
threads) and how close (PSNR of the generator's uint8 output vs FP32).

Variants, all from one calibration (``edgecgl export --int8``, the product's path, plus one alternative):
``fp32``; ``int8 Q/DQ (TensorRT graph)`` = the bundle's ``<role>.int8.onnx`` (symmetric int8, fp32 bias,
conv outputs unquantized: what TensorRT wants); ``int8 QOperator U8S8 (CPU graph)`` = the bundle's
``<role>.int8-cpu.onnx``, what the onnxruntime backend runs on the CPU; ``int8 QDQ U8S8 (ORT-fused)`` =
``quantize_static`` QDQ with uint8 activations and int32 bias, which ORT_ENABLE_ALL fuses into
QLinearConv (written here, not shipped); with ``--s8s8`` also signed int8 activations in QDQ and
QOperator form (symmetric, what the Intel-era "ORT-style" graph was). Kernels come from ORT's profiler.

Calibration: frames of the dashcam clip plus the model's own training frames (its run's ``data.spec``),
at the measured size. PSNR: the 9 BDD100K frames of EDGECGL_ASSETS (never calibrated on) x every domain.

    python -m benchmarks.int8 --trained runs/realfog/runs/000-realfog,runs/int8-small/000-int8-small
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml

from benchmarks.common import ASSETS, CACHE, load_average, log, write_results
from edgecgl.bench import machine_info, summarize, time_interleaved
from edgecgl.bundle import MANIFEST, Bundle, load_bundle
from edgecgl.gemm_limit import GemmLimit, split_times

CLIP = ASSETS / "video" / "highway_960x540_audio.mp4"
ROLES = ("content_encoder", "generator")
FP32, TRT, CPU, QDQ = (
    "fp32",
    "int8 Q/DQ (TensorRT graph)",
    "int8 QOperator U8S8 (CPU graph)",
    "int8 QDQ U8S8 (ORT-fused)",
)
QDQ_S8, QOP_S8 = "int8 QDQ S8S8 (symmetric)", "int8 QOperator S8S8 (symmetric)"
QOP_U8S7 = "int8 QOperator U8S8, 7-bit weights (reduce_range)"
QOP_LAST8 = "int8 QOperator U8S8, last stage int8 (before session 26)"


def calib_set(ckpt: Path, domains: list[str], size: tuple[int, int], n: int) -> Path:
    """Half clip frames, half the model's training frames (where its run names them), as one .npz."""
    from edgecgl.calib.sample import CalibSet, sample_calibration, save_calib

    run = ckpt.parent.parent
    spec = ""
    if (run / "config.yaml").is_file():
        spec = (yaml.safe_load((run / "config.yaml").read_text()) or {}).get("data", {}).get("spec", "")
    out = CACHE / f"calib-{cache_key(ckpt)}-{size[0]}x{size[1]}-{n}.npz"
    if out.is_file():
        return out
    inst = (size[0] // 4, size[0] // 4)
    parts = [
        sample_calibration(CLIP, n=n // 2 if spec else n, size=size, instance_size=inst, domains=domains)
    ]
    if spec:
        parts.append(sample_calibration(spec, n=n - n // 2, size=size, instance_size=inst, domains=domains))
    cs = CalibSet(
        *(
            np.concatenate([getattr(p, k) for p in parts])
            for k in ("frames", "domains", "instances", "instance_domains")
        ),
        meta={"source": " + ".join(p.meta["source"] for p in parts), "domains": domains},
    )
    log(f"calibration: {len(cs.frames)} frames ({cs.meta['source']})")
    return save_calib(out, cs)


def cache_key(ckpt: Path) -> str:
    """A name for a checkpoint's cached bundle and calibration set that no other checkpoint shares: readable
    (the run folder, or the file's stem) plus a hash of the full path (two bare files in one folder once
    shared a key, and the second measured the first's bundle)."""
    import hashlib

    c = Path(ckpt).resolve()
    label = c.parent.parent.name if c.parent.name == "checkpoints" else c.stem
    return f"{label}-{hashlib.sha1(str(c).encode()).hexdigest()[:8]}"


def int8_bundle(ckpt: Path, name: str, size: tuple[int, int], n: int) -> Path:
    from edgecgl.export.bundle import write_bundle
    from edgecgl.train.inference import load_inference

    out = CACHE / "bundles" / f"{name}-int8-cpu"
    if (out / MANIFEST).is_file():
        return out
    calib = calib_set(ckpt, list(load_inference(ckpt).domains), size, n)
    log(f"exporting INT8 {name}")
    return write_bundle(ckpt, out, "int8", "onnxslim", calib=calib, overwrite=True, pt2=False, log=log)


def alternative(
    b: Bundle, calib: Path, fmt: str, act: str, reduce_range: bool = False, last_stage_int8: bool = False
) -> dict[str, Path]:
    """A graph the product does not ship, same float nodes as the bundle's CPU graph: ``fmt`` QDQ | QOperator,
    ``act`` u8 (asymmetric uint8 activations) | s8 (symmetric int8 activations and weights: the
    Intel-era "ORT-style" graph); int32 bias and quantized conv outputs (ORT's defaults) either way.
    ``reduce_range``: 7-bit weights, ONNX Runtime's advice for U8S8 on x86 without VNNI, whose AVX2
    ``vpmaddubsw`` adds two u8 x s8 products into a saturating int16 (255 x 127 x 2 > 32767).
    ``last_stage_int8``: the generator's last stage quantized too (the CPU graph before session 26).
    Calibrated on the set's frames with mean styles (the export also uses crops and sampled styles)."""
    from edgecgl.calib.quantize import _reader, cpu_float_nodes, excluded_nodes
    from edgecgl.calib.sample import load_calib
    from edgecgl.export.verify import ort_session
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    tag = f"{fmt.lower()}-{act}s{7 if reduce_range else 8}" + ("-last-int8" if last_stage_int8 else "")
    out = {r: b.root.parent / f"{b.root.name}-{tag}" / f"{r}.onnx" for r in ROLES}
    if all(p.is_file() for p in out.values()):
        return out
    out["generator"].parent.mkdir(parents=True, exist_ok=True)
    images = load_calib(calib).images("frames")
    enc = ort_session(fp32_path(b, "content_encoder"))
    nd = len(b.domains)
    feeds: dict[str, list[dict[str, np.ndarray]]] = {"content_encoder": [], "generator": []}
    for i in range(0, len(images), 4):
        x = images[i : i + 4]
        doms = [(i + k) % nd for k in range(len(x))]
        feeds["content_encoder"].append({"image": x})
        feeds["generator"].append(
            {
                "content": enc.run(None, {"image": x})[0],
                "style": np.stack([b.style(b.domains[d]) for d in doms]).astype(np.float32),
                "domain": np.eye(nd, dtype=np.float32)[doms],
            }
        )
    for role, dst in out.items():
        src = fp32_path(b, role)
        m = onnx.load(str(src))
        floats = excluded_nodes(m) if last_stage_int8 else cpu_float_nodes(m)
        keep = [n.name for n in m.graph.node if "Normalization" in n.op_type] + floats
        quantize_static(
            str(src),
            str(dst),
            _reader(feeds[role]),
            quant_format=getattr(QuantFormat, fmt),
            op_types_to_quantize=["Conv"],
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8 if act == "u8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep,
            extra_options={} if act == "u8" else {"ActivationSymmetric": True, "WeightSymmetric": True},
        )
    return out


def fp32_path(b: Bundle, role: str) -> Path:
    return b.root / b.manifest["models"][role]["fp32"]


def session(path: Path, threads: int, profile: str = "") -> Any:
    """The onnxruntime backend's CPU session options (ORT_ENABLE_ALL, no spinning)."""
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.intra_op_num_threads = threads
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    o.log_severity_level = 3
    if profile:
        o.enable_profiling = True
        o.profile_file_prefix = profile
    return ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])


def bdd_frames(size: tuple[int, int]) -> np.ndarray:
    from edgecgl.compose import letterbox, to_nchw
    from edgecgl.translate import read_image

    paths = sorted((ASSETS / "frames").glob("*.jpg"))
    if not paths:
        raise SystemExit(f"no BDD100K frames under {ASSETS}/frames (set EDGECGL_ASSETS)")
    return np.concatenate([to_nchw(letterbox(read_image(p), size)[0]) for p in paths])


class Pair:
    """Content encoder + generator sessions of one variant: one frame in, the generator's output out."""

    def __init__(self, paths: dict[str, Path], b: Bundle, threads: int, profile: str = "") -> None:
        self.enc = session(paths["content_encoder"], threads, profile and f"{profile}-enc")
        self.gen = session(paths["generator"], threads, profile and f"{profile}-gen")
        self.b = b

    def __call__(self, x: np.ndarray, domain: str) -> np.ndarray:
        i = self.b.domains.index(domain)
        c = self.enc.run(None, {"image": x})[0]
        feed = {
            "content": c,
            "style": self.b.style(domain)[None].astype(np.float32),
            "domain": np.eye(len(self.b.domains), dtype=np.float32)[[i]],
        }
        return self.gen.run(None, feed)[0]


def kernels(pair: Pair, calls: int) -> dict[str, Any]:
    """Share of kernel time per op type, and how many convolutions ran per frame (``calls`` frames) as
    int8 vs fp32 kernels."""
    share: collections.Counter[str] = collections.Counter()
    runs: collections.Counter[str] = collections.Counter()
    for s in (pair.enc, pair.gen):
        events = json.loads(Path(s.end_profiling()).read_text())
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                op = e["args"]["op_name"]
                share[op] += e["dur"]
                runs[op] += 1
    total = sum(share.values()) or 1
    return {
        "time_share": {k: round(v / total, 3) for k, v in share.most_common(8)},
        "conv_kernels_per_frame": {
            k: runs[k] / calls for k in ("QLinearConv", "ConvInteger", "Conv", "NhwcQLinearConv") if runs[k]
        },
    }


def to_u8(y: np.ndarray) -> np.ndarray:
    return np.rint((np.clip(y, -1, 1) + 1) * 127.5)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def measure(
    ckpt: Path,
    size: tuple[int, int],
    threads: list[int],
    repeats: int,
    n: int,
    s8s8: bool = False,
    reduce_range: bool = False,
    last_stage_int8: bool = False,
) -> dict[str, Any]:
    from edgecgl.train.inference import load_inference

    from edgecgl.backends.onnxruntime import cpu_graph

    im = load_inference(ckpt)
    name = f"trained-{cache_key(ckpt)}"
    b = load_bundle(int8_bundle(ckpt, name, size, n))
    calib = calib_set(ckpt, b.domains, size, n)
    paths = {
        FP32: {r: fp32_path(b, r) for r in ROLES},
        TRT: {r: b.root / b.manifest["models"][r]["file"] for r in ROLES},
        CPU: {r: cpu_graph(b, b.root / b.manifest["models"][r]["file"]) for r in ROLES},
        QDQ: alternative(b, calib, "QDQ", "u8"),
    }
    if s8s8:
        paths[QDQ_S8] = alternative(b, calib, "QDQ", "s8")
        paths[QOP_S8] = alternative(b, calib, "QOperator", "s8")
    if reduce_range:
        paths[QOP_U8S7] = alternative(b, calib, "QOperator", "u8", reduce_range=True)
    if last_stage_int8:
        paths[QOP_LAST8] = alternative(b, calib, "QOperator", "u8", last_stage_int8=True)
    assert all(p.name.endswith(".int8-cpu.onnx") for p in paths[CPU].values()), (
        "backend must pick the CPU graph"
    )
    frames = bdd_frames(size)
    res: dict[str, Any] = {
        "checkpoint": str(ckpt),
        "step": im.step,
        "preset": im.cfg.preset,
        "dim": im.cfg.dim,
        "content_channels": im.cfg.content_channels,
        "trained_size": list(im.frame_size),
        "size": list(size),
        "calibration": json.loads(str(np.load(calib)["meta"]))["source"],
        "calib_frames": n,
        "psnr_frames": f"{len(frames)} BDD100K frames x {len(b.domains)} domains ({', '.join(b.domains)})",
        "variants": {k: {} for k in paths},
    }
    # accuracy and kernels (1 thread, profiled)
    with tempfile.TemporaryDirectory() as tmp:
        pairs = {k: Pair(p, b, 1, profile=f"{tmp}/{i}") for i, (k, p) in enumerate(paths.items())}
        outs = {
            k: [to_u8(pair(frames[i : i + 1], d)) for i in range(len(frames)) for d in b.domains]
            for k, pair in pairs.items()
        }
        for k, pair in pairs.items():
            ps = [psnr(a, c) for a, c in zip(outs[FP32], outs[k], strict=True)]
            v = res["variants"][k]
            v["kernels"] = kernels(pair, len(outs[k]))
            if k != FP32:
                v["psnr_db_min"], v["psnr_db_mean"] = round(min(ps), 2), round(float(np.mean(ps)), 2)
    # speed, per thread count: every variant + the fp32 GEMM limit, interleaved
    for th in threads:
        pairs = {k: Pair(p, b, th) for k, p in paths.items()}
        last = b.domains[-1]
        fns: dict[str, Any] = {
            k: (lambda p=p, o=itertools.cycle(range(len(frames))), d=last: p(frames[next(o)][None], d))
            for k, p in pairs.items()
        }
        gemm = GemmLimit(2048, th, reps=1)
        fns.update(gemm.fns())
        load0 = load_average()
        times = time_interleaved(fns, repeats, warmup=1, settle_s=0.1)
        nets = split_times(times)
        f32 = statistics.median(nets[FP32])
        for k in paths:
            res["variants"][k][f"{th}_thread"] = {
                **summarize(nets[k]),
                "speedup_vs_fp32": round(f32 / statistics.median(nets[k]), 3),
            }
        res[f"{th}_thread"] = {
            "load_average_before": load0,
            "load_average_after": load_average(),
            "matmul": gemm.result(times),
        }
        log(
            f"{name} {size} {th} thread(s), load {load0}: "
            + ", ".join(
                f"{k} {statistics.median(nets[k]):.1f} ms x{f32 / statistics.median(nets[k]):.2f}"
                for k in paths
            )
        )
    for k in paths:
        if k != FP32:
            log(
                f"{name} {k}: PSNR vs fp32 min {res['variants'][k]['psnr_db_min']} dB, mean {res['variants'][k]['psnr_db_mean']} dB"
            )
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trained", required=True, help="comma-separated run folders or model.pt files")
    ap.add_argument("--size", default="256x512")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--calib-n", type=int, default=32)
    ap.add_argument("--s8s8", action="store_true", help="also time signed-activation graphs (QDQ, QOperator)")
    ap.add_argument(
        "--reduce-range",
        action="store_true",
        help="also the CPU graph with 7-bit weights (ONNX Runtime's advice for U8S8 without VNNI)",
    )
    ap.add_argument(
        "--last-stage-int8",
        action="store_true",
        help="also the CPU graph with the generator's last stage in int8 (what the export shipped before)",
    )
    ap.add_argument("--out", default="int8_cpu")
    a = ap.parse_args(argv)
    h, w = (int(v) for v in a.size.lower().split("x"))
    size = (h, w)
    threads = [int(t) for t in a.threads.split(",")]
    res: dict[str, Any] = {
        "machine": machine_info(max(threads)),
        "command": "python -m benchmarks.int8 " + " ".join(sys.argv[1:] if argv is None else argv),
        "models": [],
    }
    for src in filter(None, a.trained.split(",")):
        p = Path(src)
        ckpt = p if p.is_file() else p / "checkpoints" / "model.pt"
        res["models"].append(
            measure(ckpt, size, threads, a.repeats, a.calib_n, a.s8s8, a.reduce_range, a.last_stage_int8)
        )
    write_results(a.out, res)


if __name__ == "__main__":
    main()
