"""A crafted .pt2 cannot run code through the torch backend (torch.export unpickles some payloads)."""

from __future__ import annotations

import contextlib
import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from edgecgl.backends.torch import _load_program_weights_only


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("w", torch.ones(3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w


def _poison(src: Path, dst: Path, payload: bytes) -> None:
    """Copy the archive, marking its weight as pickled and replacing the payload."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("weights/model_weights_config.json"):
                cfg = json.loads(data)
                for meta in cfg["config"].values():
                    meta["use_pickle"] = True
                data = json.dumps(cfg).encode()
            elif info.filename.endswith("weights/weight_0"):
                data = payload
            zout.writestr(info, data)


def test_clean_program_loads(tmp_path: Path) -> None:
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(_Tiny(), (torch.randn(2, 3),)), path)
    prog = _load_program_weights_only(torch, str(path)).module()
    assert torch.equal(prog(torch.ones(2, 3)), torch.full((2, 3), 3.0))


def test_crafted_pickle_in_program_is_refused(tmp_path: Path) -> None:
    clean, evil = tmp_path / "m.pt2", tmp_path / "evil.pt2"
    torch.export.save(torch.export.export(_Tiny(), (torch.randn(2, 3),)), clean)
    marker = tmp_path / "pwned"
    _poison(clean, evil, pickle.dumps(_Evil(marker)))
    with pytest.raises(Exception):  # noqa: B017 - any refusal is fine; running the payload is not
        _load_program_weights_only(torch, str(evil))
    assert not marker.exists(), "the crafted pickle ran"
    # Control: the same archive through plain torch.export.load does run the payload.
    with contextlib.suppress(Exception):
        torch.export.load(str(evil))
    assert marker.exists(), "control failed: the poisoned archive is not exercising the pickle path"
