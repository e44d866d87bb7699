"""``edgecgl image`` on a file and a folder, through the real CLI."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.cli import edgecgl
from tests.runtime_helpers import clip_frames, tiny_bundle_for, with_luma_range


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle_for(tmp_path_factory)


def write(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_image_file_default_out_keeps_size(bundle_dir: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "still.png", clip_frames(1, (50, 90))[0])
    r = edgecgl("image", str(src), "--to", "rainy", "--bundle", str(bundle_dir), "--no-instances")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "still_rainy.png"
    img = cv2.imread(str(out))
    assert img is not None and img.shape == (50, 90, 3)
    assert not np.array_equal(img, cv2.imread(str(src)))
    again = edgecgl("image", str(src), "--to", "rainy", "--bundle", str(bundle_dir), "--no-instances")
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_image_folder_with_style_ref(bundle_dir: Path, tmp_path: Path) -> None:
    frames = clip_frames(3, (40, 64))
    for i, f in enumerate(frames):
        write(tmp_path / "in" / f"f{i}.jpg", f)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    ref = write(tmp_path / "ref.png", frames[2][::-1])
    r = edgecgl(
        "image", str(tmp_path / "in"), "--to", "night", "--bundle", str(bundle_dir), "--no-instances",
        "--style-ref", str(ref), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "reference image" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".edgecgl-run",
        ".edgecgl-written",
        "f0.jpg",
        "f1.jpg",
        "f2.jpg",
    ]


def test_image_errors(bundle_dir: Path, tmp_path: Path) -> None:
    r = edgecgl("image", str(tmp_path / "missing.jpg"), "--to", "night", "--bundle", str(bundle_dir))
    assert r.returncode == 2 and "does not exist" in r.stderr
    (tmp_path / "empty").mkdir()
    r = edgecgl("image", str(tmp_path / "empty"), "--to", "night", "--bundle", str(bundle_dir))
    assert r.returncode == 2 and "no images" in r.stderr


@pytest.mark.assets
@pytest.mark.slow
def test_image_real_frame_with_yolo(assets: Path, bundle_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rainy.jpg"
    r = edgecgl(
        "image", str(assets / "frames" / "bdd_sunny_1.jpg"), "--to", "rainy", "--bundle", str(bundle_dir),
        "--detector", str(assets / "models" / "yolov8n-coco.pt"), "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(out)).shape == (720, 1280, 3)
    n = int(r.stderr.split(" image(s), ")[1].split()[0])
    assert n > 0  # cars on the frame became instances


def test_image_folder_style_per_image(bundle_dir: Path, tmp_path: Path) -> None:
    frame = clip_frames(1, (40, 64))[0]
    for name in ("a.png", "b.png"):  # the same picture twice: only the style can tell them apart
        write(tmp_path / "in" / name, frame)

    def run(out: str, *extra: str) -> dict[str, np.ndarray]:
        r = edgecgl(
            "image", str(tmp_path / "in"), "--to", "night", "--bundle", str(bundle_dir), "--no-instances",
            "--out", str(tmp_path / out), *extra,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        said = "a draw per image (seed 4 + its name, spread 1)" if extra else "(style: mean)"
        assert said in r.stderr, r.stderr  # the log said "mean" under --style-per-image
        return {n: cv2.imread(str(tmp_path / out / n)) for n in ("a.png", "b.png")}

    one = run("mean")
    assert np.array_equal(one["a.png"], one["b.png"])
    per = run("per", "--style-per-image", "--style-seed", "4")
    assert not np.array_equal(per["a.png"], per["b.png"])
    again = run("per2", "--style-per-image", "--style-seed", "4")
    assert all(np.array_equal(per[n], again[n]) for n in per)
    ref = write(tmp_path / "ref.png", frame[::-1])
    r = edgecgl(
        "image", str(tmp_path / "in"), "--to", "night", "--bundle", str(bundle_dir), "--no-instances",
        "--style-per-image", "--style-ref", str(ref), "--out", str(tmp_path / "bad"),
    )  # fmt: skip
    assert r.returncode == 2 and "--style-ref" in r.stderr and "Traceback" not in r.stderr
    r = edgecgl(
        "image", str(tmp_path / "in"), "--to", "night", "--bundle", str(bundle_dir), "--style-spread", "-1",
    )  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_per_image_draws_stay_inside_the_bundles_brightness_range(bundle_dir: Path, tmp_path: Path) -> None:
    """A bundle whose night photos were all near-black admits no draw but the mean; one whose range
    holds everything changes nothing; bundles without a range are not checked (the test above)."""
    frame = clip_frames(1, (40, 64))[0]
    for name in ("a.png", "b.png"):
        write(tmp_path / "in" / name, frame)

    def run(bundle: Path, out: str, *extra: str) -> tuple[dict[str, np.ndarray], str]:
        r = edgecgl(
            "image", str(tmp_path / "in"), "--to", "night", "--bundle", str(bundle), "--no-instances",
            "--out", str(tmp_path / out), *extra,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        return {n: cv2.imread(str(tmp_path / out / n)) for n in ("a.png", "b.png")}, r.stderr

    mean, _ = run(bundle_dir, "mean")
    per, log = run(bundle_dir, "per", "--style-per-image", "--style-seed", "4")
    assert "per-image draw(s) outside" not in log and not np.array_equal(per["a.png"], mean["a.png"])
    narrow = with_luma_range(bundle_dir, tmp_path / "narrow", "night", 0.0, 0.5)
    dim, log = run(narrow, "dim", "--style-per-image", "--style-seed", "4")
    assert "2 of 2 per-image draw(s) outside the target domain's brightness range" in log
    assert all(np.array_equal(dim[n], mean[n]) for n in dim)  # redone lighter down to the mean
    wide = with_luma_range(bundle_dir, tmp_path / "wide", "night", 0.0, 255.0)
    same, log = run(wide, "same", "--style-per-image", "--style-seed", "4")
    assert "0 of 2 per-image draw(s) outside" in log and all(np.array_equal(same[n], per[n]) for n in per)


def test_keep_objects_needs_a_sampled_style_and_the_detector(bundle_dir: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "still.png", clip_frames(1, (40, 64))[0])
    for extra in (
        [],  # the mean style: nothing to redraw
        ["--style-per-image", "--no-instances"],  # no detector to check with
    ):
        r = edgecgl("image", str(src), "--to", "night", "--bundle", str(bundle_dir), "--keep-objects",
                    "--out", str(tmp_path / "o.png"), *extra)  # fmt: skip
        assert r.returncode == 2 and "--keep-objects" in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "o.png").exists()


@pytest.mark.assets
@pytest.mark.slow
def test_keep_objects_on_a_real_frame(assets: Path, bundle_dir: Path, tmp_path: Path) -> None:
    """A random-init bundle at a wide spread: whether it hides the cars varies by CPU, so this checks the
    path runs end to end and reports; tests/unit/test_retain.py checks the redraw rule itself."""
    out = tmp_path / "night.jpg"
    r = edgecgl(
        "image", str(assets / "frames" / "bdd_sunny_1.jpg"), "--to", "night", "--bundle", str(bundle_dir),
        "--detector", str(assets / "models" / "yolov8n-coco.pt"), "--style-seed", "3", "--style-spread", "3",
        "--keep-objects", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(out)).shape == (720, 1280, 3)
    m = re.search(r"(\d+) of 1 image\(s\) redrawn lighter; (\d+) of (\d+) near", r.stderr)
    assert m is not None, r.stderr
    assert int(m[1]) in (0, 1) and 0 <= int(m[2]) <= int(m[3])


def test_image_folder_with_a_folder_of_reference_photos(bundle_dir: Path, tmp_path: Path) -> None:
    frames = clip_frames(4, (40, 64))
    for i, f in enumerate(frames[:2]):
        write(tmp_path / "in" / f"f{i}.png", f)
    for i, f in enumerate(frames):  # four distinct photos to draw styles from
        write(tmp_path / "refs" / f"r{i}.png", (f[::-1] // (i + 1)).astype(np.uint8))
    common = ["--to", "night", "--bundle", str(bundle_dir), "--no-instances", "--style-seed", "3"]
    r = edgecgl("image", str(tmp_path / "in"), *common, "--style-ref", str(tmp_path / "refs"),
                "--out", str(tmp_path / "out"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "4 reference photo(s)" in r.stderr
    # each image is exactly what --style-ref with the photo drawn for it writes
    from edgecgl.bundle import item_seed
    from edgecgl.references import pick

    for name in ("f0.png", "f1.png"):
        photo = tmp_path / "refs" / f"r{pick(item_seed(3, 'night', name), 4)}.png"
        one = edgecgl("image", str(tmp_path / "in" / name), *common, "--style-ref", str(photo),
                      "--out", str(tmp_path / f"one_{name}"))  # fmt: skip
        assert one.returncode == 0, one.stderr
        assert np.array_equal(
            cv2.imread(str(tmp_path / "out" / name)), cv2.imread(str(tmp_path / f"one_{name}"))
        )
    bad = edgecgl("image", str(tmp_path / "in"), *common, "--style-ref", str(tmp_path / "nope"),
                  "--out", str(tmp_path / "out2"))  # fmt: skip
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "empty").mkdir()
    bad = edgecgl("image", str(tmp_path / "in"), *common, "--style-ref", str(tmp_path / "empty"),
                  "--out", str(tmp_path / "out3"))  # fmt: skip
    assert bad.returncode == 2 and "no reference photos" in bad.stderr
