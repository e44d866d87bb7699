"""Bad arguments and damaged bundles through the real CLI (issue 9, "Arguments"): one line, exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.integration.test_robust_inputs import RUNTIME, assert_user_error, cli


@pytest.fixture(scope="module")
def still(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("still") / "frame.png"
    cv2.imwrite(str(p), np.random.default_rng(0).integers(0, 255, (40, 72, 3), np.uint8))
    return p


def copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.pt2"))
    m = json.loads((dst / "manifest.json").read_text())
    m["files"] = {k: v for k, v in m["files"].items() if not k.endswith(".pt2")}
    for entry in m["models"].values():
        entry.pop("torch", None)
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--to", "snowy"], ["unknown domain 'snowy'", "valid domains: sunny, night, cloudy, rainy"]),
        (["--to", "night", "--size", "30x62"], ["not a multiple of 4", "try --size 32x64"]),
        (["--to", "night", "--size", "big"], ["bad --size 'big'"]),
        (["--to", "night", "--size", "0x0"], ["--size 0x0 must be positive"]),
        (["--to", "night", "--size", "4x4"], ["--size 4x4 is too small for this bundle", "at least 8x8"]),
        (["--to", "night", "--size", "4x4", "--backend", "torch"], ["--size 4x4 is too small"]),
        # it was silently ignored: the mean style has no spread to scale
        (
            ["--to", "night", "--style-spread", "2"],
            ["--style-spread 2 has no style to widen", "--style-seed N"],
        ),
    ],
)
def test_runtime_argument_errors(tiny_bundle: Path, still: Path, tmp_path: Path, extra, fragments) -> None:
    out = tmp_path / "o.png"
    r = cli("image", str(still), "--bundle", str(tiny_bundle), *RUNTIME, *extra, "--out", str(out))
    assert_user_error(r, *fragments)
    assert not out.exists()


def test_detector_path_that_does_not_exist_gives_the_offline_hint(
    tiny_bundle: Path, still: Path, tmp_path: Path
) -> None:
    r = cli(
        "image", str(still), "--to", "night", "--bundle", str(tiny_bundle), "--backend", "onnxruntime-cpu",
        "--detector", str(tmp_path / "nope" / "yolo.pt"), "--out", str(tmp_path / "o.png"),
    )  # fmt: skip
    assert_user_error(r, "does not exist", "offline machines need a local file", "--no-instances")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--set", "optim.nope=1"], ["unknown config key 'optim.nope'", "valid keys under 'optim.'"]),
        (["--set", "nonsense"], ["bad --set 'nonsense'", "use --set key.sub=value"]),
        (["--set", "batch=two"], ["'batch' must be an integer"]),
    ],
)
def test_bad_set_keys(args: list[str], fragments: list[str]) -> None:
    r = cli("train", "--config", "synth-tiny", "--dry-run", *args)
    assert_user_error(r, *fragments)


def _damage(bundle: Path, how: str) -> str:
    m = json.loads((bundle / "manifest.json").read_text())
    if how == "missing file":
        (bundle / "generator.onnx").unlink()
        return "is missing generator.onnx"
    if how == "checksum":
        with open(bundle / "generator.onnx", "r+b") as fh:
            fh.seek(200)
            b = fh.read(1)
            fh.seek(200)
            fh.write(bytes([b[0] ^ 0xFF]))
        return "does not match its checksum"
    if how == "version":
        m["format_version"] = 99
    elif how == "not a manifest":
        (bundle / "manifest.json").write_text("{ not json")
        return "unreadable"
    elif how == "file outside the bundle":
        m["files"]["../outside.onnx"] = "0" * 64
    elif how == "model outside the bundle":
        m["models"]["generator"]["file"] = "../../generator.onnx"
    (bundle / "manifest.json").write_text(json.dumps(m))
    return {
        "version": "bundle format version 99 is not supported",
        "file outside the bundle": "names a file outside the bundle: ../outside.onnx",
        "model outside the bundle": "names a file outside the bundle",
    }[how]


@pytest.mark.parametrize(
    "how",
    [
        "missing file",
        "checksum",
        "version",
        "not a manifest",
        "file outside the bundle",
        "model outside the bundle",
    ],
)
def test_damaged_bundle_is_refused(tiny_bundle: Path, still: Path, tmp_path: Path, how: str) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path / "b")
    (tmp_path / "outside.onnx").write_bytes(b"not in the bundle")
    message = _damage(bundle, how)
    out = tmp_path / "o.png"
    r = cli("image", str(still), "--to", "night", "--bundle", str(bundle), *RUNTIME, "--out", str(out))
    assert_user_error(r, message)
    assert not out.exists()


def test_bundle_copy_without_damage_works(tiny_bundle: Path, still: Path, tmp_path: Path) -> None:
    """The control for the damaged-bundle cases: the copy itself is fine."""
    bundle = copy_bundle(tiny_bundle, tmp_path / "b")
    r = cli(
        "image",
        str(still),
        "--to",
        "night",
        "--bundle",
        str(bundle),
        *RUNTIME,
        "--out",
        str(tmp_path / "o.png"),
    )
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        (
            "photo.jpg",
            ["is not a model Ultralytics can load", "--detector takes a .pt, .onnx or .engine file"],
        ),
        ("yolo.pt", ["cannot load detector", "--detector takes a .pt, .onnx or .engine file"]),
        ("yolo.onnx", ["cannot load detector", "--detector takes a .pt, .onnx or .engine file"]),
    ],
)
def test_detector_that_is_not_a_model(
    tiny_bundle: Path, still: Path, tmp_path: Path, name: str, fragments: list[str]
) -> None:
    """A photo given as --detector (or saved under a model's name) is refused before the first frame."""
    det = tmp_path / name
    shutil.copy(still, det)
    out = tmp_path / "o.png"
    r = cli(
        "image", str(still), "--to", "night", "--bundle", str(tiny_bundle), "--backend", "onnxruntime-cpu",
        "--detector", str(det), "--out", str(out),
    )  # fmt: skip
    assert_user_error(r, str(det), *fragments)
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--preset", "bogus"], ["unknown --preset 'bogus'", "ultrafast", "placebo"]),
        (["--crf", "99"], ["--crf 99 is out of range", "0 (lossless) .. 51"]),
        (["--start", "5", "--end", "2"], ["--end 2.0 is not after --start 5.0"]),
        (["--max-frames", "0"], ["--max-frames 0 must be at least 1"]),
        (["--start", "100"], ["--start 100 s is past the end of", "give a --start inside the clip"]),  # s31
    ],
)
def test_video_encoder_and_range_flags(tiny_bundle: Path, tmp_path: Path, extra, fragments) -> None:
    """Refused in one line with no output; before this a bad --preset failed in avcodec_open2 mid-run."""
    from tests.runtime_helpers import make_clip

    clip = make_clip(tmp_path / "c.mp4", n=3)
    out = tmp_path / "o.mp4"
    r = cli(
        "video", str(clip), "--bundle", str(tiny_bundle), "--to", "night", *RUNTIME, *extra, "--out", str(out)
    )
    assert_user_error(r, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4"]
    # checked before the bundle, the detector and the input are opened: a missing bundle is not reached
    r = cli(
        "video", str(clip), "--bundle", str(tmp_path / "nope"), "--to", "night", *extra, "--out", str(out)
    )
    assert_user_error(r, *fragments)


def test_bench_size_too_small_for_the_bundle(tiny_bundle: Path) -> None:
    r = cli("bench", str(tiny_bundle), "--size", "4x4", "--backend", "onnxruntime-cpu")
    assert_user_error(r, "--size 4x4 is too small for this bundle", "at least 8x8")


def test_bench_source_is_a_camera_size_without_stride(tiny_bundle: Path, tmp_path: Path) -> None:
    """--source 375x1242 (KITTI) was refused as "--size ... is not a multiple of 4"."""
    out = tmp_path / "b.json"
    run = ("bench", str(tiny_bundle), "--backend", "onnxruntime-cpu", "--repeats", "1", "--warmup", "0")
    r = cli(*run, "--source", "375x1242", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(out.read_text())["source_size"] == [375, 1242]
    assert_user_error(cli(*run, "--source", "0x720"), "--source 0x720 must be positive")
