"""``edgecgl export``."""

from __future__ import annotations

import typer

from edgecgl.errors import NotAvailableYet


def register(app: typer.Typer) -> None:
    @app.command(
        "export",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog="Example: edgecgl export --fp16 --out bundles/synth",
    )
    def export_(ctx: typer.Context) -> None:
        """Export a trained model to an ONNX/TensorRT bundle. (planned)"""
        raise NotAvailableYet("'edgecgl export' is not available yet", "it is planned; see the README")
