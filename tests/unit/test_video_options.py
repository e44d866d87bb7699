"""VideoOptions refuse what libx264 or the range would refuse, when made: before any file is opened."""

from __future__ import annotations

import pytest

from edgecgl.errors import EdgecglError
from edgecgl.video import X264_PRESETS, VideoOptions


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"preset": "bogus"}, "unknown --preset 'bogus'"),
        ({"crf": 99}, "--crf 99 is out of range"),
        ({"crf": -1}, "--crf -1 is out of range"),
        ({"start": 5.0, "end": 2.0}, "--end 2.0 is not after --start 5.0"),
        ({"start": -1.0}, "--start -1.0 is not a time in the clip"),
        ({"end": float("nan")}, "--end nan is not a time in the clip"),
        ({"max_frames": 0}, "--max-frames 0 must be at least 1"),
        ({"queue_size": 0}, "queue size 0 must be at least 1"),
    ],
)
def test_bad_options_are_refused_when_made(kw: dict, fragment: str) -> None:
    with pytest.raises(EdgecglError, match=fragment.replace("(", r"\(")):
        VideoOptions(**kw)


def test_every_x264_preset_and_the_crf_ends_are_accepted() -> None:
    for preset in X264_PRESETS:
        VideoOptions(preset=preset)
    VideoOptions(crf=0, start=0.0, end=0.1, max_frames=1)
    VideoOptions(crf=51)
    assert "ultrafast" in X264_PRESETS and "placebo" in X264_PRESETS


def test_translate_video_checks_options_changed_after_they_were_made(tmp_path) -> None:
    from edgecgl.video import translate_video

    src = tmp_path / "in.mp4"
    src.write_bytes(b"not read: the options are refused first")
    opts = VideoOptions()
    opts.preset = "bogus"
    with pytest.raises(EdgecglError, match="unknown --preset"):
        translate_video(src, tmp_path / "out.mp4", pipeline=None, opts=opts)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
