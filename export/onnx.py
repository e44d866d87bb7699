"""Export the generator-side networks to ONNX (opset 17) and torch.export ``.pt2``, one file per role.

Exporter choice: the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``). Checked with
torch 2.14 on these networks: the dynamo exporter (the default since 2.9) only has opset-18
implementations, its down-conversion to 17 fails on ``Pad`` ("No Adapter To Version 17 for Pad"), so the
file stays at opset 18; it writes the weights to a separate ``.onnx.data`` file; it names dynamic dims
after sympy symbols (``s73``, ``4*s73``) and took 5.6 s for the tiny generator versus 0.25 s. The
TorchScript exporter writes opset 17 (the widest TensorRT 8.5 -> 11 coverage, DESIGN.md §4), a single
self-contained file, and dynamic batch/H/W with the names we choose. GroupNorm (the decoder's LayerNorm)
exports as Reshape -> InstanceNormalization -> Reshape -> Mul/Add at opset 17, so "keep every
InstanceNormalization in FP32" also covers it.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from edgecgl.bundle import IO_NAMES
from edgecgl.errors import EdgecglError

OPSET = 17
STRIDE = 4

# role -> (key in InferenceModel.modules, granularity). *_instance roles exist only when not shared.
ROLE_MODULES: dict[str, tuple[str, str]] = {
    "content_encoder": ("content_enc", "global"),
    "content_encoder_instance": ("content_enc_inst", "instance"),
    "style_encoder": ("style_enc", "global"),
    "style_encoder_instance": ("style_enc_inst", "instance"),
    "generator": ("gen", "global"),
}


@dataclass(frozen=True)
class Dims:
    """What the example inputs need to know about the model."""

    content_channels: int
    style_dim: int
    n_domains: int


def roles_of(modules: nn.ModuleDict) -> dict[str, nn.Module]:
    """role -> module for every role this model has (instance encoders only when not shared)."""
    return {role: modules[key] for role, (key, _) in ROLE_MODULES.items() if key in modules}


def example_inputs(
    role: str, dims: Dims, size: tuple[int, int], batch: int = 1, seed: int = 0
) -> tuple[Tensor, ...]:
    """Deterministic inputs in the roles' real ranges: images in [-1, 1], one-hot domains, N(0,1) styles."""
    h, w = size
    if h % STRIDE or w % STRIDE:
        raise EdgecglError(f"size {h}x{w} is not a multiple of {STRIDE}", "use multiples of 4")
    g = torch.Generator().manual_seed(seed)
    domain = torch.zeros(batch, dims.n_domains)
    domain[torch.arange(batch), torch.arange(batch) % dims.n_domains] = 1.0
    image = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    if role.startswith("content_encoder"):
        return (image,)
    if role.startswith("style_encoder"):
        return (image, domain)
    if role == "generator":
        content = torch.randn(batch, dims.content_channels, h // STRIDE, w // STRIDE, generator=g)
        style = torch.randn(batch, dims.style_dim, generator=g)
        return (content, style, domain)
    raise ValueError(f"unknown role {role}")


def dynamic_axes(role: str) -> dict[str, dict[int, str]]:
    """Batch and H/W dynamic; generator H/W are in content (1/4) units, its output in image units."""
    ins, outs = IO_NAMES[role]
    axes: dict[str, dict[int, str]] = {}
    for name in (*ins, *outs):
        if name == "image":
            axes[name] = {0: "batch", 2: "height", 3: "width"}
        elif name == "content":
            axes[name] = {0: "batch", 2: "height_4", 3: "width_4"}
        else:
            axes[name] = {0: "batch"}
    return axes


def export_onnx(
    module: nn.Module,
    role: str,
    path: Path,
    example: tuple[Tensor, ...],
    opset: int = OPSET,
    axes: dict[str, dict[int, str]] | None = None,
) -> Path:
    """One role to one self-contained ONNX file with the stable names of ``edgecgl.bundle.IO_NAMES``
    (``axes``: the dynamic dims, default ``dynamic_axes(role)``)."""
    ins, outs = IO_NAMES[role]
    module = module.eval()
    path = Path(path)
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=list(ins),
            output_names=list(outs),
            dynamic_axes=axes or dynamic_axes(role),
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return path


def export_pt2(module: nn.Module, role: str, path: Path, example: tuple[Tensor, ...]) -> Path:
    """torch.export ExportedProgram (fp32) with dynamic batch and H/W (multiples of 4).

    The runtime's torch reference backend loads these with ``torch.export.load(path).module()`` and so
    never imports training code.
    """
    from torch.export import Dim

    ins, _ = IO_NAMES[role]
    batch = Dim("batch", min=1, max=1024)
    h4, w4 = Dim("h4", min=2, max=4096), Dim("w4", min=2, max=4096)
    spec: dict[str, dict[int, object]] = {}
    for name in ins:
        if name == "image":
            spec[name] = {0: batch, 2: STRIDE * h4, 3: STRIDE * w4}
        elif name == "content":
            spec[name] = {0: batch, 2: h4, 3: w4}
        else:
            spec[name] = {0: batch}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(module.eval(), example, dynamic_shapes=spec)
        torch.export.save(ep, str(path))
    return Path(path)
