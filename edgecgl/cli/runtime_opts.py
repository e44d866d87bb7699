"""Options every runtime command shares (video, image, augment) and turning them into a Pipeline.

--bundle (default: the newest bundle under bundles/), --to, --style-seed, --style-spread, --style-ref, --no-instances,
--detector, --conf, --backend, --size, --upsample. Declared once here so the commands cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgecgl.backends.onnxruntime import ort_threads, usable_cpus
from edgecgl.cli.common import log
from edgecgl.errors import EdgecglError

if TYPE_CHECKING:
    import numpy as np

    from edgecgl.brightness import RangeCounts
    from edgecgl.retain import Choice, KeepCounts

BUNDLES_ROOT = Path("bundles")

BUNDLE = typer.Option(None, "--bundle", "-b", help="Bundle folder (default: the newest under bundles/).")
TO = typer.Option(
    ...,
    "--to",
    "-t",
    help="Target domain: one of the bundle's (sunny, night, cloudy, rainy unless it was trained on others).",
)
STYLE_SEED = typer.Option(
    None, "--style-seed", help="Sample the domain's style with this seed (default: its mean)."
)
STYLE_SPREAD = typer.Option(
    1.0,
    "--style-spread",
    min=0.0,
    help="With --style-seed, a style per image or clip, or --style-ref DIR: scale the style's distance from the "
    "domain's mean style (1: the spread seen in training, or the photos' own; >1: more varied looks).",
)
STYLE_PER_IMAGE = typer.Option(
    False,
    "--style-per-image",
    help="Give every image its own style sampled from the domain (seeded by --style-seed and the file "
    "name: reruns repeat it) instead of one style for all. A draw whose picture is darker or brighter than "
    "every photo of the domain the bundle was trained on is redone lighter (half the spread, a quarter, "
    "then the mean).",
)
STYLE_REF = typer.Option(
    None,
    "--style-ref",
    help="Reference image: take the style from it (reference-guided). A folder of photos: each image "
    "takes the style of one of them (a video: one for the clip), drawn by --style-seed and the file name; "
    "a dataset root with a sub-folder per domain uses the target's.",
)
KEEP_OBJECTS = typer.Option(
    False,
    "--keep-objects",
    help="With a sampled style: where the detector loses a near object of the input (box >= 15 % of the "
    "height) in the translation, redraw it lighter (the same draw at half the spread, up to 3 times, then "
    "the mean style; if none keeps them all, the one that kept the most), so the labels stay true of the "
    "picture.",
)
NO_INSTANCES = typer.Option(False, "--no-instances", help="Translate the whole frame only (no detector).")
DETECTOR = typer.Option(
    None,
    "--detector",
    help="Ultralytics model file (.pt/.onnx/.engine/.tflite); default yolo26n.pt (downloads).",
)
CONF = typer.Option(
    0.35,
    "--conf",
    help="Detector confidence an object needs to be translated as an instance; on video a tracked one is "
    "kept while it scores at least 0.1 (so its look does not blink on and off at the threshold).",
)
BACKEND = typer.Option(
    "auto",
    "--backend",
    help="auto|tensorrt|onnxruntime|onnxruntime-cuda|onnxruntime-cpu|openvino-bf16|openvino|torch.",
)
SIZE = typer.Option(None, "--size", help="Working resolution HxW, multiples of 4 (default: the bundle's).")
UPSAMPLE = typer.Option(
    "guided",
    "--upsample",
    help="Back to the input's resolution: guided (the bundle's guided upsampler, keeps the input's "
    "detail), local (guided with a 4x smaller window: keeps more of the network's own shading, a "
    "night's lit road and dark sky; for night copies), residual (guided plus the network's own lights "
    "and glows the guided fit drops), residual-instances (guided frame, residual cars and people) or "
    "resize (bilinear resize of the network's output).",
)
# benchmarks/detect_every.py on the real clip, ByteTrack: box IoU vs every-frame detection 0.87 at N=2, 0.79 at N=3
DEFAULT_DETECT_EVERY = 2
DETECT_EVERY = typer.Option(
    DEFAULT_DETECT_EVERY,
    "--detect-every",
    min=1,
    help="Run the detector on every N-th frame; the tracker predicts the boxes between (1: every frame).",
)
# benchmarks/pipeline.py --overlap, small at 256x512 on the real clip (AMD EPYC), detector every 2nd frame:
# quiet 85 -> 91 % of model-only frames/s at 1 thread, 75 -> 76 % at 2 (no idle core); loaded 81-84 -> 89-95 %
OVERLAP_INSTANCES = typer.Option(
    True,
    "--overlap-instances/--no-overlap-instances",
    help="Translate the instance crops on their own thread, beside the frame's network (ONNX Runtime, "
    "torch; TensorRT runs them after the frame).",
)
# benchmarks/pipeline.py --workers 1,2, small at 256x512 on the real clip (AMD EPYC Zen 4, 2 cores, quiet):
# 2 frames at once on 1 thread each vs 1 frame on 2 threads: 2.52 -> 2.83 frames/s with the detector
AUTO_WORKERS = 2


def resolve_workers(workers: int, cpus: int | None = None) -> int:
    """``--workers``: as given, or for 0 the default (AUTO_WORKERS where there are that many CPUs)."""
    return workers or min(AUTO_WORKERS, cpus or usable_cpus())


WORKERS = typer.Option(
    0,
    "--workers",
    min=0,
    help=f"Frames translated at once, each on 1/N of the CPU cores (ONNX Runtime and OpenVINO on the CPU; "
    f"other backends translate one at a time). 0: {AUTO_WORKERS} where there are {AUTO_WORKERS}+ cores, else 1. "
    "OMP_NUM_THREADS caps the cores used.",
)
OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing output.")


@dataclass
class RuntimeArgs:
    bundle: Path | None
    to: str
    style_seed: int | None = None
    style_ref: Path | None = None
    no_instances: bool = False
    detector: Path | None = None
    conf: float = 0.35
    backend: str = "auto"
    size: str | None = None
    upsample: str = "guided"
    detect_every: int = 1  # video only: detector on every N-th frame, boxes predicted between
    style_spread: float = 1.0  # scales a sampled style's distance from the domain mean
    overlap_instances: bool = False  # video only: the crops' network on its own thread
    workers: int = 1  # video only: frames rendered at once (0: auto, see WORKERS)


def check_style_choice(style_per_image: bool, style_ref: Path | None, per: str = "--style-per-image") -> None:
    """``per``: the command's flag for one style per item (video: --style-per-clip), for messages."""
    if style_ref is not None and not style_ref.exists():
        raise EdgecglError(f"--style-ref {style_ref} does not exist", "give an image or a folder of photos")
    if style_per_image and style_ref is not None and not style_ref.is_dir():
        raise EdgecglError(
            f"{per} and --style-ref IMAGE both choose the style",
            "give one of them, or --style-ref a folder of photos (one per item)",
        )


def check_spread_used(
    spread: float,
    style_seed: int | None,
    style_per_image: bool,
    style_ref: Path | None,
    per: str = "--style-per-image",
) -> None:
    """--style-spread scales sampled styles and a folder of reference photos; on the mean style or one
    reference photo it did nothing, silently."""
    if (
        spread != 1.0
        and style_seed is None
        and not style_per_image
        and not (style_ref and style_ref.is_dir())
    ):
        raise EdgecglError(
            f"--style-spread {spread:g} has no style to widen: the mean style"
            + (" or one reference photo" if style_ref is not None else "")
            + " is used as it is",
            f"add --style-seed N or {per}, or give --style-ref a folder of photos",
        )


def reference_bank(translator: object, style_ref: Path | None, spread: float):  # noqa: ANN201
    """--style-ref DIR: the folder's style codes for ``translator``'s domain (None for an image or none)."""
    if style_ref is None or not style_ref.is_dir():
        return None
    from edgecgl.references import ReferenceBank

    bank = ReferenceBank(translator, style_ref, spread)
    log(f"style: {len(bank.files)} reference photo(s) of {style_ref} for {translator.domain}")  # type: ignore[attr-defined]
    return bank


def per_image_reference(translator: object, bank: object, base_seed: int | None, name: str) -> None:
    """Give ``translator`` the style of the reference photo drawn for one image (``--style-ref DIR``)."""
    from edgecgl.bundle import item_seed

    seed = item_seed(base_seed or 0, translator.domain, name)  # type: ignore[attr-defined]
    code, photo = bank.style(seed)  # type: ignore[attr-defined]
    translator.use_style(code, f"reference {photo.name}")  # type: ignore[attr-defined]


def per_image_style(translator: object, base_seed: int | None, name: str, spread: float) -> None:
    """Give ``translator`` the style of one image of a folder or dataset (``--style-per-image``)."""
    from edgecgl.bundle import item_seed

    seed = item_seed(base_seed or 0, translator.domain, name)  # type: ignore[attr-defined]
    code = translator.bundle.style(translator.domain, "global", seed, spread)  # type: ignore[attr-defined]
    translator.use_style(code, f"per image (seed {base_seed or 0})")  # type: ignore[attr-defined]


def luma_range(translator: object) -> tuple[float, float] | None:
    """The target domain's brightness range from the bundle (None in bundles exported before it)."""
    tr = translator
    stats = tr.bundle.style_stats.get("global", {}).get(tr.domain)  # type: ignore[attr-defined]
    return None if stats is None else stats.luma


def redraw_in_range(
    pipeline: object, img: np.ndarray, res: object, base_seed: int | None, name: str, spread: float
) -> tuple[object, float]:
    """``--style-per-image``: an image's draw whose translation is darker or brighter than every photo of
    the target domain is redone lighter (``edgecgl.brightness``) -> (result, the spread it was made with).
    The detections of ``res`` are reused; only the style changes."""
    from edgecgl.brightness import first_in_range, mean_luma

    tr = pipeline.translator  # type: ignore[attr-defined]

    def again(s: float) -> object:
        per_image_style(tr, base_seed, name, s)
        return pipeline.render(img, res.detections)  # type: ignore[attr-defined]

    return first_in_range(again, lambda r: mean_luma(r.image), spread, luma_range(tr), drawn=res)  # type: ignore[attr-defined]


def check_keep_objects(
    keep: bool,
    sampled: bool,
    no_instances: bool,
    style_ref: object,
    detector_ok: bool,
    per: str = "--style-per-image",
) -> None:
    """``--keep-objects`` redraws a sampled style and checks each translation with the detector."""
    if keep and (not sampled or no_instances or style_ref is not None or not detector_ok):
        raise EdgecglError(
            "--keep-objects redraws a sampled style and checks it with the detector",
            f"use it with {per} or --style-seed (and a detector), without --no-instances or --style-ref",
        )


def sampled_style(
    translator: object, base_seed: int | None, name: str, spread: float, per_image: bool
) -> None:
    """Set the style ``--keep-objects`` redraws: the image's own draw (``--style-per-image``) or the
    run's ``--style-seed`` draw, at ``spread``."""
    if per_image:
        per_image_style(translator, base_seed, name, spread)
        return
    tr = translator
    code = tr.bundle.style(tr.domain, "global", base_seed, spread)  # type: ignore[attr-defined]
    tr.use_style(code, f"seed {base_seed}, spread {spread:g}")  # type: ignore[attr-defined]


def redraw_to_keep(
    pipeline: object,
    img: np.ndarray,
    res: object,
    base_seed: int | None,
    name: str,
    spread: float,
    per_image: bool,
) -> tuple[np.ndarray, Choice]:
    """``--keep-objects`` for one image already translated (``res``): redraw its sampled style lighter
    until the detector finds its near objects again; the input's detections are reused, only the style
    changes. The translator gets the ``spread`` draw back, so the next image starts as drawn.
    -> (image, the spread it was made with and the near objects it kept)."""
    from edgecgl.retain import keep_objects

    tr = pipeline.translator  # type: ignore[attr-defined]

    def again(s: float) -> np.ndarray:
        if s == spread:
            return res.image  # type: ignore[attr-defined]
        sampled_style(tr, base_seed, name, s, per_image)
        return pipeline.render(img, res.detections).image  # type: ignore[attr-defined]

    image, choice = keep_objects(again, pipeline.detector, res.detections, img.shape[0], spread)  # type: ignore[attr-defined]
    if choice.spread != spread or choice.kept < choice.near:  # lighter draws were tried
        sampled_style(tr, base_seed, name, spread, per_image)
    return image, choice


def deliver_draw(
    pipeline: object,
    img: np.ndarray,
    res: object,
    base_seed: int | None,
    name: str,
    spread: float,
    *,
    check_range: bool,
    keep_objects: bool,
    per_image: bool,
    in_range: RangeCounts,
    kept: KeepCounts,
) -> np.ndarray:
    """What ``image`` and ``augment`` write for one translated image (``res``): a per-image draw kept
    inside the target's brightness range (``check_range``), then ``--keep-objects`` from the spread that
    check left; both counted for the run's log lines."""
    used = spread
    if check_range:
        res, used = redraw_in_range(pipeline, img, res, base_seed, name, spread)
        in_range.add(used, spread)
    if not keep_objects:
        return res.image  # type: ignore[attr-defined]
    image, choice = redraw_to_keep(pipeline, img, res, base_seed, name, used, per_image)
    kept.add(choice, used)
    return image


def newest_bundle(root: Path = BUNDLES_ROOT) -> Path:
    """The most recently written bundle under ``root`` (by its manifest's modification time)."""
    from edgecgl.bundle import MANIFEST

    found = sorted(root.glob(f"*/{MANIFEST}"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    if not found:
        raise EdgecglError(
            f"no bundle found under {root}/", "give one with --bundle DIR, or make one with edgecgl export"
        )
    return found[-1].parent


def build_pipeline(  # noqa: ANN201
    args: RuntimeArgs,
    detector: object | None = None,
    log_fn=log,
    track: bool = True,
    style_per: str = "",
    targets: list[str] | None = None,
):
    """Options -> (Pipeline, Bundle). ``detector`` overrides --detector (tests inject fakes here).
    ``targets``: every domain the command translates to (augment), for the log; the pipeline starts on the first.

    ``track`` is off for stills: unrelated images must not share track IDs or smoothed boxes.
    ``style_per`` ("image", "clip"): the command draws a style per image or clip (--style-per-image), which
    the log says instead of the translator's first style.
    """
    from edgecgl.backends import select_backend
    from edgecgl.bundle import load_bundle
    from edgecgl.detect import DetectorConfig, load_detector
    from edgecgl.pipeline import Pipeline, PipelineConfig
    from edgecgl.translate import Translator, parse_size, read_image

    size = parse_size(args.size) if args.size else None
    DetectorConfig(conf=args.conf)  # checks --conf before anything loads
    if (
        detector is None
        and not args.no_instances
        and args.detector is not None
        and not Path(args.detector).exists()
    ):
        load_detector(args.detector)  # fails fast with the offline hint, before any model is loaded
    if args.bundle is None:
        path = newest_bundle()
        log_fn(f"bundle: {path} (newest under {BUNDLES_ROOT}/)")
    else:
        path = Path(args.bundle)
        log_fn(f"bundle: {path}")
    bundle = load_bundle(path)
    from edgecgl.domains import domain_index

    domain_index(
        args.to, bundle.domains
    )  # unknown domain -> error listing the valid ones, before loading nets
    ref_file = args.style_ref if args.style_ref is not None and not args.style_ref.is_dir() else None
    ref = read_image(ref_file) if ref_file is not None else None
    workers = resolve_workers(args.workers)
    cpu_threads = ort_threads(workers)
    backend = select_backend(
        bundle, args.backend, log=log_fn, cpu_threads=cpu_threads, frame_size=size, workers=workers
    )
    translator = Translator(
        backend, bundle, args.to, args.style_seed, ref, size, args.upsample, log_fn, args.style_spread
    )  # --style-ref DIR: the command sets the style per image or per clip (reference_bank)
    source = f"photos of {args.style_ref}" if ref_file is None and args.style_ref else translator.style_source
    if style_per and not args.style_ref:
        seed = f"seed {args.style_seed} + " if args.style_seed is not None else ""
        source = f"a draw per {style_per} ({seed}its name, spread {args.style_spread:g})"
    log_fn(
        f"target{'s' if targets and len(targets) > 1 else ''}: {', '.join(targets or [translator.domain])} (style: {source}); working size "
        f"{translator.frame_size[0]}x{translator.frame_size[1]}, instances {bundle.instance_size[0]}x{bundle.instance_size[1]}"
    )
    log_fn(f"upsample: {translator.upsample_mode}")
    det = detector
    if det is None and not args.no_instances:
        det = load_detector(
            args.detector,
            DetectorConfig(conf=args.conf, track=track, frames_per_call=args.detect_every),
            args.style_seed or 0,
            log=log_fn,
        )
    if args.no_instances:
        det = None
        log_fn("instances: off (--no-instances)")
    if det is not None and args.detect_every > 1:
        log_fn(f"detector: every {args.detect_every} frames, boxes predicted between")
    overlap = args.overlap_instances and det is not None
    if overlap and not getattr(backend, "concurrent", True):
        log_fn(f"instances: not overlapped ({backend.name} runs one call at a time per network)")
        overlap = False
    elif overlap:
        log_fn("instances: crops translated on their own thread, beside the frame")
    if workers > 1 and backend.name not in ("onnxruntime-cpu", "openvino-cpu"):
        if args.workers:  # asked for, not the automatic choice
            log_fn(
                f"workers: 1 (--workers applies to ONNX Runtime and OpenVINO on the CPU; {backend.name} is not)"
            )
        workers = 1
    elif workers > 1 and backend.name == "openvino-cpu":
        log_fn(f"workers: {workers} frames at once, {workers} OpenVINO streams over every core")
    elif workers > 1:
        log_fn(f"workers: {workers} frames at once, {cpu_threads} ONNX Runtime thread(s) each")
    cfg = PipelineConfig(detect_every=args.detect_every, overlap_instances=overlap, workers=workers)
    return Pipeline(translator, det, cfg), bundle
