"""``edgecgl video`` end to end on generated clips (ONNX Runtime) and on the real dashcam clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecgl.backends import select_backend
from edgecgl.bundle import load_bundle
from edgecgl.detect import Detection
from edgecgl.errors import EdgecglError
from edgecgl.pipeline import Pipeline, PipelineConfig
from edgecgl.translate import Translator
from edgecgl.video import VideoOptions, translate_video
from tests.cli import edgecgl
from tests.runtime_helpers import make_clip, tiny_bundle_for


def packets(path: Path, kind: str) -> list[tuple[int | None, int | None, bytes]]:
    import av

    with av.open(str(path)) as c:
        s = c.streams.audio[0] if kind == "audio" else c.streams.video[0]
        return [(p.pts, p.dts, bytes(p)) for p in c.demux(s) if p.size]


def frames_of(path: Path) -> tuple[list[np.ndarray], object, int]:
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        rate = v.average_rate
        out = []
        rot = 0
        for f in c.decode(v):
            out.append(f.to_ndarray(format="rgb24"))
            rot = f.rotation
        return out, rate, rot


class EveryOtherFrame:
    """A fake detector: one fixed box on even frames, nothing on odd frames."""

    def __init__(self, box: tuple[float, float, float, float]) -> None:
        self.box, self.n = box, 0

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        self.n += 1
        return [Detection(self.box, "car", 0.9, 1)] if self.n % 2 == 1 else []


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle_for(tmp_path_factory)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", n=12, hw=(64, 96), audio=True)


def test_end_to_end_generated_clip_onnxruntime(bundle_dir: Path, clip: Path, tmp_path: Path) -> None:
    bundle = load_bundle(bundle_dir)
    tr = Translator(select_backend(bundle, "onnxruntime-cpu"), bundle, "night")
    box = (30.0, 16.0, 70.0, 48.0)
    # no fade: where pixels come from, exactly (a lost track fading out is tests/unit/test_fade.py's)
    pipe = Pipeline(tr, EveryOtherFrame(box), PipelineConfig(context=0.2, harmonize=False, fade_frames=1))
    seen: list[tuple[int, np.ndarray, object]] = []
    out = tmp_path / "out.mp4"
    res = translate_video(
        clip, out, pipe, VideoOptions(crf=12), on_frame=lambda i, x, r: seen.append((i, x, r))
    )

    # same frame count and fps, audio present and identical packet by packet
    src_frames, src_rate, _ = frames_of(clip)
    out_frames, out_rate, _ = frames_of(out)
    assert len(out_frames) == len(src_frames) == 12
    assert out_rate == src_rate
    assert [p[:2] for p in packets(out, "video")] != []
    assert packets(out, "audio") == packets(clip, "audio")
    assert res.copied_streams and "audio" in res.copied_streams[0]

    # where pixels come from (checked before encoding, exactly)
    assert [i for i, _, _ in seen] == list(range(12))
    x1, y1, x2, y2 = seen[0][2].windows[0]
    bx1, by1, bx2, by2 = (int(v) for v in box)
    for i, frame, r in seen:
        glob = tr.translate_frame(frame)
        if i % 2:  # no detection: global translation only
            assert r.detections == [] and np.array_equal(r.image, glob)
            continue
        outside = np.ones(frame.shape[:2], bool)
        outside[y1:y2, x1:x2] = False
        assert np.array_equal(r.image[outside], glob[outside])
        inst = tr.translate_windows(frame, [(x1, y1, x2, y2)])[0]  # guided back to the window's size
        inst = inst[by1 - y1 : by2 - y1, bx1 - x1 : bx2 - x1]
        assert np.abs(r.image[by1:by2, bx1:bx2].astype(int) - inst).max() <= 1
        margin = r.image[y1:by1, bx1:bx2].astype(int)  # the feathered band above the box
        assert not np.array_equal(margin, glob[y1:by1, bx1:bx2]) or not np.array_equal(
            margin, inst[: by1 - y1]
        )
    # what was encoded is what the pipeline produced (up to H.264 loss)
    diff = np.mean(
        [np.abs(a.astype(int) - r.image).mean() for a, (_, _, r) in zip(out_frames, seen, strict=True)]
    )
    assert diff < 8.0

    # stats populated
    s = res.stats.summary()
    assert s["frames"] == 12 and s["frames_with_instances"] == 6 and s["instances"] == 6
    assert {"decode", "detect", "frame", "instances", "compose", "encode"} <= set(s["stages_ms"])
    assert all(v["p95_ms"] >= v["p50_ms"] > 0 for v in s["stages_ms"].values())


def test_trim_keeps_rotation_and_cuts_audio(bundle_dir: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "rot.mp4", n=20, hw=(48, 64), rotation=90)
    bundle = load_bundle(bundle_dir)
    pipe = Pipeline(Translator(select_backend(bundle, "onnxruntime-cpu"), bundle, "rainy"))
    out = tmp_path / "o.mp4"
    translate_video(clip, out, pipe, VideoOptions(start=0.2, max_frames=6))
    frames, rate, rot = frames_of(out)
    assert len(frames) == 6 and rot == 90 and rate == 25
    audio = packets(out, "audio")
    assert 0 < len(audio) < len(packets(clip, "audio"))


def test_refuses_overwrite_and_input(bundle_dir: Path, clip: Path, tmp_path: Path) -> None:
    bundle = load_bundle(bundle_dir)
    pipe = Pipeline(Translator(select_backend(bundle, "onnxruntime-cpu"), bundle, "night"))
    with pytest.raises(EdgecglError, match="is the input"):
        translate_video(clip, clip, pipe)
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    with pytest.raises(EdgecglError, match="already exists"):
        translate_video(clip, existing, pipe)
    assert existing.read_bytes() == b"keep me"


def test_cli_generated_clip_preview(bundle_dir: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.mp4"
    stats = tmp_path / "stats.json"
    r = edgecgl(
        "video", str(clip), "--to", "night", "--bundle", str(bundle_dir), "--no-instances",
        "--backend", "onnxruntime-cpu", "--size", "32x64", "--preview", "--out", str(out),
        "--stats-json", str(stats),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "backend: onnxruntime-cpu" in r.stderr and "p95" in r.stderr
    frames, _, _ = frames_of(out)
    assert len(frames) == 12 and frames[0].shape == (64, 192, 3)
    assert packets(out, "audio") == packets(clip, "audio")
    import json

    assert json.loads(stats.read_text())["frames"] == 12
    r2 = edgecgl(
        "video", str(clip), "--to", "night", "--bundle", str(bundle_dir), "--no-instances", "--out", str(out)
    )
    assert r2.returncode == 2 and "--overwrite" in r2.stderr


def test_cli_workers(bundle_dir: Path, clip: Path, tmp_path: Path) -> None:
    """``--workers 3``: three frames at once, the log says so, every frame and audio packet is written."""
    out = tmp_path / "w.mp4"
    r = edgecgl(
        "video", str(clip), "--to", "night", "--bundle", str(bundle_dir), "--no-instances",
        "--backend", "onnxruntime-cpu", "--workers", "3", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "workers: 3 frames at once" in r.stderr
    frames, _, _ = frames_of(out)
    assert len(frames) == 12 and packets(out, "audio") == packets(clip, "audio")
    bad = edgecgl("video", str(clip), "--to", "night", "--bundle", str(bundle_dir), "--workers", "-1")
    assert bad.returncode == 2 and "--workers" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--to", "snowy"], "valid domains: sunny, night, cloudy, rainy"),
        (["--to", "night", "--size", "30x64"], "multiple of 4"),
        (["--to", "night", "--detector", "nope/yolo.pt"], "offline"),
        (["--to", "night", "--backend", "mxnet"], "unknown backend"),
        (["--to", "night", "--out", "drive.avi"], "the output is an MP4, MOV or MKV file"),
    ],
)
def test_cli_user_errors_are_one_line(
    bundle_dir: Path, clip: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    r = edgecgl("video", str(clip), "--bundle", str(bundle_dir), "--out", str(tmp_path / "x.mp4"), *extra)
    # (a later --out wins: drive.avi, whose timestamps AVI cannot keep, is refused before any loading)
    assert r.returncode == 2
    assert message in r.stderr
    assert sum(line.startswith("error:") for line in r.stderr.splitlines()) == 1
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "drive.avi").exists()


def test_keep_objects_needs_a_style_seed_and_the_detector(
    bundle_dir: Path, clip: Path, tmp_path: Path
) -> None:
    for extra in ([], ["--style-seed", "3", "--no-instances"]):  # the mean style; no detector to check
        r = edgecgl("video", str(clip), "--to", "night", "--bundle", str(bundle_dir), "--keep-objects",
                    "--out", str(tmp_path / "x.mp4"), *extra)  # fmt: skip
        assert r.returncode == 2 and "--keep-objects" in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "x.mp4").exists()


def test_sample_frames_spreads_probes_over_the_window(clip: Path) -> None:
    from edgecgl.video import sample_frames

    frames, _, _ = frames_of(clip)  # 12 frames at 25 fps: 0.48 s
    probes = sample_frames(clip, 4)
    assert len(probes) == 4 and probes[0].shape == frames[0].shape
    assert [any(np.array_equal(p, f) for f in frames) for p in probes] == [True] * 4
    assert not np.array_equal(probes[0], probes[-1])
    first = sample_frames(clip, 3, start=0.0, end=0.04)  # the window holds frame 0 only: once
    assert len(first) == 1 and np.array_equal(first[0], frames[0])


def test_cli_default_bundle_is_newest_under_bundles(bundle_dir: Path, clip: Path, tmp_path: Path) -> None:
    import shutil

    (tmp_path / "bundles").mkdir()
    shutil.copytree(bundle_dir, tmp_path / "bundles" / "tiny")
    r = edgecgl(
        "video",
        str(clip),
        "--to",
        "sunny",
        "--no-instances",
        "--max-frames",
        "2",
        "--out",
        "o.mp4",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "newest under bundles" in r.stderr
    r = edgecgl("video", str(clip), "--to", "sunny", "--out", "o2.mp4", cwd=tmp_path / "bundles")
    assert r.returncode == 2 and "no bundle found" in r.stderr


@pytest.mark.assets
@pytest.mark.slow
def test_real_clip_with_yolo(assets: Path, bundle_dir: Path, tmp_path: Path) -> None:
    """The real 960x540 clip with COCO YOLOv8n through the real CLI, at a small working resolution, on a
    vehicle's first boot (an empty HOME): stdout carries only the result line."""
    src = assets / "video" / "highway_960x540_audio.mp4"
    out = tmp_path / "real.mp4"
    home = tmp_path / "home"
    home.mkdir()
    r = edgecgl(
        "video", str(src), "--to", "night", "--bundle", str(bundle_dir), "--backend", "onnxruntime-cpu",
        "--detector", str(assets / "models" / "yolov8n-coco.pt"), "--size", "64x128", "--max-frames", "8",
        "--out", str(out), "--stats-json", str(tmp_path / "s.json"),
        env={"HOME": str(home), "YOLO_CONFIG_DIR": None, "YOLO_VERBOSE": None, "ORT_DISABLE_TELEMETRY": None},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"wrote {out}\n"  # Ultralytics said 3 lines about its new settings file here
    assert not (home / ".cache" / "Microsoft").exists()  # ONNX Runtime's telemetry device ID
    import json

    s = json.loads((tmp_path / "s.json").read_text())
    assert s["frames"] == 8 and s["instances"] > 0  # the clip has cars in every frame
    frames, rate, _ = frames_of(out)
    assert len(frames) == 8 and frames[0].shape == (540, 960, 3) and rate == 25
    audio = packets(out, "audio")
    assert audio and audio == packets(src, "audio")[: len(audio)]


@pytest.mark.assets
@pytest.mark.slow
def test_the_same_command_translates_the_same_frames(assets: Path, bundle_dir: Path, tmp_path: Path) -> None:
    """YOLO, tracking and the instance crops on their own thread: two runs hand the encoder the same
    frames, and at --crf 0 (lossless H.264 of those frames' YUV) the two files decode alike. (Lossy H.264 from
    PyAV's libx264 differs between runs at compression-noise level even on one encoder thread: README.)"""
    from edgecgl.api import open_pipeline

    src = assets / "video" / "highway_960x540_audio.mp4"
    runs = []
    for k in range(2):
        pipe = open_pipeline(
            bundle_dir, "night", detector=assets / "models" / "yolov8n-coco.pt", backend="onnxruntime-cpu",
            size="64x128",
        )  # fmt: skip
        pipe.cfg.overlap_instances = True
        seen: list[tuple[np.ndarray, int]] = []
        out = tmp_path / f"run{k}.mp4"
        translate_video(
            src, out, pipe, VideoOptions(max_frames=6, crf=0),
            on_frame=lambda i, x, r, seen=seen: seen.append((r.image, len(r.windows))),
        )  # fmt: skip
        runs.append((seen, frames_of(out)[0]))
    (a, decoded_a), (b, decoded_b) = runs
    assert len(a) == len(b) == 6 and sum(n for _, n in a) > 0  # instances pasted
    assert all(np.array_equal(x, y) for (x, _), (y, _) in zip(a, b, strict=True))
    assert len(decoded_a) == 6 and all(
        np.array_equal(x, y) for x, y in zip(decoded_a, decoded_b, strict=True)
    )


@pytest.mark.assets
@pytest.mark.slow
def test_real_clip_keep_objects_checks_the_clips_style(
    assets: Path, bundle_dir: Path, tmp_path: Path
) -> None:
    """A random-init bundle at a wide spread: whether it hides the cars varies by CPU, so this checks the
    path runs and reports; tests/unit/test_retain.py checks the rule."""
    out = tmp_path / "kept.mp4"
    r = edgecgl(
        "video", str(assets / "video" / "highway_960x540_audio.mp4"), "--to", "night", "--bundle",
        str(bundle_dir), "--detector", str(assets / "models" / "yolov8n-coco.pt"), "--size", "64x128",
        "--style-seed", "3", "--style-spread", "3", "--keep-objects", "--max-frames", "4", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stderr.splitlines() if "--keep-objects: spread" in ln)
    assert line.split("spread ")[1].split()[0] in ("3", "1.5", "0.75", "0")
    assert "of 4 probe frames" in line  # --max-frames 4: a window of 4 frames
    assert len(frames_of(out)[0]) == 4


@pytest.mark.assets
@pytest.mark.slow
def test_real_clip_whole_keeps_every_frame_and_audio_packet(
    assets: Path, bundle_dir: Path, tmp_path: Path
) -> None:
    """All 221 frames out (the decoder's frame-threading tail must be drained) and the audio byte-identical."""
    src = assets / "video" / "highway_960x540_audio.mp4"
    out = tmp_path / "whole.mp4"
    r = edgecgl(
        "video", str(src), "--to", "rainy", "--bundle", str(bundle_dir), "--backend", "onnxruntime-cpu",
        "--no-instances", "--preset", "ultrafast", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    import av

    with av.open(str(src)) as c:
        n_in = sum(1 for _ in c.decode(video=0))
    with av.open(str(out)) as c:
        n_out = sum(1 for _ in c.decode(video=0))
    assert n_out == n_in == 221
    assert packets(out, "audio") == packets(src, "audio")


def test_cli_style_ref_folder_gives_the_clip_one_photos_style(
    bundle_dir: Path, clip: Path, tmp_path: Path
) -> None:
    from edgecgl.bundle import item_seed
    from edgecgl.references import pick

    refs = tmp_path / "refs"
    refs.mkdir()
    for i in range(3):
        cv2.imwrite(str(refs / f"r{i}.png"), np.full((24, 40, 3), 60 * i + 20, np.uint8))
    r = edgecgl(
        "video", str(clip), "--to", "night", "--bundle", str(bundle_dir), "--no-instances",
        "--style-ref", str(refs), "--max-frames", "2", "--out", str(tmp_path / "ref.mp4"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"style: reference r{pick(item_seed(0, 'night', clip.name), 3)}.png" in r.stderr
    bad = edgecgl("video", str(clip), "--to", "night", "--bundle", str(bundle_dir), "--no-instances",
                  "--style-ref", str(tmp_path / "nope"), "--out", str(tmp_path / "x.mp4"))  # fmt: skip
    assert bad.returncode == 2 and "does not exist" in bad.stderr and not (tmp_path / "x.mp4").exists()
