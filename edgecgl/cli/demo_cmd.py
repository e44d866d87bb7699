"""``edgecgl demo``."""

from __future__ import annotations

import typer

from edgecgl.errors import NotAvailableYet


def register(app: typer.Typer) -> None:
    @app.command(
        "demo",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog="Example: edgecgl demo",
    )
    def demo_(ctx: typer.Context) -> None:
        """Run the whole chain on generated data with no internet. (planned)"""
        raise NotAvailableYet("'edgecgl demo' is not available yet", "it is planned; see the README")
