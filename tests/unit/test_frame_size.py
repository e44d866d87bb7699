"""Working sizes: parse_size says what is wrong with a size, and a bundle refuses one its network cannot
run (a 4x4 frame parsed, then failed in ONNX Runtime's reflect Pad or a torch.export guard)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgecgl.backends import select_backend
from edgecgl.bundle import Bundle, load_bundle
from edgecgl.errors import EdgecglError
from edgecgl.translate import Translator, check_frame_size, parse_size
from tests.runtime_helpers import tiny_bundle_for


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return load_bundle(tiny_bundle_for(tmp_path_factory))


def test_parse_size_names_the_real_problem() -> None:
    with pytest.raises(EdgecglError, match="--size 0x0 must be positive"):
        parse_size("0x0")
    with pytest.raises(EdgecglError, match="--size -4x8 must be positive"):
        parse_size("-4x8")
    with pytest.raises(EdgecglError, match="not a multiple of 4"):
        parse_size("6x8")
    assert parse_size("4x4") == (4, 4)  # the bundle decides whether it is big enough


def test_the_minimum_comes_from_the_bundles_stride(bundle: Bundle) -> None:
    assert bundle.stride == 4 and bundle.min_frame_side == 8 and bundle.min_style_side == 32
    check_frame_size((8, 8), bundle)
    with pytest.raises(EdgecglError, match="--size 4x64 is too small for this bundle: it needs at least 8x8"):
        check_frame_size((4, 64), bundle)
    coarse = dataclasses.replace(bundle, manifest={**bundle.manifest, "stride": 8, "style_stride": 32})
    assert coarse.min_frame_side == 16 and coarse.min_style_side == 64
    with pytest.raises(EdgecglError, match="needs at least 16x16") as ei:
        check_frame_size((8, 64), coarse)
    assert "downsamples by 8" in (ei.value.hint or "")


@pytest.mark.parametrize("backend", ["onnxruntime-cpu", "torch"])
def test_the_smallest_size_runs_on_every_backend_with_a_reference_photo(bundle: Bundle, backend: str) -> None:
    """8x8 translates; a reference photo is encoded at the style encoder's minimum (32), not at 8x8,
    where torch's guard 'H // 16 != 1' and ORT's reflect Pad refused it."""
    be = select_backend(bundle, backend)
    ref = np.random.default_rng(1).integers(0, 255, (40, 60, 3), np.uint8)
    for size in [(8, 8), (8, 64), (16, 16)]:
        tr = Translator(be, bundle, "night", style_ref=ref, frame_size=size)
        assert tr.style_size == (max(size[0], 32), max(size[1], 32))
        out = tr.translate_frame(np.zeros((24, 40, 3), np.uint8))
        assert out.shape == (24, 40, 3)
    with pytest.raises(EdgecglError, match="too small"):
        Translator(be, bundle, "night", frame_size=(4, 4))
