"""``edgecgl data``: dataset tools (synth, stats, label)."""

from __future__ import annotations

import typer

from edgecgl.errors import NotAvailableYet


def register(app: typer.Typer) -> None:
    data = typer.Typer(
        help="Dataset tools: generate SynthWeather, print stats, label with YOLO.",
        epilog="Example: edgecgl data synth --out data/synth --n 2000 --seed 0",
        no_args_is_help=True,
    )

    @data.command("synth", epilog="Example: edgecgl data synth --out data/synth --n 2000 --seed 0")
    def synth() -> None:
        """Generate SynthWeather, paired dashcam scenes in four weathers. (planned)"""
        raise NotAvailableYet("'edgecgl data synth' is not available yet", "it is planned; see the README")

    app.add_typer(data, name="data")
