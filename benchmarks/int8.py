"""INT8 (Q/DQ, ONNX Runtime ``quantize_static`` via ``edgecgl.calib``) vs FP32 on ONNX Runtime CPU:
speed interleaved with the matmul limit, and PSNR of the INT8 output against the FP32 output.

Speed per preset uses random-init models (speed does not depend on the weights); the PSNR that the target
is about needs a trained model: ``--trained RUN_OR_MODEL_PT`` exports it FP32 and INT8 at its own working
size and compares the two on the real BDD100K frames (never in the calibration set, which comes from the
dashcam clip). PSNR on [0, 255] of the translated canvas, per frame; we report the worst and the mean.

    python -m benchmarks.int8 --presets paper,small,tiny --size 256x512 --trained runs/bench/train/000-synth-tiny
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from benchmarks.common import ASSETS, CACHE, ROOT, load_average, log, real_frames, toy_bundle, write_results
from edgecgl.backends.onnxruntime import OnnxRuntimeBackend
from edgecgl.bench import (
    frame_flops,
    machine_info,
    precision_view,
    summarize,
    time_interleaved,
)
from edgecgl.bundle import MANIFEST, load_bundle
from edgecgl.domains import one_hot
from edgecgl.gemm_limit import GemmLimit, fraction_of_limit, split_times

CLIP = ASSETS / "video" / "highway_960x540_audio.mp4"


def calib_set(size: tuple[int, int], inst: tuple[int, int], n: int) -> Path:
    out = CACHE / f"calib-{size[0]}x{size[1]}-{n}.npz"
    if not out.is_file():
        cmd = [
            sys.executable,
            "-m",
            "edgecgl",
            "-q",
            "calib",
            str(CLIP),
            "--out",
            str(out),
            "--n",
            str(n),
            "--size",
            f"{size[0]}x{size[1]}",
            "--instance-size",
            f"{inst[0]}x{inst[1]}",
        ]
        subprocess.run(cmd, cwd=ROOT, check=True)
    return out


def int8_bundle(ckpt: Path, name: str, size: tuple[int, int], inst: tuple[int, int], n: int) -> Path:
    from edgecgl.export.bundle import write_bundle

    out = CACHE / "bundles" / f"{name}-int8"
    if (out / MANIFEST).is_file():
        return out
    log(f"exporting INT8 {name} (calibration: {n} frames of {CLIP.name})")
    return write_bundle(
        ckpt, out, "int8", "onnxslim", calib=calib_set(size, inst, n), overwrite=True, pt2=False, log=log
    )


def ort_style_int8(bundle_dir: Path, calib: Path) -> dict[str, Path]:
    """The same calibration, quantized the way ONNX Runtime's CPU provider can fuse: int32 bias and
    quantized conv outputs (ORT's defaults), so DQ -> Conv -> Q becomes one QLinearConv. TensorRT
    rejects int32 bias Q/DQ, which is why the bundle's ``*.int8.onnx`` keeps fp32 bias and fp32 conv
    outputs; ORT then runs every conv in fp32 between extra Q/DQ passes. Written beside the bundle."""
    from edgecgl.calib.sample import load_calib
    from edgecgl.export.verify import ort_session
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    b = load_bundle(bundle_dir)
    out_dir = bundle_dir.parent / f"{bundle_dir.name}-ortstyle"
    out_dir.mkdir(exist_ok=True)
    paths = {r: out_dir / f"{r}.onnx" for r in ("content_encoder", "generator")}
    if all(p.is_file() for p in paths.values()):
        return paths
    cs = load_calib(calib)
    images = cs.images("frames")
    enc32 = ort_session(precision_view(b, "fp32").models["content_encoder"])
    content = np.concatenate(
        [enc32.run(None, {"image": images[i : i + 4]})[0] for i in range(0, len(images), 4)]
    )
    nd = len(b.domains)
    feeds = {
        "content_encoder": [{"image": images[i : i + 4]} for i in range(0, len(images), 4)],
        "generator": [
            {
                "content": content[i : i + 4],
                "style": np.stack([b.style(b.domains[(i + k) % nd]) for k in range(len(content[i : i + 4]))]),
                "domain": np.eye(nd, dtype=np.float32)[
                    [(i + k) % nd for k in range(len(content[i : i + 4]))]
                ],
            }
            for i in range(0, len(content), 4)
        ],
    }

    class Reader(CalibrationDataReader):
        def __init__(self, items: list[dict[str, np.ndarray]]) -> None:
            self.items, self.i = items, 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            self.i += 1
            return self.items[self.i - 1] if self.i <= len(self.items) else None

    for role, dst in paths.items():
        src = precision_view(b, "fp32").models[role]
        norms = [n.name for n in onnx.load(str(src)).graph.node if "Normalization" in n.op_type]
        quantize_static(
            str(src),
            str(dst),
            Reader(feeds[role]),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=norms,
            op_types_to_quantize=["Conv", "Gemm", "MatMul"],
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        )
    return paths


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def accuracy(bundle_dir: Path, threads: int) -> dict[str, Any]:
    """INT8 vs FP32 translated canvases of the real frames, every domain's mean style."""
    from edgecgl.compose import letterbox
    from edgecgl.translate import Translator, read_image

    b = load_bundle(bundle_dir)
    paths = sorted((ASSETS / "frames").glob("*.jpg"))
    vals = []
    views = {"fp32": precision_view(b, "fp32"), "int8": precision_view(b, "int8")}
    ortstyle = bundle_dir.parent / f"{bundle_dir.name}-ortstyle"
    if (ortstyle / "generator.onnx").is_file():
        models = {r: ortstyle / f"{r}.onnx" for r in ("content_encoder", "generator")}
        views["int8 ORT-style"] = dataclasses.replace(
            views["fp32"], models={**views["fp32"].models, **models}
        )
    for view in views.values():
        be = OnnxRuntimeBackend(view, "cpu", threads=threads)
        outs = []
        for d in b.domains:
            tr = Translator(be, view, d)
            outs += [tr.translate_canvas(letterbox(read_image(p), b.frame_size)[0]) for p in paths]
        vals.append(outs)
    ps = [psnr(x, y) for x, y in zip(vals[0], vals[1], strict=True)]
    res = {
        "frames": len(paths),
        "domains": b.domains,
        "size": list(b.frame_size),
        "psnr_db_min": round(min(ps), 2),
        "psnr_db_mean": round(float(np.mean(ps)), 2),
    }
    if len(vals) > 2:
        po = [psnr(x, y) for x, y in zip(vals[0], vals[2], strict=True)]
        res.update(ortstyle_psnr_db_min=round(min(po), 2), ortstyle_psnr_db_mean=round(float(np.mean(po)), 2))
    return res


def speed(
    preset: str, size: tuple[int, int], inst: tuple[int, int], threads: int, repeats: int, n: int
) -> dict:
    fp32_dir = toy_bundle(preset, size, inst)
    b8 = load_bundle(int8_bundle(CACHE / f"{fp32_dir.name}-model.pt", fp32_dir.name, size, inst, n))
    frames = real_frames(size)
    style = b8.style(b8.domains[1])[None].astype(np.float32)
    dom = one_hot(1, len(b8.domains))
    fns: dict[str, Any] = {}
    calib = calib_set(size, inst, n)
    ort_paths = ort_style_int8(b8.root, calib)
    v32 = precision_view(b8, "fp32")
    views = {
        "fp32": v32,
        "int8": precision_view(b8, "int8"),
        "int8 ORT-style": dataclasses.replace(v32, models={**v32.models, **ort_paths}),
    }
    for prec, view in views.items():
        be = OnnxRuntimeBackend(view, "cpu", threads=threads)
        state = {"i": 0}

        def run(be: Any = be, state: dict = state) -> object:
            x = frames[state["i"] % len(frames)][None]
            state["i"] += 1
            return be.generate(be.encode_content(x), style, dom)

        fns[f"onnxruntime {prec}"] = run
    gemm = GemmLimit(2048, threads, reps=4)
    fns.update(gemm.fns())
    flops = frame_flops(b8, size)
    load0 = load_average()
    times = time_interleaved(fns, repeats, warmup=1, settle_s=0.1)
    limit = gemm.result(times)
    f32, i8 = statistics.median(times["onnxruntime fp32"]), statistics.median(times["onnxruntime int8"])
    i8o = statistics.median(times["onnxruntime int8 ORT-style"])
    log(
        f"{preset} {size}: fp32 {f32:.1f} ms, int8 {i8:.1f} ms -> x{f32 / i8:.2f}; ORT-style int8 {i8o:.1f} ms -> "
        f"x{f32 / i8o:.2f}; load {load0}"
    )
    return {
        "preset": preset,
        "size": list(size),
        "threads": threads,
        "repeats": repeats,
        "calib_frames": n,
        "load_average_before": load0,
        "load_average_after": load_average(),
        "gflop_per_frame": round(flops["total"], 3),
        "matmul": limit,
        "variants": {
            k: {
                **summarize(v),
                "fraction_of_matmul": fraction_of_limit(
                    flops["total"] / (statistics.median(v) / 1000), limit
                )[0],
            }
            for k, v in split_times(times).items()
        },
        "int8_speedup_vs_fp32": round(f32 / i8, 3),
        "int8_speedup_vs_fp32_min": round(min(times["onnxruntime fp32"]) / min(times["onnxruntime int8"]), 3),
        "int8_ortstyle_speedup_vs_fp32": round(
            f32 / statistics.median(times["onnxruntime int8 ORT-style"]), 3
        ),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="paper,small,tiny")
    ap.add_argument("--size", default="256x512")
    ap.add_argument("--instance", default="128x128")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calib-n", type=int, default=32)
    ap.add_argument("--trained", default="", help="run folder or model.pt of a trained model (PSNR)")
    ap.add_argument("--accuracy-presets", default="tiny", help="random-init presets to also compare (slow)")
    ap.add_argument("--out", default="int8")
    a = ap.parse_args(argv)
    size = tuple(int(v) for v in a.size.lower().split("x"))
    inst = tuple(int(v) for v in a.instance.lower().split("x"))
    res: dict[str, Any] = {
        "machine": machine_info(a.threads),
        "command": "python -m benchmarks.int8 " + " ".join(sys.argv[1:] if argv is None else argv),
        "speed": [
            speed(p, size, inst, a.threads, a.repeats, a.calib_n)  # type: ignore[arg-type]
            for p in filter(None, a.presets.split(","))
        ],
        "accuracy": {},
    }
    for p in filter(None, a.accuracy_presets.split(",")):
        d = CACHE / "bundles" / f"{p}-{size[0]}x{size[1]}-int8"
        res["accuracy"][f"{p} random init"] = acc = accuracy(d, a.threads)
        log(f"{p} random init: INT8 vs FP32 PSNR min {acc['psnr_db_min']} dB, mean {acc['psnr_db_mean']} dB")
    if a.trained:
        from edgecgl.train.inference import load_inference

        src = Path(a.trained)
        ckpt = src if src.is_file() else src / "checkpoints" / "model.pt"
        im = load_inference(ckpt)
        name = f"trained-{src.name if src.is_dir() else src.parent.parent.name}"
        d8 = int8_bundle(ckpt, name, tuple(im.frame_size), tuple(im.instance_size), a.calib_n)  # type: ignore[arg-type]
        ort_style_int8(d8, calib_set(tuple(im.frame_size), tuple(im.instance_size), a.calib_n))  # type: ignore[arg-type]
        acc = accuracy(d8, a.threads)
        acc.update(checkpoint=str(ckpt), step=im.step, dim=im.cfg.dim, n_res=im.cfg.n_res)
        res["accuracy"][f"trained {name}"] = acc
        log(
            f"trained {ckpt} (step {im.step}): INT8 vs FP32 PSNR min {acc['psnr_db_min']}, mean {acc['psnr_db_mean']}"
        )
    write_results(a.out, res)


if __name__ == "__main__":
    main()
