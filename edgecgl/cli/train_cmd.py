"""``edgecgl train``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgecgl.cli.common import BDD_RULES
from edgecgl.errors import EdgecglError


def register(app: typer.Typer) -> None:
    @app.command(
        "train",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog="Example: edgecgl train --config synth-tiny --data folder:data/synth --iters 2000",
    )
    def train_(
        ctx: typer.Context,
        config: str = typer.Option(None, "--config", "-c", help="configs/<name>.yaml or a shipped name."),
        data: str = typer.Option(
            None, "--data", help="Dataset KIND:PATH (folder:, bdd100k:, init:; SynthWeather is a folder)."
        ),
        out: Path = typer.Option(Path("runs/train"), "--out", help="Parent of the numbered run folders."),
        iters: int = typer.Option(None, "--iters", help="Train until this step."),
        resume: bool = typer.Option(
            False, "--resume", help="Continue a run: --resume [RUN_DIR] (default: the newest under --out)."
        ),
        sets: list[str] = typer.Option([], "--set", help="Override a config key: --set optim.lr=2e-4."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and model sizes."),
        device: str = typer.Option(None, "--device", help="cpu | cuda | cuda:N | auto (default: config)."),
        bdd_rules: Path | None = BDD_RULES,
    ) -> None:
        """Train the CGL model; writes runs/train/NNN-<name>/ (config, metrics, samples, checkpoints)."""
        extra = list(ctx.args)
        resume_dir = None
        if resume and extra and not extra[0].startswith("-"):
            resume_dir = Path(extra.pop(0))
        if extra:
            raise EdgecglError(f"unexpected argument '{extra[0]}'", "see edgecgl train --help")
        from edgecgl.cli.common import STATE
        from edgecgl.train import launch

        if bdd_rules is not None:  # sets data.bdd_rules, as --data sets data.spec (recorded in config.yaml)
            import json
            from dataclasses import asdict

            from edgecgl.domains import load_bdd_rules

            table = [asdict(r) for r in load_bdd_rules(bdd_rules).rules]
            sets = [*sets, f"data.bdd_rules={json.dumps(table)}"]

        if dry_run:
            run_dir = None
            if resume:
                from edgecgl.cli.common import log
                from edgecgl.runs import newest, run_or_newest

                if resume_dir is not None:
                    run_dir = run_or_newest(resume_dir, "checkpoints/last.pt", log)
                else:
                    run_dir = newest(out, "checkpoints/last.pt")
            cfg = launch.resolve_config(config, list(sets), data, iters, device, run_dir)
            print(launch.dry_run_text(cfg))
            return
        from edgecgl.cli.common import log

        launch.train(
            config,
            data=data,
            out=out,
            iters=iters,
            resume=resume,
            resume_dir=resume_dir,
            sets=list(sets),
            device=device,
            log=log,
            progress=not STATE.quiet,
        )
