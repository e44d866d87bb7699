"""``edgecgl video`` end to end vs the model alone at the same working resolution, per-stage times, memory.

Blocks alternate so both sides see similar load: model-only, video without instances, model-only, video
with the YOLO detector and instance crops, model-only. Model-only is the translator's network work for one
frame (content encoder + generator, batch 1) on the same ONNX Runtime CPU backend and thread count that
``edgecgl video`` uses (ORT's default: one thread per core). The video runs are the real CLI in a
subprocess (``--stats-json`` gives its wall time and per-stage p50/p95); the child's resident memory is
sampled every 0.25 s, so a leak shows as growth between the first and last quarters of the run.

``--detect-every 1,3`` runs the detector once per N (``edgecgl video --detect-every N``). ``--threads 1,2``
instead runs ``edgecgl video``'s own loop in process (``translate_video``, the pipeline the CLI builds),
with ONNX Runtime and torch (YOLO) at that many threads, alternating with the model-only blocks of the
same backend: the CLI has no thread option (ORT's default is one thread per core).

``--long N`` instead loops the real clip into an N-frame clip and only watches memory (tiny preset at a
small working size, so thousands of frames fit in minutes on two cores).

    python -m benchmarks.pipeline --preset small --max-frames 120
    python -m benchmarks.pipeline --preset small --max-frames 40 --detect-every 1,3
    python -m benchmarks.pipeline --preset small --max-frames 40 --detect-every 1,3 --threads 1,2
    python -m benchmarks.pipeline --preset small --max-frames 40 --detect-every 2 --threads 2 --overlap \
        --detector-models yolov8n-coco.pt,yolov8n-coco.onnx,yolov8n-coco.onnx@1 --rounds 3
    python -m benchmarks.pipeline --preset small --max-frames 40 --detect-every 2 --threads 2 --workers 1,2 \
        --overlap --rounds 3                                   # edgecgl video --workers (frames at once)
    python -m benchmarks.pipeline --long 3000 --preset tiny --size 128x256
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ASSETS, ROOT, load_average, log, toy_bundle, write_results
from edgecgl.backends.onnxruntime import OnnxRuntimeBackend
from edgecgl.bench import machine_info, summarize
from edgecgl.bundle import load_bundle
from edgecgl.translate import Translator

CLIP = ASSETS / "video" / "highway_960x540_audio.mp4"
DETECTOR = ASSETS / "models" / "yolov8n-coco.pt"


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def run_video(args: list[str], stats: Path) -> dict[str, Any]:
    """The real CLI in a subprocess; returns its stats plus sampled memory and wall time."""
    cmd = [sys.executable, "-m", "edgecgl", "-q", "video", *args, "--stats-json", str(stats), "--overwrite"]
    samples: list[tuple[float, float]] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def watch() -> None:
        while proc.poll() is None:
            m = rss_mb(proc.pid)
            if m is not None:
                samples.append((time.perf_counter() - t0, m))
            time.sleep(0.25)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    out, err = proc.communicate()
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"edgecgl video failed ({proc.returncode}): {err[-2000:]}")
    res = json.loads(stats.read_text())
    res["process_wall_s"] = round(time.perf_counter() - t0, 2)
    res["memory"] = memory_profile(samples)
    res["command"] = "edgecgl video " + " ".join(args)
    return res


def memory_profile(samples: list[tuple[float, float]]) -> dict[str, Any]:
    """Peak RSS and the growth between the median of the 2nd quarter and of the last quarter of the run."""
    if len(samples) < 8:
        return {"samples": len(samples)}
    mb = np.array([m for _, m in samples])
    q = len(mb) // 4
    early, late = float(np.median(mb[q : 2 * q])), float(np.median(mb[-q:]))
    return {
        "samples": len(samples),
        "peak_mb": round(float(mb.max()), 1),
        "q2_median_mb": round(early, 1),
        "q4_median_mb": round(late, 1),
        "growth_mb": round(late - early, 1),
        "trace_mb": [round(float(v), 1) for v in mb[:: max(1, len(mb) // 60)]],
    }


def model_only_block(tr: Translator, frames: list[np.ndarray], n: int) -> list[float]:
    """ms of the network's per-frame work (letterboxed canvas in, no pre/post processing), n calls."""
    from edgecgl.compose import letterbox, to_nchw

    xs = [to_nchw(letterbox(f, tr.frame_size)[0]) for f in frames]
    be = tr.backend
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        be.generate(be.encode_content(xs[i % len(xs)]), tr.style[None], tr.domain_onehot)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def model_only_parallel(tr: Translator, frames: list[np.ndarray], n: int, workers: int) -> list[float]:
    """Like ``model_only_block`` with ``workers`` threads calling the network at once (as ``edgecgl
    video --workers`` does): per block of ``workers`` calls, the wall ms divided by ``workers``, so the
    values are ms per frame of throughput, comparable with one stream's."""
    if workers == 1:
        return model_only_block(tr, frames, n)
    out: list[float] = []
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(n):
            t0 = time.perf_counter()
            list(pool.map(lambda i: model_only_block(tr, frames[i:] + frames[:i], 1), range(workers)))
            out.append((time.perf_counter() - t0) * 1000.0 / workers)
    return out


def clip_frames(n: int) -> list[np.ndarray]:
    import av

    with av.open(str(CLIP)) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0), strict=False)]


def loop_clip(dst: Path, frames_out: int, size: tuple[int, int] | None = None) -> Path:
    """The real clip re-encoded in a loop to ``frames_out`` frames (fast x264 settings)."""
    import av

    frames = clip_frames(10_000)
    if size:
        import cv2

        frames = [cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_AREA) for f in frames]
    h, w = frames[0].shape[:2]
    with av.open(str(dst), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(frames_out):
            vf = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")
            vf.pts = i
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
    return dst


def respin(be: OnnxRuntimeBackend, spin: bool, threads: int = 0) -> OnnxRuntimeBackend:
    """Rebuild the backend's sessions with ORT's intra-op spin-waiting on or off (an experiment: the runtime
    has no option for it yet)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    new = {k: ort.InferenceSession(k, so, providers=["CPUExecutionProvider"]) for k in be._sessions}
    old_to_new = {id(v): new[k] for k, v in be._sessions.items()}
    be._sessions = new
    be._by_role = {r: old_to_new[id(v)] for r, v in be._by_role.items()}
    return be


def spin_ab(bpath: Path, size: tuple[int, int], frames: int, rounds: int, tmp: Path) -> dict[str, Any]:
    """edgecgl video's own loop (translate_video, in process, no instances) with ORT spin-waiting on vs
    off, alternating runs on the real clip."""
    from edgecgl.pipeline import Pipeline
    from edgecgl.video import VideoOptions, translate_video

    bundle = load_bundle(bpath)
    pipes = {}
    for spin in (True, False):
        be = respin(OnnxRuntimeBackend(bundle, "cpu"), spin)
        pipes["spin on" if spin else "spin off"] = Pipeline(Translator(be, bundle, "night", frame_size=size))
    fps: dict[str, list[float]] = {k: [] for k in pipes}
    stages: dict[str, list[dict]] = {k: [] for k in pipes}
    for r in range(rounds):
        for name in list(pipes)[r % 2 :] + list(pipes)[: r % 2]:
            time.sleep(0.5)
            res = translate_video(
                CLIP, tmp / "ab.mp4", pipes[name], VideoOptions(max_frames=frames), overwrite=True
            )
            fps[name].append(res.stats.summary()["fps"])  # type: ignore[arg-type]
            stages[name].append(res.stats.summary()["stages_ms"])  # type: ignore[arg-type]
            log(f"  {name}: {fps[name][-1]} frames/s")
    return {
        "frames_per_run": frames,
        "rounds": rounds,
        "fps": fps,
        "fps_median": {k: statistics.median(v) for k, v in fps.items()},
        "stages_ms_last": {k: v[-1] for k, v in stages.items()},
    }


def inprocess(
    bpath: Path,
    size: tuple[int, int],
    frames: int,
    threads: int,
    ns: list[int],
    calls: int,
    tmp: Path,
    overlap: bool = False,
    detectors: tuple[str, ...] = (str(DETECTOR),),
    rounds: int = 1,
    only_overlap: bool = False,
    workers: tuple[int, ...] = (1,),
) -> dict[str, Any]:
    """translate_video in process at ``threads`` (ORT intra-op and torch), alternating with model-only blocks:
    no instances, then the YOLO detector at each N of ``ns`` (and, with ``overlap``, again with the
    instance crops on their own thread: ``--overlap-instances``), for each detector spec in turn. A spec is
    a model file, ``FILE@N`` (the detector's runtime at N threads: torch for a .pt, ONNX Runtime without
    spin-wait for an .onnx; plain FILE: ``threads`` / one per core) or ``FILE@ultralytics`` (the session as Ultralytics opens it, spinning);
    runs after the first spec are named with its tag (``_onnx``, ``_onnx@1``). With ``rounds`` > 1 the whole
    plan repeats in a rotated order and each run reports its median frames/s. Each of ``workers`` > 1 runs
    the plan again with ``PipelineConfig.workers`` frames at once (runs named ``_workers{W}``), each on
    ``threads // W`` ORT threads, beside its own model-only blocks (W calls at once, ms per frame of
    throughput); ``e2e_over_model_only`` stays against one stream at ``threads``, ``e2e_over_best_model_only``
    is against the fastest model-only of the run."""
    import torch
    from ultralytics import YOLO

    from edgecgl.detect import Detector, DetectorConfig, load_detector
    from edgecgl.pipeline import Pipeline, PipelineConfig
    from edgecgl.video import VideoOptions, translate_video

    torch.set_num_threads(threads)
    bundle = load_bundle(bpath)
    trs = {
        w: Translator(
            OnnxRuntimeBackend(bundle, "cpu", threads=max(1, threads // w)), bundle, "night", frame_size=size
        )
        for w in workers
    }
    imgs = clip_frames(8)
    blocks: dict[int, list[float]] = {}
    for w, t in trs.items():
        model_only_parallel(t, imgs, 2, w)  # warm-up
        blocks[w] = model_only_parallel(t, imgs, calls, w)

    def detector(spec: str, n: int) -> Detector:
        path, _, opt = spec.partition("@")
        n_threads = int(opt) if opt.isdigit() else 0
        torch.set_num_threads(n_threads if n_threads and path.endswith(".pt") else threads)  # for this run
        cfg = DetectorConfig(frames_per_call=n, ort_threads=n_threads)
        det = Detector(YOLO(path, task="detect"), cfg) if opt == "ultralytics" else load_detector(path, cfg)
        det.model.predict(np.ascontiguousarray(imgs[0][..., ::-1]), verbose=False)  # warm-up, no tracker
        return det

    one: list[tuple[str, int, bool, str | None]] = [("no_instances", 0, False, None)]
    for i, spec in enumerate(detectors):
        path, _, opt = spec.partition("@")
        tag = "" if i == 0 else "_" + Path(path).suffix.lstrip(".") + (f"@{opt}" if opt else "")
        one += [(f"detector_every_{n}{tag}", n, False, spec) for n in ns]
        if overlap:
            one += [(f"detector_every_{n}_overlap{tag}", n, True, spec) for n in ns]
    if only_overlap:
        one = [p for p in one if p[2] or not p[1]]
    plan = [
        (name + (f"_workers{w}" if w > 1 else ""), n, ov, spec, w)
        for w in workers
        for name, n, ov, spec in one
    ]
    runs: dict[str, Any] = {}
    fps: dict[str, list[float]] = {name: [] for name, *_ in plan}
    for r in range(rounds):
        for name, n, ov, spec, w in plan[r % len(plan) :] + plan[: r % len(plan)]:
            det = detector(spec, n) if n and spec else None
            cfg = PipelineConfig(detect_every=max(1, n), overlap_instances=ov, workers=w)
            pipe = Pipeline(trs[w], det, cfg)
            res = translate_video(CLIP, tmp / "ip.mp4", pipe, VideoOptions(max_frames=frames), overwrite=True)
            summary = res.stats.summary()
            fps[name].append(summary["fps"])  # type: ignore[arg-type]
            runs[name] = {
                **summary,
                "fps": statistics.median(fps[name]),
                "fps_rounds": fps[name],
                "detect_every": n or None,
                "overlap_instances": ov,
                "detector": spec,
                "workers": w,
            }
            for bw, t in trs.items():
                blocks[bw] += model_only_parallel(t, imgs, calls, bw)
            log(f"  {threads} thread(s) round {r + 1} {name}: {summary['fps']} frames/s")
    model_ms = {w: statistics.median(v) for w, v in blocks.items()}
    best_ms = min(model_ms.values())
    for run in runs.values():
        run["e2e_over_model_only"] = round(run["fps"] * model_ms[min(workers)] / 1000.0, 3)
        if len(workers) > 1:
            run["e2e_over_best_model_only"] = round(run["fps"] * best_ms / 1000.0, 3)
    res: dict[str, Any] = {
        "threads": threads,
        "rounds": rounds,
        "model_only": {**summarize(blocks[min(workers)]), "fps": round(1000.0 / model_ms[min(workers)], 3)},
        "runs": runs,
    }
    if len(workers) > 1:
        res["model_only_workers"] = {
            str(w): {
                **summarize(v),
                "fps": round(1000.0 / model_ms[w], 3),
                "threads_each": max(1, threads // w),
            }
            for w, v in blocks.items()
        }
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--size", default="256x512", help="working resolution HxW")
    ap.add_argument("--max-frames", type=int, default=120)
    ap.add_argument("--model-calls", type=int, default=8, help="model-only calls per block")
    ap.add_argument("--long", type=int, default=0, help="memory run on an N-frame looped clip")
    ap.add_argument("--long-size", default="270x480", help="frame size of the looped clip")
    ap.add_argument("--detector", action="store_true", help="--long: with the YOLO detector")
    ap.add_argument("--spin-ab", type=int, default=0, help="rounds of ORT spin-wait on/off in-process runs")
    ap.add_argument("--detect-every", default="1,3", help="comma list of N for the detector runs")
    ap.add_argument("--threads", default="", help="comma list: in-process runs at these thread counts")
    ap.add_argument(
        "--overlap", action="store_true", help="--threads: each detector run again with --overlap-instances"
    )
    ap.add_argument(
        "--detector-models",
        default=str(DETECTOR),
        help="--threads: comma list of detector specs run in turn: FILE, FILE@N (torch / ORT at N threads), "
        "FILE@ultralytics (the .onnx session as Ultralytics opens it)",
    )
    ap.add_argument(
        "--only-overlap", action="store_true", help="--threads: detector runs with the overlap only"
    )
    ap.add_argument("--rounds", type=int, default=1, help="--threads: repeat the runs, report medians")
    ap.add_argument(
        "--workers", default="1", help="--threads: comma list of frames at once (edgecgl video --workers)"
    )
    ap.add_argument("--out", default="")
    a = ap.parse_args(argv)
    if not CLIP.is_file():
        raise SystemExit(f"needs the real clip {CLIP} (EDGECGL_ASSETS)")
    size = tuple(int(v) for v in a.size.lower().split("x"))
    bpath = toy_bundle(a.preset, size)  # type: ignore[arg-type]
    tmp = Path(tempfile.mkdtemp(prefix="bench-video-"))
    command = "python -m benchmarks.pipeline " + " ".join(sys.argv[1:] if argv is None else argv)
    ns = [int(v) for v in a.detect_every.split(",") if v]
    if a.threads:
        load0 = load_average()
        per = []
        for t in [int(v) for v in a.threads.split(",")]:
            dets = tuple(v for v in a.detector_models.split(",") if v)
            per.append(
                inprocess(
                    bpath,  # type: ignore[arg-type]
                    size,  # type: ignore[arg-type]
                    a.max_frames,
                    t,
                    ns,
                    a.model_calls,
                    tmp,
                    a.overlap or a.only_overlap,
                    dets,
                    a.rounds,
                    a.only_overlap,
                    tuple(int(v) for v in a.workers.split(",") if v),
                )
            )
            for name, r in per[-1]["runs"].items():
                log(f"{t} thread(s) {name}: {100 * r['e2e_over_model_only']:.1f}% of model-only")
        write_results(
            a.out or f"pipeline_threads_{a.preset}",
            {
                "machine": machine_info(),
                "command": command,
                "preset": a.preset,
                "size": list(size),
                "instance_size": list(load_bundle(bpath).instance_size),
                "clip": CLIP.name,
                "load_average_before": load0,
                "load_average_after": load_average(),
                "by_threads": per,
            },
        )
        return
    if a.spin_ab:
        load0 = load_average()
        res = spin_ab(bpath, size, a.max_frames, a.spin_ab, tmp)  # type: ignore[arg-type]
        log(f"spin on vs off: {res['fps_median']}")
        write_results(
            a.out or f"pipeline_spin_{a.preset}",
            {
                "machine": machine_info(),
                "command": command,
                "preset": a.preset,
                "size": list(size),
                "load_average_before": load0,
                "load_average_after": load_average(),
                **res,
            },
        )
        return
    if a.long:
        long_hw = tuple(int(v) for v in a.long_size.lower().split("x"))
        log(f"making a {a.long}-frame clip at {long_hw}")
        clip = loop_clip(tmp / "long.mp4", a.long, long_hw)  # type: ignore[arg-type]
        inst = ["--detector", str(DETECTOR)] if a.detector else ["--no-instances"]
        load0 = load_average()
        res = run_video(
            [
                str(clip),
                "--to",
                "night",
                "--bundle",
                str(bpath),
                "--size",
                a.size,
                *inst,
                "--out",
                str(tmp / "o.mp4"),
            ],
            tmp / "s.json",
        )
        log(f"long run: {res['frames']} frames, {res['fps']} fps, memory {res['memory']}")
        write_results(
            a.out or f"pipeline_memory_{a.long}",
            {
                "machine": machine_info(),
                "command": command,
                "preset": a.preset,
                "size": list(size),
                "clip_size": list(long_hw),
                "load_average_before": load0,
                "load_average_after": load_average(),
                "video": res,
            },
        )
        return
    bundle = load_bundle(bpath)
    tr = Translator(OnnxRuntimeBackend(bundle, "cpu"), bundle, "night", frame_size=size)  # type: ignore[arg-type]
    frames = clip_frames(8)
    model_only_block(tr, frames, 2)  # warm-up
    blocks: list[float] = []
    runs: dict[str, Any] = {}
    load0 = load_average()
    base = [
        str(CLIP),
        "--to",
        "night",
        "--bundle",
        str(bpath),
        "--size",
        a.size,
        "--max-frames",
        str(a.max_frames),
    ]
    blocks += model_only_block(tr, frames, a.model_calls)
    runs["no_instances"] = run_video([*base, "--no-instances", "--out", str(tmp / "a.mp4")], tmp / "a.json")
    blocks += model_only_block(tr, frames, a.model_calls)
    for n in ns:
        runs[f"detector_every_{n}"] = run_video(
            [*base, "--detector", str(DETECTOR), "--detect-every", str(n), "--out", str(tmp / "b.mp4")],
            tmp / "b.json",
        )
        blocks += model_only_block(tr, frames, a.model_calls)
    model_ms = statistics.median(blocks)
    model_fps = 1000.0 / model_ms
    for name, r in runs.items():
        r["e2e_over_model_only"] = round(r["fps"] / model_fps, 3)
        st = r["stages_ms"]
        log(
            f"{name}: {r['fps']} fps e2e vs {model_fps:.2f} model-only -> {100 * r['fps'] / model_fps:.1f}%; "
            + ", ".join(f"{k} {v['p50_ms']:.1f}" for k, v in st.items())
            + f"; memory {r['memory'].get('peak_mb')} MB"
        )
    write_results(
        a.out or f"pipeline_{a.preset}",
        {
            "machine": machine_info(),
            "command": command,
            "preset": a.preset,
            "size": list(size),
            "clip": CLIP.name,
            "load_average_before": load0,
            "load_average_after": load_average(),
            "model_only": {**summarize(blocks), "fps": round(model_fps, 3)},
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
