"""``edgecgl eval``."""

from __future__ import annotations

import typer

from edgecgl.errors import NotAvailableYet


def register(app: typer.Typer) -> None:
    @app.command(
        "eval",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog="Example: edgecgl eval runs/train/000-synth-tiny --data folder:data/synth --out eval/",
    )
    def eval_(ctx: typer.Context) -> None:
        """Evaluate a model or bundle: FID, IS, LPIPS, paired metrics. (planned)"""
        raise NotAvailableYet("'edgecgl eval' is not available yet", "it is planned; see the README")
