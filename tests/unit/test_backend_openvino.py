"""The OpenVINO backend's tests (tests/openvino_cases.py), each run in a pytest process of their own.

OpenVINO's thread pool in the suite's own process made it segfault at a later fork (see that file), so
the cases run in a child pytest; its report is this test's failure message.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_openvino_backend_cases_in_their_own_process() -> None:
    if importlib.util.find_spec("openvino") is None:  # found, not imported: see above
        pytest.skip("OpenVINO is part of the dev install (pyproject [openvino])")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/openvino_cases.py"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-2000:]
