"""Two numbers that say whether an output kept the input's detail and hid its paste seams.

``gradient_correlation``: Pearson correlation of the input's and the output's gradient magnitude (luma,
Sobel), over the whole frame. A translation that keeps the input's edges scores near 1 whatever it does
to the colours; a blurry upsampled output scores near 0 at high resolution.

``seam_ratio``: for one pasted window, the output's gradient energy along the window's border (a band
straddling the edge) relative to the rings just inside and just outside it, each as a gain over the
input's energy in the same pixels (so the input's own edges cancel). 1.0 = the border looks like its
surroundings (no rectangle). A step or halo along the edge puts energy on the border (> 1); a paste
whose detail differs from its surroundings (a sharp crop on a smeared frame) makes the border a mix of
two unlike sides, which also reads > 1 because the sides are combined by their geometric mean. Sides on
the frame's edge are not a seam and are left out. The bar used in docs/RESULTS.md: within 10 % of 1.

``paste_step``: how far the paste changed the picture where its feather starts (just inside the detection
box, on the window's sides inside the frame), against the frame's translation before pasting, in grey
levels. The feather spreads that change over the context margin, a ramp of 5-40 pixels: a step of a few
levels along a straight line reads as a rectangle that ``seam_ratio`` (gradients in a 2-pixel band) does
not see. 0 = the paste ends where it began.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgecgl.brightness import LUMA_WEIGHTS
from edgecgl.compose import seam_sides


def luma(image: np.ndarray) -> np.ndarray:
    """float32 [H,W] luma (Rec. 601, the weights training measures brightness with) of an RGB image."""
    return np.asarray(image, np.float32) @ np.array(LUMA_WEIGHTS, np.float32)


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """float32 [H,W]: Sobel gradient magnitude of the luma of a uint8 (or float) RGB or gray image."""
    x = luma(image) if image.ndim == 3 else image.astype(np.float32)
    gx = cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy)


def gradient_correlation(reference: np.ndarray, output: np.ndarray) -> float:
    """Pearson correlation of the two images' gradient magnitudes (same size; 1-pixel border dropped)."""
    if reference.shape[:2] != output.shape[:2]:
        raise ValueError(f"sizes differ: {reference.shape[:2]} vs {output.shape[:2]}")
    a = gradient_magnitude(reference)[1:-1, 1:-1].ravel().astype(np.float64)
    b = gradient_magnitude(output)[1:-1, 1:-1].ravel().astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def _edge_distance(window: tuple[int, int, int, int], frame_hw: tuple[int, int]) -> np.ndarray:
    """Signed distance (pixels, Chebyshev) of every pixel centre to the window's border; < 0 inside.

    Sides on the frame's edge do not count as border (their distance is infinite).
    """
    x1, y1, x2, y2 = window
    H, W = frame_hw
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32) + 0.5
    inf = np.float32(np.inf)
    sides = [
        (xx - x1) if x1 > 0 else np.full_like(xx, inf),
        (x2 - xx) if x2 < W else np.full_like(xx, inf),
        (yy - y1) if y1 > 0 else np.full_like(yy, inf),
        (y2 - yy) if y2 < H else np.full_like(yy, inf),
    ]
    inside_dist = np.minimum.reduce(sides)  # distance to the nearest seam side, for pixels inside
    outside = np.maximum.reduce([x1 - xx, xx - x2, y1 - yy, yy - y2])  # > 0 outside the window
    return np.where(outside > 0, outside, -inside_dist)


def seam_ratio(
    reference: np.ndarray,
    output: np.ndarray,
    window: tuple[int, int, int, int],
    band: int = 2,
) -> float:
    """G(border) / sqrt(G(inside ring) * G(outside ring)), G = output / input mean squared gradient.

    ``reference`` is the input frame, ``output`` the composed frame, ``window`` the pasted (x1, y1, x2, y2)
    with x2/y2 exclusive. The border is every pixel within ``band`` of a seam side (both sides of it);
    the rings are the pixels from ``band`` to ``4 * band`` away from it, inside and outside the window.
    NaN when the window has no seam side or a ring is empty.
    """
    if reference.shape[:2] != output.shape[:2]:
        raise ValueError(f"sizes differ: {reference.shape[:2]} vs {output.shape[:2]}")
    d = _edge_distance(window, reference.shape[:2])
    border = np.abs(d) <= band
    inner = (d < -band) & (d >= -4 * band)
    outer = (d > band) & (d <= 4 * band)
    if not border.any() or not inner.any() or not outer.any():
        return float("nan")
    e_in = gradient_magnitude(reference).astype(np.float64) ** 2
    e_out = gradient_magnitude(output).astype(np.float64) ** 2
    tiny = 1e-9

    def gain(mask: np.ndarray) -> float:
        return float(e_out[mask].mean() + tiny) / float(e_in[mask].mean() + tiny)

    return gain(border) / float(np.sqrt(gain(inner) * gain(outer)))


def paste_step(
    translation: np.ndarray,
    output: np.ndarray,
    window: tuple[int, int, int, int],
    box: tuple[float, float, float, float],
    band: int = 3,
) -> float:
    """Mean |luma(output) - luma(translation)| over ``band`` pixels just inside ``box`` on each seam side.

    ``translation`` is the frame's translation before anything is pasted, ``output`` the composed frame,
    ``window`` the pasted (x1, y1, x2, y2) (x2/y2 exclusive) and ``box`` its detection. A side of the window
    on the frame's edge is no seam and is left out; NaN when none is left or the box is empty.
    """
    if translation.shape[:2] != output.shape[:2]:
        raise ValueError(f"sizes differ: {translation.shape[:2]} vs {output.shape[:2]}")
    H, W = output.shape[:2]
    bx1, by1 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    bx2, by2 = min(W, int(round(box[2]))), min(H, int(round(box[3])))
    if bx2 <= bx1 or by2 <= by1:
        return float("nan")
    b = max(1, min(band, (bx2 - bx1) // 2, (by2 - by1) // 2))
    inside = (slice(by1, by2), slice(bx1, bx2))
    change = np.abs(luma(output[inside]) - luma(translation[inside]))  # the box only: cheap per window
    left, right, top, bottom = seam_sides(window, (H, W))
    strips = [
        strip
        for seam, strip in (
            (left, change[:, :b]),
            (right, change[:, -b:]),
            (top, change[:b]),
            (bottom, change[-b:]),
        )
        if seam
    ]
    return float(np.mean([s.mean() for s in strips])) if strips else float("nan")
