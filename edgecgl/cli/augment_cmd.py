"""``edgecgl augment``."""

from __future__ import annotations

import typer

from edgecgl.errors import NotAvailableYet


def register(app: typer.Typer) -> None:
    @app.command(
        "augment",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog="Example: edgecgl augment folder:data/fleet --to night,rainy --out data/fleet-aug",
    )
    def augment_(ctx: typer.Context) -> None:
        """Translate a labelled dataset, carrying its labels over. (planned)"""
        raise NotAvailableYet("'edgecgl augment' is not available yet", "it is planned; see the README")
