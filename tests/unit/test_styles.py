"""Sampled styles: the spread knob, per-item seeds, ``Translator.use_style`` and eval's ``--style sample``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from edgecgl.train.eval.translators import ReferenceStyles, SampledStyles, TorchRun, load_references

from edgecgl.bundle import StyleStats, item_seed
from edgecgl.errors import EdgecglError
from edgecgl.references import reference_files
from tests.eval_fixtures import write_tiny_model


def stats() -> StyleStats:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    return StyleStats(rng.standard_normal(4), a @ a.T + np.eye(4))


def test_spread_scales_the_distance_from_the_mean() -> None:
    st = stats()
    one, two = st.sample(5), st.sample(5, spread=2.0)
    assert np.allclose(two - st.mean, 2.0 * (one - st.mean), atol=1e-5)
    assert np.allclose(st.sample(5, spread=0.0), st.mean, atol=1e-6)
    assert not np.allclose(st.sample(5), st.sample(6))
    with pytest.raises(EdgecglError, match="spread"):
        st.sample(5, spread=-1.0)


def test_item_seed_is_stable_and_per_item() -> None:
    a = item_seed(0, "night", "sunny/a.png")
    assert a == item_seed(0, "night", "sunny/a.png")
    assert len({a, item_seed(0, "night", "sunny/b.png"), item_seed(1, "night", "sunny/a.png"),
                item_seed(0, "rainy", "sunny/a.png")}) == 4  # fmt: skip
    assert 0 <= a < 2**31


def test_use_style_checks_the_code_size(tmp_path_factory: pytest.TempPathFactory) -> None:
    from edgecgl.backends import select_backend
    from edgecgl.bundle import load_bundle
    from edgecgl.translate import Translator
    from tests.runtime_helpers import tiny_bundle_for

    b = load_bundle(tiny_bundle_for(tmp_path_factory))
    tr = Translator(select_backend(b, "onnxruntime-cpu"), b, "night")
    code = b.style("night", seed=3, spread=1.5)
    tr.use_style(code, "test")
    assert np.array_equal(tr.style, code) and tr.style_source == "test"
    with pytest.raises(EdgecglError, match="values"):
        tr.use_style(np.zeros(b.style_dim + 1), "bad")
    wide = Translator(tr.backend, b, "night", style_seed=3, style_spread=1.5)
    assert np.allclose(wide.style, code) and "spread 1.5" in wide.style_source


def test_sampled_styles_differ_per_image_and_repeat_per_run(tmp_path: Path) -> None:
    model = TorchRun(write_tiny_model(tmp_path / "m.pt"))
    x = torch.rand(1, 3, 32, 64).mul(2).sub(1).repeat(3, 1, 1, 1)  # one image three times
    first = SampledStyles(model, seed=0).translate(x, "night")
    assert not torch.allclose(first[0], first[1]) and not torch.allclose(first[1], first[2])
    assert torch.allclose(SampledStyles(model, seed=0).translate(x, "night"), first)
    assert not torch.allclose(SampledStyles(model, seed=1).translate(x, "night"), first)
    mean = model.translate(x, "night")
    assert torch.allclose(SampledStyles(model, seed=0, spread=0.0).translate(x, "night"), mean, atol=1e-5)
    # a seeded call is the N(0, I) prior (LPIPS diversity), as for the bare model
    assert torch.allclose(
        SampledStyles(model).translate(x, "night", seed=7), model.translate(x, "night", seed=7)
    )


def write_refs(folder: Path, n: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(n):  # each reference a different brightness and size: distinct styles
        h, w = 40 + 8 * i, 70 + 6 * i
        img = np.clip(rng.normal(40 + 60 * i, 30, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"ref{i}.png")
    return folder


def test_reference_styles_take_each_image_a_reference_photos_code(tmp_path: Path) -> None:
    model = TorchRun(write_tiny_model(tmp_path / "m.pt"))
    refs = write_refs(tmp_path / "refs", 3)
    x = torch.rand(1, 3, 32, 64).mul(2).sub(1).repeat(4, 1, 1, 1)  # one image four times
    ref = ReferenceStyles(model, refs, seed=0)
    codes = ref.codes("night")
    files = reference_files(refs, "night")
    images = (
        torch.from_numpy(load_references(files, model.frame_size)).permute(0, 3, 1, 2).float() / 127.5 - 1
    )
    assert codes.shape == (3, model.style_dim)
    assert np.allclose(codes, model.encode_styles(images, "night"), atol=1e-5)
    assert len({tuple(np.round(c, 4)) for c in codes}) == 3  # three photos, three styles
    out = ref.translate(x, "night")
    picked = [item_seed(0, "night", str(i)) % 3 for i in range(4)]
    want = model.translate_styles(x, "night", codes[picked])
    assert torch.allclose(out, want, atol=1e-5)
    assert torch.allclose(ReferenceStyles(model, refs, seed=0).translate(x, "night"), out)  # reruns repeat
    mean = model.translate(x, "night")
    assert torch.allclose(ReferenceStyles(model, refs, spread=0.0).translate(x, "night"), mean, atol=1e-5)


def test_reference_styles_read_the_targets_subfolder_and_refuse_an_empty_one(tmp_path: Path) -> None:
    model = TorchRun(write_tiny_model(tmp_path / "m.pt"))
    write_refs(tmp_path / "root" / "night", 2)
    write_refs(tmp_path / "root" / "rainy", 1)
    ref = ReferenceStyles(model, tmp_path / "root")
    assert ref.codes("night").shape[0] == 2 and ref.codes("rainy").shape[0] == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgecglError, match="no reference photos"):
        ReferenceStyles(model, tmp_path / "empty").codes("night")
