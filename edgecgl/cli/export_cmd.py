"""``edgecgl export``: checkpoint -> bundle (ONNX, FP16, INT8), TensorRT engines, verification."""

from __future__ import annotations

from pathlib import Path

import typer

from edgecgl.cli.common import log
from edgecgl.errors import EdgecglError


def resolve_checkpoint(source: Path | None, runs_root: Path = Path("runs/train")) -> Path:
    """A model.pt, a run folder, a runs root (its newest run), or (none given) the newest run under
    ``runs/train``."""
    from edgecgl.runs import newest, run_or_newest

    if source is None:
        run = newest(runs_root, must_contain="checkpoints/model.pt")
        ckpt = run / "checkpoints" / "model.pt"
        log(f"exporting the newest run: {ckpt}")
        return ckpt
    src = Path(source)
    if src.is_file():
        return src
    if not (src / "model.pt").is_file():
        src = run_or_newest(src, "checkpoints/model.pt", log)
    for cand in (src / "checkpoints" / "model.pt", src / "model.pt"):
        if cand.is_file():
            return cand
    if src.exists():
        raise EdgecglError(f"{src} holds no model.pt", "give a run folder or its checkpoints/model.pt")
    raise EdgecglError(f"{src} does not exist", "give a run folder or a model.pt written by edgecgl train")


def calib_bdd_rules(calib: Path | None, rules_file: Path | None, ckpt: Path) -> object:
    """The BDD100K table a ``bdd100k:`` calibration reads: --bdd-rules, else the one the model was trained
    with (``data.bdd_rules`` in its run's config.yaml), else the paper's Table 1 (None)."""
    from edgecgl.domains import load_bdd_rules

    if rules_file is not None:
        return load_bdd_rules(rules_file)
    if calib is None or not str(calib).startswith("bdd100k:"):
        return None
    import yaml

    for cfg in (ckpt.parent / "config.yaml", ckpt.parent.parent / "config.yaml"):
        try:
            data = yaml.safe_load(cfg.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("data"), dict) and data["data"].get("bdd_rules"):
            log(f"calibration: BDD100K domains from data.bdd_rules in {cfg}")
            return load_bdd_rules(cfg)
    return None


def register(app: typer.Typer) -> None:
    @app.command(
        "export",
        epilog=(
            "Examples: edgecgl export --out bundles/synth | edgecgl export runs/train/000-synth-tiny "
            "--int8 --calib calib.npz --out bundles/synth-int8 | edgecgl export --engine bundles/synth | "
            "edgecgl export --verify bundles/synth"
        ),
    )
    def export_(
        source: Path | None = typer.Argument(
            None,
            help="Run folder or model.pt (default: the newest runs/train/*/checkpoints/model.pt); "
            "with --engine/--verify alone, an existing bundle.",
            show_default=False,
        ),
        out: Path | None = typer.Option(None, "--out", "-o", help="Bundle folder to write."),
        fp16: bool = typer.Option(False, "--fp16", help="Mixed FP16 graphs (InstanceNorm and I/O in FP32)."),
        int8: bool = typer.Option(False, "--int8", help="INT8 Q/DQ graphs (needs --calib)."),
        calib: Path | None = typer.Option(
            None, "--calib", help="Calibration set: calib.npz from edgecgl calib, or a dataset/folder/video."
        ),
        engine: bool = typer.Option(False, "--engine", help="Build TensorRT engines (on the target GPU)."),
        verify: bool = typer.Option(False, "--verify", help="Compare every backend/precision with FP32 ORT."),
        data: Path | None = typer.Option(
            None, "--data", help="Frames for --verify (default: EDGECGL_ASSETS frames, else generated)."
        ),
        simplifier: str = typer.Option("onnxslim", "--simplifier", help="onnxsim, onnxslim or none."),
        no_pt2: bool = typer.Option(False, "--no-pt2", help="Skip the torch.export .pt2 files."),
        quantizer: str = typer.Option(
            "ort", "--quantizer", help="INT8 Q/DQ producer: ort (ONNX Runtime) or modelopt (own process)."
        ),
        decoder: str = typer.Option(
            "fast",
            "--decoder",
            help="fast: up-convolutions in their exact sub-pixel form (x1.18-1.24 on a CPU); trained: as trained.",
        ),
        workspace_mb: int = typer.Option(1024, "--workspace-mb", help="TensorRT workspace limit."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing bundle / engines."),
        bdd_rules: Path | None = typer.Option(
            None,
            "--bdd-rules",
            help="With --calib bdd100k:LABELS, the attributes -> domain table (default: the model's run's "
            "data.bdd_rules, else the paper's Table 1).",
            show_default=False,
        ),
    ) -> None:
        """Export a trained model to a verified bundle of ONNX graphs (+ TensorRT engines)."""
        from edgecgl.bundle import MANIFEST

        if fp16 and int8:
            raise EdgecglError("--fp16 and --int8 exclude each other", "export two bundles")
        if bdd_rules is not None and not (int8 and str(calib).startswith("bdd100k:")):
            raise EdgecglError("--bdd-rules is read only with --int8 --calib bdd100k:LABELS", "drop it")
        is_bundle = source is not None and (Path(source) / MANIFEST).is_file()
        if not is_bundle and out is None and (engine or verify) and source is not None:
            _not_a_bundle(Path(source))
        if is_bundle:
            if out is not None or fp16 or int8:
                raise EdgecglError(
                    f"{source} is already a bundle",
                    "export from a run or model.pt; use --engine/--verify on a bundle",
                )
            if not (engine or verify):
                raise EdgecglError(
                    f"{source} is a bundle", "pass --engine to build engines or --verify to check it"
                )
            bundle = Path(source)  # type: ignore[arg-type]
        else:
            if out is None:
                raise EdgecglError("no --out bundle folder given", "e.g. --out bundles/synth")
            if engine:
                _require_tensorrt()
            ckpt = resolve_checkpoint(source)
            precision = "fp16" if fp16 else "int8" if int8 else "fp32"
            from edgecgl.export.bundle import check_export_args, write_bundle

            # write_bundle checks again (it has other callers); here, before the log says "exporting"
            check_export_args(out, precision, simplifier, decoder, quantizer, calib, overwrite)
            rules = calib_bdd_rules(calib, bdd_rules, ckpt) if precision == "int8" else None
            log(f"exporting {ckpt} -> {out} ({precision}, simplifier {simplifier})")
            bundle = write_bundle(
                ckpt,
                out,
                precision,
                simplifier,
                calib=calib,
                overwrite=overwrite,
                pt2=not no_pt2,
                log=log,
                quantizer=quantizer,
                decoder=decoder,
                bdd_rules=rules,
            )
            log(f"bundle written: {bundle}")
        if engine:
            _require_tensorrt()
            from edgecgl.export.tensorrt import build_bundle_engines

            build_bundle_engines(
                bundle, workspace_mb=workspace_mb, overwrite=overwrite or not is_bundle, log=log
            )
        if verify:
            from edgecgl.export.verify import format_table, verify_bundle

            rows = verify_bundle(bundle, data=data, log=log)
            typer.echo(format_table(rows))
            failed = [f"{r['backend']} {r['precision']} {r['input']}" for r in rows if not r["ok"]]
            if failed:
                log(f"verify: below the PSNR limit: {', '.join(failed)}")
                raise typer.Exit(1)


def _not_a_bundle(source: Path) -> None:
    """``--engine``/``--verify`` on SOURCE with no --out: SOURCE must be a bundle. Say what it is instead
    of asking for an --out the user never meant to give; a run or model.pt really does need --out."""
    from edgecgl.bundle import MANIFEST

    hint = "give a bundle folder written by edgecgl export; a run or model.pt needs --out"
    if not source.exists():
        raise EdgecglError(f"bundle {source} does not exist", hint)
    try:
        resolve_checkpoint(source)
    except EdgecglError:
        raise EdgecglError(f"{source} is not a bundle: it has no {MANIFEST}", hint) from None
    raise EdgecglError(
        f"{source} is a {'run' if source.is_dir() else 'checkpoint'}, not a bundle: exporting it needs --out",
        f"e.g. --out bundles/{source.name if source.is_dir() else source.stem}",
    )


def _require_tensorrt() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        raise EdgecglError(
            "TensorRT is not installed on this machine, so no engine can be built",
            "run 'edgecgl export --engine BUNDLE' on the target GPU with TensorRT (a PC: the trt extra; "
            "a Jetson: JetPack's python3-libnvinfer, docs/JETSON.md)",
        )
