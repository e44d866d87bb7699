"""Guided upsampler parameters by measurement: paired PSNR on held-out SynthWeather scenes rendered at a
resolution above the working one, and the input/output gradient correlation there and on real frames.

The network runs once per input at the bundle's working resolution (the runtime's Translator, ONNX Runtime
CPU); every upsampler setting (mode, prior, radius, eps) then re-applies that output to the full-size
input through the torch reference module (``edgecgl.export.upsampler``, what the ONNX graph computes).
The ground truth is the same scene rendered in the target domain at the full size.

    OMP_NUM_THREADS=1 python -m benchmarks.upsampler_quality --bundle B --scenes 24 --size 256x512
    OMP_NUM_THREADS=1 python -m benchmarks.upsampler_quality --bundle B --radii 4,8 --eps 0.03,0.1,0.3 \
        --modes channel,color --name upsampler_quality_wide
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from edgecgl.export.upsampler import GuidedUpsampler, UpsamplerConfig

from benchmarks.common import ASSETS, load_average, log, write_results
from edgecgl.backends import select_backend
from edgecgl.bundle import load_bundle
from edgecgl.compose import letterbox, resize, to_nchw, to_uint8
from edgecgl.quality import gradient_correlation
from edgecgl.translate import Translator, parse_size, read_image


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def low_res(tr: Translator, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low_guide uint8 [h,w,3], low_image float32 [3,h,w]): the letterboxed region the network saw."""
    canvas, lb = letterbox(frame, tr.frame_size)
    low = tr._generate(canvas[None], "global", tr.style[None])[0]
    (ih, iw), t, left = lb.inner_hw, lb.top, lb.left
    return canvas[t : t + ih, left : left + iw], low[:, t : t + ih, left : left + iw]


def guided(cfg: UpsamplerConfig, frame: np.ndarray, lg: np.ndarray, li: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = GuidedUpsampler(cfg)(
            torch.from_numpy(to_nchw(frame)), torch.from_numpy(to_nchw(lg)), torch.from_numpy(li[None])
        )
    return to_uint8(out.numpy())[0]


def configs(args: argparse.Namespace) -> list[UpsamplerConfig]:
    if args.quick:
        return [UpsamplerConfig()]
    floats = lambda text: [float(x) for x in text.split(",")]  # noqa: E731
    grid = itertools.product(
        args.modes.split(","), floats(args.priors), [int(r) for r in args.radii.split(",")], floats(args.eps)
    )
    return [UpsamplerConfig(radius=r, eps=eps, mode=mode, prior=prior) for mode, prior, r, eps in grid]


def key(c: UpsamplerConfig) -> str:
    return f"{c.mode} prior={c.prior:g} r={c.radius} eps={c.eps:g}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, required=True, help="A trained bundle (e.g. make demo's fp32).")
    ap.add_argument("--scenes", type=int, default=24)
    ap.add_argument("--size", default="256x512", help="Full resolution the scenes are rendered at.")
    ap.add_argument("--seed", type=int, default=10_000, help="Scene seeds from here (training used 0..).")
    ap.add_argument("--quick", action="store_true", help="Only the default setting.")
    ap.add_argument("--modes", default="channel,color,gray")
    ap.add_argument("--priors", default="0,1")
    ap.add_argument("--radii", default="1,2,4")
    ap.add_argument("--eps", default="0.001,0.01,0.1")
    ap.add_argument("--name", default="upsampler_quality")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from edgecgl.train.data.synth import render_domains

    bundle = load_bundle(args.bundle)
    be = select_backend(bundle, "onnxruntime-cpu")
    size = parse_size(args.size)
    source, targets = "sunny", [d for d in bundle.domains if d != "sunny"]
    trs = {d: Translator(be, bundle, d, upsample="resize") for d in targets}
    cfgs = configs(args)
    psnr: dict[str, dict[str, list[float]]] = {}
    corr: dict[str, list[float]] = {}

    def add(name: str, dom: str, out: np.ndarray, truth: np.ndarray, frame: np.ndarray) -> None:
        psnr.setdefault(name, {}).setdefault(dom, []).append(psnr_u8(out, truth))
        corr.setdefault(name, []).append(gradient_correlation(frame, out))

    for i in range(args.scenes):
        imgs, _, _ = render_domains(args.seed + i, size, (source, *targets))
        frame = imgs[source]
        for d in targets:
            lg, li = low_res(trs[d], frame)
            add("identity", d, frame, imgs[d], frame)
            add("resize", d, resize(to_uint8(li[None])[0], size), imgs[d], frame)
            for c in cfgs:
                add(key(c), d, guided(c, frame, lg, li), imgs[d], frame)
        log(f"scene {i + 1}/{args.scenes}")
    rows: dict[str, Any] = {}
    for name in psnr:
        per = {d: round(float(np.mean(v)), 3) for d, v in psnr[name].items()}
        rows[name] = {
            "psnr_db": per,
            "psnr_mean_db": round(float(np.mean(list(per.values()))), 3),
            "grad_corr": round(float(np.mean(corr[name])), 3),
        }
    real = real_correlations(bundle, be, cfgs[:1] if args.quick else pick(rows, cfgs))
    best = sorted(
        (k for k in rows if k not in ("identity", "resize")), key=lambda k: -rows[k]["psnr_mean_db"]
    )
    for k in ["identity", "resize", *best[:12]]:
        r = rows[k]
        log(f"{k:<34} PSNR {r['psnr_mean_db']:6.2f} dB {r['psnr_db']}  grad corr {r['grad_corr']:.3f}")
    for k, v in real.items():
        log(f"real {k}: {v}")
    write_results(
        args.name,
        {
            "bundle": str(args.bundle),
            "step": bundle.manifest.get("source", {}).get("step"),
            "scenes": args.scenes,
            "scene_seeds_from": args.seed,
            "size": list(size),
            "working_size": list(bundle.frame_size),
            "source": source,
            "load_average": load_average(),
            "rows": rows,
            "real": real,
        },
    )


def pick(rows: dict[str, Any], cfgs: list[UpsamplerConfig]) -> list[UpsamplerConfig]:
    """The best setting of each mode by paired PSNR (the real-frame check runs only these)."""
    out = []
    for mode in ("channel", "color", "gray"):
        for prior in sorted({c.prior for c in cfgs}):
            cands = [c for c in cfgs if c.mode == mode and c.prior == prior]
            if cands:
                out.append(max(cands, key=lambda c: rows[key(c)]["psnr_mean_db"]))
    return out


def real_correlations(bundle: Any, be: Any, cfgs: list[UpsamplerConfig]) -> dict[str, Any]:
    """Gradient correlation on the BDD100K frames (1280x720) and the real clip's first frame, to night."""
    frames: dict[str, np.ndarray] = {}
    for p in sorted((ASSETS / "frames").glob("bdd_*.jpg")):
        frames[p.stem] = read_image(p)
    clip = next(iter(sorted((ASSETS / "video").glob("*.mp4"))), None)
    if clip is not None:
        import av

        with av.open(str(clip)) as c:
            for k, f in enumerate(c.decode(video=0)):
                if k == 30:
                    frames[clip.stem + "@30"] = f.to_ndarray(format="rgb24")
                    break
    tr = Translator(be, bundle, "night", upsample="resize")
    out: dict[str, Any] = {}
    for name, frame in frames.items():
        lg, li = low_res(tr, frame)
        row = {
            "resize": round(gradient_correlation(frame, resize(to_uint8(li[None])[0], frame.shape[:2])), 3)
        }
        for c in cfgs:
            row[key(c)] = round(gradient_correlation(frame, guided(c, frame, lg, li)), 3)
        out[f"{name} {frame.shape[1]}x{frame.shape[0]}"] = row
    return out


if __name__ == "__main__":
    main()
