"""``edgecgl video``."""

from __future__ import annotations

import typer

from edgecgl.errors import NotAvailableYet


def register(app: typer.Typer) -> None:
    @app.command(
        "video",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog="Example: edgecgl video in.mp4 --to night --out out.mp4",
    )
    def video_(ctx: typer.Context) -> None:
        """Translate a dashcam video to another weather domain. (planned)"""
        raise NotAvailableYet("'edgecgl video' is not available yet", "it is planned; see the README")
