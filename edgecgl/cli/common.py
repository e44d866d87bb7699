"""What every subcommand shares: global flags, the console, progress bars, friendly path checks."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from edgecgl.errors import EdgecglError


@dataclass
class State:
    debug: bool = False
    quiet: bool = False


STATE = State()


class _LogStream:
    """stderr, whose loss never stops the work: a log pipe whose reader died (journald restarted, a
    `| head` on the log) made every later status line raise EPIPE and ended a finished run with exit 1.
    Resolved at each write, so a test's captured stderr is the one written to."""

    def write(self, text: str) -> int:
        try:
            return sys.stderr.write(text)
        except BrokenPipeError:
            return len(text)

    def flush(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            sys.stderr.flush()

    def __getattr__(self, name: str) -> object:  # isatty, fileno, encoding: the real stream's
        return getattr(sys.stderr, name)


console = Console(file=_LogStream())  # type: ignore[arg-type]

# Every command that reads bdd100k: takes it (train also as the config key data.bdd_rules).
BDD_RULES = typer.Option(
    None,
    "--bdd-rules",
    help="YAML file: the BDD100K attributes -> domain table, a list of {domain, weather: [...], timeofday: "
    "[...]} (or a config holding data.bdd_rules); first match wins. Default: the paper's Table 1.",
    show_default=False,
)


def log(msg: str) -> None:
    """A status line on stderr (hidden by --quiet, except a "warning:" line: what was lost or skipped is
    not status); never hard-wrapped, so a path in it stays whole in logs and pipes (rich wraps at 80
    columns when stderr is not a terminal)."""
    if not STATE.quiet or msg.startswith("warning:"):
        console.print(escape(msg), highlight=False, soft_wrap=True)


def progress() -> Progress:
    """A rich progress bar with rate and ETA; disabled by --quiet or when not a terminal in CI."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        disable=STATE.quiet or os.environ.get("EDGECGL_NO_PROGRESS") == "1",
        transient=False,
    )


def existing_file(path: Path, what: str = "file") -> Path:
    p = Path(path)
    if not p.exists():
        raise EdgecglError(f"{what} {p} does not exist")
    if not p.is_file():
        raise EdgecglError(f"{what} {p} is not a file")
    return p


def existing_dir(path: Path, what: str = "folder") -> Path:
    p = Path(path)
    if not p.exists():
        raise EdgecglError(f"{what} {p} does not exist")
    if not p.is_dir():
        raise EdgecglError(f"{what} {p} is not a folder")
    return p
