"""Bad and unusual input files through the real CLI (issue 9, "Files"); docs/ROBUSTNESS.md lists each case.

Every failure must be one ``error:`` line on stderr, exit 2, no traceback; unusual but usable inputs
succeed (with a warning where something was lost, e.g. a truncated file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.runtime_helpers import make_clip

ENV = {**os.environ, "EDGECGL_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
RUNTIME = ("--backend", "onnxruntime-cpu", "--no-instances")


def default_signals() -> None:
    """``preexec_fn`` for a child the test will interrupt: SIGINT and SIGTERM at their defaults. A test
    run started as a shell's background job inherits SIGINT ignored (so does every child it execs), and
    Ctrl-C tests then pass or fail for the wrong reason (the child never sees the signal)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def cli(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``python -m edgecgl ARGS`` in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "edgecgl", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=timeout,
    )


def assert_user_error(r: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2, exactly one ``error:`` line carrying every fragment, and no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.stderr
    text = " ".join(r.stderr.split())  # rich wraps long lines
    for f in fragments:
        assert f in text, (f, r.stderr)


def no_partials(folder: Path) -> list[Path]:
    """Temporary files ``edgecgl.atomic`` leaves only after a hard kill."""
    return sorted(p for p in folder.iterdir() if ".partial" in p.name)


def decode_all(path: Path) -> tuple[list[np.ndarray], list[int], int]:
    import av

    with av.open(str(path)) as c:
        frames, pts, rot = [], [], 0
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            pts.append(int(f.pts))
            rot = int(f.rotation or 0)
        return frames, pts, rot


def decodable_frames(path: Path) -> int:
    """Frames FFmpeg can decode from a damaged file, skipping packets it rejects (the reference count)."""
    import av

    n = 0
    try:
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            try:
                for pkt in c.demux(v):
                    try:
                        n += len(pkt.decode())
                    except av.error.FFmpegError:
                        continue
            except av.error.FFmpegError:
                pass
    except (av.error.FFmpegError, IndexError):
        return 0
    return n


def remux_faststart(src: Path, dst: Path) -> Path:
    """The same packets with the index (moov) first, as cameras that survive power loss write them."""
    import av

    with av.open(str(src)) as i, av.open(str(dst), "w", options={"movflags": "faststart"}) as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for p in i.demux():
            if p.dts is None:
                continue
            p.stream = streams[p.stream_index]
            o.mux(p)
    return dst


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("robust_media")
    clip = make_clip(d / "clip.mp4", n=40, hw=(48, 64), audio=True)
    return {"clip": clip, "faststart": remux_faststart(clip, d / "faststart.mp4")}


# ------------------------------------------------------------------ files that are not videos
@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "does not exist"),
        ("empty", "cannot open video"),
        ("text", "cannot open video"),
    ],
)
def test_missing_empty_and_text_files(tiny_bundle: Path, tmp_path: Path, kind: str, message: str) -> None:
    src = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        src.write_bytes(b"")
    elif kind == "text":
        src.write_text("this is not a video\n" * 20)
    out = tmp_path / "out.mp4"
    r = cli("video", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))
    assert_user_error(r, message)
    assert "[Errno" not in r.stderr, r.stderr  # FFmpeg's words, not PyAV's error number (s31 walkthrough)
    assert not out.exists() and not no_partials(tmp_path)


def test_audio_only_file(tiny_bundle: Path, tmp_path: Path) -> None:
    import av

    src = tmp_path / "audio.m4a"
    with av.open(str(src), "w") as o:
        s = o.add_stream("aac", rate=16000)
        s.layout = "mono"
        for k in range(0, 16000, 1024):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, k
            for p in s.encode(f):
                o.mux(p)
        for p in s.encode():
            o.mux(p)
    out = tmp_path / "out.mp4"
    r = cli("video", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))
    assert_user_error(r, "has no video stream", "audio-only")
    assert not out.exists()
    assert "backend:" not in r.stderr  # said before the bundle and the detector are loaded


# ------------------------------------------------------------------ truncated recordings
@pytest.mark.parametrize("percent", [10, 50, 90])
def test_truncated_mp4_translates_every_decodable_frame(
    tiny_bundle: Path, media: dict[str, Path], tmp_path: Path, percent: int
) -> None:
    """A recording cut at N % (index first): every decodable frame out, the file finished, a warning."""
    data = media["faststart"].read_bytes()
    src = tmp_path / f"cut{percent}.mp4"
    src.write_bytes(data[: len(data) * percent // 100])
    expected = decodable_frames(src)
    out = tmp_path / "out.mp4"
    r = cli("video", str(src), "--to", "rainy", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))
    if expected == 0:  # cut inside the first frame: nothing to translate
        assert_user_error(r, "no decodable video frames", "truncated or corrupt")
        assert not out.exists()
    else:
        assert r.returncode == 0, r.stderr
        assert "warning: the input is truncated or corrupt" in " ".join(r.stderr.split())
        frames, _, _ = decode_all(out)
        assert len(frames) == expected and frames[0].shape == (48, 64, 3)
    if percent == 50:  # a service's --quiet run: the loss is still said, and recorded in --stats-json
        stats = tmp_path / "stats.json"
        r = cli("--quiet", "video", str(src), "--to", "rainy", "--bundle", str(tiny_bundle), *RUNTIME,
                "--out", str(tmp_path / "quiet.mp4"), "--stats-json", str(stats))  # fmt: skip
        assert r.returncode == 0 and "backend:" not in r.stderr, r.stderr
        assert "warning: the input is truncated or corrupt" in " ".join(r.stderr.split())
        said = json.loads(stats.read_text())["warnings"]
        assert len(said) == 1 and "truncated or corrupt" in said[0]
    assert not no_partials(tmp_path)
    if percent >= 50:
        assert expected > 0  # the test would prove nothing if every cut were undecodable


def _stream_ends(path: Path) -> dict[str, float]:
    """Seconds where each stream's last packet ends."""
    import av

    ends: dict[str, float] = {}
    with av.open(str(path)) as c:
        for pk in c.demux():
            if pk.pts is not None:
                t = float((pk.pts + (pk.duration or 0)) * pk.time_base)
                ends[pk.stream.type] = max(ends.get(pk.stream.type, 0.0), t)
    return ends


def test_pictures_lost_at_the_end_take_the_sound_with_them(
    tiny_bundle: Path, media: dict[str, Path], tmp_path: Path
) -> None:
    """The last 60 % of the video packets garbled (a dying SD card), the audio intact: the output ends with
    its last decodable frame instead of a frozen picture under a second of sound."""
    import av

    src = tmp_path / "garbled.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(media["clip"])) as i, av.open(str(src), "w") as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        seen = 0
        for p in i.demux():
            if p.dts is None:
                continue
            if p.stream.type == "video":
                seen += 1
                if seen > 16:
                    q = av.Packet(rng.integers(0, 256, p.size, np.uint8).tobytes())
                    q.pts, q.dts, q.time_base, q.is_keyframe = p.pts, p.dts, p.time_base, False
                    p = q
            p.stream = streams[p.stream_index]
            o.mux(p)
    src_ends = _stream_ends(src)
    out = tmp_path / "out.mp4"
    r = cli("video", str(src), "--to", "rainy", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "warning: the input is truncated or corrupt" in " ".join(r.stderr.split())
    ends = _stream_ends(out)
    assert src_ends["audio"] - ends["video"] > 0.5  # the test would prove nothing otherwise
    assert ends["audio"] <= ends["video"] + 0.07, ends  # up to one AAC frame (1024 samples) past it


def test_truncated_mp4_without_index_is_a_clear_error(
    tiny_bundle: Path, media: dict[str, Path], tmp_path: Path
) -> None:
    """Index at the end (the usual recorder layout) and cut before it: FFmpeg cannot read it at all."""
    data = media["clip"].read_bytes()
    src = tmp_path / "cut.mp4"
    src.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.mp4"
    r = cli("video", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))
    assert_user_error(r)
    assert "moov" in r.stderr or "cannot open video" in r.stderr
    assert not out.exists()


# ------------------------------------------------------------------ unusual but valid videos
def test_variable_frame_rate_keeps_every_timestamp(tiny_bundle: Path, tmp_path: Path) -> None:
    import fractions

    import av

    src = tmp_path / "vfr.mp4"
    gaps = [1, 2, 1, 4, 1, 3]  # in 1/100 s: 100, 50, 25 fps mixed
    with av.open(str(src), "w") as o:
        s = o.add_stream("libx264", rate=50)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.time_base = fractions.Fraction(1, 100)
        s.options = {"preset": "ultrafast"}
        t = 0
        for i in range(18):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = t, fractions.Fraction(1, 100)
            t += gaps[i % len(gaps)]
            o.mux(s.encode(f))
        o.mux(s.encode(None))
    _, src_pts, _ = decode_all(src)
    assert len(set(np.diff(src_pts))) > 1  # really variable
    out = tmp_path / "out.mp4"
    r = cli("video", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    import av as _av

    with _av.open(str(src)) as a, _av.open(str(out)) as b:
        ta = [float(f.pts * f.time_base) for f in a.decode(video=0)]
        tb = [float(f.pts * f.time_base) for f in b.decode(video=0)]
    assert tb == pytest.approx(ta, abs=1e-6)


def test_rotated_video_keeps_its_rotation(tiny_bundle: Path, tmp_path: Path) -> None:
    src = make_clip(tmp_path / "rot.mp4", n=6, hw=(48, 64), audio=False, rotation=90)
    out = tmp_path / "out.mp4"
    r = cli("video", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    frames, _, rot = decode_all(out)
    assert len(frames) == 6 and rot == 90 and frames[0].shape == (48, 64, 3)


def test_recording_time_location_and_language_are_kept(
    tiny_bundle: Path, media: dict[str, Path], tmp_path: Path
) -> None:
    """Dashcam logs are aligned by the recording's creation_time; the audio's language names the track."""
    import av

    src = tmp_path / "tagged.mkv"  # MKV: each stream carries a DURATION tag, the input's
    tags = {"creation_time": "2016-08-28T21:16:08.000000Z", "location": "+37.7749-122.4194/"}
    with av.open(str(media["clip"])) as i, av.open(str(src), "w") as o:
        o.metadata.update(tags)
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for s in i.streams:
            streams[s.index].metadata["language"] = "eng" if s.type == "audio" else "und"
            streams[s.index].metadata["NUMBER_OF_FRAMES"] = "999"  # mkvmerge's statistics of the input
        for p in i.demux():
            if p.dts is not None:
                p.stream = streams[p.stream_index]
                o.mux(p)
    out = tmp_path / "out.mkv"
    r = cli("video", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--max-frames", "10",
            "--out", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    with av.open(str(out)) as c:
        meta = {k.lower(): v for k, v in c.metadata.items()}
        audio = {k.lower(): v for k, v in c.streams.audio[0].metadata.items()}
        video_s = float(c.streams.video[0].duration or 0) * float(c.streams.video[0].time_base or 0)
        vtags = {k.lower(): v for k, v in c.streams.video[0].metadata.items()}
    assert meta.get("creation_time", "").startswith("2016-08-28T21:16:08"), meta
    assert meta.get("location") == tags["location"], meta
    assert audio.get("language") == "eng", audio
    # per-stream DURATION is the output's own (10 frames at 25 fps); the input's statistics are not copied
    assert vtags.get("duration", "").startswith("00:00:00.4"), (vtags, video_s)
    assert "number_of_frames" not in vtags and "number_of_frames" not in audio, (vtags, audio)


def test_odd_sized_video_keeps_its_size(tiny_bundle: Path, tmp_path: Path) -> None:
    src = tmp_path / "odd.mp4"
    import av

    rng = np.random.default_rng(0)
    with av.open(str(src), "w") as o:  # 4:4:4 source: 4:2:0 cannot hold odd sides
        s = o.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 1279, 719, "yuv444p"
        s.options = {"preset": "ultrafast"}
        for i in range(2):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (719, 1279, 3), np.uint8), format="rgb24")
            f.pts = i
            o.mux(s.encode(f))
        o.mux(s.encode(None))
    out = tmp_path / "out.mp4"
    r = cli(
        "video", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--preset", "ultrafast",
        "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    frames, _, _ = decode_all(out)
    assert len(frames) == 2 and frames[0].shape == (719, 1279, 3)


def _tagged_clip(path: Path, rgb: np.ndarray, space: int, rng: int) -> None:
    """A clip whose Y'CbCr is computed here from ``rgb`` (not by the code under test), in the matrix and
    range of its tags: FFmpeg's AVColorSpace 1 = BT.709, 6 = BT.601, 2 = unspecified (decoded as BT.601);
    AVColorRange 2 = full, 1 or 0 = limited."""
    import av

    kr, kb = (0.2126, 0.0722) if space == 1 else (0.299, 0.114)
    x = rgb.astype(np.float64) / 255
    y = kr * x[..., 0] + (1 - kr - kb) * x[..., 1] + kb * x[..., 2]
    cb, cr = (x[..., 2] - y) / (2 * (1 - kb)), (x[..., 0] - y) / (2 * (1 - kr))
    if rng == 2:
        planes = [255 * y, 255 * cb + 128, 255 * cr + 128]
    else:
        planes = [16 + 219 * y, 128 + 224 * cb, 128 + 224 * cr]
    planes = [np.clip(np.round(p), 0, 255).astype(np.uint8) for p in planes]
    h, w = y.shape
    with av.open(str(path), "w") as o:
        s = o.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"qp": "0", "preset": "ultrafast"}
        cc = s.codec_context
        cc.colorspace, cc.color_range = space, rng
        cc.color_primaries = cc.color_trc = {1: 1, 6: 6}.get(space, 2)
        for i in range(3):
            f = av.VideoFrame(w, h, "yuv420p")
            for k, plane in enumerate([planes[0], planes[1][::2, ::2], planes[2][::2, ::2]]):
                ls = f.planes[k].line_size
                f.planes[k].update(np.pad(plane, ((0, 0), (0, ls - plane.shape[1]))).tobytes())
            f.pts = i
            o.mux(s.encode(f))
        o.mux(s.encode(None))


@pytest.mark.parametrize(
    "space,rng", [(1, 1), (6, 1), (1, 2), (2, 0)], ids=["bt709", "bt601", "bt709-full", "untagged"]
)
def test_colour_matrix_and_range_are_kept(tiny_bundle: Path, tmp_path: Path, space: int, rng: int) -> None:
    """Untagged output in BT.601 looked right only in FFmpeg: players take untagged HD for BT.709."""
    import av

    rgb = np.zeros((64, 128, 3), np.uint8)  # saturated patches: where a wrong matrix shows most
    for i, c in enumerate([(230, 30, 30), (30, 200, 40), (40, 50, 220), (250, 250, 250), (20, 20, 20)]):
        rgb[:, 24 * i : 24 * i + 24] = c
    src, out = tmp_path / "tagged.mp4", tmp_path / "out.mp4"
    _tagged_clip(src, rgb, space, rng)
    r = cli(
        "video", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--preview", "--crf", "0",
        "--preset", "ultrafast", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    with av.open(str(src)) as a, av.open(str(out)) as b:
        ca, cb = a.streams.video[0].codec_context, b.streams.video[0].codec_context
        tags = [(c.colorspace, c.color_range, c.color_primaries, c.color_trc) for c in (ca, cb)]
        left = next(b.decode(video=0)).to_ndarray(format="rgb24")[:, :128].astype(int)
    assert tags[1] == tags[0]
    # the preview's left half is the input frame: decoded by its tags, it must be the source colours
    inner = np.concatenate(
        [left[8:-8, 24 * i + 6 : 24 * i + 18] - rgb[8:-8, 24 * i + 6 : 24 * i + 18] for i in range(5)], 1
    )
    assert np.abs(inner).max() <= 6, np.abs(inner).max()  # swscale rounds each way by <= 3


# ------------------------------------------------------------------ stills
def test_gray_rgba_and_16bit_stills(tiny_bundle: Path, tmp_path: Path) -> None:
    """Read as 8-bit RGB (alpha dropped, 16 bits scaled down), written as 8-bit RGB at the same size; a
    grey one written back grey (one channel)."""
    src = tmp_path / "in"
    src.mkdir()
    g = (np.arange(50 * 90).reshape(50, 90) % 256).astype(np.uint8)
    cv2.imwrite(str(src / "gray.png"), g)
    cv2.imwrite(str(src / "rgba.png"), np.dstack([g, g[::-1], 255 - g, np.full_like(g, 100)]))
    cv2.imwrite(
        str(src / "deep16.png"), (np.arange(50 * 90 * 3).reshape(50, 90, 3) * 97 % 65536).astype(np.uint16)
    )
    assert cv2.imread(str(src / "deep16.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert cv2.imread(str(src / "rgba.png"), cv2.IMREAD_UNCHANGED).shape[2] == 4
    out = tmp_path / "out"
    r = cli("image", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    for name, shape in (("gray.png", (50, 90)), ("rgba.png", (50, 90, 3)), ("deep16.png", (50, 90, 3))):
        img = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert img is not None and img.shape == shape and img.dtype == np.uint8, name


def test_corrupt_still_is_a_clear_error(tiny_bundle: Path, tmp_path: Path) -> None:
    src = tmp_path / "bad.jpg"
    src.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    r = cli("image", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME)
    assert_user_error(r, "cannot read image")
    assert "backend:" not in r.stderr  # read before the bundle loads (s31 walkthrough)
    assert not (tmp_path / "bad_night.jpg").exists()


def test_a_corrupt_image_in_a_calibration_set_is_one_warning_line(tmp_path: Path) -> None:
    """README walkthrough s31: it printed Python's ``calib/sample.py:208: UserWarning: ...`` and the
    source line ``s = ds[i]``; every warning of edgecgl's own code is now one ``warning:`` line."""
    root = tmp_path / "set"
    for d in ("sunny", "night"):
        (root / d).mkdir(parents=True)
        for k in range(3):
            cv2.imwrite(str(root / d / f"{k}.png"), np.full((48, 64, 3), 40 * k + 60, np.uint8))
    (root / "sunny" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    # --n 8: all seven images are drawn, the broken one among them
    r = cli("calib", f"folder:{root}", "--out", str(tmp_path / "c.npz"), "--n", "8", "--size", "32x64")
    assert r.returncode == 0, r.stderr[-2000:]
    said = [ln for ln in r.stderr.splitlines() if "broken.jpg" in ln]
    assert said and all(ln.startswith("warning: skipped unreadable image") for ln in said), r.stderr
    assert "UserWarning" not in r.stderr and "sample.py" not in r.stderr, r.stderr


RSS_WRAPPER = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "'\\nmaxrss_kb %d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    "from edgecgl.cli import main\n"
    "main(sys.argv[1:])\n"
)


def peak_rss_mb(*args: str) -> float:
    r = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, *args], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    kb = [ln for ln in r.stderr.splitlines() if ln.startswith("maxrss_kb")][-1].split()[1]
    return int(kb) / 1024


@pytest.mark.slow
def test_8k_still_memory_follows_the_frame_not_more(tiny_bundle: Path, tmp_path: Path) -> None:
    """An 8K frame costs a few frame-sized buffers (decode, RGB, output): the network sees only the
    working resolution, so nothing grows with the model's activations at 8K. The guided upsampler works
    at full resolution in float32 (the input, the upsampled coefficients, the output: about three float
    RGB frames, i.e. twelve uint8 frames); resizing needs only uint8 frames."""
    big = np.zeros((4320, 7680, 3), np.uint8)
    big[::16] = 200
    cv2.imwrite(str(tmp_path / "8k.jpg"), big)
    cv2.imwrite(str(tmp_path / "small.jpg"), big[:72, :128])
    frame_mb = big.nbytes / 2**20  # 95 MiB
    base = peak_rss_mb(
        "image", str(tmp_path / "small.jpg"), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME
    )
    for mode, frames in (("resize", 4), ("guided", 12)):
        out_path = tmp_path / f"8k_{mode}.jpg"
        peak = peak_rss_mb("image", str(tmp_path / "8k.jpg"), "--to", "night", "--bundle", str(tiny_bundle),
                           "--upsample", mode, "--out", str(out_path), *RUNTIME)  # fmt: skip
        out = cv2.imread(str(out_path))
        assert out is not None and out.shape == (4320, 7680, 3)
        assert peak - base < frames * frame_mb, (mode, base, peak)
