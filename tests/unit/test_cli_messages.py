"""Small things users read: numbers rounded as people write them, help text without format escapes."""

from __future__ import annotations

from edgecgl.cli.eval_cmd import percent


def test_percent_has_one_decimal() -> None:
    assert percent(200 / 3) == "66.7%"
    assert percent(100.0) == "100.0%"
    assert percent(None) == "n/a"


def test_keep_objects_help_shows_a_plain_percent_sign() -> None:
    """click does not %-format help text, so '%%' reached the screen."""
    from edgecgl.cli.runtime_opts import KEEP_OBJECTS

    assert "15 % of the height" in KEEP_OBJECTS.help and "%%" not in KEEP_OBJECTS.help


def test_video_keep_objects_help_shows_a_plain_percent_sign() -> None:
    import typer

    from edgecgl.cli import app

    video = typer.main.get_command(app).commands["video"]  # type: ignore[attr-defined]
    (text,) = [p.help for p in video.params if "--keep-objects" in p.opts]
    assert "15 % of the height" in text and "%%" not in text


def test_usage_errors_are_one_line_naming_the_command(capsys) -> None:  # noqa: ANN001
    """click printed a four-line usage block ending in 'Error: ...'; the README promises one line."""
    import pytest

    from edgecgl.cli import main

    cases = [
        (["video", "x.mp4"], "error: Missing option '--to' / '-t' (see edgecgl video --help)"),
        (
            ["data", "synth", "--n"],
            "error: Option '--n' requires an argument (see edgecgl data synth --help)",
        ),
        (["vido"], "error: No such command 'vido'. Did you mean 'video'? (see edgecgl --help)"),
    ]
    for argv, line in cases:
        with pytest.raises(SystemExit) as e:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and err == line, err
