"""The README cannot drift: every command it shows exists, and every flag it uses is one the CLI takes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

from edgecgl.cli import ROOT_FLAGS

README = Path(__file__).resolve().parents[2] / "README.md"
GROUPS = {"data": None, "eval": "run"}  # groups -> their default sub-command (if any)


@cache
def help_text(*words: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "edgecgl", *words, "--help"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, f"edgecgl {' '.join(words)} --help failed: {r.stderr[-300:]}"
    return r.stdout


def readme_commands() -> list[list[str]]:
    """Every `edgecgl ...` invocation in the README: lines of its bash blocks and `backticked` spans."""
    text = README.read_text(encoding="utf-8")
    cmds: list[str] = []
    in_bash = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_bash = line.strip() == "```bash"
            continue
        if in_bash:
            m = re.search(r"(?:^|-m )(edgecgl\s+[a-z].*)", line.split("#")[0])
            if m:
                cmds.append(m.group(1))
        else:
            cmds += re.findall(r"`(edgecgl [a-z][^`]*)`", line)
    found = []
    for cmd in cmds:
        try:
            words = shlex.split(cmd)
        except ValueError:
            continue
        if len(words) > 1:
            found.append(words[1:])
    return found


def test_readme_table_lists_every_subcommand() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- commands:start -->")[1].split("<!-- commands:end -->")[0]
    listed = set(re.findall(r"\| `edgecgl (\w+)`", table))
    top = help_text()
    shown = set(re.findall(r"│ (\w[\w-]*)\s{2,}", top)) - {"Usage"}
    missing = {c for c in shown if c not in listed and c not in ("debug", "quiet", "help")}
    assert not missing, f"subcommands missing from the README table: {missing}"
    for name in listed:
        assert name in shown, f"README lists 'edgecgl {name}' but the CLI has no such command"


def test_every_readme_flag_exists() -> None:
    cmds = readme_commands()
    assert len(cmds) >= 10, "expected the README to show at least ten edgecgl commands"
    for words in cmds:
        path = [words[0]]
        if words[0] in GROUPS and len(words) > 1 and not words[1].startswith("-"):
            sub = words[1]
            if re.search(rf"│ {re.escape(sub)}\s", help_text(words[0])):
                path.append(sub)
        if len(path) == 1 and GROUPS.get(words[0]):
            path.append(GROUPS[words[0]])
        text = help_text(*path)
        root = help_text()  # --quiet / --debug are accepted after the subcommand too
        for flag in (w.split("=")[0] for w in words if w.startswith("--")):
            if flag in ROOT_FLAGS:
                assert flag in root, f"README uses '{flag}' but 'edgecgl --help' has no such option"
                continue
            assert flag in text, (
                f"README uses '{flag}' but 'edgecgl {' '.join(path)} --help' has no such option"
            )
