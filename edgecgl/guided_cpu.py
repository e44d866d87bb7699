"""The guided upsampler's math on the CPU in numpy + OpenCV: fit at low resolution, apply in row strips.

The same function as the bundle's ``upsampler.onnx`` (``edgecgl.export.upsampler``; per-channel mode),
split where its cost is: the fit (cell means, box filters, the per-channel ``A`` and ``b``) runs on the
coefficient grid (~64 rows), and the full-resolution step reads the uint8 frame and writes the uint8
output directly. On ONNX Runtime CPU the graph cost 78 ms at 1080p, plus 28 ms converting the frame to
float NCHW and back, mostly full-resolution ``Resize`` of the coefficient planes and ``AveragePool``
(docs/PERFORMANCE.md, issue 17).

Full resolution, without float copies of the frame: in uint8 units the output is
``A * I + B`` with ``B = 127.5 (b - A + 1)`` (``I`` the uint8 input; the graph's clamp to [-1, 1] is the
saturation to [0, 255]). Bilinear interpolation is separable and linear, so the grid is resized
horizontally once (to ``h' x W``), and each strip of output rows is its vertical interpolation: a matmul
with the strip's few rows of bilinear weights. Then ``A * I`` and ``+ B`` (saturated, rounded) run on the
strip while it is in cache, and write into the output.

The graph stays the bundle's definition (TensorRT and torch run it); ``edgecgl.upsample`` checks this
path against it when it loads a bundle.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

STRIP_BYTES = 768 * 1024  # float32 coefficients of one strip (A and B): fits a 1 MiB L2 with the rest


@dataclass(frozen=True)
class GuidedParams:
    """The manifest's ``"upsampler"`` entry, the part this path needs."""

    radius: int
    eps: float
    prior: float = 0.0
    subsample: int = 1
    mode: str = "channel"

    @classmethod
    def from_manifest(cls, entry: dict[str, Any]) -> GuidedParams:
        return cls(
            radius=int(entry["radius"]),
            eps=float(entry["eps"]),
            prior=float(entry.get("prior", 0.0)),
            subsample=int(entry.get("subsample", 1)),
            mode=str(entry.get("mode", "channel")),
        )

    @property
    def supported(self) -> bool:
        """Only the per-channel form (the shipped default); ``gray`` and ``color`` run the graph."""
        return self.mode == "channel" and self.radius >= 1 and self.eps > 0 and self.subsample >= 1


def _counts(n: int, size: int, offset: int, step: int = 1) -> np.ndarray:
    """How many of ``n`` positions a window [i - offset, i - offset + size) holds, at every ``step``-th i."""
    i = np.arange(0, n, step)
    return np.minimum(i - offset + size, n) - np.maximum(i - offset, 0)


def cell_mean(x: np.ndarray, s: int) -> np.ndarray:
    """Mean over s x s cells of [h, w, c]; partial cells at the bottom/right average what they hold
    (``avg_pool2d(s, s, ceil_mode=True, count_include_pad=False)``)."""
    if s == 1:
        return x
    h, w = x.shape[:2]
    # window sums anchored at each cell's first pixel, zero beyond the border, read at the cell corners
    sums = cv2.boxFilter(x, -1, (s, s), anchor=(0, 0), normalize=False, borderType=cv2.BORDER_CONSTANT)
    sums = sums.reshape(h, w, -1)[::s, ::s]
    return sums / (_counts(h, s, 0, s)[:, None, None] * _counts(w, s, 0, s)[None, :, None])


def box(x: np.ndarray, r: int) -> np.ndarray:
    """Normalised box mean of radius r over [h, w, c], the window clipped at the border and the mean
    over what it holds (the graph's two AveragePools with ``count_include_pad=False``)."""
    h, w = x.shape[:2]
    k = 2 * r + 1
    sums = cv2.boxFilter(x, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT).reshape(x.shape)
    return sums / (_counts(h, k, r)[:, None, None] * _counts(w, k, r)[None, :, None])


def fit(low_guide: np.ndarray, low_image: np.ndarray, p: GuidedParams) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [h,w,3] input and the network's float32 [3,h,w] output for it -> the coefficient grid
    ``(A, B)``, float32 [h',w',3] each, in uint8 units: the output is ``A * I + B`` for uint8 ``I``.

    The graph's steps in its order; the cell means in float32 at the working size (contiguous HWC:
    numpy on a 3-wide strided last axis is 10x slower), the rest in float64 on the (small) grid."""
    s = p.subsample
    i = cell_mean(low_guide.astype(np.float32), s).astype(np.float64) / 127.5 - 1.0
    t = cell_mean(cv2.merge([np.asarray(c, np.float32) for c in low_image]), s).astype(np.float64)
    # planes first on the grid: whole contiguous planes instead of 3-wide strided channels
    m = np.ascontiguousarray(box(np.concatenate([i, t, i * i, i * t], axis=2), p.radius).transpose(2, 0, 1))
    mi, mp, mii, mip = m[0:3], m[3:6], m[6:9], m[9:12]
    a = (mip - mi * mp + p.eps * p.prior) / (mii - mi * mi + p.eps)
    ab = box(np.concatenate([a, mp - a * mi]).transpose(1, 2, 0), p.radius)
    a, b = ab[..., :3], ab[..., 3:]
    return np.ascontiguousarray(a, np.float32), np.ascontiguousarray(127.5 * (b - a + 1.0), np.float32)


def linear_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-pixel bilinear sampling (``align_corners=False``, ONNX ``half_pixel``): for each output
    index the two input indices and the second one's weight."""
    src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


@lru_cache(maxsize=32)
def strip_plan(n_in: int, n_out: int, rows: int) -> tuple[tuple[int, int, int, int, np.ndarray], ...]:
    """Strips of ``rows`` output rows: (start, end, first grid row, end grid row, weights [rows, k])."""
    i0, i1, lam = linear_weights(n_in, n_out)
    plan = []
    for s in range(0, n_out, rows):
        e = min(n_out, s + rows)
        r0, r1 = int(i0[s]), int(i1[e - 1]) + 1
        w = np.zeros((e - s, r1 - r0), np.float32)
        idx = np.arange(e - s)
        np.add.at(w, (idx, i0[s:e] - r0), 1.0 - lam[s:e])
        np.add.at(w, (idx, i1[s:e] - r0), lam[s:e])
        w.setflags(write=False)
        plan.append((s, e, r0, r1, w))
    return tuple(plan)


def strip_rows(width: int) -> int:
    """8-16 rows measured fastest at 720p and 1080p (benchmarks/upsampler_cost.py --variants)."""
    return int(max(4, min(16, STRIP_BYTES // (width * 6 * 4))))


@lru_cache(maxsize=1)
def _blas() -> Any:
    """threadpoolctl's controller, made once (finding the libraries costs ~0.4 ms; a limit then ~8 us)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


_BLAS_LOCK = threading.Lock()
_blas_depth = 0  # callers inside one_blas_thread, any thread


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS held at one thread while inside. The limit is process-wide, and threadpoolctl (3.8+)
    lets one thread at a time set a pthreads OpenBLAS's: another thread's set is silently dropped. So
    the first caller in sets it and restores it itself on the way out (a ``with``, which also hands the
    control back); callers arriving meanwhile share it, and finish at the default if it leaves first.
    Before, the last caller out restored it: from another thread that was a no-op, and BLAS stayed at
    one thread for the process (numpy's GEMM at half speed; docs/PERFORMANCE.md, "edgecgl bench on your
    device"). A run calling this from several threads (``edgecgl video``'s workers and instance thread,
    ``edgecgl bench``'s x2 rows) holds it around the whole run from its own thread, so its workers never
    set or restore anything."""
    global _blas_depth
    with _BLAS_LOCK:
        first = _blas_depth == 0
        _blas_depth += 1
    try:
        if first:
            with _blas().limit(limits=1, user_api="blas"):
                yield
        else:
            yield
    finally:
        with _BLAS_LOCK:
            _blas_depth -= 1


def apply(image: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """uint8 [H,W,3] (a view of a larger frame is fine) and the grid's ``(A, B)`` -> uint8 [H,W,3]:
    ``A * I + B`` with A, B bilinearly upsampled to H x W, saturated and rounded."""
    hgt, wid = image.shape[:2]
    gh = a.shape[0]
    cols = wid * 3
    grid = np.empty((gh, 2, cols), np.float32)  # each grid row: A then B, resized to the output width
    for k, plane in enumerate((a, b)):
        grid[:, k] = cv2.resize(plane, (wid, gh), interpolation=cv2.INTER_LINEAR).reshape(gh, cols)
    grid2 = grid.reshape(gh, 2 * cols)
    src = image.reshape(hgt, cols)  # a view: the rows of a window keep the frame's stride
    out = np.empty((hgt, wid, 3), np.uint8)
    dst = out.reshape(hgt, cols)
    rows = strip_rows(wid)
    coef = np.empty((rows, 2 * cols), np.float32)
    prod = np.empty((rows, cols), np.float32)
    # BLAS on one thread: OpenBLAS threads a strip's tiny matmul past a size threshold, and its
    # spinning workers then starve OpenCV's: 400-770 ms instead of 10 ms per 1080p frame on 2 cores.
    with one_blas_thread():
        for s, e, r0, r1, w in strip_plan(gh, hgt, rows):
            n = e - s
            c, p = coef[:n], prod[:n]
            np.matmul(w, grid2[r0:r1], out=c)
            cv2.multiply(src[s:e], c[:, :cols], dst=p, dtype=cv2.CV_32F)
            cv2.add(p, c[:, cols:], dst=dst[s:e], dtype=cv2.CV_8U)
    return out


def upsample(guide: np.ndarray, low_guide: np.ndarray, low_image: np.ndarray, p: GuidedParams) -> np.ndarray:
    """The whole step: ``guide`` uint8 [H,W,3], ``low_guide`` uint8 [h,w,3], ``low_image`` float32
    [3,h,w] in [-1, 1] -> uint8 [H,W,3] (what ``Upsampler`` returns from the graph)."""
    a, b = fit(low_guide, low_image, p)
    return apply(guide, a, b)
