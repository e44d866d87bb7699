"""Paired image metrics: PSNR and SSIM (Wang et al. 2004, Gaussian window), whole frame or inside boxes.

SSIM follows the original paper's settings, which are also scikit-image's with ``gaussian_weights=True,
sigma=1.5, use_sample_covariance=False``: an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03,
reflect padding, the border of half a window dropped from the mean, channels averaged. The tests check
the numbers against scikit-image, so a paired table here means what it means elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

_SIGMA = 1.5
_TRUNCATE = 3.5  # 2 * int(3.5 * 1.5 + 0.5) + 1 = 11-pixel window
_PAD = int(_TRUNCATE * _SIGMA + 0.5)


def _as_float(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical inputs."""
    a, b = _as_float(a), _as_float(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def _ssim_2d(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    def filt(z: np.ndarray) -> np.ndarray:
        return gaussian_filter(z, sigma=_SIGMA, truncate=_TRUNCATE, mode="reflect")

    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    ux, uy = filt(x), filt(y)
    vx = filt(x * x) - ux * ux
    vy = filt(y * y) - uy * uy
    vxy = filt(x * y) - ux * uy
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    h, w = s.shape
    # Small crops (instance boxes) keep their whole map: dropping a window-wide border would leave nothing.
    if h > 2 * _PAD and w > 2 * _PAD:
        s = s[_PAD : h - _PAD, _PAD : w - _PAD]
    return float(s.mean())


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, channel_axis: int | None = 0) -> float:
    """Mean SSIM; ``channel_axis`` None for a single-channel 2-D image, else channels are averaged."""
    a, b = _as_float(a), _as_float(b)
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ {a.shape} vs {b.shape}")
    if channel_axis is None:
        if a.ndim != 2:
            raise ValueError(f"ssim: expected a 2-D image without channel_axis, got {a.shape}")
        return _ssim_2d(a, b, data_range)
    a, b = np.moveaxis(a, channel_axis, 0), np.moveaxis(b, channel_axis, 0)
    return float(np.mean([_ssim_2d(x, y, data_range) for x, y in zip(a, b, strict=True)]))


def to_unit(image: np.ndarray) -> np.ndarray:
    """[-1, 1] model range -> [0, 1], clipped (what PSNR/SSIM with data_range=1 expect)."""
    return np.clip((_as_float(image) + 1.0) / 2.0, 0.0, 1.0)


def box_slices(boxes: np.ndarray, height: int, width: int, min_size: int = 2) -> list[tuple[slice, slice]]:
    """Integer pixel windows covering each xyxy box (pixel i covers [i, i+1)), clipped; tiny ones dropped."""
    out = []
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        c0, r0 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        c1, r1 = min(width, int(np.ceil(x2))), min(height, int(np.ceil(y2)))
        if c1 - c0 >= min_size and r1 - r0 >= min_size:
            out.append((slice(r0, r1), slice(c0, c1)))
    return out


def paired_scores(
    output: np.ndarray, target: np.ndarray, boxes: np.ndarray | Sequence[Sequence[float]] = ()
) -> dict[str, list[float]]:
    """PSNR/SSIM of one [3,H,W] output in [-1,1] against its ground truth: the frame, and each box.

    Returns lists so the caller can average per image ("frame") and per instance ("instance") over a set.
    """
    out, tgt = to_unit(output), to_unit(target)
    scores: dict[str, list[float]] = {
        "psnr": [psnr(out, tgt)],
        "ssim": [ssim(out, tgt)],
        "psnr_instance": [],
        "ssim_instance": [],
    }
    _, h, w = out.shape
    for rows, cols in box_slices(np.asarray(boxes, dtype=np.float64), h, w):
        scores["psnr_instance"].append(psnr(out[:, rows, cols], tgt[:, rows, cols]))
        scores["ssim_instance"].append(ssim(out[:, rows, cols], tgt[:, rows, cols]))
    return scores
