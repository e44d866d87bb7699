"""``edgecgl data``: dataset tools (synth, stats, label). Training code is imported inside each command."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from edgecgl.cli.common import BDD_RULES, console, log, progress
from edgecgl.errors import EdgecglError


def parse_size(text: str) -> tuple[int, int]:
    """'128x256' (H x W) -> (128, 256)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise EdgecglError(f"bad size '{text}'", "use HxW, e.g. 128x256") from None
    if h < 1 or w < 1:
        raise EdgecglError(f"bad size '{text}'", "both sides must be positive")
    return h, w


def register(app: typer.Typer) -> None:
    data = typer.Typer(
        help="Dataset tools: generate SynthWeather, print stats, label with YOLO.",
        epilog="Example: edgecgl data synth --out data/synth --n 2000 --seed 0",
        no_args_is_help=True,
    )

    @data.command("synth", epilog="Example: edgecgl data synth --out data/synth --n 2000 --seed 0")
    def synth(
        out: Path = typer.Option(..., "--out", help="Output folder (folder format + pairs.json)."),
        n: int = typer.Option(500, "--n", help="Number of scenes; each is written in every domain."),
        seed: int = typer.Option(0, "--seed", help="Same seed -> byte-identical files."),
        size: str = typer.Option("128x256", "--size", help="Frame size HxW."),
        workers: int = typer.Option(2, "--workers", help="Render processes."),
        val_fraction: float = typer.Option(
            0.1, "--val-fraction", help="Held-out scenes listed in pairs.json."
        ),
        video: bool = typer.Option(
            False, "--video", help="Write one clip per domain (OUT/<domain>.mp4) instead."
        ),
        frames: int = typer.Option(50, "--frames", help="Frames per clip (--video)."),
        fps: int = typer.Option(10, "--fps", help="Clip frame rate (--video)."),
        audio: bool = typer.Option(
            False, "--audio", help="Add a quiet sine AAC track to the clips (--video)."
        ),
        overwrite: bool = typer.Option(
            False,
            "--overwrite",
            help="Replace an earlier SynthWeather set (with --video: an earlier clip folder).",
        ),
    ) -> None:
        """Generate SynthWeather: paired dashcam scenes in four weathers, with boxes."""
        hw = parse_size(size)
        t0 = time.perf_counter()
        if video:
            from edgecgl.train.data.clip import write_clips

            paths = write_clips(out, frames, hw, seed, fps=fps, audio=audio, overwrite=overwrite)
            clips = sum(p.suffix == ".mp4" for p in paths)  # the rest is boxes.json
            log(f"wrote {clips} clips of {frames} frames to {out} in {time.perf_counter() - t0:.1f}s")
            return
        from edgecgl.outdir import check_output_dir
        from edgecgl.train.data.synth_writer import not_a_synth_set, write_synth

        check_output_dir(out, overwrite, "SynthWeather set", not_a_synth_set)  # before the bar shows
        with progress() as bar:
            task = bar.add_task("synth", total=n, rate="")

            def tick(k: int) -> None:
                done = bar.tasks[task].completed + k
                bar.update(task, advance=k, rate=f"{done / max(time.perf_counter() - t0, 1e-6):.1f} scenes/s")

            pairs = write_synth(
                out,
                n,
                seed,
                hw,
                workers=workers,
                val_fraction=val_fraction,
                overwrite=overwrite,
                on_scene=tick,
            )
        dt = time.perf_counter() - t0
        n_img = n * len(pairs["domains"])
        log(
            f"wrote {n_img} frames ({n} scenes x {len(pairs['domains'])} domains, {pairs['boxes']} boxes per "
            f"domain, {len(pairs['val'])} held-out scenes) to {out} in {dt:.1f}s"
        )

    @data.command("stats", epilog="Example: edgecgl data stats data/synth")
    def stats(
        path: str = typer.Argument(
            ..., help="Dataset: KIND:PATH (folder:, synth:, bdd100k:, init:) or a plain path."
        ),
        domains: str = typer.Option(
            "", "--domains", help="Comma-separated domain names (default: the sub-folders that hold images)."
        ),
        check: bool = typer.Option(
            False, "--check", help="Also decode every image and count unreadable ones."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
        bdd_rules: Path | None = BDD_RULES,
    ) -> None:
        """Print images per domain, boxes per image and box sizes."""
        from edgecgl.domains import load_bdd_rules
        from edgecgl.train.data.stats import dataset_stats

        doms = [d.strip() for d in domains.split(",") if d.strip()] or None
        st = dataset_stats(path, domains=doms, check=check, bdd_rules=load_bdd_rules(bdd_rules))
        if as_json:
            print(json.dumps(st, indent=1))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{st['source']}")
        for col in (
            "domain",
            "images",
            "boxes",
            "per img",
            "max",
            "empty",
            "w px p10/50/90",
            "h px p10/50/90",
        ):
            table.add_column(col, justify="right" if col != "domain" else "left")
        for d, r in st["domains"].items():
            table.add_row(
                d,
                str(r["images"]),
                str(r["boxes"]),
                f"{r['boxes_per_image']:.2f}",
                str(r["max_boxes"]),
                str(r["images_without_boxes"]),
                f"{r['box_w_p10']:.0f} / {r['box_w_median']:.0f} / {r['box_w_p90']:.0f}",
                f"{r['box_h_p10']:.0f} / {r['box_h_median']:.0f} / {r['box_h_p90']:.0f}",
            )
        Console().print(table)
        cats = ", ".join(f"{k} {v}" for k, v in st["categories"].items()) or "none"
        print(f"categories: {cats}")
        extra = [
            f"{k.replace('_', ' ')}: {st[k]}"
            for k in ("excluded_frames", "rejected_labels", "dropped_boxes", "clipped_boxes", "unreadable")
            if st[k]
        ]
        if extra:
            print("; ".join(extra))
        if st["missing_images"]:
            console.print(
                f"[yellow]warning:[/] {st['missing_images']} labelled image(s) do not exist, e.g."
                f" {st['missing_example']} (not counted above; training skips them)",
                highlight=False,
                soft_wrap=True,
            )
        empty = [d for d, r in st["domains"].items() if r["images"] == 0]
        if empty:
            console.print(f"[yellow]warning:[/] no images for domain(s) {', '.join(empty)}", highlight=False)

    @data.command("label", epilog="Example: edgecgl data label data/fleet --detector models/yolov8n.pt")
    def label(
        root: Path = typer.Argument(..., help="Folder dataset ROOT/<domain>/*.jpg."),
        detector: Path = typer.Option(
            ..., "--detector", help="Local Ultralytics YOLO weights (COCO classes)."
        ),
        conf: float = typer.Option(0.3, "--conf", help="Detection confidence threshold."),
        imgsz: int = typer.Option(640, "--imgsz", help="Detector input size."),
        domains: str = typer.Option(
            "",
            "--domains",
            help="Comma-separated domain folders (default: the sub-folders that hold images).",
        ),
        device: str = typer.Option("", "--device", help="Torch device for the detector (default: auto)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing label files too."),
    ) -> None:
        """Fill missing YOLO label files (labels/<name>.txt) with a detector; existing ones are kept."""
        from edgecgl.train.data.label import label_folder

        doms = [d.strip() for d in domains.split(",") if d.strip()] or None
        t0 = time.perf_counter()
        with progress() as bar:
            task = bar.add_task("label", total=None, rate="")
            rep = label_folder(
                root,
                detector,
                domains=doms,
                conf=conf,
                imgsz=imgsz,
                overwrite=overwrite,
                device=device or None,
                on_image=lambda k: bar.update(task, advance=k),
            )
        msg = (
            f"labelled {rep.labelled} images ({rep.boxes} boxes), kept {rep.kept} existing label files"
            f" in {time.perf_counter() - t0:.1f}s"
        )
        if rep.unreadable:
            msg += f"; skipped {rep.unreadable} unreadable images"
        log(msg)

    app.add_typer(data, name="data")
