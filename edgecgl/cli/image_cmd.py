"""``edgecgl image``."""

from __future__ import annotations

import typer

from edgecgl.errors import NotAvailableYet


def register(app: typer.Typer) -> None:
    @app.command(
        "image",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog="Example: edgecgl image frame.jpg --to rainy --out frame_rainy.jpg",
    )
    def image_(ctx: typer.Context) -> None:
        """Translate still images (a file or a folder). (planned)"""
        raise NotAvailableYet("'edgecgl image' is not available yet", "it is planned; see the README")
