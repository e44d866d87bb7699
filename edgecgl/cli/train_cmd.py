"""``edgecgl train``."""

from __future__ import annotations

import typer

from edgecgl.errors import NotAvailableYet


def register(app: typer.Typer) -> None:
    @app.command(
        "train",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog="Example: edgecgl train --config synth-tiny --data folder:data/synth --iters 2000",
    )
    def train_(ctx: typer.Context) -> None:
        """Train the CGL model (issue: model and trainer). (planned)"""
        raise NotAvailableYet("'edgecgl train' is not available yet", "it is planned; see the README")
