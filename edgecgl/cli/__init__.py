"""The ``edgecgl`` command. Thin: each subcommand lives in its own module and calls one function.

User errors (EdgecglError) print ``error: <message>`` on stderr and exit 2; ``--debug`` shows the
traceback. Nothing here imports training code at import time (the runtime must not).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import traceback
import warnings
from pathlib import Path

import typer
from rich.markup import escape

try:  # typer >= 0.20 vendors click as typer._click
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - older typer
    from click import exceptions as cx

from edgecgl import __version__, interrupt
from edgecgl.cli import (
    augment_cmd,
    bench_cmd,
    calib_cmd,
    data_cmd,
    demo_cmd,
    eval_cmd,
    export_cmd,
    image_cmd,
    train_cmd,
    video_cmd,
)
from edgecgl.cli.common import STATE, console
from edgecgl.errors import EdgecglError

app = typer.Typer(
    name="edgecgl",
    help="Weather translation for dashcam video: train, export to ONNX/TensorRT, translate on the vehicle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Hide progress bars and status lines (warnings still print)."
    ),
) -> None:
    STATE.debug = debug
    STATE.quiet = quiet


@app.command()
def version() -> None:
    """Print the edgecgl version and the versions of the libraries it runs on.

    Example: edgecgl version
    """
    import importlib.metadata as md
    import importlib.util

    print(f"edgecgl {__version__}")
    for dist in (
        "torch",
        "torchvision",
        "onnx",
        "onnxruntime",
        "onnxruntime-gpu",
        "av",
        "ultralytics",
        "tensorrt",
        "openvino",
    ):
        try:
            print(f"  {dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            print(f"  {dist} not installed")
    from edgecgl.backends.onnxruntime import available_providers, ort_install_problem

    problem = ort_install_problem()
    if importlib.util.find_spec("onnxruntime") is not None:
        print(f"  onnxruntime providers: {', '.join(available_providers())}")
    if problem:
        print(f"  warning: {problem}")


for _mod in (
    train_cmd,
    export_cmd,
    calib_cmd,
    video_cmd,
    image_cmd,
    augment_cmd,
    eval_cmd,
    bench_cmd,
    data_cmd,
    demo_cmd,
):
    _mod.register(app)


ROOT_FLAGS = ("--quiet", "-q", "--debug")
ROOT_FLAGS_NOTE = (
    "Every command also takes --quiet / -q (no progress bars or status lines; warnings still print) "
    "and --debug (full tracebacks), before or after its name."
)


def _note_root_flags(typer_app: typer.Typer) -> None:
    """Each command's --help names the root's flags too: users look there, not in ``edgecgl --help``."""
    for cmd in typer_app.registered_commands:
        cmd.epilog = f"{cmd.epilog}\n\n{ROOT_FLAGS_NOTE}" if cmd.epilog else ROOT_FLAGS_NOTE
    for group in typer_app.registered_groups:
        sub = group.typer_instance
        own = group.epilog or (sub.info.epilog if sub is not None else None)  # typer.Typer(epilog=...)
        group.epilog = f"{own}\n\n{ROOT_FLAGS_NOTE}" if isinstance(own, str) else ROOT_FLAGS_NOTE
        if sub is not None:
            _note_root_flags(sub)


_note_root_flags(app)


def hoist_root_flags(args: list[str]) -> list[str]:
    """Move ``--quiet``/``-q``/``--debug`` given after the subcommand to the front: users put flags
    anywhere (Ultralytics accepts them anywhere), but click only reads the root's flags before it."""
    cut = args.index("--") if "--" in args else len(args)
    head = [a for a in args[:cut] if a in ROOT_FLAGS]
    rest = [a for a in args[:cut] if a not in ROOT_FLAGS]
    return head + rest + args[cut:]


USER_ERRNOS = (
    errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
    errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENAMETOOLONG,
)  # fmt: skip


def is_users_os_error(exc: OSError) -> bool:
    """A path the user named that the OS refused (or a full disk): theirs to fix, not a bug. Checks in
    the commands catch most of these early; this is the last resort so none ends in a traceback."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return exc.errno in USER_ERRNOS and exc.filename is not None


def os_error_line(exc: OSError) -> str:
    from edgecgl.atomic import final_name

    reason = exc.strerror or os.strerror(exc.errno or 0)
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if exc.filename is None:
        return f"{reason} (free some space, or write --out elsewhere)"
    where = final_name(exc.filename) + (f" -> {final_name(exc.filename2)}" if exc.filename2 else "")
    if full:
        return f"{where}: {reason} (free some space, or write --out elsewhere)"
    return f"{where}: {reason} (check the path and its permissions; --debug shows where it happened)"


def _command_path(exc: cx.UsageError, args: list[str]) -> str:
    """The subcommand a usage error belongs to; click leaves no context on some parser errors."""
    if exc.ctx is not None and exc.ctx.command_path != "edgecgl":
        return exc.ctx.command_path
    path, group = ["edgecgl"], typer.main.get_command(app)
    for a in (a for a in args if not a.startswith("-")):
        sub = getattr(group, "commands", {}).get(a)
        if sub is None:
            break
        path.append(a)
        group = sub
    return " ".join(path)


def _stopped() -> None:
    """Ctrl-C (exit 130) or SIGTERM (exit 143), after the temporary outputs were removed."""
    if interrupt.received() == signal.SIGTERM:
        console.print("error: terminated (SIGTERM); no output was left half-written", highlight=False)
        sys.exit(128 + signal.SIGTERM)
    console.print("error: interrupted", highlight=False)
    sys.exit(130)


def _stdout_gone() -> None:
    """The reader of stdout closed it (a pipe): say so on stderr and exit 141, as a shell reports a
    command stopped by SIGPIPE; outputs are renamed before their result line, so a file that exists is
    whole. stdout goes to /dev/null first, or Python's flush at exit fails again."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    console.print("error: stdout was closed by its reader; stopped there", highlight=False)
    sys.exit(128 + signal.SIGPIPE)


_PACKAGE = Path(__file__).resolve().parents[1]  # edgecgl/; train/, export/, calib/ sit beside it
_OURS = tuple(
    str(p)
    for p in (_PACKAGE, _PACKAGE.parent / "train", _PACKAGE.parent / "export", _PACKAGE.parent / "calib")
)
_show_warning = warnings.showwarning


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Our own warnings (a skipped unreadable image) as one ``warning:`` line, not Python's file, line
    number and source line; other packages' as Python shows them; all of them raw with --debug."""
    if STATE.debug or not str(Path(filename).resolve()).startswith(_OURS):
        _show_warning(message, category, filename, lineno, file, line)
        return
    console.print(f"warning: {escape(str(message))}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    args = hoist_root_flags(list(sys.argv[1:] if argv is None else argv))
    if "--debug" in args:
        STATE.debug = True
    interrupt.install()
    warnings.showwarning = _one_line_warning
    command = typer.main.get_command(app)
    try:
        rc = command.main(args=args, prog_name="edgecgl", standalone_mode=False)
    except EdgecglError as exc:
        if STATE.debug:
            traceback.print_exc()
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except cx.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except cx.UsageError as exc:  # click's four-line usage block -> our one line, with where to look
        msg = f"{exc.format_message().rstrip('.')} (see {_command_path(exc, args)} --help)"
        console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except cx.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # stdout's reader went away (stderr's loss is absorbed by the console)
        _stdout_gone()
    except SystemExit:
        # click catches EPIPE itself, wraps the streams in its PacifyFlushWrapper and exits 1 silently
        if type(sys.stdout).__name__.lstrip("_") == "PacifyFlushWrapper":
            _stdout_gone()
        raise
    except OSError as exc:
        if not is_users_os_error(exc):
            raise
        if STATE.debug:
            traceback.print_exc()
        console.print(f"[bold red]error:[/] {escape(os_error_line(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        _stopped()
    if rc == 130:  # typer turns Ctrl-C into Exit(130), which click returns silently without standalone mode
        _stopped()
    sys.exit(rc if isinstance(rc, int) else 0)
