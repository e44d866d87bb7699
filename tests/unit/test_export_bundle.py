"""The bundle writer: manifest contents, checksums, atomic replace, and load_bundle's refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from edgecgl.export.bundle import write_bundle
from edgecgl.export.toy import make_toy_checkpoint

from edgecgl.bundle import IO_NAMES, MANIFEST, load_bundle
from edgecgl.errors import EdgecglError


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_toy_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt", frame_size=(64, 96))


@pytest.fixture(scope="module")
def bundle(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(checkpoint, tmp_path_factory.mktemp("b") / "bundle", pt2=False)


@pytest.fixture
def copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "copy"))


def test_manifest_carries_the_contract(bundle: Path, checkpoint: Path) -> None:
    from edgecgl.train.inference import load_inference

    m = json.loads((bundle / MANIFEST).read_text())
    assert m["format"] == "edgecgl-bundle" and m["format_version"] == 1
    assert m["stride"] == 4 and m["content_channels"] == 32 and m["style_dim"] == 8
    assert m["resolution"] == {"frame": [64, 96], "instance": [32, 32]}
    assert m["versions"]["opset"] == 17 and m["versions"]["onnxruntime"]
    assert set(m["models"]) == set(IO_NAMES)
    for role, spec in m["models"].items():
        assert (spec["inputs"], spec["outputs"]) == tuple(map(list, IO_NAMES[role]))
        assert spec["file"] in m["files"]
    assert set(m["files"]) == {p.name for p in bundle.iterdir()} - {MANIFEST}
    im = load_inference(checkpoint)
    want = im.style_stats["instance"]["night"]["cov"].numpy()
    np.testing.assert_allclose(m["style_stats"]["instance"]["night"]["cov"], want, rtol=1e-6)


def test_load_bundle_verifies_and_serves_styles(bundle: Path) -> None:
    b = load_bundle(bundle)
    assert b.frame_size == (64, 96) and b.precision == "fp32"
    assert b.model_path("generator").is_file()
    assert b.style("rainy").shape == (8,)
    assert not np.allclose(b.style("rainy", seed=1), b.style("rainy", seed=2))


def test_missing_file_is_refused(copy: Path) -> None:
    (copy / "generator.onnx").unlink()
    with pytest.raises(EdgecglError, match="missing generator.onnx"):
        load_bundle(copy)


def test_checksum_mismatch_is_refused(copy: Path) -> None:
    with open(copy / "content_encoder.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(EdgecglError, match="checksum"):
        load_bundle(copy)


def test_format_version_mismatch_is_refused(copy: Path) -> None:
    m = json.loads((copy / MANIFEST).read_text())
    m["format_version"] = 99
    (copy / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(EdgecglError, match="format version 99"):
        load_bundle(copy)


def test_existing_bundle_needs_overwrite(bundle: Path, checkpoint: Path) -> None:
    with pytest.raises(EdgecglError, match="already exists"):
        write_bundle(checkpoint, bundle, pt2=False)


def test_overwrite_never_deletes_a_folder_that_is_not_a_bundle(checkpoint: Path, tmp_path: Path) -> None:
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.jpg").write_bytes(b"x")
    with pytest.raises(EdgecglError, match="not a bundle"):
        write_bundle(checkpoint, other, pt2=False, overwrite=True)
    assert (other / "keep.jpg").exists()


def test_a_failed_export_leaves_nothing_behind(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(EdgecglError):
        write_bundle(checkpoint, tmp_path / "b", simplifier="nope", pt2=False)
    assert list(tmp_path.iterdir()) == []
