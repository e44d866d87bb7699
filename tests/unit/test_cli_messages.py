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
