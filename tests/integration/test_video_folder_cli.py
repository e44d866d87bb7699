"""``edgecgl video FOLDER``: a recorder's folder of clips through one pipeline, resumable, per-clip styles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.cli import edgecgl
from tests.integration.test_video_cli import frames_of, packets
from tests.runtime_helpers import make_clip, tiny_bundle_for

RUN = ("--to", "night", "--no-instances", "--backend", "onnxruntime-cpu", "--size", "32x64")


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle_for(tmp_path_factory)


@pytest.fixture()
def clips(tmp_path: Path) -> Path:
    """Two days of a recorder's card: the same name on both days, a macOS resource fork, a broken file."""
    root = tmp_path / "card"
    (root / "2026-12-01").mkdir(parents=True)
    (root / "2026-12-02").mkdir()
    make_clip(root / "2026-12-01" / "0001.mp4", n=6, hw=(48, 64))
    make_clip(root / "2026-12-02" / "0001.mp4", n=6, hw=(48, 64))
    (root / "2026-12-02" / "0002.mp4").write_text("not a video")
    (root / "2026-12-02" / "._0001.mp4").write_bytes(b"\x00\x05\x16\x07")
    return root


def test_folder_mirrors_the_layout_skips_the_broken_and_resumes(
    bundle_dir: Path, clips: Path, tmp_path: Path
) -> None:
    out, stats = tmp_path / "night", tmp_path / "stats.json"
    r = edgecgl(
        "video", str(clips), *RUN, "--bundle", str(bundle_dir), "--out", str(out), "--stats-json", str(stats)
    )
    assert r.returncode == 0, r.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == [".edgecgl-video.json", "2026-12-01/0001.mp4", "2026-12-02/0001.mp4"]  # + the record
    for day in ("2026-12-01", "2026-12-02"):
        assert len(frames_of(out / day / "0001.mp4")[0]) == 6
        assert packets(out / day / "0001.mp4", "audio") == packets(clips / day / "0001.mp4", "audio")
    text = " ".join(r.stderr.split())
    assert "failed 2026-12-02/0002.mp4" in text and "warning: 1 clip(s) could not be translated" in text
    summary = json.loads(stats.read_text())
    assert [c["frames"] for c in summary["clips"]] == [6, 6] and len(summary["failed"]) == 1
    # the same command again: the finished clips are kept (their stats too), the broken one tried again
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    r = edgecgl("video", str(clips), *RUN, "--bundle", str(bundle_dir), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "2 of 3 clip(s) already translated with these settings, kept" in " ".join(r.stderr.split())
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    assert after.keys() == before.keys()
    # a quick trial with other settings into the same folder is refused, not mixed in; --overwrite redoes
    trial = ("video", str(clips), *RUN, "--bundle", str(bundle_dir), "--out", str(out), "--max-frames", "3")
    r = edgecgl(*trial)
    assert r.returncode == 2 and "holds clips made with other settings: max_frames None (now 3)" in " ".join(
        r.stderr.split()
    )
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")} == after
    r = edgecgl(*trial, "--overwrite", "--stats-json", str(stats))
    assert r.returncode == 0, r.stderr
    assert len(frames_of(out / "2026-12-01" / "0001.mp4")[0]) == 3
    assert [c["this_run"] for c in json.loads(stats.read_text())["clips"]] == [True, True]
    again = tmp_path / "again.json"
    r = edgecgl(*trial, "--stats-json", str(again))  # continued: the finished clips kept with their stats
    assert r.returncode == 0, r.stderr
    summary = json.loads(again.read_text())
    assert [(c["this_run"], c["frames"]) for c in summary["clips"]] == [(False, 3), (False, 3)]
    assert len(summary["kept"]) == 2 and len(summary["failed"]) == 1


def test_a_file_the_record_does_not_know_is_not_taken_for_a_finished_clip(
    bundle_dir: Path, clips: Path, tmp_path: Path
) -> None:
    """A clip output in --out that no run recorded (the user's own file, or a run killed between the
    clip's rename and its record) is never kept as if it were this run's translation."""
    out = tmp_path / "night"
    (out / "2026-12-01").mkdir(parents=True)
    (out / "2026-12-01" / "0001.mp4").write_bytes(b"my own edit")
    r = edgecgl("video", str(clips), *RUN, "--bundle", str(bundle_dir), "--out", str(out))
    assert r.returncode == 2 and "is in the way" in r.stderr and "--overwrite" in r.stderr
    assert (out / "2026-12-01" / "0001.mp4").read_bytes() == b"my own edit"


def test_an_earlier_runs_output_inside_the_card_is_not_translated_again(
    bundle_dir: Path, clips: Path, tmp_path: Path
) -> None:
    """``video card/2026-12-01/`` writes ``card/2026-12-01_night/`` by default, inside ``card/``; a later
    ``video card/`` took those translations for clips (README walkthrough s31)."""
    r = edgecgl("video", str(clips / "2026-12-01"), *RUN, "--bundle", str(bundle_dir))
    assert r.returncode == 0 and (clips / "2026-12-01_night" / "0001.mp4").is_file(), r.stderr
    out = tmp_path / "all"
    r = edgecgl("video", str(clips), *RUN, "--bundle", str(bundle_dir), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "skipped 2026-12-01_night/ in" in " ".join(r.stderr.split()), r.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4"))
    assert written == ["2026-12-01/0001.mp4", "2026-12-02/0001.mp4"]  # no 2026-12-01_night/0001.mp4


def test_one_style_for_all_or_one_per_clip(bundle_dir: Path, clips: Path, tmp_path: Path) -> None:
    """The two days' clips have the same pictures: one style gives the same output, --style-per-clip two
    looks (drawn by the clip's path, so equal names on different days differ). A clip of the folder is
    what the same command gives for that clip alone."""
    base = (
        "video",
        str(clips),
        *RUN,
        "--bundle",
        str(bundle_dir),
        "--style-seed",
        "4",
        "--style-spread",
        "3",
    )
    one, per = tmp_path / "one", tmp_path / "per"
    assert edgecgl(*base, "--out", str(one)).returncode == 0
    r = edgecgl(*base, "--style-per-clip", "--out", str(per))
    assert r.returncode == 0, r.stderr

    def diff(a: Path, b: Path) -> float:
        fa, fb = frames_of(a)[0], frames_of(b)[0]
        return float(np.mean([np.abs(x.astype(np.float64) - y).mean() for x, y in zip(fa, fb, strict=True)]))

    day1, day2 = Path("2026-12-01/0001.mp4"), Path("2026-12-02/0001.mp4")
    assert diff(one / day1, one / day2) < 0.5
    assert diff(per / day1, per / day2) > 2.0, diff(per / day1, per / day2)
    alone = tmp_path / "alone.mp4"
    clip = clips / "2026-12-01" / "0001.mp4"
    r = edgecgl(
        "video", str(clip), *RUN, "--bundle", str(bundle_dir), "--style-seed", "4", "--style-spread", "3",
        "--out", str(alone),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert diff(alone, one / day1) < 0.5


@pytest.mark.assets
def test_each_clip_starts_with_fresh_tracks(assets: Path, bundle_dir: Path, tmp_path: Path) -> None:
    """With YOLO tracking, a clip of the folder gets the instances it gets alone. With the last clip's
    tracker still running, its cars were new tracks in a running tracker: none on its first frame."""
    import av

    real = assets / "video" / "highway_960x540_audio.mp4"
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(real, folder / "a.mp4")
    with av.open(str(real)) as i, av.open(str(folder / "b.mp4"), "w") as o:  # the scene mirrored
        s = o.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 960, 540, "yuv420p"
        for k, f in zip(range(3), i.decode(video=0), strict=False):
            g = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(f.to_ndarray(format="rgb24")[:, ::-1]), format="rgb24"
            )
            g.pts = k
            o.mux(s.encode(g))
        o.mux(s.encode(None))
    yolo = (
        "--to", "night", "--bundle", str(bundle_dir), "--backend", "onnxruntime-cpu", "--size", "64x128",
        "--detector", str(assets / "models" / "yolov8n-coco.pt"), "--detect-every", "1", "--max-frames", "3",
    )  # fmt: skip
    stats, alone = tmp_path / "stats.json", tmp_path / "alone.json"
    r = edgecgl("video", str(folder), *yolo, "--out", str(tmp_path / "out"), "--stats-json", str(stats))
    assert r.returncode == 0, r.stderr
    r = edgecgl(
        "video", str(folder / "b.mp4"), *yolo, "--out", str(tmp_path / "b.mp4"), "--stats-json", str(alone)
    )
    assert r.returncode == 0, r.stderr
    runs = json.loads(stats.read_text())["clips"]
    assert runs[0]["instances"] > 0 and runs[1]["instances"] == json.loads(alone.read_text())["instances"] > 0


@pytest.mark.parametrize(
    "case,message",
    [
        ("inside", "inside the input folder"),
        ("empty", "no videos in"),
        ("clash", "would both be written to"),
        ("file_out", "is a file, but"),
        ("video_out", "names a video file, but"),
    ],
)
def test_folder_user_errors(bundle_dir: Path, clips: Path, tmp_path: Path, case: str, message: str) -> None:
    src, out = clips, tmp_path / "out"
    if case == "inside":
        out = clips / "night"
    elif case == "empty":
        src = tmp_path / "empty"
        src.mkdir()
    elif case == "clash":
        shutil.copy(clips / "2026-12-01" / "0001.mp4", clips / "2026-12-01" / "0001.mov")
    elif case == "file_out":
        out.write_text("x")
    elif case == "video_out":
        out = tmp_path / "night.mp4"
    r = edgecgl("video", str(src), *RUN, "--bundle", str(bundle_dir), "--out", str(out))
    assert r.returncode == 2 and message in " ".join(r.stderr.split()), r.stderr
    assert "Traceback" not in r.stderr
    assert case == "file_out" or not out.exists() or not any(out.rglob("*.mp4"))
