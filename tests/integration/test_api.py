"""``edgecgl.api.open_pipeline``: the CLI's pipeline from Python, and the README's example run as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from edgecgl.api import open_pipeline
from edgecgl.errors import EdgecglError
from tests.runtime_helpers import clip_frames, tiny_bundle_for

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle_for(tmp_path_factory)


def test_frames_in_translated_frames_out(bundle: Path) -> None:
    lines: list[str] = []
    pipe = open_pipeline(
        bundle, "night", instances=False, backend="onnxruntime-cpu", size=(32, 64), log=lines.append
    )
    frames = clip_frames(3, (48, 64))
    out = [pipe(f).image for f in frames]
    assert all(o.shape == f.shape and o.dtype == np.uint8 for o, f in zip(out, frames, strict=True))
    assert np.abs(out[0].astype(int) - frames[0]).mean() > 1.0  # translated, not passed through
    assert any(ln.startswith("backend: onnxruntime-cpu") for ln in lines)
    assert any("working size 32x64" in ln for ln in lines)


def test_mistakes_raise_the_cli_message(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(EdgecglError, match="unknown domain .snowy. .valid domains: sunny, night"):
        open_pipeline(bundle, "snowy", instances=False, backend="onnxruntime-cpu")
    with pytest.raises(EdgecglError, match="does not exist or is not a folder"):
        open_pipeline(tmp_path / "nope", "night", instances=False)
    with pytest.raises(EdgecglError, match="has no style to widen"):
        open_pipeline(bundle, "night", instances=False, style_spread=2.0)
    with pytest.raises(EdgecglError, match="confidence 5 is outside 0..1"):
        open_pipeline(bundle, "night", conf=5.0, detector=tmp_path / "any.pt")


def test_frames_a_camera_sdk_gives_are_named_not_crashed_on(bundle: Path) -> None:
    """BGRA, grey or int frames raised a tensor-shape ValueError or an OpenCV assertion from inside."""
    pipe = open_pipeline(bundle, "night", instances=False, backend="onnxruntime-cpu", size=(32, 64))
    rgb = clip_frames(1, (48, 64))[0]
    for bad in (
        np.dstack([rgb, rgb[..., :1]]),
        rgb[..., 0],
        rgb.astype(np.int64),
        rgb.astype(np.float32) / 255,
    ):
        with pytest.raises(EdgecglError, match=r"expected an RGB uint8 frame of shape HxWx3, got shape"):
            pipe(bad)
    assert pipe(rgb).image.shape == rgb.shape


@pytest.mark.assets
def test_the_readme_example_runs_as_written(assets: Path, bundle: Path) -> None:
    """The README's Python block, with its bundle, detector, camera and publisher supplied here."""
    block = re.search(r"## From Python.*?```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block is not None
    code = block.group(1)
    code = code.replace('"bundles/fleet"', repr(str(bundle)))
    code = code.replace('"yolov8n.pt"', repr(str(assets / "models" / "yolov8n-coco.pt")))
    code = code.replace('backend="auto"', 'backend="onnxruntime-cpu"')
    import cv2

    sunny = cv2.cvtColor(cv2.imread(str(assets / "frames" / "bdd_sunny_1.jpg")), cv2.COLOR_BGR2RGB)
    published: list[tuple[np.ndarray, list]] = []
    env = {
        "camera_frames": lambda: [sunny, sunny],
        "publish": lambda img, dets: published.append((img, dets)),
    }
    exec(compile(code, "README.md", "exec"), env)  # noqa: S102 - the README's own example
    assert len(published) == 2 and published[0][0].shape == sunny.shape
    assert published[0][1], "YOLO found no car in a BDD100K street frame"


def test_no_domain_is_a_message(bundle: Path) -> None:
    for to in (None, "", " "):
        with pytest.raises(EdgecglError, match="to must be a domain name such as 'night'"):
            open_pipeline(bundle, to, instances=False)  # type: ignore[arg-type]
