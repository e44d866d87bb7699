"""Run the real ``edgecgl`` CLI in a subprocess, as a user would (no progress bars in logs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENV = {**os.environ, "EDGECGL_NO_PROGRESS": "1"}


def edgecgl(
    *args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """``env``: variables to set on top of the test environment (None: unset it)."""
    full = {**ENV, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "edgecgl", *args],
        capture_output=True,
        text=True,
        env={k: v for k, v in full.items() if v is not None},
        cwd=cwd,
        timeout=timeout,
    )
