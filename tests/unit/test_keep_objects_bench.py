"""benchmarks/keep_objects.py: a work folder without a bundle is one line, exit 2, and nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.common import ROOT


def test_missing_work_folder_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks.keep_objects", "--work", str(tmp_path / "nope"), "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 2 and "run benchmarks/realfog.py first" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
