"""SynthWeather clips: H.264 frame count, optional AAC track, per-frame boxes, moving content."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from edgecgl.train.data.clip import render_clip, write_clips

from edgecgl.errors import EdgecglError


def decode(path: Path) -> tuple[list[np.ndarray], list[str]]:
    with av.open(str(path)) as c:
        kinds = [f"{s.type}:{s.codec_context.name}" for s in c.streams]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return frames, kinds


def test_clip_with_audio(tmp_path: Path) -> None:
    out = tmp_path / "night.mp4"
    boxes = render_clip(out, n_frames=8, size=(64, 128), seed=2, fps=10, domain="night", audio=True)
    frames, kinds = decode(out)
    assert kinds == ["video:h264", "audio:aac"]
    assert len(frames) == 8 and frames[0].shape == (64, 128, 3)
    assert len(boxes) == 8 and all(len(b[0]) == 5 for b in boxes if b)
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 1.0  # the drive moves
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        samples = sum(f.samples for f in c.decode(audio=0))
        assert a.rate == 48000 and a.channels == 2
    assert abs(samples / 48000 - 0.8) < 0.1  # audio lasts as long as the video
    with pytest.raises(EdgecglError, match="already exists"):
        render_clip(out, n_frames=2, size=(64, 128))


def test_paired_clips_without_audio(tmp_path: Path) -> None:
    paths = write_clips(
        tmp_path / "clips", n_frames=4, size=(32, 64), seed=1, fps=5, domains=("sunny", "rainy")
    )
    assert [p.name for p in paths] == ["sunny.mp4", "rainy.mp4", "boxes.json"]
    frames, kinds = decode(paths[0])
    assert kinds == ["video:h264"] and len(frames) == 4
    meta = json.loads(paths[2].read_text())
    assert meta["frames"] == 4 and len(meta["boxes"]) == 4 and meta["fps"] == 5


def test_clip_rejects_odd_size(tmp_path: Path) -> None:
    with pytest.raises(EdgecglError, match="not usable for H.264"):
        render_clip(tmp_path / "a.mp4", n_frames=2, size=(63, 128))
    with pytest.raises(EdgecglError, match="unknown domain"):
        render_clip(tmp_path / "a.mp4", n_frames=2, domain="foggy")


def test_failed_clip_set_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that fails at the third clip leaves nothing under the final name (it used to leave the first
    two clips there, and a rerun then met 'already exists')."""
    from edgecgl.train.data import clip

    encode = clip._encode

    def fail_third(path: Path, *a: object) -> None:
        if "cloudy" in path.name:  # the final name or its temporary one
            raise RuntimeError("disk full")
        encode(path, *a)

    monkeypatch.setattr(clip, "_encode", fail_third)
    with pytest.raises(RuntimeError, match="disk full"):
        write_clips(tmp_path / "clips", n_frames=2, size=(16, 32))
    assert list(tmp_path.iterdir()) == []  # neither the final name nor the temporary folder
    monkeypatch.setattr(clip, "_encode", encode)
    assert len(write_clips(tmp_path / "clips", n_frames=2, size=(16, 32))) == 5  # the rerun works
