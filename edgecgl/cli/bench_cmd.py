"""``edgecgl bench``."""

from __future__ import annotations

import typer

from edgecgl.errors import NotAvailableYet


def register(app: typer.Typer) -> None:
    @app.command(
        "bench",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog="Example: edgecgl bench bundles/synth --out results.json",
    )
    def bench_(ctx: typer.Context) -> None:
        """Benchmark a bundle's backends on this device. (planned)"""
        raise NotAvailableYet("'edgecgl bench' is not available yet", "it is planned; see the README")
