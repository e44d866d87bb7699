"""``edgecgl video``: translate a dashcam video, keeping its audio, timestamps and frame count."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import typer

from edgecgl.cli import runtime_opts as ro
from edgecgl.cli.common import log, progress
from edgecgl.cli.video_folder import open_record, plan_clips, translate_folder
from edgecgl.errors import EdgecglError


def default_out(src: Path, domain: str) -> Path:
    return src.with_name(f"{src.stem}_{domain}.mp4")


PROBES = 8  # frames --keep-objects checks a clip's style on
PER_CLIP = "--style-per-clip"


def keep_objects_spread(
    pipeline: object,
    src: Path,
    detector: Path | None,
    conf: float,
    style_seed: int | None,
    spread: float,
    window: tuple[float | None, float | None],
    per_clip: bool = False,
    name: str | None = None,
) -> float:
    """``--keep-objects`` for a clip: one spread for the whole clip (a per-frame redraw would flicker),
    the lightest needed for every near object of ``PROBES`` frames to survive. A separate, non-tracking
    detector looks at the probes, so the run's tracker starts fresh."""
    from edgecgl.detect import DetectorConfig, load_detector
    from edgecgl.retain import keep_objects_clip
    from edgecgl.video import sample_frames

    probes = sample_frames(src, PROBES, *window)
    if not probes:
        log(f"--keep-objects: no frame of {src.name} could be read to check the style on; kept as drawn")
        return spread
    det = load_detector(detector, DetectorConfig(conf=conf, track=False))
    refs = [det(f) for f in probes]
    tr = pipeline.translator  # type: ignore[attr-defined]

    def translate(s: float) -> list:  # type: ignore[type-arg]
        ro.sampled_style(tr, style_seed, name or src.name, s, per_clip)
        return [pipeline.render(f, r).image for f, r in zip(probes, refs, strict=True)]  # type: ignore[attr-defined]

    choice = keep_objects_clip(translate, det, refs, probes[0].shape[0], spread)
    ro.sampled_style(tr, style_seed, name or src.name, choice.spread, per_clip)
    what = "keeps" if choice.kept == choice.near else f"keeps the most ({choice.kept} of {choice.near}) of"
    log(
        f"--keep-objects: spread {choice.spread:g} {what} the near objects of {len(probes)} probe frames"
        + ("" if choice.spread == spread else f" (the draw at {spread:g} hid some)")
    )
    return choice.spread


def trim_window(
    start: float | None, end: float | None, max_frames: int | None, fps: object
) -> tuple[float | None, float | None]:
    """The seconds --start/--end/--max-frames leave of a clip, for --keep-objects' probe frames."""
    stop = end
    if max_frames is not None and fps:
        stop = min(stop if stop is not None else math.inf, (start or 0.0) + max_frames / float(fps))  # type: ignore[arg-type]
    return start, stop


def run_settings(args: ro.RuntimeArgs, opts: object = None, **flags: object) -> dict[str, object]:
    """What a folder's outputs look like, for its run record (``video FOLDER``, ``image FOLDER``): the
    run's options minus those that change only the speed (backend, threads, queues), with the bundle named
    by its manifest's checksum (the manifest holds every file's checksum; the folder may move), and the
    command's own ``flags`` (``style_per_clip=...``)."""
    import hashlib
    from dataclasses import asdict

    from edgecgl.bundle import MANIFEST

    manifest = Path(args.bundle or ro.newest_bundle()) / MANIFEST
    look = {
        k: v
        for k, v in asdict(args).items()
        if k not in ("bundle", "backend", "overlap_instances", "workers")
    }
    if opts is not None:
        look.update({k: v for k, v in asdict(opts).items() if k != "queue_size"})  # type: ignore[call-overload]
    look.update(to=args.to.strip().lower(), upsample=args.upsample.strip().lower())  # as the run reads them
    return json.loads(json.dumps({  # paths as text, as the record holds them
        **look,
        "bundle_manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else None,
        **flags,
    }, default=lambda p: str(Path(p).resolve())))  # fmt: skip


def check_stats_json(path: Path, src: Path, dst: Path, overwrite: bool) -> None:
    """--stats-json is an output like --out: checked before any work, so it never replaces the input,
    the video this run writes, or an existing file without --overwrite."""
    from edgecgl.atomic import check_output, same_file

    for other, what in ((src, "input video"), (dst, "--out video")):
        if same_file(path, other):
            raise EdgecglError(
                f"--stats-json {path} is the {what}", "give the stats their own file, e.g. stats.json"
            )
    if path.is_dir():
        raise EdgecglError(f"--stats-json {path} is a folder", "give a file name, e.g. stats.json")
    check_output(path, [], overwrite)


def register(app: typer.Typer) -> None:
    @app.command(
        "video",
        epilog="Example: edgecgl video in.mp4 --to night --out out.mp4 --detector yolov8n.pt | "
        "edgecgl video clips/ --to night --style-per-clip --style-seed 0 --out clips_night/",
    )
    def video_(
        src: Path = typer.Argument(
            ...,
            help="Input video (anything FFmpeg reads), or a folder of clips (searched recursively).",
            show_default=False,
        ),
        to: str = ro.TO,
        out: Path | None = typer.Option(
            None,
            "--out",
            "-o",
            help="Output video (default: IN_<domain>.mp4); for a folder, the output folder (default: "
            "IN_<domain>/, same layout, .mp4; the same command again continues an interrupted run, other "
            "settings are refused).",
        ),
        bundle: Path | None = ro.BUNDLE,
        style_seed: int | None = ro.STYLE_SEED,
        style_per_clip: bool = typer.Option(
            False,
            "--style-per-clip",
            help="Each clip its own style, drawn from the domain's style distribution by --style-seed and "
            "the clip's path (default: one style for every clip).",
        ),
        style_spread: float = ro.STYLE_SPREAD,
        style_ref: Path | None = ro.STYLE_REF,
        keep_objects: bool = typer.Option(
            False,
            "--keep-objects",
            help="With --style-seed: check the clip's style on 8 frames spread over it; where the detector "
            "loses a near object of the input (box >= 15 % of the height), use the same draw lighter (half "
            "the spread, up to 3 times, then the mean style; if none keeps them all, the one that kept the "
            "most) for the whole clip.",
        ),
        no_instances: bool = ro.NO_INSTANCES,
        detector: Path | None = ro.DETECTOR,
        conf: float = ro.CONF,
        detect_every: int = ro.DETECT_EVERY,
        overlap_instances: bool = ro.OVERLAP_INSTANCES,
        workers: int = ro.WORKERS,
        backend: str = ro.BACKEND,
        size: str | None = ro.SIZE,
        upsample: str = ro.UPSAMPLE,
        crf: int = typer.Option(20, "--crf", help="libx264 quality (0 lossless .. 51 worst)."),
        preset: str = typer.Option(
            "veryfast", "--preset", help="libx264 speed preset (ultrafast .. veryslow)."
        ),
        start: float | None = typer.Option(None, "--start", help="Start time in seconds."),
        end: float | None = typer.Option(None, "--end", help="End time in seconds."),
        max_frames: int | None = typer.Option(None, "--max-frames", help="Stop after this many frames."),
        preview: bool = typer.Option(False, "--preview", help="Write input | output side by side."),
        stats_json: Path | None = typer.Option(
            None, "--stats-json", help="Also write the run's stats as JSON."
        ),
        overwrite: bool = ro.OVERWRITE,
    ) -> None:
        """Translate a dashcam video to another weather domain (H.264, audio passed through)."""
        from edgecgl.atomic import check_output, write_text_atomic
        from edgecgl.cli.common import existing_file
        from edgecgl.video import VideoOptions, check_video_out, probe, translate_video

        folder = Path(src).is_dir()
        if not folder:
            existing_file(src, "video")
        ro.check_style_choice(style_per_clip, style_ref, PER_CLIP)
        ro.check_spread_used(style_spread, style_seed, style_per_clip, style_ref, PER_CLIP)
        sampled = style_seed is not None or style_per_clip
        ro.check_keep_objects(keep_objects, sampled, no_instances, style_ref, True, PER_CLIP)
        opts = VideoOptions(  # checks --preset, --crf, --start/--end, --max-frames before any loading
            crf=crf, preset=preset, start=start, end=end, max_frames=max_frames, preview=preview
        )
        args = ro.RuntimeArgs(
            bundle,
            to,
            style_seed,
            style_ref,
            no_instances,
            detector,
            conf,
            backend,
            size,
            upsample,
            detect_every,
            style_spread,
            overlap_instances,
            workers,
        )
        if folder:
            dst, pairs = plan_clips(Path(src), out, to.strip().lower())
            record = open_record(
                dst,
                pairs,
                run_settings(
                    args,
                    opts,
                    source=str(Path(src).resolve()),
                    style_per_clip=style_per_clip,
                    keep_objects=keep_objects,
                ),
                overwrite,
            )
        else:
            dst = out or default_out(src, to.strip().lower())
            check_video_out(dst)
            check_output(dst, [src], overwrite)
            info = probe(src)  # not a video: said before the bundle and the detector load
            length = info["frames"] / float(info["fps"]) if info["frames"] and info["fps"] else None
            if start is not None and length is not None and start >= length:  # before loading, and the bar
                raise EdgecglError(
                    f"--start {start:g} s is past the end of {src} ({length:.2f} s)",
                    "give a --start inside the clip",
                )
        if stats_json is not None:
            check_stats_json(stats_json, src, dst, overwrite)
        pipeline, _ = ro.build_pipeline(args, style_per="clip" if style_per_clip else "")
        bank = ro.reference_bank(pipeline.translator, style_ref, style_spread)
        if folder:

            def before_clip(clip: Path, name: str) -> None:
                tr = pipeline.translator
                if bank is not None:
                    ro.per_image_reference(tr, bank, style_seed, name)
                elif style_per_clip:
                    ro.per_image_style(tr, style_seed, name, style_spread)
                if keep_objects:
                    keep_objects_spread(
                        pipeline, clip, detector, conf, style_seed, style_spread,
                        trim_window(start, end, max_frames, probe(clip)["fps"]), style_per_clip, name,
                    )  # fmt: skip

            def one(clip: Path, target: Path, tick: Callable[[int], None]) -> object:
                return translate_video(
                    clip, target, pipeline, opts, overwrite=overwrite, on_progress=tick, log=log
                )

            translate_folder(Path(src), dst, pairs, one, before_clip, record, stats_json)
            typer.echo(f"wrote {dst}")
            return
        if style_per_clip:
            ro.per_image_style(pipeline.translator, style_seed, src.name, style_spread)
        if bank is not None:  # --style-ref DIR: one photo's style for the whole clip
            ro.per_image_reference(pipeline.translator, bank, style_seed, src.name)
            log(f"style: {pipeline.translator.style_source}")
        h, w = info["size"]
        log(
            f"input: {src} {w}x{h} @ {float(info['fps'] or 0):.2f} fps, ~{info['frames']} frames ({', '.join(info['streams'])})"
        )
        if keep_objects:
            window = trim_window(start, end, max_frames, info["fps"])
            keep_objects_spread(
                pipeline, src, detector, conf, style_seed, style_spread, window, style_per_clip
            )
        total = info["frames"] or None
        if max_frames is not None:
            total = min(total or max_frames, max_frames)
        with progress() as bar:
            task = bar.add_task("translating", total=total, rate="")
            t0 = [0.0]

            def tick(n: int) -> None:
                import time

                now = time.perf_counter()
                if n == 1:
                    t0[0] = now
                fps = (n - 1) / (now - t0[0]) if n > 1 and now > t0[0] else 0.0
                bar.update(task, completed=n, rate=f"{fps:.1f} frames/s")

            result = translate_video(src, dst, pipeline, opts, overwrite=overwrite, on_progress=tick, log=log)
        for line in result.stats.lines():
            log(line)
        if result.copied_streams:
            log(f"passed through untouched: {', '.join(result.copied_streams)}")
        if stats_json is not None:
            summary = {"warnings": result.warnings, **result.stats.summary()}  # as each clip of a folder run
            write_text_atomic(stats_json, json.dumps(summary, indent=1))
        typer.echo(f"wrote {dst}")
