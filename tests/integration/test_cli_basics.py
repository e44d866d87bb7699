"""The real CLI in a subprocess: help lists every subcommand, user errors are one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

SUBCOMMANDS = [
    "train",
    "export",
    "calib",
    "video",
    "image",
    "augment",
    "eval",
    "bench",
    "data",
    "demo",
    "version",
]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgecgl", *args], capture_output=True, text=True, timeout=timeout
    )


def test_help_lists_every_subcommand() -> None:
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    for name in SUBCOMMANDS:
        assert f" {name} " in r.stdout, f"{name} missing from --help"


def test_each_subcommand_has_help_with_example() -> None:
    for name in SUBCOMMANDS:
        r = run_cli(name, "--help")
        assert r.returncode == 0, (name, r.stderr)
        assert "Example" in r.stdout or name == "version", f"{name} --help has no example"
        flat = " ".join(r.stdout.split())  # rich wraps the epilog
        assert "--quiet / -q" in flat and "--debug" in flat, f"{name} --help does not name the root flags"


def test_version_prints() -> None:
    r = run_cli("version")
    assert r.returncode == 0 and r.stdout.startswith("edgecgl ")
    assert "  openvino " in r.stdout  # installed or "not installed": what --backend openvino-bf16 needs


def test_unknown_command_exits_2() -> None:
    r = run_cli("frobnicate")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
