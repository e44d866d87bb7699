"""``edgecgl image``: translate stills, one file or every image in a folder."""

from __future__ import annotations

from pathlib import Path

import typer

from edgecgl import interrupt
from edgecgl.cli import runtime_opts as ro
from edgecgl.cli.common import log, progress
from edgecgl.domains import IMAGE_SUFFIXES
from edgecgl.errors import EdgecglError


def encode_image(image_rgb, suffix: str) -> bytes:  # noqa: ANN001 - numpy array
    """RGB (or grey HxW) uint8 -> file bytes in the format the suffix names (JPEG at quality 95)."""
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix.lower() in (".jpg", ".jpeg") else []
    pixels = image_rgb if image_rgb.ndim == 2 else cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(suffix.lower(), pixels, params)
    if not ok:
        raise EdgecglError(f"cannot encode an image as {suffix}", "use .jpg or .png")
    return buf.tobytes()


def is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def not_an_image_folder(folder: Path) -> str | None:
    """Why ``folder`` is not an earlier output of ``edgecgl image`` on a folder (image files and nothing
    else), for --overwrite's refusal: only such a folder is emptied and written again."""
    from edgecgl.outdir import holding
    from edgecgl.resume import RECORD

    return holding(folder, lambda p: is_image(p) or p.name == RECORD)


def check_image_suffix(dst: Path) -> None:
    """Refuse, before the bundle loads, an output name OpenCV cannot encode (no suffix means PNG)."""
    import cv2

    if dst.suffix and not cv2.haveImageWriter(f"x{dst.suffix.lower()}"):
        raise EdgecglError(
            f"cannot write {dst}: {dst.suffix} is not an image format",
            f"end --out in {', '.join(IMAGE_SUFFIXES)}",
        )


def no_images_hint(src: Path) -> str:
    """What to do with a folder that has no image at its top level (a dataset root, most often)."""
    from edgecgl.domains import folder_domains

    subs = folder_domains(src)
    if not subs:
        return f"expected files ending in {', '.join(IMAGE_SUFFIXES)}"
    named = ", ".join(f"{s}/" for s in subs[:4]) + (", ..." if len(subs) > 4 else "")
    return f"its sub-folders {named} hold images: give one of them, or for a dataset use edgecgl augment folder:{src}"


def plan(src: Path, out: Path | None, domain: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs: a file -> one pair; a folder -> its images, same names in the out folder."""
    if src.is_file():
        dst = out or src.with_name(f"{src.stem}_{domain}{src.suffix}")
        if dst.is_dir():
            dst = dst / src.name
        check_image_suffix(dst)
        return [(src, dst)]
    if not src.is_dir():
        raise EdgecglError(f"{src} does not exist", "give an image file or a folder of images")
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise EdgecglError(f"no images in {src}", no_images_hint(src))
    if out is not None and out.suffix.lower() in IMAGE_SUFFIXES and not out.is_dir():
        raise EdgecglError(
            f"--out {out} names an image file, but {src} is a folder",
            "give --out a folder for the translated images",
        )
    dst_dir = out or src.with_name(f"{src.name}_{domain}")
    if dst_dir.resolve() == src.resolve():
        raise EdgecglError(f"output folder {dst_dir} is the input folder", "choose another --out")
    return [(p, dst_dir / p.name) for p in files]


def register(app: typer.Typer) -> None:
    @app.command(
        "image",
        epilog="Example: edgecgl image frame.jpg --to rainy --out frame_rainy.jpg | edgecgl image frames/ --to night",
    )
    def image_(
        src: Path = typer.Argument(..., help="An image file or a folder of images.", show_default=False),
        to: str = ro.TO,
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Output file or folder (default: IN_<domain>.ext / IN_<domain>/)."
        ),
        bundle: Path | None = ro.BUNDLE,
        style_seed: int | None = ro.STYLE_SEED,
        style_spread: float = ro.STYLE_SPREAD,
        style_per_image: bool = ro.STYLE_PER_IMAGE,
        style_ref: Path | None = ro.STYLE_REF,
        keep_objects: bool = ro.KEEP_OBJECTS,
        no_instances: bool = ro.NO_INSTANCES,
        detector: Path | None = ro.DETECTOR,
        conf: float = ro.CONF,
        backend: str = ro.BACKEND,
        size: str | None = ro.SIZE,
        upsample: str = ro.UPSAMPLE,
        overwrite: bool = ro.OVERWRITE,
    ) -> None:
        """Translate still images (a file or a folder) to another weather domain."""
        from edgecgl.atomic import check_output, write_bytes_atomic
        from edgecgl.brightness import RangeCounts
        from edgecgl.retain import KeepCounts
        from edgecgl.translate import as_source, read_image

        pairs = plan(Path(src), out, to.strip().lower())
        folder = pairs[0][1].parent if Path(src).is_dir() else None
        if folder is not None:
            skipped_subs = [
                d.name for d in sorted(Path(src).iterdir()) if d.is_dir() and any(map(is_image, d.iterdir()))
            ]
            if skipped_subs:  # said, not silent: `edgecgl video FOLDER` does search its sub-folders
                log(
                    f"note: images in sub-folders are not translated ({', '.join(skipped_subs[:4])}/...); give each folder"
                )
        if folder is None:
            check_output(pairs[0][1], [pairs[0][0]], overwrite)
        ro.check_style_choice(style_per_image, style_ref)
        ro.check_spread_used(style_spread, style_seed, style_per_image, style_ref)
        sampled = style_per_image or style_seed is not None
        ro.check_keep_objects(keep_objects, sampled, no_instances, style_ref, True)
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
            style_spread=style_spread,
        )
        run = None
        if folder is not None:  # each image written whole into the folder; a rerun continues (edgecgl.resume)
            from edgecgl.cli.video_cmd import run_settings
            from edgecgl.resume import check_folder_run, strays, up_to_date

            settings = run_settings(
                args,
                source=str(Path(src).resolve()),
                style_per_image=style_per_image,
                keep_objects=keep_objects,
            )
            source_of = {b: a for a, b in pairs}
            run = check_folder_run(
                folder, "image", settings, [b for _, b in pairs], overwrite, not_an_image_folder, (src,),
                "folder of translated images", lambda b: up_to_date(b, [source_of[b]]),
            )  # fmt: skip
            if not run.empty_first and (gone := strays(folder, source_of, IMAGE_SUFFIXES)):
                log(f"warning: {len(gone)} image(s) in {folder} have no source in {src} any more, e.g. "
                    f"{gone[0].name} (kept; --overwrite starts the folder again)")  # fmt: skip
            if run.done:
                log(f"{len(run.done)} of {len(pairs)} image(s) already translated with these settings, kept")
                pairs = [(a, b) for a, b in pairs if b not in run.done]
                if not pairs:  # a finished folder: nothing to load the bundle and the detector for
                    typer.echo(f"wrote {folder}")
                    return
        # one still: read before the bundle and the detector load (and the progress bar shows)
        still = read_image(pairs[0][0]) if folder is None else None
        pipeline, _ = ro.build_pipeline(args, track=False, style_per="image" if style_per_image else "")
        if run is not None:
            # loaded: only now is an earlier output removed (--overwrite) and this run recorded
            run.start(log)
        bank = ro.reference_bank(pipeline.translator, style_ref, style_spread)
        tr = pipeline.translator
        n_inst = 0
        kept = KeepCounts()
        in_range = RangeCounts()
        check_range = style_per_image and bank is None and ro.luma_range(tr) is not None
        unreadable: list[str] = []
        with progress() as bar:
            task = bar.add_task("translating", total=len(pairs), rate="")
            for a, b in pairs:
                interrupt.check()
                if bank is not None:
                    ro.per_image_reference(tr, bank, style_seed, a.name)
                elif style_per_image:
                    ro.per_image_style(tr, style_seed, a.name, style_spread)
                try:
                    img = still if still is not None else read_image(a)
                except EdgecglError:
                    if run is None:  # the one file asked for
                        raise
                    unreadable.append(str(a))  # a folder: count it, say so at the end
                    bar.advance(task)
                    continue
                res = pipeline(img)
                n_inst += len(res.detections)
                out = ro.deliver_draw(pipeline, img, res, style_seed, a.name, style_spread,
                                      check_range=check_range, keep_objects=keep_objects,
                                      per_image=style_per_image, in_range=in_range, kept=kept)  # fmt: skip
                if run is not None:
                    run.claim(b)
                write_bytes_atomic(b, encode_image(as_source(out, a), b.suffix or ".png"))
                bar.advance(task)
            if pairs and len(unreadable) == len(pairs) and run is not None and not run.done:
                run.abandon()
                raise EdgecglError(
                    f"none of the {len(pairs)} image(s) in {src} could be read", f"e.g. {unreadable[0]}"
                )
        log(f"{len(pairs) - len(unreadable)} image(s), {n_inst} instance(s) translated")
        if unreadable:
            log(f"warning: skipped {len(unreadable)} unreadable image(s), e.g. {unreadable[0]}")
        if in_range.images:
            log(in_range.summary())
        if keep_objects:
            log(kept.summary())
        typer.echo(f"wrote {pairs[0][1] if folder is None else folder}")
