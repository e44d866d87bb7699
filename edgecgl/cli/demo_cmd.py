"""``edgecgl demo`` (= ``make demo``): the whole chain offline, on generated data, in minutes on a CPU.

SynthWeather set -> train synth-tiny for a time budget -> FP32 and INT8 bundles -> translate a
synthetic clip and (where EDGECGL_ASSETS has it) the real dashcam clip at its full resolution (through
the bundle's guided upsampler) -> ``demo/`` with the videos, a still of the real clip (input above,
translation below), a contact sheet and a summary. It calls the other stages' Python APIs, imported lazily here.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import typer

from edgecgl.cli.common import log
from edgecgl.errors import EdgecglError
from edgecgl.outdir import holding

SIZE = (64, 128)  # synth-tiny's working resolution
CLIP_SIZE = (128, 256)  # the synthetic clip is rendered larger than the network sees it


def assets_dir() -> Path | None:
    env = os.environ.get("EDGECGL_ASSETS")
    here = Path(__file__).resolve().parents[2] / ".." / "shared" / "assets"
    for p in ([Path(env)] if env else []) + [here]:
        if p.is_dir():
            return p.resolve()
    return None


class _Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.steps: list[tuple[str, float]] = []
        self._last = self.t0

    def lap(self, name: str) -> float:
        now = time.perf_counter()
        self.steps.append((name, now - self._last))
        self._last = now
        return now - self.t0


def train_for(minutes: float, data: Path, runs: Path, say: Callable[[str], None]) -> Path:
    """Train synth-tiny for about ``minutes``: a short first leg measures the speed, a resumed leg fills the rest."""
    from edgecgl.train.launch import train

    budget = max(0.0, minutes * 60.0)
    t0 = time.perf_counter()
    first = 20
    sets = ["log.every=10", "log.sample_every=0", "log.checkpoint_every=100000", "log.style_stats_images=32"]
    res = train(
        "synth-tiny", data=f"folder:{data}", out=runs, iters=first, sets=sets, log=say, progress=False
    )
    spent = time.perf_counter() - t0
    it_s = 0.85 * (
        float(res.last_metrics.get("it_s") or 0.0) or first / max(spent, 1e-6)
    )  # margin: shared CPUs
    overhead = max(0.0, spent - first / it_s)  # dataset, model, style statistics, saving
    more = int((budget - spent - overhead) * it_s)
    if more > 10:
        say(f"training {more} more iterations ({it_s:.2f} it/s) to fill the {minutes:g} min budget")
        res = train(
            "synth-tiny",
            data=f"folder:{data}",
            out=runs,
            iters=first + more,
            resume=True,
            resume_dir=res.run_dir,
            log=say,
            progress=False,
        )
    return res.run_dir / "checkpoints" / "model.pt"


def synthetic_clip(path: Path, frames: int, fps: int, seed: int = 7) -> list[list[tuple[float, ...]]]:
    """A moving SynthWeather scene (sunny) with a sine AAC track; returns the true boxes per frame."""
    import fractions

    import av

    from edgecgl.train.data.synth import make_scene, render_scene

    scene = make_scene(seed)
    boxes_per_frame = []
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = CLIP_SIZE[1], CLIP_SIZE[0], "yuv420p"
        vs.options = {"crf": "18", "preset": "veryfast"}
        aud = out.add_stream("aac", rate=16000)
        aud.layout = "mono"
        for i in range(frames):
            img, boxes = render_scene(scene, "sunny", CLIP_SIZE, t=i / fps)
            boxes_per_frame.append([tuple(float(v) for v in b) for b in np.asarray(boxes).reshape(-1, 4)])
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            vf.pts, vf.time_base = i, fractions.Fraction(1, fps)
            out.mux(vs.encode(vf))
        total = int(16000 * frames / fps)
        for s in range(0, total, 1024):
            t = np.arange(s, s + 1024) / 16000
            af = av.AudioFrame.from_ndarray(
                (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[None], format="fltp", layout="mono"
            )
            af.sample_rate, af.pts = 16000, s
            out.mux(aud.encode(af))
        out.mux(aud.encode(None))
        out.mux(vs.encode(None))
    return boxes_per_frame


class _KnownBoxes:
    """The synthetic clip's true boxes as the detector (no detector weights needed offline)."""

    def __init__(self, boxes: list[list[tuple[float, ...]]]) -> None:
        self.boxes, self.i = boxes, 0

    def __call__(self, frame: np.ndarray) -> list:
        from edgecgl.detect import Detection

        bs = self.boxes[self.i] if self.i < len(self.boxes) else []
        self.i += 1
        big = [b for b in bs if b[2] - b[0] >= 8 and b[3] - b[1] >= 8]
        return [Detection(tuple(b), "car", 1.0, None) for b in big[:8]]  # type: ignore[arg-type]


def _write_image(path: Path, rgb: np.ndarray, params: list[int] | None = None) -> None:
    """Encode, then write atomically: an interrupted demo never leaves a half-written picture."""
    import cv2

    from edgecgl.atomic import write_bytes_atomic

    ok, buf = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params or [])
    if not ok:
        raise EdgecglError(f"cannot encode {path.name}")
    write_bytes_atomic(path, buf.tobytes())


def contact_sheet(
    rows: list[tuple[str, list[np.ndarray]]], header: list[str], cell: tuple[int, int]
) -> np.ndarray:
    """A labelled grid: one row per input, one column per output."""
    import cv2

    from edgecgl.compose import letterbox

    h, w = cell
    top = 18
    sheet = np.full((top + len(rows) * (h + 4), len(header) * (w + 4), 3), 255, np.uint8)
    for j, name in enumerate(header):
        cv2.putText(
            sheet, name, (j * (w + 4) + 4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA
        )
    for i, (_, imgs) in enumerate(rows):
        for j, img in enumerate(imgs):
            y, x = top + i * (h + 4), j * (w + 4)
            sheet[y : y + h, x : x + w] = letterbox(img, (h, w))[0]
    return sheet


DEMO_KIND = "edgecgl demo"  # summary.json's "kind": how --overwrite knows a folder is a demo's
DEMO_ENTRIES = frozenset(
    {
        "data",
        "runs",
        "bundles",
        "calib.npz",
        "videos",
        "real_night_still.jpg",
        "contact_sheet.png",
        "summary.json",
    }
)


def is_demo_folder(folder: Path) -> bool:
    """Whether ``folder`` is an earlier demo output: only the demo's own entries, and its summary.json
    (or, for a demo interrupted before this check existed, its SynthWeather set)."""
    if not {p.name for p in folder.iterdir()} <= DEMO_ENTRIES:
        return False
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return (folder / "data" / "synth" / "pairs.json").is_file()
    return isinstance(summary, dict) and (
        summary.get("kind") == DEMO_KIND or {"out", "steps", "files"} <= summary.keys()
    )


def not_a_demo(folder: Path) -> str | None:
    """Why ``folder`` is not an earlier demo output, for --overwrite's refusal (None when it is one)."""
    if is_demo_folder(folder):
        return None
    return holding(folder, lambda p: p.name in DEMO_ENTRIES, "it has no demo summary.json")


def _retarget(work: Path, final: Path) -> None:
    """Point the paths the run recorded (training config, bundle manifests, summary) at the final folder:
    the demo is built under a temporary name and renamed at the end."""
    pairs = [(str(work), str(final)), (json.dumps(str(work))[1:-1], json.dumps(str(final))[1:-1])]
    for p in work.rglob("*"):
        if p.suffix in (".json", ".yaml", ".jsonl") and p.is_file():
            text = p.read_text(encoding="utf-8")
            new = text
            for a, b in pairs:
                new = new.replace(a, b)
            if new != text:
                p.write_text(new, encoding="utf-8")


def run_demo(
    out: Path,
    minutes: float = 4.0,
    scenes: int = 160,
    clip_frames: int = 50,
    real_frames: int = 100,
    overwrite: bool = False,
    say: Callable[[str], None] = log,
) -> dict:
    """Check ``out`` before any work, build the demo under a temporary name beside it and rename it into
    place at the end: an interrupted demo leaves no half-built folder, and --overwrite replaces only an
    earlier demo (never the current folder, one above it, or a folder holding anything else)."""
    from edgecgl.atomic import atomic_dir
    from edgecgl.outdir import check_output_dir

    final = Path(os.path.abspath(out))
    check_output_dir(Path(out), overwrite, "demo folder", not_a_demo)
    with atomic_dir(final) as work:
        summary = _build_demo(
            work, minutes, scenes, clip_frames, real_frames, lambda m: say(m.replace(str(work), str(final)))
        )
        summary["out"] = str(final)
        (work / "summary.json").write_text(json.dumps(summary, indent=1))
        _retarget(work, final)
    return json.loads((final / "summary.json").read_text(encoding="utf-8"))


def _build_demo(
    out: Path,
    minutes: float,
    scenes: int,
    clip_frames: int,
    real_frames: int,
    say: Callable[[str], None],
) -> dict:
    from edgecgl.backends import select_backend
    from edgecgl.bundle import load_bundle
    from edgecgl.calib.sample import sample_calibration, save_calib
    from edgecgl.compose import resize
    from edgecgl.detect import DetectorConfig, load_detector
    from edgecgl.domains import DOMAINS
    from edgecgl.export.bundle import write_bundle
    from edgecgl.pipeline import Pipeline
    from edgecgl.train.data.synth_writer import write_synth
    from edgecgl.translate import Translator
    from edgecgl.video import VideoOptions, translate_video

    timer = _Timer()
    summary: dict = {"kind": DEMO_KIND, "out": str(out), "steps": {}, "files": {}}

    data = out / "data" / "synth"
    say(f"[1/6] SynthWeather: {scenes} scenes x {len(DOMAINS)} domains at {SIZE[0]}x{SIZE[1]} -> {data}")
    write_synth(data, scenes, seed=0, size=SIZE, workers=2)
    timer.lap("data")

    say(f"[2/6] training synth-tiny for about {minutes:g} min (CPU)")
    ckpt = train_for(minutes, data, out / "runs" / "train", say)
    timer.lap("train")

    say("[3/6] exporting FP32 and INT8 bundles")
    fp32 = write_bundle(ckpt, out / "bundles" / "fp32", "fp32", "onnxslim", pt2=False, log=lambda _m: None)
    calib = out / "calib.npz"
    save_calib(calib, sample_calibration(f"folder:{data}", 64, SIZE, (32, 32), 0, log=lambda _m: None))
    root_log = logging.getLogger()
    level = root_log.level
    root_log.setLevel(logging.ERROR)  # onnxruntime.quantization's generic "consider pre-processing" advice
    try:
        int8 = write_bundle(
            ckpt, out / "bundles" / "int8", "int8", "onnxslim", calib=calib, pt2=False, log=lambda _m: None
        )
    finally:
        root_log.setLevel(level)
    timer.lap("export")

    say("[4/6] translating a synthetic clip (true boxes as instances)")
    vids = out / "videos"
    vids.mkdir(exist_ok=True)
    clip = vids / "synth_sunny.mp4"
    boxes = synthetic_clip(clip, clip_frames, fps=10)
    bundles = {"fp32": load_bundle(fp32), "int8": load_bundle(int8)}
    backends = {k: select_backend(b, "onnxruntime-cpu") for k, b in bundles.items()}
    translators = {(k, d): Translator(backends[k], bundles[k], d) for k in bundles for d in DOMAINS}
    for prec in ("fp32", "int8"):
        dst = vids / f"synth_night_{prec}.mp4"
        r = translate_video(
            clip, dst, Pipeline(translators[(prec, "night")], _KnownBoxes(boxes)), VideoOptions()
        )
        summary["files"][f"synth_night_{prec}"] = str(dst)
        say(f"  {dst} ({r.stats.frames} frames, {r.stats.instances} instances)")
    timer.lap("synthetic clip")

    assets = assets_dir()
    real = assets / "video" / "highway_960x540_audio.mp4" if assets else None
    yolo = assets / "models" / "yolov8n-coco.pt" if assets else None
    real_first = None
    if real is not None and real.is_file():
        say(f"[5/6] translating the real clip {real} ({real_frames} frames) at its full resolution")
        det = load_detector(yolo, DetectorConfig(imgsz=320), log=say) if yolo and yolo.is_file() else None
        dst = vids / "real_night_fp32.mp4"
        best: dict[str, object] = {}

        def keep_still(i: int, x: np.ndarray, res: object) -> None:
            """The first frame, then whichever shows the most pasted instances (for the still)."""
            n = len(res.detections)  # type: ignore[attr-defined]
            if i == 0:
                best.update(first=x.copy())
            if "n" not in best or n > best["n"]:  # type: ignore[operator]
                best.update(n=n, input=x.copy(), output=res.image.copy())  # type: ignore[attr-defined]

        r = translate_video(
            real,
            dst,
            Pipeline(translators[("fp32", "night")], det),
            VideoOptions(max_frames=real_frames),
            on_frame=keep_still,
        )
        real_first = best.get("first")  # type: ignore[assignment]
        if "input" in best:
            import cv2

            still = out / "real_night_still.jpg"
            both = np.concatenate([best["input"], best["output"]], 0)  # type: ignore[list-item]
            _write_image(still, both, [cv2.IMWRITE_JPEG_QUALITY, 88])
            summary["files"]["real_night_still"] = str(still)
        summary["files"]["real_night_fp32"] = str(dst)
        summary["real_clip_stats"] = r.stats.summary()
        say(
            f"  {dst} ({r.stats.frames} frames at {real_first.shape[1]}x{real_first.shape[0]}, "  # type: ignore[union-attr]
            f"{r.stats.instances} instances, audio kept)"
        )
        say(f"  upsample: {translators[('fp32', 'night')].upsample_mode}")
    else:
        say("[5/6] no real clip (EDGECGL_ASSETS not found): skipped")
    timer.lap("real clip")

    say("[6/6] contact sheet")
    from edgecgl.translate import read_image

    val = sorted((data / "sunny").glob("*.png"))[:3]
    inputs = [read_image(p) for p in val] + (
        [resize(real_first, (135, 240))] if real_first is not None else []
    )
    header = ["input"] + [f"{d} fp32" for d in DOMAINS] + ["night int8"]
    rows = []
    for img in inputs:
        outs = [translators[("fp32", d)].translate_frame(img) for d in DOMAINS]
        rows.append(("", [img, *outs, translators[("int8", "night")].translate_frame(img)]))
    sheet = contact_sheet(rows, header, (96, 192))
    import cv2

    sheet_path = out / "contact_sheet.png"
    _write_image(sheet_path, sheet)
    total = timer.lap("contact sheet")
    summary["files"].update(
        contact_sheet=str(sheet_path),
        bundle_fp32=str(fp32),
        bundle_int8=str(int8),
        checkpoint=str(ckpt),
        data=str(data),
        synthetic_clip=str(clip),
    )
    summary["steps"] = {k: round(v, 1) for k, v in timer.steps}
    summary["total_s"] = round(total, 1)
    return summary


def register(app: typer.Typer) -> None:
    @app.command("demo", epilog="Example: edgecgl demo --out demo/ --minutes 4")
    def demo_(
        out: Path = typer.Option(Path("demo"), "--out", "-o", help="Folder for everything the demo makes."),
        minutes: float = typer.Option(4.0, "--minutes", help="Training time budget in minutes."),
        scenes: int = typer.Option(160, "--scenes", help="SynthWeather scenes to generate (x4 domains)."),
        clip_frames: int = typer.Option(50, "--clip-frames", help="Frames of the synthetic clip."),
        real_frames: int = typer.Option(100, "--real-frames", help="Frames of the real clip to translate."),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace an earlier demo folder (never one holding anything else)."
        ),
    ) -> None:
        """Run the whole chain offline: generate data, train, export FP32+INT8, translate clips -> demo/."""
        s = run_demo(out, minutes, scenes, clip_frames, real_frames, overwrite)
        log("steps: " + ", ".join(f"{k} {v}s" for k, v in s["steps"].items()) + f"; total {s['total_s']}s")
        for k, v in s["files"].items():
            typer.echo(f"{k:<26} {v}")
        typer.echo(f"{'summary':<26} {Path(s['out']) / 'summary.json'}")
        log(
            f"next: edgecgl video YOUR.mp4 --to rainy --bundle {s['files']['bundle_fp32']} "
            "--detector yolov8n.pt --out rainy.mp4"
        )
