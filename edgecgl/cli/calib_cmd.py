"""``edgecgl calib``."""

from __future__ import annotations

import typer

from edgecgl.errors import NotAvailableYet


def register(app: typer.Typer) -> None:
    @app.command(
        "calib",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog="Example: edgecgl calib folder:data/synth --out calib.npz --n 512",
    )
    def calib_(ctx: typer.Context) -> None:
        """Sample an INT8 calibration set from a dataset or videos. (planned)"""
        raise NotAvailableYet("'edgecgl calib' is not available yet", "it is planned; see the README")
