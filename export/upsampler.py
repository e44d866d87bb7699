"""The guided upsampler: the network's low-resolution translation, re-applied to the full-resolution input.

Fast guided filter (He & Sun 2015, arXiv:1505.00996): at the working resolution, fit the translation as
a local affine colour transform of the input (``low_image ~ A * low_guide + b`` over box windows of
radius ``radius``), smooth ``A`` and ``b`` with the same box, upsample them bilinearly to the input's
resolution and apply them to the full-resolution input: ``image = A * guide + b``. The output keeps the
input's edges and texture and takes the network's colours.

An option beyond the textbook filter: ``prior`` is the slope the regulariser pulls ``A`` towards, i.e.
it minimises ``sum (A I + b - p)^2 + eps |A - prior Id|^2``. ``prior`` 0 (the default, He's filter: where
a window is flat at the working resolution ``A`` goes to 0) measured best on paired PSNR; ``prior`` 1 keeps
the full-resolution detail even there and reproduces a constant colour shift ``p = I + c`` exactly
whatever ``eps`` (docs/RESULTS.md has both).

Modes: ``channel`` (each output channel from the same input channel; 6 planes upsampled), ``color``
(a 3x3 ``A`` per pixel, closed-form 3x3 solve by the adjugate; 12 planes), ``gray`` (each output channel
from the input's luma; 6 planes). Box filters are ``AveragePool`` excluding the padding (the normalised box
of the paper), so the ONNX graph has no CumSum and builds on every TensorRT (DESIGN.md §4).

ONNX interface (``edgecgl.bundle.IO_NAMES["upsampler"]``): ``guide`` [N,3,H,W], ``low_guide`` [N,3,h,w],
``low_image`` [N,3,h,w], all float32 in [-1, 1]; output ``image`` [N,3,H,W] in [-1, 1]. H, W and h, w are
independent and dynamic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgecgl.bundle import IO_NAMES
from edgecgl.errors import EdgecglError

MODES = ("channel", "color", "gray")
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class UpsamplerConfig:
    """What the graph bakes in; written to the manifest under ``"upsampler"``.

    Defaults chosen by measurement on SynthWeather held-out pairs and the real clip (docs/RESULTS.md).
    ``radius`` is in working-resolution pixels; ``eps`` in squared [-1, 1] image units.
    """

    radius: int = 16
    eps: float = 0.1
    mode: str = "channel"
    prior: float = 0.0  # the slope eps pulls A towards: 0 is the textbook filter, 1 keeps flat-region detail
    subsample: int = 1  # fit A, b on the working-size inputs averaged over s x s cells (the exporter sets it)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise EdgecglError(f"unknown upsampler mode '{self.mode}'", f"choose one of {', '.join(MODES)}")
        if self.radius < 1 or self.eps <= 0 or self.subsample < 1:
            raise EdgecglError(
                f"upsampler radius {self.radius} / eps {self.eps} / subsample {self.subsample} out of range",
                "radius >= 1, eps > 0, subsample >= 1",
            )

    @classmethod
    def for_working_size(cls, hw: tuple[int, int], **kw: Any) -> UpsamplerConfig:
        """The measured defaults (at 64x128) for another working size: the fit runs on a grid near 64
        rows (``subsample`` = short side // 64), so the window covers the same share of the picture and
        the box filters cost the same at any working size."""
        return cls(subsample=max(1, min(int(hw[0]), int(hw[1])) // 64), **kw)

    def to_json(self) -> dict[str, Any]:
        return {"method": "fast-guided-filter", **asdict(self)}


class GuidedUpsampler(nn.Module):
    """(guide [N,3,H,W], low_guide [N,3,h,w], low_image [N,3,h,w]) -> image [N,3,H,W], all in [-1, 1]."""

    def __init__(self, cfg: UpsamplerConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or UpsamplerConfig()
        self.register_buffer("luma", torch.tensor(LUMA).view(1, 3, 1, 1), persistent=False)

    def box(self, x: Tensor) -> Tensor:
        """Normalised box mean of radius r: two 1-D AveragePools (rows, then columns), padding excluded
        from the count. Separable, so the cost grows with r, not r^2; the valid-pixel count of a 2-D
        window is the product of the 1-D counts, so this is exactly the 2-D normalised box."""
        r = self.cfg.radius
        k = 2 * r + 1
        x = F.avg_pool2d(x, (1, k), stride=1, padding=(0, r), count_include_pad=False)
        return F.avg_pool2d(x, (k, 1), stride=1, padding=(r, 0), count_include_pad=False)

    def forward(self, guide: Tensor, low_guide: Tensor, low_image: Tensor) -> Tensor:
        s = self.cfg.subsample
        if s > 1:  # partial cells at the right/bottom edge average what they hold
            low_guide = F.avg_pool2d(low_guide, s, stride=s, ceil_mode=True, count_include_pad=False)
            low_image = F.avg_pool2d(low_image, s, stride=s, ceil_mode=True, count_include_pad=False)
        if self.cfg.mode == "color":
            a, b = self._fit_color(low_guide, low_image)
        else:
            if self.cfg.mode == "gray":
                low_guide = (low_guide * self.luma).sum(1, keepdim=True)
                guide = (guide * self.luma).sum(1, keepdim=True)
            a, b = self._fit_channel(low_guide, low_image)
        ab = self.box(torch.cat([a, b], 1))
        size = guide.shape[-2:]

        def up(t: Tensor) -> Tensor:
            # Slice at the working size, then upsample each piece: slicing a full-resolution tensor
            # would copy it (an 8K frame held ~12 float planes in ONNX Runtime, docs/ROBUSTNESS.md).
            return F.interpolate(t, size=size, mode="bilinear", align_corners=False)

        if self.cfg.mode == "color":
            # planes 3k..3k+2 hold A[:, k] (input channel k's weight in each output channel)
            out = up(ab[:, 9:])
            for k in range(3):
                out = out + up(ab[:, 3 * k : 3 * k + 3]) * guide[:, k : k + 1]
        else:
            out = up(ab[:, :3]) * guide + up(ab[:, 3:])
        return out.clamp(-1.0, 1.0)

    def _fit_channel(self, i: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """Per channel: A = (cov(I,p) + eps*prior) / (var(I) + eps), b = mean(p) - A mean(I)."""
        k = i.shape[1]  # 3, or 1 for the gray guide (broadcast over p's channels)
        i3 = i.expand_as(p) if k == 1 else i
        m = self.box(torch.cat([i3, p, i3 * i3, i3 * p], 1))
        mi, mp, mii, mip = m[:, 0:3], m[:, 3:6], m[:, 6:9], m[:, 9:12]
        eps, prior = self.cfg.eps, self.cfg.prior
        a = (mip - mi * mp + eps * prior) / (mii - mi * mi + eps)
        return a, mp - a * mi

    def _fit_color(self, i: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """A_c = (Sigma + eps Id)^-1 (cov(I, p_c) + eps prior e_c), Sigma the 3x3 colour covariance."""
        i0, i1, i2 = i[:, 0:1], i[:, 1:2], i[:, 2:3]
        prods = [i0 * i0, i0 * i1, i0 * i2, i1 * i1, i1 * i2, i2 * i2]
        cross = [i[:, k : k + 1] * p for k in range(3)]  # [N,3,h,w] each: I_k * p_c for c = 0..2
        m = self.box(torch.cat([i, p, *prods, *cross], 1))
        mi, mp = m[:, 0:3], m[:, 3:6]
        eps, prior = self.cfg.eps, self.cfg.prior
        mu = [mi[:, k : k + 1] for k in range(3)]
        s = m[:, 6:12]
        s00 = s[:, 0:1] - mu[0] * mu[0] + eps
        s01 = s[:, 1:2] - mu[0] * mu[1]
        s02 = s[:, 2:3] - mu[0] * mu[2]
        s11 = s[:, 3:4] - mu[1] * mu[1] + eps
        s12 = s[:, 4:5] - mu[1] * mu[2]
        s22 = s[:, 5:6] - mu[2] * mu[2] + eps
        # inverse of the symmetric 3x3 by its adjugate
        c00 = s11 * s22 - s12 * s12
        c01 = s02 * s12 - s01 * s22
        c02 = s01 * s12 - s02 * s11
        c11 = s00 * s22 - s02 * s02
        c12 = s01 * s02 - s00 * s12
        c22 = s00 * s11 - s01 * s01
        det = s00 * c00 + s01 * c01 + s02 * c02
        inv = [[c00, c01, c02], [c01, c11, c12], [c02, c12, c22]]
        # cov(I_k, p_c) for k, c in 0..2, plus the prior's eps on the diagonal
        cov = [
            [
                m[:, 12 + 3 * k + c : 13 + 3 * k + c]
                - mu[k] * mp[:, c : c + 1]
                + (eps * prior if k == c else 0.0)
                for c in range(3)
            ]
            for k in range(3)
        ]
        rdet = 1.0 / det
        a = [  # a[k][c] = sum_j inv[k][j] cov[j][c]: output channel c's weight on input channel k
            [(inv[k][0] * cov[0][c] + inv[k][1] * cov[1][c] + inv[k][2] * cov[2][c]) * rdet for c in range(3)]
            for k in range(3)
        ]
        a_rows = [a[k][c] for k in range(3) for c in range(3)]
        b_rows = [mp[:, c : c + 1] - (a[0][c] * mu[0] + a[1][c] * mu[1] + a[2][c] * mu[2]) for c in range(3)]
        return torch.cat(a_rows, 1), torch.cat(b_rows, 1)


INPUTS, OUTPUTS = IO_NAMES["upsampler"]


def example_inputs(
    full: tuple[int, int], low: tuple[int, int], batch: int = 1, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """A smooth random scene at full size, its area-downsampled copy, and a colour-changed low output."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(batch, 3, max(2, full[0] // 8), max(2, full[1] // 8), generator=g) * 2 - 1
    guide = F.interpolate(base, size=full, mode="bilinear", align_corners=False)
    guide = (guide + 0.2 * (torch.rand(batch, 3, *full, generator=g) * 2 - 1)).clamp(-1, 1)
    low = F.adaptive_avg_pool2d(guide, low)
    mix = torch.eye(3) * 0.6 + 0.1 * torch.rand(3, 3, generator=g)
    out = torch.einsum("ck,nkhw->nchw", mix, low) - 0.3
    return guide, low, (out + 0.05 * torch.rand(out.shape, generator=g)).clamp(-1, 1)


def export_upsampler(cfg: UpsamplerConfig, path: Path, opset: int = 17) -> Path:
    """The module to one self-contained ONNX file; batch, H, W, h, w dynamic."""
    module = GuidedUpsampler(cfg).eval()
    ex = example_inputs((48, 80), (12, 20))
    axes = {
        "guide": {0: "batch", 2: "height", 3: "width"},
        "low_guide": {0: "batch", 2: "low_height", 3: "low_width"},
        "low_image": {0: "batch", 2: "low_height", 3: "low_width"},
        "image": {0: "batch", 2: "height", 3: "width"},
    }
    from edgecgl.export.onnx import export_onnx

    return export_onnx(module, "upsampler", path, ex, opset, axes)


# (full H, W), (low h, w), batch: aspect changes, odd sizes, a low size smaller than the box (and than a
# subsampling cell), batch > 1
PARITY_SHAPES: list[tuple[tuple[int, int], tuple[int, int], int]] = [
    ((64, 128), (16, 32), 1),
    ((90, 160), (17, 30), 2),
    ((37, 53), (4, 5), 1),
    ((120, 200), (30, 51), 1),
]


def upsampler_parity(cfg: UpsamplerConfig, onnx_path: Path) -> float:
    """Max abs error of ONNX Runtime (CPU, FP32) vs the torch module over ``PARITY_SHAPES``."""
    from edgecgl.export.verify import ort_session

    module = GuidedUpsampler(cfg).eval()
    sess = ort_session(Path(onnx_path))
    worst = 0.0
    for k, (full, low, batch) in enumerate(PARITY_SHAPES):
        ex = example_inputs(full, low, batch, seed=200 + k)
        with torch.no_grad():
            ref = module(*ex).numpy()
        got = sess.run(None, dict(zip(INPUTS, (t.numpy() for t in ex), strict=True)))[0]
        if got.shape != ref.shape:
            raise AssertionError(f"upsampler: ONNX output shape {got.shape} != torch {ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst
