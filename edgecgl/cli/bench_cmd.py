"""``edgecgl bench``: time a bundle's backends and precisions on this device (see ``edgecgl.bench``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgecgl.cli.common import existing_dir, log


def register(app: typer.Typer) -> None:
    @app.command(
        "bench",
        epilog="Example: edgecgl bench bundles/synth --out results.json --size 256x512 --repeats 10",
    )
    def bench_(
        bundle: Path = typer.Argument(..., help="Bundle folder (from edgecgl export).", show_default=False),
        out: Path | None = typer.Option(None, "--out", "-o", help="Also write the results as JSON."),
        size: str | None = typer.Option(
            None, "--size", help="Working resolution HxW (default: the bundle's frame size)."
        ),
        repeats: int = typer.Option(10, "--repeats", "-n", min=1, help="Timed rounds (median reported)."),
        warmup: int = typer.Option(2, "--warmup", min=0, help="Untimed rounds first."),
        threads: int = typer.Option(
            0, "--threads", min=0, help="CPU threads for ONNX Runtime, torch and the matmul (0: default)."
        ),
        backend: list[str] = typer.Option(
            [], "--backend", "-b", help="Only variants whose name contains this (repeatable), e.g. int8."
        ),
        source: str = typer.Option(
            "720x1280", "--source", help="Camera frame size HxW for the end-to-end (resize + model) timing."
        ),
        model_only: bool = typer.Option(False, "--model-only", help="Skip the end-to-end timing."),
        workers: int = typer.Option(
            0,
            "--workers",
            min=0,
            help="Also time each ONNX Runtime CPU variant as N frames at once, each on 1/N of the threads "
            "(what edgecgl video --workers does; 0: video's default, 1: off).",
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
    ) -> None:
        """Benchmark a bundle on this device: ms/frame of every backend and precision it can run.

        Reports model-only (content encoder + generator) and end-to-end (letterbox, model, back to the
        camera frame) medians after warm-up, achieved GFLOP/s as a fraction of this device's dense fp32
        matmul (timed in the same rounds), and each variant's speed relative to torch.
        """
        from edgecgl.atomic import check_output, write_text_atomic
        from edgecgl.bench import BenchOptions, bench_bundle, format_table
        from edgecgl.bundle import load_bundle
        from edgecgl.cli.runtime_opts import resolve_workers
        from edgecgl.translate import parse_size

        existing_dir(bundle, "bundle")
        if out is not None:
            check_output(out, [bundle / "manifest.json"], overwrite)
        b = load_bundle(bundle)
        opts = BenchOptions(
            size=parse_size(size) if size else None,
            source=parse_size(source, "--source", stride=1),  # a camera frame: any size
            repeats=repeats,
            warmup=warmup,
            threads=threads,
            only=list(backend),
            end_to_end=not model_only,
            workers=resolve_workers(workers, threads),
        )
        res = bench_bundle(b, opts, log=log)
        typer.echo(format_table(res))
        if out is not None:
            write_text_atomic(out, json.dumps(res, indent=2) + "\n")
            log(f"results written: {out}")
