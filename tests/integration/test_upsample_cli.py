"""``edgecgl image --upsample guided|resize|residual|residual-instances`` through the real CLI on a generated SynthWeather frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecgl.quality import gradient_correlation
from tests.cli import edgecgl
from tests.runtime_helpers import tiny_bundle_for


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle_for(tmp_path_factory)


@pytest.fixture(scope="module")
def still(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    from edgecgl.train.data.synth import render_scene

    img, _ = render_scene(5, "sunny", (120, 250))  # an aspect the 32x64 working size must letterbox
    path = tmp_path_factory.mktemp("still") / "scene.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path, img


def run(bundle_dir: Path, src: Path, out: Path, *extra: str) -> np.ndarray:
    r = edgecgl("image", str(src), "--to", "night", "--bundle", str(bundle_dir), "--out", str(out), *extra)
    assert r.returncode == 0, r.stderr
    return cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)


def test_guided_is_the_default_and_keeps_detail(
    bundle_dir: Path, still: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    src, img = still
    default = run(bundle_dir, src, tmp_path / "default.png", "--no-instances")
    guided = run(bundle_dir, src, tmp_path / "guided.png", "--no-instances", "--upsample", "guided")
    resized = run(bundle_dir, src, tmp_path / "resize.png", "--no-instances", "--upsample", "resize")
    assert default.shape == guided.shape == resized.shape == img.shape
    assert np.array_equal(default, guided)
    assert not np.array_equal(guided, resized)
    assert gradient_correlation(img, guided) > gradient_correlation(img, resized) + 0.2


def test_upsample_choice_is_logged_and_checked(
    bundle_dir: Path, still: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    src, _ = still
    r = edgecgl(
        "image", str(src), "--to", "night", "--bundle", str(bundle_dir), "--no-instances",
        "--upsample", "resize", "--out", str(tmp_path / "o.png"),
    )  # fmt: skip
    assert r.returncode == 0 and "upsample: resize" in r.stderr
    r = edgecgl(
        "image", str(src), "--to", "night", "--bundle", str(bundle_dir), "--upsample", "bicubic",
        "--out", str(tmp_path / "p.png"),
    )  # fmt: skip
    assert r.returncode == 2 and "error: unknown --upsample 'bicubic'" in r.stderr


def test_residual_runs_through_the_cli(
    bundle_dir: Path, still: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """``--upsample residual``: same size, logged; at low frequencies it is the network's output (as a plain
    resize of it is), where guided only keeps what an affine map of the input can say."""
    src, img = still
    res = run_logged(bundle_dir, src, tmp_path, "residual")
    guided = run(bundle_dir, src, tmp_path / "g.png", "--no-instances", "--upsample", "guided")
    resized = run(bundle_dir, src, tmp_path / "z.png", "--no-instances", "--upsample", "resize")
    assert res.shape == img.shape and not np.array_equal(res, guided)
    assert low_gap(res, resized) < 0.5 * low_gap(guided, resized)


def test_local_runs_through_the_cli(bundle_dir: Path, still: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    """``--upsample local``: same size, logged; its low frequencies closer to the network's output than
    guided's (the smaller window follows the network's shading), the input's edges still there."""
    from edgecgl.quality import gradient_correlation

    src, img = still
    local = run_logged(bundle_dir, src, tmp_path, "local")
    guided = run(bundle_dir, src, tmp_path / "g.png", "--no-instances", "--upsample", "guided")
    resized = run(bundle_dir, src, tmp_path / "z.png", "--no-instances", "--upsample", "resize")
    assert local.shape == img.shape and not np.array_equal(local, guided)
    assert low_gap(local, resized) < low_gap(guided, resized)
    assert gradient_correlation(img, local) > 0.5


def run_logged(bundle_dir: Path, src: Path, tmp_path: Path, mode: str) -> np.ndarray:
    """``edgecgl image --upsample MODE --no-instances``: exit 0, the mode in the log, the RGB output."""
    out = tmp_path / f"{mode}.png"
    r = edgecgl("image", str(src), "--to", "night", "--bundle", str(bundle_dir), "--upsample", mode,
                "--no-instances", "--out", str(out))  # fmt: skip
    assert r.returncode == 0 and f"upsample: {mode}" in r.stderr, r.stderr
    return cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)


def low_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean difference of two pictures' low frequencies (Gaussian, sigma 6 px)."""

    def low(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x.astype(np.float32), (0, 0), 6)

    return float(np.abs(low(a) - low(b)).mean())


def test_residual_instances_leaves_the_frame_guided(
    bundle_dir: Path, still: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """``--upsample residual-instances`` is accepted and logged; without instances the picture is the
    guided one to the pixel (only the crops take the residual: tests/unit/test_upsampler.py)."""
    src, _ = still
    r = edgecgl("image", str(src), "--to", "night", "--bundle", str(bundle_dir), "--no-instances",
                "--upsample", "residual-instances", "--out", str(tmp_path / "ri.png"))  # fmt: skip
    assert r.returncode == 0 and "upsample: residual-instances" in r.stderr, r.stderr
    both = cv2.cvtColor(cv2.imread(str(tmp_path / "ri.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(both, run(bundle_dir, src, tmp_path / "g.png", "--no-instances"))
