"""``edgecgl calib``: a deterministic, domain-balanced INT8 calibration set."""

from __future__ import annotations

from pathlib import Path

import typer

from edgecgl.cli.common import BDD_RULES, log


def register(app: typer.Typer) -> None:
    @app.command(
        "calib",
        epilog=(
            "Example: edgecgl calib folder:data/synth --out calib.npz --n 512 | "
            "edgecgl calib dashcam.mp4 --out calib.npz --n 256 --size 256x512"
        ),
    )
    def calib_(
        data: str = typer.Argument(
            ...,
            help="Dataset (folder:ROOT, bdd100k:LABELS, init:ROOT or a path), an image folder, or video(s).",
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Calibration set to write (.npz)."),
        n: int = typer.Option(512, "--n", help="Number of frames (balanced across domains)."),
        size: str = typer.Option("128x256", "--size", help="Frame size HxW (multiples of 4)."),
        instance_size: str = typer.Option("64x64", "--instance-size", help="Instance crop size hxw."),
        seed: int = typer.Option(0, "--seed", help="Same seed, same set."),
        domain: str = typer.Option(
            "sunny", "--domain", help="Domain of frames whose source does not say (videos, flat folders)."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
        bdd_rules: Path | None = BDD_RULES,
    ) -> None:
        """Sample an INT8 calibration set from a dataset or videos."""
        from edgecgl.atomic import check_output
        from edgecgl.calib.sample import parse_size, sample_calibration, save_calib
        from edgecgl.domains import load_bdd_rules
        from edgecgl.errors import EdgecglError

        if out.suffix != ".npz":
            raise EdgecglError(f"--out {out} must end in .npz")
        check_output(out, [Path(data)], overwrite)
        rules = load_bdd_rules(bdd_rules)
        cs = sample_calibration(
            data, n, parse_size(size), parse_size(instance_size), seed, default_domain=domain, log=log,
            bdd_rules=rules, domains=rules.domains() if rules else None,
        )  # fmt: skip
        save_calib(out, cs)
        per = ", ".join(f"{k} {v}" for k, v in cs.meta["per_domain"].items())
        log(f"wrote {out}: {len(cs.frames)} frames {size} ({per}), {len(cs.instances)} crops {instance_size}")
