"""LPIPS: the paired perceptual distance and MUNIT's diversity protocol.

The ``lpips`` package ships only its linear heads (``weights/v0.1/*.pth``); the backbone (AlexNet,
VGG16 or SqueezeNet ImageNet weights) comes from torchvision, which downloads it. Offline, the backbone
must come from a file: ``--lpips-backbone PATH`` (a torchvision state dict such as
``alexnet-owt-7be5be79.pth``) or the torch hub cache. With neither, the metric is skipped and the
report says why — an LPIPS on a random backbone would be a number that means nothing.

Diversity (MUNIT, Huang et al. 2018, §5.2): 100 inputs, for each 19 pairs of outputs with random
styles, the mean LPIPS distance over all pairs. Higher = more diverse.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from edgecgl.errors import EdgecglError

# torchvision's file names for the ImageNet backbones LPIPS builds on.
TORCHVISION_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
MUNIT_INPUTS = 100
MUNIT_PAIRS = 19


def find_backbone(net: str = "alex", path: str | Path | None = None) -> Path | None:
    """An explicit backbone file, else torchvision's cached download, else None."""
    if net not in TORCHVISION_FILES:
        raise EdgecglError(f"unknown LPIPS backbone '{net}'", f"choose one of {', '.join(TORCHVISION_FILES)}")
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise EdgecglError(f"LPIPS backbone weights {p} do not exist", "give a torchvision state dict")
        return p
    cached = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILES[net]
    return cached if cached.is_file() else None


def no_backbone_message(net: str = "alex") -> str:
    return (
        f"LPIPS skipped: no {net} backbone weights on this machine (the lpips package ships only its linear "
        f"heads). Pass --lpips-backbone PATH with torchvision's {TORCHVISION_FILES[net]}, or run once online."
    )


class Lpips:
    """LPIPS v0.1 with the package's linear heads and a backbone loaded from a torchvision state dict."""

    def __init__(self, backbone: Path, net: str = "alex", device: str = "cpu") -> None:
        import lpips

        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
        state = torch.load(backbone, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        copied = 0
        for slice_mod in model.net.children():
            for idx, layer in slice_mod.named_children():
                for pname, param in layer.named_parameters(recurse=True):
                    key = f"features.{idx}.{pname}"
                    if key not in state:
                        raise EdgecglError(
                            f"{backbone} is not a torchvision {net} state dict (no '{key}')",
                            f"use torchvision's {TORCHVISION_FILES[net]}",
                        )
                    if state[key].shape != param.shape:
                        raise EdgecglError(f"{backbone}: '{key}' has shape {tuple(state[key].shape)}")
                    with torch.no_grad():
                        param.copy_(state[key])
                    copied += 1
        if copied == 0:
            raise EdgecglError(f"{backbone} gave no backbone weights")
        self.model = model.eval().to(device)
        self.device = device
        self.source = f"lpips-v0.1-{net}:{Path(backbone).name}"

    @torch.inference_mode()
    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] pairs in [-1,1] -> [B] distances."""
        return self.model(a.float().to(self.device), b.float().to(self.device)).flatten().cpu()


def load_lpips(net: str = "alex", backbone: str | Path | None = None, device: str = "cpu") -> Lpips | None:
    """An LPIPS metric, or None where no backbone weights exist offline (print no_backbone_message)."""
    path = find_backbone(net, backbone)
    return None if path is None else Lpips(path, net, device)


def lpips_diversity(
    metric: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    translate_random: Callable[[torch.Tensor, int], torch.Tensor],
    inputs: torch.Tensor,
    n_pairs: int = MUNIT_PAIRS,
    seed: int = 0,
) -> float:
    """Mean LPIPS between two random-style translations of each input, ``n_pairs`` pairs per input.

    ``translate_random(images, seed)`` returns one translation per image with styles drawn from a
    generator seeded by ``seed`` (so two calls with different seeds give a pair of random styles).
    """
    if inputs.shape[0] == 0:
        raise ValueError("lpips_diversity needs at least one input")
    total, count = 0.0, 0
    for k in range(n_pairs):
        a = translate_random(inputs, seed + 2 * k)
        b = translate_random(inputs, seed + 2 * k + 1)
        d = metric(a, b)
        total += float(d.sum())
        count += d.numel()
    return total / count
