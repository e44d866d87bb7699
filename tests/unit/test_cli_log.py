"""Status lines keep long paths whole: rich hard-wraps at 80 columns when stderr is not a terminal."""

from __future__ import annotations

import pytest

from edgecgl.cli.common import STATE, log


def test_a_long_status_line_is_not_wrapped(capsys: pytest.CaptureFixture[str]) -> None:
    path = "/tmp/" + "/".join(["a-rather-long-folder-name"] * 8) + "/runs"
    msg = f"{path} is a runs folder: taking its newest run {path}/000-tiny"
    assert len(msg) > 200
    STATE.quiet = False
    log(msg)
    assert capsys.readouterr().err == msg + "\n"


def test_quiet_hides_status_lines(capsys: pytest.CaptureFixture[str]) -> None:
    STATE.quiet = True
    try:
        log("not shown")
    finally:
        STATE.quiet = False
    assert capsys.readouterr().err == ""
