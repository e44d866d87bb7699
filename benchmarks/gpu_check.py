"""One-command TensorRT check on a machine with an NVIDIA GPU (issue 15), in at most 8 minutes.

    pip install -e ".[trt]"            # plus onnxruntime-gpu for the ONNX Runtime CUDA row
    python benchmarks/gpu_check.py     # writes benchmarks/results/gpu_check.json, prints PERFORMANCE.md rows
    python benchmarks/gpu_check.py --dry-run   # the plan, on any machine (CI runs this)

Steps, each recorded in the JSON as it finishes (``ok``, ``failed`` with the error, or ``skipped`` with
the reason), so a run that hits the budget still reports what it did; ``--resume`` keeps the finished
steps of an earlier run in ``--out`` (a loan is short and each machine start costs minutes).

First what needs no TensorRT (a GPU machine without it still measures these; the H200 of session 22 had
none): ``train cuda`` (``edgecgl train --device cuda`` on generated SynthWeather, it/s and finite
losses), ``torch timing`` (the network as torch modules at fp32/fp16/bf16, K crops batched vs K calls),
``video torch`` (``edgecgl video --backend torch`` with and without the detector), ``detector`` (the
detector alone, three tracker settings) and ``bench`` (``edgecgl bench``). Then, with TensorRT:

1. ``bundles``: a random-init ``small`` checkpoint (shared encoders; 256x512 frames, 128x128 crops;
   reflect padding as shipped, its decoder exported in the exact sub-pixel form), exported by the real
   exporter as FP32, FP16 and INT8 bundles (INT8 calibrated on the asset frames), and the same model with
   its decoder as trained (``decoder="trained"``: nearest x2 + 5x5) as FP16, for the fast decoder's ratio
   on TensorRT.
2. ``engines``: ``build_bundle_engines`` for each (one profile per use: frames; crop batches up to 8);
   for INT8, TensorRT's engine inspector says how many Q/DQ layers stayed unfused.
3. ``verify``: ``export --verify`` (PSNR of each engine against ONNX Runtime FP32, frames and crops).
4. ``timing``: content encoder + generator on one frame (host in, host out), the same frames for every
   variant, interleaved in rotating order: TensorRT FP16 and INT8 (with and without CUDA graphs), TensorRT
   FP16 with the decoder as trained, torch CUDA fp16 and bf16, ONNX Runtime CUDA FP32; medians and ratios within
   this one run.
5. ``video``: ``edgecgl video`` on the real clip with the TensorRT backend and the detector on the GPU
   (Ultralytics picks CUDA when it is there), per-stage stats from ``--stats-json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` and ``edgecgl`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.common import ASSETS, CACHE, RESULTS, log  # noqa: E402

BUDGET_S = 8 * 60
PRESET = "small"
FRAME = (256, 512)
INSTANCE = (128, 128)
CROP_BATCH = 4
PRECISIONS = ("fp32", "fp16", "int8")
REFLECT = "fp16-trained-decoder"  # the same model, its decoder exported as trained (nearest x2 + 5x5)
CLIP = ASSETS / "video" / "highway_960x540_audio.mp4"
DETECTOR = ASSETS / "models" / "yolov8n-coco.pt"
VIDEO_FRAMES = 150
WORK = CACHE / "gpu_check"
OUT = RESULTS / "gpu_check.json"


class Run:
    """Steps against one deadline; the JSON is rewritten after every step."""

    def __init__(self, budget_s: float, out: Path, resume: bool = False) -> None:
        self.t0 = time.monotonic()
        self.budget_s = budget_s
        self.out = out
        self.data: dict[str, Any] = {"budget_s": budget_s, "steps": {}}
        # A loan is short and each start costs minutes: --resume keeps the steps an earlier run finished.
        self.earlier: dict[str, Any] = {}
        if resume and out.is_file():
            self.earlier = json.loads(out.read_text(encoding="utf-8")).get("steps", {})

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.t0)

    def step(
        self,
        name: str,
        need_s: float,
        fn: Callable[[], Any],
        still_valid: Callable[[Any], bool] | None = None,
    ) -> Any:
        """Run ``fn`` unless an earlier run's ok result is kept (``still_valid`` checks it, e.g. that the
        files it names are on this machine)."""
        prev = self.earlier.get(name, {})
        if prev.get("status") == "ok" and (still_valid is None or still_valid(prev.get("result"))):
            self._record(name, {**prev, "from_earlier_run": True})
            return prev.get("result")
        if self.left() < need_s:
            self._record(name, {"status": "skipped", "reason": f"{self.left():.0f} s left of the budget"})
            return None
        t = time.monotonic()
        log(f"== {name}")
        try:
            result = fn()
            rec = {"status": "ok", "result": result}
        except Exception as exc:  # noqa: BLE001 - a failed step is a result; the others still run
            traceback.print_exc()
            rec, result = {"status": "failed", "error": f"{type(exc).__name__}: {str(exc)[:500]}"}, None
        rec["seconds"] = round(time.monotonic() - t, 1)
        self._record(name, rec)
        return result

    def _record(self, name: str, rec: dict[str, Any]) -> None:
        self.data["steps"][name] = rec
        self.data["elapsed_s"] = round(time.monotonic() - self.t0, 1)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.data, indent=2, default=str) + "\n", encoding="utf-8")


def plan() -> list[str]:
    return [
        f"train cuda: edgecgl data synth (96 scenes) -> edgecgl train --device cuda, "
        f"{', '.join(f'--config {c} --iters {n}' for c, n in TRAIN_RUNS)}: it/s and finite losses",
        f"torch timing: {', '.join(TORCH_PRESETS)} encoder+generator as torch modules on CUDA, "
        f"{' / '.join(TORCH_DTYPES)}, one frame; {CROPS_K} crops as one batch vs {CROPS_K} calls",
        "video torch: edgecgl video --backend torch (CUDA) on the real clip, --no-instances vs --detector "
        "(every 2nd frame, every frame, every 4th)",
        "detector: the detector alone on the clip's frames (Ultralytics' device): ByteTrack, Ultralytics' default tracker, predict only",
        "bench: edgecgl bench BUNDLE --backend torch (the user's command on the GPU machine)",
        f"bundles: make_toy_checkpoint({PRESET!r}, frame {FRAME}, instance {INSTANCE}, shared encoders) -> "
        f"write_bundle {', '.join(PRECISIONS)} under {WORK.relative_to(ROOT)} (INT8 calibrated on {ASSETS / 'frames'}; "
        "the decoder exported in the exact sub-pixel form), and fp16 of the same model with its decoder as trained",
        "engines: build_bundle_engines per bundle (TensorRT from `pip install -e .[trt]`; timing cache shared); "
        "INT8: engine inspector counts unfused Q/DQ layers",
        "verify: export --verify per bundle (TensorRT vs ONNX Runtime FP32 PSNR, frames and crops; limits 60/40/30 dB)",
        f"timing: encoder+generator on one {FRAME[0]}x{FRAME[1]} frame and a batch of {CROP_BATCH} crops, interleaved: "
        "tensorrt fp16, tensorrt int8 (each with and without CUDA graphs), tensorrt fp16 with the decoder as "
        "trained (for the sub-pixel export's ratio), torch cuda fp16, torch cuda bf16, "
        "onnxruntime cuda fp32 (if onnxruntime-gpu is installed)",
        f"video: edgecgl video {CLIP.name} --to night --backend tensorrt --detector {DETECTOR.name} "
        f"--max-frames {VIDEO_FRAMES} --stats-json (detector on the GPU)",
        f"write {OUT.relative_to(ROOT)} after every step; print the docs/PERFORMANCE.md rows; budget {BUDGET_S} s",
    ]


def have_tensorrt() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorrt") is not None


def environment() -> dict[str, Any]:
    import torch

    from edgecgl.backends.device_id import device_identity
    from edgecgl.bench import machine_info

    info = machine_info()
    info["gpu"] = device_identity()
    info["torch"] = torch.__version__
    info["torch_cuda"] = torch.version.cuda
    if have_tensorrt():
        import tensorrt as trt

        info["tensorrt"] = trt.__version__
    else:
        info["tensorrt"] = None
    return info


def calibration_set() -> Path:
    from edgecgl.calib.sample import sample_calibration, save_calib

    src = ASSETS / "frames"
    if not src.is_dir():
        import cv2

        from edgecgl.bench import _test_frame

        src = WORK / "frames"
        src.mkdir(parents=True, exist_ok=True)
        for i in range(16):
            cv2.imwrite(str(src / f"gen_{i}.png"), _test_frame((720, 1280), seed=i)[..., ::-1])
    return save_calib(WORK / "calib.npz", sample_calibration(src, n=64, size=FRAME, instance_size=INSTANCE))


def make_bundles(trt: bool) -> dict[str, str]:
    """FP32 with its torch programs (the torch backend on CUDA); with TensorRT also FP16, INT8 and the
    decoder-as-trained FP16."""
    from edgecgl.export.bundle import write_bundle
    from edgecgl.export.toy import make_toy_checkpoint

    WORK.mkdir(parents=True, exist_ok=True)
    ckpt = make_toy_checkpoint(WORK / "model.pt", PRESET, FRAME, INSTANCE, share_encoders=True, seed=0)
    out = {"fp32": str(write_bundle(ckpt, WORK / "bundle-fp32", "fp32", pt2=True, overwrite=True, log=log))}
    if not trt:
        return out
    calib = calibration_set()
    out[REFLECT] = str(
        write_bundle(
            ckpt, WORK / f"bundle-{REFLECT}", "fp16", pt2=False, overwrite=True, log=log, decoder="trained"
        )
    )
    for prec in ("fp16", "int8"):
        b = write_bundle(
            ckpt, WORK / f"bundle-{prec}", prec, calib=calib if prec == "int8" else None, pt2=False,
            overwrite=True, log=log,
        )  # fmt: skip
        out[prec] = str(b)
    return out


def qdq_fusion(engine_path: Path) -> dict[str, int]:
    """Layers of a built engine whose name is a lone Q or DQ (unfused) vs layers that fused Q/DQ in."""
    import tensorrt as trt

    from edgecgl.backends.tensorrt import init_plugins

    logger = trt.Logger()
    init_plugins(trt, logger)
    engine = trt.Runtime(logger).deserialize_cuda_engine(engine_path.read_bytes())
    info = json.loads(
        engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON)
    )
    names = [
        layer if isinstance(layer, str) else str(layer.get("Name", "")) for layer in info.get("Layers", [])
    ]
    qdq = ("QuantizeLinear", "DequantizeLinear")
    lone = [n for n in names if any(q in n for q in qdq) and " + " not in n]
    fused = [n for n in names if any(q in n for q in qdq) and " + " in n]
    return {"layers": len(names), "qdq_unfused": len(lone), "qdq_fused": len(fused)}


def build_engines(bundle: str, prec: str) -> dict[str, Any]:
    from edgecgl.export.tensorrt import build_bundle_engines

    built = build_bundle_engines(Path(bundle), overwrite=True, log=log)
    out: dict[str, Any] = {}
    for p in built:
        side = json.loads(p.with_name(p.name + ".json").read_text())
        out[p.name] = {"build_s": side["build_seconds"], "mb": round(p.stat().st_size / 1e6, 2)}
        if prec == "int8" and ".int8." in p.name:
            out[p.name]["inspector"] = qdq_fusion(p)
    return out


def verify(bundles: dict[str, str]) -> dict[str, Any]:
    from edgecgl.export.verify import verify_bundle

    return {
        prec: [r for r in verify_bundle(Path(b), log=log) if r["backend"] == "tensorrt"]
        for prec, b in bundles.items()
    }


def timing(bundles: dict[str, str], repeats: int) -> dict[str, Any]:
    import copy

    import numpy as np
    import torch
    from edgecgl.train.inference import load_inference

    from benchmarks.backends import cycling
    from benchmarks.common import real_frames
    from edgecgl.backends.onnxruntime import OnnxRuntimeBackend, available_providers
    from edgecgl.backends.tensorrt import TensorRTBackend
    from edgecgl.bench import summarize, time_interleaved
    from edgecgl.bundle import load_bundle
    from edgecgl.domains import one_hot

    frames = real_frames(FRAME, n=4)
    crops = np.ascontiguousarray(frames[:CROP_BATCH, :, : INSTANCE[0], : INSTANCE[1]])
    b16 = load_bundle(Path(bundles["fp16"]))
    style = b16.style("night")[None].astype(np.float32)
    dom = one_hot(b16.domains.index("night"), len(b16.domains))
    fns: dict[str, Callable[[], Any]] = {}
    skipped: dict[str, str] = {}

    def backend_fn(be: Any, x: Callable[[], np.ndarray], gran: str) -> Callable[[], Any]:
        def run() -> Any:
            img = x()
            n = img.shape[0]
            c = be.encode_content(img, gran)
            return be.generate(c, np.repeat(style, n, 0), np.repeat(dom, n, 0))

        return run

    for prec in ("fp16", "int8"):
        bundle = load_bundle(Path(bundles[prec]))
        for graphs in (False, True):
            be = TensorRTBackend(bundle, cuda_graphs=graphs)
            tag = f"tensorrt {prec}{' graphs' if graphs else ''}"
            fns[f"{tag} frame"] = backend_fn(be, cycling(frames), "global")
            fns[f"{tag} crops"] = backend_fn(be, lambda: crops, "instance")
    if REFLECT in bundles:
        be = TensorRTBackend(load_bundle(Path(bundles[REFLECT])))
        fns["tensorrt fp16, decoder as trained (nearest x2 + 5x5) frame"] = backend_fn(
            be, cycling(frames), "global"
        )
    im = load_inference(Path(bundles["fp16"]).parent / "model.pt")
    for name, dt in (("torch cuda fp16", torch.float16), ("torch cuda bf16", torch.bfloat16)):
        enc = copy.deepcopy(im.modules["content_enc"]).eval().to("cuda", dt)
        gen = copy.deepcopy(im.modules["gen"]).eval().to("cuda", dt)
        nxt = cycling(frames)

        def run(enc: Any = enc, gen: Any = gen, dt: Any = dt, nxt: Any = nxt) -> Any:
            with torch.inference_mode():
                x = torch.from_numpy(nxt()).to("cuda", dt)
                s, d = torch.from_numpy(style).to("cuda", dt), torch.from_numpy(dom).to("cuda", dt)
                return gen(enc(x), s, d).float().cpu().numpy()

        fns[f"{name} frame"] = run
    if "CUDAExecutionProvider" in available_providers():  # ORT's own CUDA kernels on the FP32 graphs
        ort32 = OnnxRuntimeBackend(load_bundle(Path(bundles["fp32"])), device="cuda")
        fns["onnxruntime cuda fp32 frame"] = backend_fn(ort32, cycling(frames), "global")
    else:
        skipped["onnxruntime cuda fp32"] = (
            "onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)"
        )
    ms = time_interleaved(fns, repeats=repeats, warmup=3)
    rows = {k: summarize(v) for k, v in ms.items()}
    ref = rows.get("torch cuda fp16 frame", {}).get("median_ms")
    for r in rows.values():
        r["vs_torch_fp16"] = round(ref / r["median_ms"], 2) if ref and r["median_ms"] else None
    return {
        "rows": rows,
        "skipped": skipped,
        "repeats": repeats,
        "frames": "asset frames" if (ASSETS / "frames").is_dir() else "generated",
    }


def video(bundles: dict[str, str]) -> dict[str, Any]:
    if not CLIP.is_file() or not DETECTOR.is_file():
        raise FileNotFoundError(f"needs {CLIP} and {DETECTOR} (EDGECGL_ASSETS)")
    stats = WORK / "video_stats.json"
    cmd = [
        sys.executable, "-m", "edgecgl", "video", str(CLIP), "--to", "night", "--bundle", bundles["fp16"],
        "--backend", "tensorrt", "--detector", str(DETECTOR), "--max-frames", str(VIDEO_FRAMES),
        "--out", str(WORK / "night.mp4"), "--overwrite", "--stats-json", str(stats),
    ]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    if r.returncode != 0:
        raise RuntimeError(f"edgecgl video exited {r.returncode}: {(r.stderr or r.stdout)[-400:]}")
    return {
        "command": " ".join(cmd[2:]),
        "stats": json.loads(stats.read_text()),
        "log_tail": r.stderr[-1500:],
    }


# ------------------------------------------------------------------ torch on CUDA (no TensorRT needed)

TORCH_PRESETS = ("small", "paper")
TORCH_DTYPES = ("fp32", "fp16", "bf16")
CROPS_K = 8


def torch_timing(
    repeats: int,
    device: str = "cuda",
    presets: tuple[str, ...] = TORCH_PRESETS,
    frame: tuple[int, int] = FRAME,
    instance: tuple[int, int] = INSTANCE,
) -> dict[str, Any]:
    """Content encoder + generator as torch modules on the GPU, host in and host out, one run interleaved:
    per preset a 256x512 frame at fp32 / fp16 / bf16, and K crops as one batch vs K calls (the batching
    target that the 2-core CPU could not show)."""
    import copy

    import numpy as np
    import torch
    from edgecgl.export.toy import make_toy_checkpoint
    from edgecgl.train.inference import load_inference

    from benchmarks.backends import cycling
    from benchmarks.common import real_frames
    from edgecgl.bench import summarize, time_interleaved
    from edgecgl.domains import one_hot

    frames = real_frames(frame, n=4)
    crops = np.ascontiguousarray(
        np.resize(frames[:, :, : instance[0], : instance[1]], (CROPS_K, 3, *instance))
    )
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    fns: dict[str, Callable[[], Any]] = {}
    for preset in presets:
        ckpt = make_toy_checkpoint(WORK / f"{preset}.pt", preset, frame, instance, share_encoders=True)
        im = load_inference(ckpt)
        n_dom, s_dim = len(im.domains), im.cfg.style_dim
        for tag in TORCH_DTYPES:
            dt = dtypes[tag]
            enc = copy.deepcopy(im.modules["content_enc"]).to(device, dt).eval()
            gen = copy.deepcopy(im.modules["gen"]).to(device, dt).eval()

            def run(
                x: np.ndarray, enc: Any = enc, gen: Any = gen, dt: Any = dt, nd: int = n_dom, sd: int = s_dim
            ) -> Any:
                with torch.inference_mode():
                    t = torch.from_numpy(x).to(device, dt)
                    n = t.shape[0]
                    d = torch.from_numpy(np.repeat(one_hot(0, nd), n, 0)).to(device, dt)
                    s = torch.zeros(n, sd, device=device, dtype=dt)  # a style costs the same as any other
                    return gen(enc(t), s, d).float().cpu().numpy()

            nxt = cycling(frames)
            fns[f"{preset} {tag} frame"] = lambda run=run, nxt=nxt: run(nxt())
            if tag == "fp16":
                fns[f"{preset} fp16 {CROPS_K} crops, one batch"] = lambda run=run: run(crops)
                fns[f"{preset} fp16 {CROPS_K} crops, {CROPS_K} calls"] = lambda run=run: [
                    run(crops[i : i + 1]) for i in range(CROPS_K)
                ]
    ms = time_interleaved(fns, repeats=repeats, warmup=3)
    rows = {k: summarize(v) for k, v in ms.items()}
    for preset in presets:
        ref = rows[f"{preset} fp32 frame"]["median_ms"]
        for tag in TORCH_DTYPES:
            rows[f"{preset} {tag} frame"]["vs_fp32"] = round(
                ref / rows[f"{preset} {tag} frame"]["median_ms"], 2
            )
        one = rows[f"{preset} fp16 {CROPS_K} crops, one batch"]
        calls = rows[f"{preset} fp16 {CROPS_K} crops, {CROPS_K} calls"]
        one["vs_k_calls"] = round(calls["median_ms"] / one["median_ms"], 2)
    return {"rows": rows, "repeats": repeats, "frame": list(frame), "instance": list(instance)}


def edgecgl_cli(*argv: str, timeout: float) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "edgecgl", *argv], capture_output=True, text=True, timeout=timeout
    )
    if r.returncode != 0:
        raise RuntimeError(f"edgecgl {argv[0]} exited {r.returncode}: {(r.stderr or r.stdout)[-600:]}")
    return r


def bench_cli(bundle: str) -> dict[str, Any]:
    """The user's command on the GPU machine: every backend and precision the bundle can run there."""
    out = WORK / "bench.json"
    edgecgl_cli("bench", bundle, "--out", str(out), "--overwrite", "--repeats", "20", "--backend", "torch",
                timeout=180)  # fmt: skip
    return json.loads(out.read_text())


def detector_timing(repeats: int) -> dict[str, Any]:
    """The detector alone on the real clip's frames, where Ultralytics puts it (the GPU when there is one):
    with tracking (what ``edgecgl video`` runs) and predict only. Frames in order, one detector each."""
    from benchmarks.common import clip_frames
    from edgecgl.bench import summarize
    from edgecgl.detect import DetectorConfig, load_detector

    frames = clip_frames(CLIP, repeats + 3)
    rows: dict[str, Any] = {}
    variants = (
        ("track, ByteTrack (edgecgl's)", DetectorConfig()),
        ("track, TrackTrack (Ultralytics 8.4's default)", DetectorConfig(tracker="tracktrack.yaml")),
        ("predict", DetectorConfig(track=False)),
    )
    for tag, cfg in variants:
        det = load_detector(DETECTOR, cfg)
        ms, boxes = [], 0
        for i, f in enumerate(frames):
            t = time.perf_counter()
            boxes += len(det(f))
            if i >= 3:
                ms.append((time.perf_counter() - t) * 1000.0)
        rows[tag] = summarize(ms)
        rows[tag]["device"] = str(getattr(getattr(det.model, "predictor", None), "device", "?"))
        rows[tag]["boxes_per_frame"] = round(boxes / len(frames), 2)
    return {"rows": rows, "frame": list(frames[0].shape[:2]), "detector": DETECTOR.name}


VIDEO_RUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model-only", ("--no-instances",)),
    ("detector", ("--detector", "{detector}")),  # every 2nd frame, the default
    ("detector every 1", ("--detector", "{detector}", "--detect-every", "1")),
    ("detector every 4", ("--detector", "{detector}", "--detect-every", "4")),
)


def video_torch(bundle: str) -> dict[str, Any]:
    """``edgecgl video`` on the real clip, torch backend on CUDA: with the detector (on the GPU), and
    model-only (``--no-instances``), one after the other; fps ratio = the detector pipeline's share."""
    if not CLIP.is_file() or not DETECTOR.is_file():
        raise FileNotFoundError(f"needs {CLIP} and {DETECTOR} (EDGECGL_ASSETS)")
    res: dict[str, Any] = {}
    for tag, opts in VIDEO_RUNS:
        extra = [o.format(detector=DETECTOR) for o in opts]
        stats = WORK / f"video_{tag.replace(' ', '-')}.json"
        argv = ["video", str(CLIP), "--to", "night", "--bundle", bundle, "--backend", "torch",
                "--max-frames", str(VIDEO_FRAMES), "--out", str(WORK / f"night_{tag.replace(' ', '-')}.mp4"), "--overwrite",
                "--stats-json", str(stats), *extra]  # fmt: skip
        r = edgecgl_cli(*argv, timeout=150)
        res[tag] = {"command": "edgecgl " + " ".join(argv), "stats": json.loads(stats.read_text()),
                    "log_tail": r.stderr[-800:]}  # fmt: skip
    for tag, _ in VIDEO_RUNS[1:]:
        res[tag]["vs_model_only"] = round(res[tag]["stats"]["fps"] / res["model-only"]["stats"]["fps"], 3)
    return res


TRAIN_RUNS = (("realfog", 400), ("paper", 150))


def train_on(
    device: str = "cuda", runs: tuple[tuple[str, int], ...] = TRAIN_RUNS, scenes: int = 96
) -> dict[str, Any]:
    """``edgecgl train --device cuda`` on generated SynthWeather: the shipped configs run on a GPU, finite
    losses, and iterations per second (the first logged interval, with the warm-up, left out)."""
    import math

    data = WORK / "synth"
    if not (data / "sunny").is_dir():
        edgecgl_cli("data", "synth", "--out", str(data), "--n", str(scenes), "--seed", "0", "--size", "256x512",
                    "--workers", "8", timeout=120)  # fmt: skip
    res: dict[str, Any] = {}
    for config, iters in runs:
        out = WORK / f"train-{config}"
        t = time.monotonic()
        edgecgl_cli("-q", "train", "--config", config, "--data", f"folder:{data}", "--out", str(out), "--iters",
                    str(iters), "--device", device, "--set", f"log.every={max(1, iters // 16)}", "--set", "log.sample_every=100000",
                    timeout=240)  # fmt: skip
        wall = time.monotonic() - t
        recs = [
            json.loads(x)
            for p in out.glob("*/metrics.jsonl")
            for x in p.read_text().splitlines()
            if x.strip()
        ]
        rates = sorted(r["it_s"] for r in recs[1:] if "it_s" in r)
        last = recs[-1] if recs else {}
        finite = all(math.isfinite(v) for k, v in last.items() if isinstance(v, float))
        res[config] = {
            "device": device,
            "iters": iters,
            "wall_s": round(wall, 1),
            "it_s_median": round(rates[len(rates) // 2], 2) if rates else None,
            "losses_finite": finite,
            "last": {k: last.get(k) for k in ("step", "g_total", "d_total")},
        }
        if not finite:
            raise RuntimeError(f"{config}: non-finite losses on CUDA at step {last.get('step')}")
    return res


def performance_rows(data: dict[str, Any]) -> list[str]:
    """The rows for docs/PERFORMANCE.md's TensorRT section."""
    gpu = data.get("environment", {}).get("gpu", {})
    where = f"{gpu.get('gpu', '?')} ({gpu.get('sm_count', '?')} SMs), TensorRT {data.get('environment', {}).get('tensorrt') or 'not installed'}"
    lines = [
        f"Measured by benchmarks/gpu_check.py on {where}:",
        "",
        "| variant | median ms | p90 ms | vs torch fp16 |",
        "| --- | ---: | ---: | ---: |",
    ]
    t = (data["steps"].get("timing") or {}).get("result") or {}
    for name, r in (t.get("rows") or {}).items():
        lines.append(f"| {name} | {r['median_ms']} | {r['p90_ms']} | {r['vs_torch_fp16'] or ''} |")
    for prec, rows in ((data["steps"].get("verify") or {}).get("result") or {}).items():
        for r in rows:
            lines.append(
                f"| verify {prec} {r['input']} (PSNR dB, limit {r['limit_db']}) | {r['psnr_db']:.1f} | | ok={r['ok']} |"
            )
    tt = (data["steps"].get("torch timing") or {}).get("result") or {}
    if tt:
        lines += ["", "| torch on CUDA, encoder + generator, host in/out | median ms | p90 ms | ratio |",
                  "| --- | ---: | ---: | ---: |"]  # fmt: skip
        for name, r in tt["rows"].items():
            ratio = f"x{r['vs_fp32']} vs fp32" if "vs_fp32" in r else (
                f"x{r['vs_k_calls']} vs {CROPS_K} calls" if "vs_k_calls" in r else "")  # fmt: skip
            lines.append(f"| {name} | {r['median_ms']} | {r['p90_ms']} | {ratio} |")
    vt = (data["steps"].get("video torch") or {}).get("result") or {}
    if vt:
        lines.append("")
        for tag in [t for t, _ in VIDEO_RUNS if t in vt]:
            st = vt[tag]["stats"]
            per = ", ".join(f"{k} {v['p50_ms']}" for k, v in st.get("stages_ms", {}).items())
            lines.append(f"- edgecgl video, torch CUDA, {tag}: {st['fps']} frames/s over {st['frames']} frames "
                         f"(stage p50 ms: {per})")  # fmt: skip
        for tag in [t for t, _ in VIDEO_RUNS[1:] if t in vt]:
            lines.append(f"- {tag} / model-only: {vt[tag]['vs_model_only']}")
    dt = (data["steps"].get("detector") or {}).get("result") or {}
    for tag, r in (dt.get("rows") or {}).items():
        lines.append(
            f"- detector alone ({dt['detector']}, {tag}, on {r['device']}): {r['median_ms']} ms median, "
            f"{r.get('boxes_per_frame', '?')} boxes a frame"
        )
    tr = (data["steps"].get("train cuda") or {}).get("result") or {}
    for config, r in tr.items():
        lines.append(f"- edgecgl train --config {config} --device {r.get('device', 'cuda')}: {r['it_s_median']} it/s "
                     f"({r['iters']} it., {r['wall_s']} s wall with start-up; losses finite: {r['losses_finite']})")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="print the plan and exit (no GPU needed)")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--budget-s", type=float, default=BUDGET_S)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--resume", action="store_true", help="keep the ok steps already in --out")
    args = ap.parse_args(argv)
    if args.dry_run:
        print("gpu_check plan (nothing is run):")
        for i, line in enumerate(plan(), 1):
            print(f"  {i}. {line}")
        import importlib.util

        have = {m: importlib.util.find_spec(m) is not None for m in ("torch", "tensorrt", "onnxruntime")}
        print(f"  importable here: {', '.join(f'{m}={v}' for m, v in have.items())}")
        return 0
    import torch

    if not torch.cuda.is_available():
        print("error: gpu_check needs a CUDA GPU (use --dry-run to see the plan)", file=sys.stderr)
        return 2
    run = Run(args.budget_s, args.out, resume=args.resume)
    env = run.step("environment", 5, environment)
    run.data["environment"] = env or {}
    trt = have_tensorrt()
    # What needs no TensorRT first: training on CUDA has never run elsewhere, and a loan may be short.
    run.step("train cuda", 90, train_on)
    run.step("torch timing", 40, lambda: torch_timing(args.repeats))
    bundles = run.step(
        "bundles", 60, lambda: make_bundles(trt), lambda r: all(Path(p).is_dir() for p in (r or {}).values())
    )
    if bundles:
        run.step("video torch", 60, lambda: video_torch(bundles["fp32"]))
    run.step("detector", 20, lambda: detector_timing(args.repeats))
    if bundles:
        run.step("bench", 40, lambda: bench_cli(bundles["fp32"]))
    if not trt:
        why = "tensorrt is not importable here (pip install -e .[trt])"
        for name in ("engines", "timing", "video", "verify"):
            run._record(name, {"status": "skipped", "reason": why})
    elif bundles:
        built = {}
        for prec in ("fp16", "int8", REFLECT, "fp32"):  # what the timing needs first
            if run.step(f"engines {prec}", 45, lambda p=prec: build_engines(bundles[p], p)) is not None:
                built[prec] = bundles[prec]
        if {"fp16", "int8"} <= set(built):
            run.step("timing", 30, lambda: timing(bundles, args.repeats))
            run.step("video", 60, lambda: video(bundles))
        if built:
            run.step("verify", 30, lambda: verify(built))
    rows = performance_rows(run.data)
    run.data["performance_rows"] = rows
    run._record("done", {"status": "ok"})
    print("\n".join(rows))
    failed = [k for k, v in run.data["steps"].items() if v["status"] == "failed"]
    if failed:
        print(f"not ok: {', '.join(failed)} (see {args.out})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
