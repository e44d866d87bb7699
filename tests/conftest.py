"""Shared fixtures: the shared test assets, markers that skip with a visible reason."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def assets_dir() -> Path | None:
    env = os.environ.get("EDGECGL_ASSETS")
    p = Path(env) if env else REPO.parent / "shared" / "assets"
    return p if p.is_dir() else None


@pytest.fixture(scope="session")
def assets() -> Path:
    """The shared real assets (BDD100K frames, dashcam clip, YOLOv8n); skip visibly where absent."""
    p = assets_dir()
    if p is None:
        pytest.skip("EDGECGL_ASSETS not set and ../shared/assets absent: real-asset test skipped")
    return p


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny exported bundle per session (tests/runtime_helpers.py); copy it before changing it."""
    from tests.runtime_helpers import tiny_bundle_for

    return tiny_bundle_for(tmp_path_factory)


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_trt = importlib.util.find_spec("tensorrt") is None
    no_cuda = not _has_cuda()
    for item in items:
        if "trt" in item.keywords and no_trt:
            item.add_marker(pytest.mark.skip(reason="TensorRT is not installed on this machine"))
        if "gpu" in item.keywords and no_cuda:
            item.add_marker(pytest.mark.skip(reason="no CUDA device on this machine"))
