"""Calibration sets: deterministic, domain-balanced, from a dataset folder, a flat image folder or a video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from edgecgl.calib.sample import balanced_order, load_calib, parse_size, sample_calibration, save_calib

from edgecgl.domains import DOMAINS
from edgecgl.errors import EdgecglError


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ROOT/<domain>/*.jpg with a different count per domain (rainy has one image)."""
    root = tmp_path_factory.mktemp("ds")
    rng = np.random.default_rng(0)
    for d, count in zip(DOMAINS, (6, 5, 4, 1), strict=True):
        (root / d).mkdir()
        for i in range(count):
            img = rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)
            cv2.imwrite(str(root / d / f"{d}_{i}.jpg"), img)
    return root


def test_balanced_order_takes_domains_round_robin() -> None:
    items = [(f"a{i}", 0) for i in range(10)] + [(f"b{i}", 1) for i in range(10)] + [("c0", 2)]
    idx = balanced_order(items, 7, seed=0)
    doms = [items[i][1] for i in idx]
    assert doms[:3] == [0, 1, 2] and doms.count(2) == 1 and abs(doms.count(0) - doms.count(1)) <= 1
    assert idx == balanced_order(items, 7, seed=0) and idx != balanced_order(items, 7, seed=1)


def test_balanced_order_is_the_same_wherever_the_dataset_lies() -> None:
    """The order hashed whole paths, so a moved dataset (or a test's tmp folder) drew other frames."""
    rel = [(f"sunny/{k}.png", 0) for k in range(4)] + [(f"night/{k}.png", 1) for k in range(4)]
    orders = {
        tuple(balanced_order([(f"{root}/{n}", d) for n, d in rel], 5, 0))
        for root in ("/a", "/b/c", "/tmp/x9")
    }
    assert len(orders) == 1


def test_dataset_sample_is_balanced_and_deterministic(dataset: Path) -> None:
    a = sample_calibration(f"folder:{dataset}", n=8, size=(32, 64), instance_size=(16, 16), seed=3)
    b = sample_calibration(f"folder:{dataset}", n=8, size=(32, 64), instance_size=(16, 16), seed=3)
    assert a.frames.shape == (8, 32, 64, 3) and a.frames.dtype == np.uint8
    assert a.instances.shape == (8, 16, 16, 3)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.domains, b.domains)
    assert sorted(np.bincount(a.domains).tolist()) == [1, 2, 2, 3]  # rainy has one image; others fill
    imgs = a.images()
    assert imgs.shape == (8, 3, 32, 64) and imgs.min() >= -1 and imgs.max() <= 1


def test_flat_folder_takes_domains_from_file_names(tmp_path: Path) -> None:
    for name in ("x_night_1.jpg", "x_rainy_2.jpg", "plain.jpg"):
        cv2.imwrite(str(tmp_path / name), np.full((40, 40, 3), 80, np.uint8))
    cs = sample_calibration(tmp_path, n=10, size=(16, 16), instance_size=(8, 8))
    assert cs.meta["kind"] == "images" and len(cs.frames) == 3
    assert sorted(cs.domains.tolist()) == [0, 1, 3]  # plain.jpg -> default sunny


def test_npz_round_trip(dataset: Path, tmp_path: Path) -> None:
    cs = sample_calibration(dataset, n=4, size=(16, 32), instance_size=(8, 8))
    got = load_calib(save_calib(tmp_path / "c.npz", cs))
    assert np.array_equal(got.frames, cs.frames) and got.meta == cs.meta


def test_bad_inputs_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(EdgecglError, match="multiples of 4"):
        parse_size("30x64")
    with pytest.raises(EdgecglError, match="no dataset, images or videos"):
        sample_calibration(tmp_path, n=4)
    with pytest.raises(EdgecglError, match="not an edgecgl calibration set"):
        (tmp_path / "x.npz").write_bytes(b"nope")
        load_calib(tmp_path / "x.npz")


@pytest.mark.assets
def test_video_frames_are_spread_over_the_clip(assets: Path) -> None:
    clip = next((assets / "video").glob("*.mp4"))
    cs = sample_calibration(clip, n=6, size=(32, 64), instance_size=(16, 16), default_domain="night")
    assert cs.meta["kind"] == "video" and cs.frames.shape == (6, 32, 64, 3)
    assert set(cs.domains.tolist()) == {1}
    assert len({f.tobytes() for f in cs.frames}) == 6, "distinct frames, not one frame repeated"


def test_a_recorders_card_calibrates_from_its_dated_sub_folders(tmp_path: Path) -> None:
    """`edgecgl calib card/` said "no dataset, images or videos" for clips in dated sub-folders, the way
    `edgecgl video card/` reads them; a macOS `._` fork beside them is no video."""
    from tests.runtime_helpers import make_clip

    for day in ("2026-12-01", "2026-12-02"):
        (tmp_path / "card" / day).mkdir(parents=True)
        make_clip(tmp_path / "card" / day / "0001.mp4", n=6, hw=(48, 64), audio=False)
    (tmp_path / "card" / "2026-12-02" / "._0001.mp4").write_bytes(b"\x00\x05\x16\x07")
    cs = sample_calibration(tmp_path / "card", n=4, size=(32, 64), instance_size=(16, 16))
    assert cs.meta["kind"] == "video" and cs.frames.shape == (4, 32, 64, 3)


def _audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("aac", rate=16000)
        for i in range(10):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 16000, i * 1024
            out.mux(s.encode(fr))
        out.mux(s.encode(None))
    return path


def test_unreadable_and_audio_only_videos_are_one_line_errors(tmp_path: Path) -> None:
    """A text file named .mp4 and an audio-only .mp4 raised InvalidDataError and IndexError."""
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video\n")
    with pytest.raises(EdgecglError, match="cannot open video .*junk.mp4"):
        sample_calibration(junk, n=4, size=(32, 64))
    with pytest.raises(EdgecglError, match="has no video stream"):
        sample_calibration(_audio_only(tmp_path / "audio.mp4"), n=4, size=(32, 64))


@pytest.mark.assets
def test_truncated_video_gives_its_decodable_frames_with_a_warning(assets: Path, tmp_path: Path) -> None:
    """``head -c 300000`` of the real clip: its header promises 221 frames, ~23 decode (this raised
    InvalidDataError in avcodec_send_packet)."""
    cut = tmp_path / "cut.mp4"
    cut.write_bytes((assets / "video" / "highway_960x540_audio.mp4").read_bytes()[:300_000])
    said: list[str] = []
    cs = sample_calibration(cut, n=8, size=(32, 64), instance_size=(16, 16), log=said.append)
    assert cs.frames.shape == (8, 32, 64, 3)
    assert len({f.tobytes() for f in cs.frames}) == 8, "distinct frames spread over the decodable part"
    warning = [s for s in said if s.startswith("warning:")]
    assert (
        len(warning) == 1
        and "is truncated or corrupt" in warning[0]
        and "decodable frames (of 221)" in warning[0]
    )
