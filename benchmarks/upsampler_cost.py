"""What the guided upsampler costs at 720p and 1080p on the CPU, alone and next to the network, per stage.

Default: per output frame, as ``Translator.translate_frame`` pays it after the network (uint8 in, uint8 out):
  resize           the network's output to uint8 at the working size, then cv2 bilinear resize
  guided           uint8 -> float NCHW (guide and low guide), the upsampler graph, float -> uint8
  guided graph     the graph alone (float32 inputs ready)
  guided cpu       the same function in numpy + OpenCV (``edgecgl.guided_cpu``, what ORT CPU runs now)
  residual cpu     ``--upsample residual``: guided cpu + the fit at the working size + the residual added
for each mode (channel: 6 planes upsampled, color: 12) and working size, interleaved, 1 and 2 threads.

``--stages``: ``edgecgl video``'s per-frame work split into stages, for the ``small`` bundle (random init:
speed does not depend on the weights) at the working size, on the real clip's frames resized to 720p and
1080p, every stage of both sizes timed in the same interleaved rounds: decode (PyAV, the clip re-encoded at
that size), detect (YOLOv8n, tracking), letterbox (frame -> working canvas, float NCHW), network (content
encoder + generator, batch 1), upsample (guided, the CPU path; ``upsample graph`` the graph path before
it, for comparison), instance network (crops cut, resized and translated in one batch), instance
upsample (each crop back to its window, guided), paste (harmonize + feathered paste), encode (libx264 as
``edgecgl video`` sets it). Ratio: (upsample + instance upsample + paste) / network, on wall time and on
the process's CPU time (a shared machine preempts long calls more than short ones, which flatters short
stages on wall time). ORT, OpenCV, BLAS, torch and x264 all at the thread count given.

    OMP_NUM_THREADS=1 python -m benchmarks.upsampler_cost --threads 1,2 --repeats 20
    python -m benchmarks.upsampler_cost --stages --threads 1,2 --repeats 10 --name upsampler_stages

``--variants``: the full-resolution step's same-math alternatives (whole-frame OpenCV with fresh or
reused planes, row strips of several heights, the vertical interpolation as matmul or gather-lerp), each
checked within one level of ``guided_cpu.apply`` first, timed interleaved with the fit.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from edgecgl.export.upsampler import UpsamplerConfig, export_upsampler

from benchmarks.common import ASSETS, load_average, log, toy_bundle, write_results
from edgecgl import guided_cpu
from edgecgl.bench import machine_info, summarize, time_interleaved
from edgecgl.compose import resize, to_nchw, to_uint8
from edgecgl.upsample import LOCAL_RADIUS, OrtUpsampler, _hwc_uint8, _nchw, add_residual

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920)}
WORKING = {"synth-tiny 64x128": (64, 128), "default 256x512": (256, 512)}
CLIP = ASSETS / "video" / "highway_960x540_audio.mp4"
DETECTOR = ASSETS / "models" / "yolov8n-coco.pt"


def frame(hw: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = hw
    small = rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)
    return np.clip(resize(small, hw).astype(np.int16) + rng.integers(-8, 8, (h, w, 3)), 0, 255).astype(
        np.uint8
    )


def set_threads(n: int) -> None:
    """OpenCV, BLAS (threadpoolctl) and torch at ``n`` threads for what follows in this process."""
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(n)
    threadpool_limits(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:  # pragma: no cover - torch comes with the detector
        pass


def residual_cpu(img: np.ndarray, low_guide: np.ndarray, low_image: np.ndarray, p: Any) -> np.ndarray:
    """What ``Upsampler`` runs for ``--upsample residual`` on the CPU path: one fit, applied twice."""
    a, b = guided_cpu.fit(low_guide, low_image, p)
    return add_residual(guided_cpu.apply(img, a, b), low_image, guided_cpu.apply(low_guide, a, b))


def paths(args: argparse.Namespace) -> None:
    """The upsampler alone: resize, the graph (with and without conversions) and the CPU path."""
    tmp = Path(tempfile.mkdtemp(prefix="upsampler_cost_"))
    rows: list[dict[str, Any]] = []
    load_before = load_average()
    for threads in (int(t) for t in args.threads.split(",")):
        set_threads(threads)
        for wname, low_hw in WORKING.items():
            sessions, params = {}, {}  # the graph a bundle of this working size gets (subsampled fit)
            for mode in args.modes.split(","):
                cfg = UpsamplerConfig.for_working_size(low_hw, mode=mode)
                path = export_upsampler(cfg, tmp / f"{mode}-{low_hw[0]}.onnx")
                sessions[mode] = OrtUpsampler(path, threads=threads)
                params[mode] = guided_cpu.GuidedParams.from_manifest(cfg.to_json())
            for sname, hw in SIZES.items():
                img = frame(hw)
                low_guide = resize(img, low_hw)
                low_image = np.clip(to_nchw(low_guide)[0] * 0.6 - 0.2, -1, 1).astype(np.float32)
                g, lg, li = to_nchw(img), to_nchw(low_guide), low_image[None]
                fns: dict[str, Callable[[], object]] = {
                    "resize": lambda li=li, hw=hw: resize(to_uint8(li)[0], hw)
                }
                for mode, sess in sessions.items():
                    fns[f"guided {mode}"] = lambda s=sess, img=img, lo=low_guide, li=li: _hwc_uint8(
                        s(_nchw(img), to_nchw(lo), li)[0]
                    )  # what Upsampler.__call__ did before the CPU path
                    fns[f"guided graph {mode}"] = lambda s=sess, g=g, lg=lg, li=li: s(g, lg, li)
                    if params[mode].supported:
                        fns[f"guided cpu {mode}"] = lambda p=params[mode], img=img, lo=low_guide, li=li: (
                            guided_cpu.upsample(img, lo, li[0], p)
                        )
                        fns[f"residual cpu {mode}"] = lambda p=params[mode], img=img, lo=low_guide, li=li: (
                            residual_cpu(img, lo, li[0], p)
                        )  # --upsample residual on the CPU path
                        local = dataclasses.replace(params[mode], radius=LOCAL_RADIUS)
                        fns[f"local cpu {mode}"] = lambda p=local, img=img, lo=low_guide, li=li: (
                            guided_cpu.upsample(img, lo, li[0], p)
                        )  # --upsample local: the same path, a smaller window
                ms = time_interleaved(fns, args.repeats, warmup=2, settle_s=0.02)
                for name, vals in ms.items():
                    row = {
                        "threads": threads,
                        "working": wname,
                        "output": sname,
                        "path": name,
                        **summarize(vals),
                    }
                    rows.append(row)
                    log(f"{threads} thr  {wname:<18} {sname:<6} {name:<22} {row['median_ms']:8.2f} ms")
    write_results(
        args.name,
        {
            "machine": machine_info(),
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "repeats": args.repeats,
            "rows": rows,
        },
    )


def apply_variants(a: np.ndarray, b: np.ndarray, hw: tuple[int, int]) -> dict[str, Callable[..., np.ndarray]]:
    """Same-math ways to do the full-resolution step ``A * I + B`` (uint8 in/out) from the grid:
    whole-frame OpenCV (fresh planes / reused buffers), the strips of ``guided_cpu.apply`` at several
    heights, and the strips with the vertical interpolation as a numpy gather-lerp instead of a matmul."""
    import cv2

    h, w = hw
    bufs = [np.empty((h, w, 3), np.float32) for _ in range(2)]
    outb = np.empty((h, w, 3), np.uint8)

    def whole(img: np.ndarray) -> np.ndarray:
        up_a, up_b = (cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR) for x in (a, b))
        return cv2.add(cv2.multiply(img, up_a, dtype=cv2.CV_32F), up_b, dtype=cv2.CV_8U)

    def whole_reused(img: np.ndarray) -> np.ndarray:
        for x, buf in zip((a, b), bufs, strict=True):
            cv2.resize(x, (w, h), dst=buf, interpolation=cv2.INTER_LINEAR)
        cv2.multiply(img, bufs[0], dst=bufs[0], dtype=cv2.CV_32F)
        return cv2.add(bufs[0], bufs[1], dst=outb, dtype=cv2.CV_8U)

    def strips(rows: int) -> Callable[[np.ndarray], np.ndarray]:
        def run(img: np.ndarray) -> np.ndarray:
            old = guided_cpu.strip_rows
            guided_cpu.strip_rows = lambda width: rows  # type: ignore[assignment]
            try:
                return guided_cpu.apply(img, a, b)
            finally:
                guided_cpu.strip_rows = old  # type: ignore[assignment]

        return run

    i0, i1, lam = guided_cpu.linear_weights(a.shape[0], h)

    def strips_lerp(img: np.ndarray, rows: int = 16) -> np.ndarray:
        cols = w * 3
        grid = np.concatenate(
            [
                cv2.resize(x, (w, a.shape[0]), interpolation=cv2.INTER_LINEAR).reshape(-1, cols)
                for x in (a, b)
            ],
            1,
        )
        out = np.empty((h, w, 3), np.uint8)
        src, dst = img.reshape(h, cols), out.reshape(h, cols)
        for s in range(0, h, rows):
            e = min(h, s + rows)
            lw = lam[s:e, None]
            c = grid[i0[s:e]] * (1.0 - lw) + grid[i1[s:e]] * lw
            p = cv2.multiply(src[s:e], c[:, :cols], dtype=cv2.CV_32F)
            cv2.add(p, c[:, cols:], dst=dst[s:e], dtype=cv2.CV_8U)
        return out

    fns: dict[str, Callable[..., np.ndarray]] = {"whole frame, fresh planes": whole}
    fns["whole frame, reused buffers"] = whole_reused
    fns |= {f"strips of {r} rows (matmul)": strips(r) for r in (8, 16, 32, 64)}
    fns["strips of 16 rows (gather-lerp)"] = strips_lerp
    return fns


def variants(args: argparse.Namespace) -> None:
    """The full-resolution step's same-math alternatives, checked against each other, then timed."""
    load_before = load_average()
    rows: list[dict[str, Any]] = []
    for threads in (int(t) for t in args.threads.split(",")):
        set_threads(threads)
        p = guided_cpu.GuidedParams.from_manifest(UpsamplerConfig.for_working_size((256, 512)).to_json())
        for sname, hw in SIZES.items():
            img = frame(hw)
            low_guide = resize(img, (256, 455))
            low_image = np.clip(to_nchw(low_guide)[0] * 0.6 - 0.2, -1, 1).astype(np.float32)
            a, b = guided_cpu.fit(low_guide, low_image, p)
            fns = apply_variants(a, b, hw)
            ref = guided_cpu.apply(img, a, b)
            for name, fn in fns.items():  # the same function: at most one level (rounding) apart
                diff = int(np.abs(fn(img).astype(np.int16) - ref).max())
                if diff > 1:
                    raise SystemExit(f"{name} differs from guided_cpu.apply by {diff} levels")
            timed = {"fit": lambda lg=low_guide, li=low_image, p=p: guided_cpu.fit(lg, li, p)}
            timed |= {name: (lambda fn=fn, img=img: fn(img)) for name, fn in fns.items()}
            ms = time_interleaved(timed, args.repeats, warmup=1, settle_s=0.02)
            for name, vals in ms.items():
                rows.append({"threads": threads, "output": sname, "variant": name, **summarize(vals)})
                log(f"{threads} thr  {sname:<6} {name:<34} {rows[-1]['median_ms']:8.2f} ms")
    write_results(
        args.name,
        {
            "machine": machine_info(),
            "what": "the full-resolution step A*I+B of the 256x512 bundle's CPU path, same-math variants "
            "(each checked within one level of guided_cpu.apply), and the fit",
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "repeats": args.repeats,
            "rows": rows,
        },
    )


# ------------------------------------------------------------------------------------ per-stage run


def clip_frames(n: int, hw: tuple[int, int]) -> list[np.ndarray]:
    """The real clip's first ``n`` frames, resized to ``hw`` (bilinear: 960x540 up to 720p / 1080p)."""
    import av
    import cv2

    with av.open(str(CLIP)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0), strict=False)]
    return [cv2.resize(f, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR) for f in frames]


def write_clip(path: Path, frames: list[np.ndarray]) -> Path:
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": "18", "preset": "veryfast"}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
    return path


def decode_all(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for f in c.decode(video=0) if f.to_ndarray(format="rgb24") is not None)


def encode_all(frames: list[np.ndarray], dst: Path, threads: int) -> None:
    """libx264 with ``edgecgl video``'s defaults (crf 20, veryfast), x264 at ``threads`` threads."""
    import av

    from edgecgl.video import VideoOptions

    opts = VideoOptions()
    h, w = frames[0].shape[:2]
    with av.open(str(dst), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(int(opts.crf)), "preset": opts.preset, "threads": str(threads)}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))


def time_wall_cpu(
    fns: dict[str, Callable[[], object]], repeats: int, settle_s: float = 0.02
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``time_interleaved``'s rotating rounds (one warm-up round), recording wall ms and this process's
    CPU ms (all its threads) per call. On a shared machine a long call is preempted more often than a
    short one, so wall-time ratios flatter short stages; CPU time does not depend on the other jobs."""
    names = list(fns)
    for n in names:
        fns[n]()
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            time.sleep(settle_s)
            c0, t0 = time.process_time(), time.perf_counter()
            fns[n]()
            wall[n].append((time.perf_counter() - t0) * 1000.0)
            cpu[n].append((time.process_time() - c0) * 1000.0)
    return wall, cpu


def cycle(n: int) -> Iterator[int]:
    i = 0
    while True:
        yield i % n
        i += 1


def size_stages(
    tr: Any, graph_up: Any, det: Any, frames: list[np.ndarray], tmp: Path, tag: str, threads: int
) -> tuple[dict[str, Callable[[], object]], dict[str, int], dict[str, Any]]:
    """The stage functions for one input size (each call = one frame, cycling through ``frames``), the
    frames each call covers (decode/encode run the whole clip) and what the frames held."""
    from edgecgl.compose import expand_box, letterbox, paste_instances
    from edgecgl.pipeline import PipelineConfig

    pcfg = PipelineConfig()
    n = len(frames)
    clip = write_clip(tmp / f"{tag}.mp4", frames)
    dets = [[d for d in det(f) if d.box[2] > d.box[0]] for f in frames]  # also warms the tracker
    windows = [
        [expand_box(d.box, pcfg.context, f.shape[:2]) for d in ds] for ds, f in zip(dets, frames, strict=True)
    ]
    canvases = [letterbox(f, tr.frame_size) for f in frames]
    lows = [tr._generate(c[None], "global", tr.style[None])[0] for c, _ in canvases]
    outs = []
    for f, (c, lb), lo in zip(frames, canvases, lows, strict=True):
        (ih, iw), t, x = lb.inner_hw, lb.top, lb.left
        outs.append(tr.upsampler(f, c[t : t + ih, x : x + iw], lo[:, t : t + ih, x : x + iw]))
    crops = [tr.translate_windows(f, w) for f, w in zip(frames, windows, strict=True)]
    from edgecgl.compose import crop_instances

    inst_low = []
    for f, w in zip(frames, windows, strict=True):
        if w:
            cr = crop_instances(f, w, tr.instance_size)
            inst_low.append((cr, tr._generate(cr, "instance", None)))
        else:
            inst_low.append((None, None))
    it = {k: cycle(n) for k in ("det", "lb", "net", "up", "upg", "inet", "iup", "paste")}

    def upsample(up: Any, i: int) -> np.ndarray:
        (c, lb), lo, f = canvases[i], lows[i], frames[i]
        (ih, iw), t, x = lb.inner_hw, lb.top, lb.left
        return up(f, c[t : t + ih, x : x + iw], lo[:, t : t + ih, x : x + iw])

    def inst_network(i: int) -> None:
        if windows[i]:
            cr = crop_instances(frames[i], windows[i], tr.instance_size)
            tr._generate(cr, "instance", None)

    def inst_upsample(i: int) -> list[np.ndarray]:
        cr, lo = inst_low[i]
        f = frames[i]
        return [
            tr.upsampler(f[y1:y2, x1:x2], s, low)
            for (x1, y1, x2, y2), s, low in zip(
                windows[i], cr if cr is not None else [], lo if lo is not None else [], strict=True
            )
        ]

    def paste(i: int) -> np.ndarray:
        if not windows[i]:
            return outs[i]
        return paste_instances(
            outs[i], crops[i], windows[i], [d.box for d in dets[i]], pcfg.min_feather, pcfg.harmonize
        )

    fns: dict[str, Callable[[], object]] = {
        "decode": lambda: decode_all(clip),
        "detect": lambda: det(frames[next(it["det"])]),
        "letterbox": lambda: to_nchw(letterbox(frames[next(it["lb"])], tr.frame_size)[0]),
        "network": lambda: tr._generate(canvases[next(it["net"])][0][None], "global", tr.style[None]),
        "upsample": lambda: upsample(tr.upsampler, next(it["up"])),
        "upsample graph": lambda: upsample(graph_up, next(it["upg"])),
        "instance network": lambda: inst_network(next(it["inet"])),
        "instance upsample": lambda: inst_upsample(next(it["iup"])),
        "paste": lambda: paste(next(it["paste"])),
        "encode": lambda: encode_all(outs, tmp / f"{tag}-out.mp4", threads),
    }
    per_call = {k: (n if k in ("decode", "encode") else 1) for k in fns}
    held = {
        "frames": n,
        "instances_per_frame": round(sum(len(w) for w in windows) / n, 2),
        "window_area_share": round(
            sum((x2 - x1) * (y2 - y1) for w in windows for x1, y1, x2, y2 in w)
            / (n * frames[0].shape[0] * frames[0].shape[1]),
            4,
        ),
    }
    return {f"{tag} {k}": v for k, v in fns.items()}, {f"{tag} {k}": v for k, v in per_call.items()}, held


def stages(args: argparse.Namespace) -> None:
    from edgecgl.backends.onnxruntime import OnnxRuntimeBackend
    from edgecgl.bundle import load_bundle
    from edgecgl.detect import DetectorConfig, load_detector
    from edgecgl.translate import Translator
    from edgecgl.upsample import Upsampler

    if not CLIP.is_file() or not DETECTOR.is_file():
        raise SystemExit(f"needs the real clip {CLIP} and {DETECTOR} (EDGECGL_ASSETS)")
    size = (256, 512)
    bpath = toy_bundle("small", size)
    bundle = load_bundle(bpath)
    tmp = Path(tempfile.mkdtemp(prefix="upsampler_stages_"))
    load0 = load_average()
    by_threads = []
    for threads in (int(t) for t in args.threads.split(",")):
        set_threads(threads)
        be = OnnxRuntimeBackend(bundle, "cpu", threads=threads)
        tr = Translator(be, bundle, "night", frame_size=size)
        if tr.upsampler.cpu is None:
            raise SystemExit("the CPU path did not engage (see the log): nothing to measure")
        graph_up = Upsampler(bundle, be, cpu_path=False)
        fns: dict[str, Callable[[], object]] = {}
        per_call: dict[str, int] = {}
        held: dict[str, Any] = {}
        for tag, hw in SIZES.items():
            det = load_detector(DETECTOR, DetectorConfig())
            f, c, h = size_stages(tr, graph_up, det, clip_frames(args.frames, hw), tmp, tag, threads)
            fns |= f
            per_call |= c
            held[tag] = h
        t0 = time.perf_counter()
        wall_ms, cpu_ms = time_wall_cpu(fns, args.repeats)
        wall = time.perf_counter() - t0
        result: dict[str, Any] = {"threads": threads, "wall_s": round(wall, 1)}
        for clock, ms in (("wall", wall_ms), ("cpu", cpu_ms)):
            per_frame = {k: [v / per_call[k] for v in vals] for k, vals in ms.items()}
            result[f"stages_ms_per_frame_{clock}"] = {k: summarize(v) for k, v in per_frame.items()}
            result[f"ratios_{clock}"] = ratios = {}
            for tag in SIZES:
                med = {
                    s.removeprefix(f"{tag} "): statistics.median(v)
                    for s, v in per_frame.items()
                    if s.startswith(tag)
                }
                cost = med["upsample"] + med["instance upsample"] + med["paste"]
                ratios[tag] = {
                    "upsample_paste_ms": round(cost, 2),
                    "network_ms": round(med["network"], 2),
                    "over_network": round(cost / med["network"], 4),
                    "over_network_with_instances": round(
                        cost / (med["network"] + med["instance network"]), 4
                    ),
                    "graph_path_over_network": round(
                        (med["upsample graph"] + med["instance upsample"] + med["paste"]) / med["network"], 4
                    ),
                    "met_15_percent": cost <= 0.15 * med["network"],
                    **held[tag],
                }
                log(
                    f"{threads} thread(s) {clock} {tag}: upsample+paste {cost:.1f} ms / network "
                    f"{med['network']:.1f} ms = {100 * cost / med['network']:.1f}%  ("
                    + ", ".join(f"{k} {v:.1f}" for k, v in med.items())
                    + ")"
                )
        by_threads.append(result)
    write_results(
        args.name,
        {
            "machine": machine_info(),
            "command": "python -m benchmarks.upsampler_cost --stages "
            + f"--threads {args.threads} --repeats {args.repeats} --frames {args.frames} --name {args.name}",
            "bundle": f"small {size[0]}x{size[1]} (random init), upsampler {bundle.upsampler}",
            "clip": f"{CLIP.name}, first {args.frames} frames resized to 720p / 1080p",
            "load_average_before": load0,
            "load_average_after": load_average(),
            "repeats": args.repeats,
            "by_threads": by_threads,
        },
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--modes", default="color,channel")
    ap.add_argument("--stages", action="store_true", help="per-stage cost next to the network")
    ap.add_argument("--variants", action="store_true", help="same-math variants of the full-resolution step")
    ap.add_argument("--frames", type=int, default=8, help="--stages: clip frames per size")
    ap.add_argument("--name", default="")
    args = ap.parse_args(argv)
    default = (
        "upsampler_stages" if args.stages else "upsampler_variants" if args.variants else "upsampler_cost"
    )
    args.name = args.name or default
    stages(args) if args.stages else variants(args) if args.variants else paths(args)


if __name__ == "__main__":
    main()
