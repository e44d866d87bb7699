"""Geometry between the camera frame and the networks: letterbox, instance crops, feathered paste-back.

Every function takes and returns plain uint8 / float32 arrays (HWC RGB for images) so each step is
testable alone. The crop geometry here is the contract the training side uses for instance crops too:
a detection box grows by ``context * box_w`` left and right and ``context * box_h`` top and bottom, is
clipped to the frame, and is resized (without keeping aspect) to the instance resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """Where the frame sits inside the padded working canvas, to undo the letterbox exactly."""

    src_hw: tuple[int, int]  # original frame (H, W)
    dst_hw: tuple[int, int]  # working canvas (H, W)
    inner_hw: tuple[int, int]  # resized frame inside the canvas (H, W)
    top: int
    left: int


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Fit ``image`` (HWC) into ``size`` keeping its aspect, padding the rest by edge replication.

    Replicated edges instead of a flat colour: InstanceNorm statistics in the encoders see the padding,
    and flat bars shift them more than a continuation of the picture does.
    """
    h, w = image.shape[:2]
    H, W = size
    scale = min(H / h, W / w)
    ih, iw = max(1, min(H, round(h * scale))), max(1, min(W, round(w * scale)))
    resized = resize(image, (ih, iw))
    top, left = (H - ih) // 2, (W - iw) // 2
    canvas = cv2.copyMakeBorder(
        resized, top, H - ih - top, left, W - iw - left, borderType=cv2.BORDER_REPLICATE
    )
    return canvas, Letterbox((h, w), (H, W), (ih, iw), top, left)


def unletterbox(image: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Cut the frame back out of the canvas and resize it to the original resolution."""
    ih, iw = lb.inner_hw
    inner = image[lb.top : lb.top + ih, lb.left : lb.left + iw]
    return resize(inner, lb.src_hw)


def resize(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Area filter when shrinking (no aliasing), bilinear when growing."""
    h, w = image.shape[:2]
    if (h, w) == tuple(hw):
        return image
    interp = cv2.INTER_AREA if hw[0] * hw[1] < h * w else cv2.INTER_LINEAR
    return cv2.resize(image, (int(hw[1]), int(hw[0])), interpolation=interp)


def expand_box(
    box: tuple[float, float, float, float] | np.ndarray, context: float, frame_hw: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The crop window for a detection: grown by ``context`` of its size per side, clipped, integer.

    Returns (x1, y1, x2, y2) with x2/y2 exclusive, at least one pixel wide and high.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = max(0.0, x2 - x1), max(0.0, y2 - y1)
    H, W = frame_hw
    ex1 = int(np.floor(max(0.0, x1 - context * bw)))
    ey1 = int(np.floor(max(0.0, y1 - context * bh)))
    ex2 = int(np.ceil(min(float(W), x2 + context * bw)))
    ey2 = int(np.ceil(min(float(H), y2 + context * bh)))
    ex1, ey1 = min(ex1, W - 1), min(ey1, H - 1)
    return ex1, ey1, max(ex2, ex1 + 1), max(ey2, ey1 + 1)


def crop_instances(
    frame: np.ndarray, boxes: list[tuple[int, int, int, int]], size: tuple[int, int]
) -> np.ndarray:
    """[N, h, w, 3] crops of ``frame`` at the (already expanded) windows, resized to ``size``."""
    h, w = size
    out = np.empty((len(boxes), h, w, frame.shape[2]), dtype=frame.dtype)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        out[i] = resize(frame[y1:y2, x1:x2], (h, w))
    return out


def feather_mask(
    window: tuple[int, int, int, int],
    box: tuple[float, float, float, float],
    frame_hw: tuple[int, int],
    min_feather: int = 2,
) -> np.ndarray:
    """float32 alpha over ``window``: 1 on the detection box, ramping smoothly to 0 at the window edge.

    The ramp spans the context margin on each side (at least ``min_feather`` pixels, eaten from the box
    when the margin is thinner). A side that touches the frame border gets no ramp: nothing lies beyond.
    """
    x1, y1, x2, y2 = window
    H, W = frame_hw
    bx1, by1, bx2, by2 = (float(v) for v in box)

    def axis(n: int, lo_edge: int, lo_box: float, hi_box: float, hi_edge: int, limit: int) -> np.ndarray:
        c = np.arange(n, dtype=np.float32) + 0.5 + lo_edge  # pixel centres in frame coordinates
        a = np.ones(n, dtype=np.float32)
        if lo_edge > 0:
            ramp = max(float(min_feather), lo_box - lo_edge)
            a = np.minimum(a, np.clip((c - lo_edge) / ramp, 0.0, 1.0))
        if hi_edge < limit:
            ramp = max(float(min_feather), hi_edge - hi_box)
            a = np.minimum(a, np.clip((hi_edge - c) / ramp, 0.0, 1.0))
        return a * a * (3.0 - 2.0 * a)  # smoothstep: no visible kink where the ramp starts

    ax = axis(x2 - x1, x1, bx1, bx2, x2, W)
    ay = axis(y2 - y1, y1, by1, by2, y2, H)
    return np.minimum(ay[:, None], ax[None, :])


def paste_instances(
    frame: np.ndarray,
    crops: np.ndarray | list[np.ndarray],
    windows: list[tuple[int, int, int, int]],
    boxes: list[tuple[float, float, float, float]],
    min_feather: int = 2,
    harmonize: bool = False,
    settle_edges: bool = True,
    strengths: list[float] | None = None,
) -> np.ndarray:
    """Blend translated crops back into ``frame`` (a copy), largest first so small ones stay on top.

    ``strengths`` (0..1 per crop, default 1) scale each crop's alpha: a track fading in or out.

    ``crops`` are at the instance resolution (resized to each window here) or already at each window's
    size (the guided path: nothing is resized). ``harmonize`` first makes each crop agree with the frame
    (colours over the feathered margin, fine detail from the frame, and with ``settle_edges`` no step
    where it ends: ``harmonize_patch``).

    Only the windows are touched (in float32), so the cost follows the instances, not the frame size.
    """
    out = frame.copy()
    H, W = frame.shape[:2]
    order = sorted(
        range(len(windows)),
        key=lambda i: -(windows[i][2] - windows[i][0]) * (windows[i][3] - windows[i][1]),
    )
    for i in order:
        x1, y1, x2, y2 = windows[i]
        patch = resize(crops[i], (y2 - y1, x2 - x1)).astype(np.float32)
        alpha = feather_mask(windows[i], boxes[i], (H, W), min_feather)[..., None]
        region = out[y1:y2, x1:x2].astype(np.float32)
        if harmonize:
            seams = seam_sides(windows[i], (H, W)) if settle_edges else None
            patch = harmonize_patch(patch, region, alpha[..., 0], seams=seams)
        if strengths is not None and strengths[i] < 1.0:
            alpha = alpha * np.float32(max(0.0, strengths[i]))  # after harmonize: it matches over the margin
        blended = region + alpha * (patch - region)
        out[y1:y2, x1:x2] = (
            np.clip(np.rint(blended), 0, 255).astype(out.dtype) if out.dtype == np.uint8 else blended
        )
    return out


def seam_sides(window: tuple[int, int, int, int], frame_hw: tuple[int, int]) -> tuple[bool, bool, bool, bool]:
    """(left, right, top, bottom): which sides of a window lie inside the frame, where a paste can show."""
    x1, y1, x2, y2 = window
    H, W = frame_hw
    return x1 > 0, x2 < W, y1 > 0, y2 < H


def harmonize_patch(
    patch: np.ndarray,
    region: np.ndarray,
    alpha: np.ndarray,
    max_gain: float = 2.0,
    min_weight: float = 8.0,
    detail: bool = True,
    seams: tuple[bool, bool, bool, bool] | None = None,
) -> np.ndarray:
    """float32 ``patch`` made to agree with ``region`` (the frame's translation under it) before blending.

    Colours: a per-channel gain and offset so the patch matches ``region`` where the two are blended
    (weights ``1 - alpha``: the context margin around the object, which both translations see). The
    instance translation and the frame's can disagree on the scene's overall colour; pasted as is, the crop
    shows as a tinted rectangle however soft the feather. The gain (ratio of standard deviations) is
    clipped to [1/max_gain, max_gain]; with less than ``min_weight`` pixels of margin (a window filling the
    frame) the colours are left as they are.

    ``detail``: the patch keeps its own shading (a Gaussian low-pass, sigma 1/12 of the window's short
    side) and takes its fine detail from ``region``. Both come from the same input through the guided
    upsampler, but at different contrast when the two translations differ; a car whose texture is flatter
    than the road around it reads as a pasted rectangle (docs/RESULTS.md, seam ratio).

    ``seams`` (``seam_sides`` of the window): the difference left between patch and region is brought to
    zero along those sides (``edge_membrane``). Matched on average over the margin, the two translations
    still disagree by a smooth shading field (the crop saw only its window of the scene); the paste then
    steps by that field where its feather ends, and a step of a few grey levels along a straight line reads
    as a rectangle (docs/RESULTS.md, "Paste steps"). What stays is the patch's difference from the frame
    relative to its own border: the object's look, not the window's.

    Cost (issue 17): the weighted statistics are float32 matrix-vector products on centred values, the
    gain and offset one ``cv2.transform``, ``low(out) + region - low(region)`` is computed as
    ``region + low(out - region)`` (one Gaussian instead of two; the blur is linear), and a wide blur runs
    at a fraction of the window's resolution (``low_pass``); the membrane likewise. A 306x413 window:
    26 ms before, about 4 now (docs/PERFORMANCE.md, "Paste cost").
    """
    out = np.ascontiguousarray(patch, np.float32)
    reg = np.ascontiguousarray(region, np.float32)
    w = (1.0 - np.asarray(alpha, np.float32)).ravel()
    total = float(w.sum(dtype=np.float64))
    if total >= min_weight:
        w /= np.float32(total)

        def moments(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # weighted mean, std per channel
            mean = w @ img.reshape(-1, 3)
            centred = cv2.subtract(img, (*(float(v) for v in mean), 0.0))  # first: float32 stays exact
            return mean, np.sqrt(w @ cv2.multiply(centred, centred).reshape(-1, 3))

        (mp, sp), (mr, sr) = moments(out), moments(reg)
        gain = np.clip((sr + 1.0) / (sp + 1.0), 1.0 / max_gain, max_gain).astype(np.float64)
        m = np.zeros((3, 4), np.float64)  # out_c = gain_c * patch_c + (mr_c - gain_c * mp_c)
        m[range(3), range(3)] = gain
        m[:, 3] = mr - gain * mp
        out = cv2.transform(out, m)
    settle = seams if seams is not None and any(seams) else None
    if not detail and settle is None:
        return np.asarray(out, np.float32)
    diff = cv2.subtract(out, reg)
    if detail:
        diff = low_pass(diff, max(1.0, min(alpha.shape) / 12.0))
    if settle is not None:
        diff -= edge_membrane(diff, settle)
    return reg + diff


def low_pass(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (reflected borders) of a float32 image; one wider than 8 pixels runs at 1/f of the
    resolution (f = sigma // 4: area-shrunk, blurred, bilinearly grown back), within 0.5 grey level of the
    full-resolution blur on real differences (tested) and 20x cheaper at sigma 25."""
    f = int(sigma // 4)
    if f < 2:
        return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    h, w = x.shape[:2]
    small = cv2.resize(x, (-(-w // f), -(-h // f)), interpolation=cv2.INTER_AREA)
    s = np.sqrt(max(sigma * sigma - 0.1 * f * f, 1.0)) / f  # the area filter's own spread, taken off
    small = cv2.GaussianBlur(small, (0, 0), s, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def edge_membrane(
    diff: np.ndarray, seams: tuple[bool, bool, bool, bool], band: int = 3, power: float = 2.0
) -> np.ndarray:
    """float32 field (like ``diff``, HxWxC) equal to ``diff`` along the ``seams`` sides, smooth inside.

    Each seam side's profile (``diff`` averaged over ``band`` pixels at that side, lightly smoothed along
    it) is spread inward and the sides are mixed by inverse-distance weights (``1 / d**power``), so the
    field meets each profile at its side. Subtracting it leaves a difference that is zero where the paste
    ends; sides on the frame's edge are free (nothing beyond them to step against). All zeros without
    seam sides. The field is smooth, so a window over 48 pixels on its short side gets it on a grid of
    about 24 nodes across, grown back bilinearly (the feather hides the half node at the very edge).
    """
    d = np.asarray(diff, np.float32)
    if d.ndim != 3:
        raise ValueError(f"diff must be HxWxC, got shape {d.shape}")
    h, w = d.shape[:2]
    left, right, top, bottom = seams
    if not (left or right or top or bottom):
        return np.zeros_like(d)
    b = max(1, min(band, h // 4, w // 4))
    f = max(1, min(h, w) // 24)
    gh, gw = -(-h // f), -(-w // f)  # the grid the field is computed on
    xs = (np.arange(gw, dtype=np.float32) + 0.5) * np.float32(w / gw)  # node centres, window pixels
    ys = (np.arange(gh, dtype=np.float32) + 0.5) * np.float32(h / gh)

    def profile(strip: np.ndarray, n: int) -> np.ndarray:  # [len, C] along a side -> [n, C], smoothed
        row = np.ascontiguousarray(strip[None])
        if n != strip.shape[0]:
            row = cv2.resize(row, (n, 1), interpolation=cv2.INTER_AREA)
        sigma = max(1.0, n / 24.0)  # noise along a side would streak inward
        return cv2.GaussianBlur(row, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE).reshape(n, -1)

    num = np.zeros((gh, gw, d.shape[2]), np.float32)
    den = np.zeros((gh, gw, 1), np.float32)
    # per side: on or not, the grid's distance to it, the difference along it; columns spread across x
    for seam, dist, strip, across_x in (
        (left, xs, d[:, :b].mean(1), True),
        (right, w - xs, d[:, w - b :].mean(1), True),
        (top, ys, d[:b].mean(0), False),
        (bottom, h - ys, d[h - b :].mean(0), False),
    ):
        if not seam:
            continue
        wt = dist**-power
        prof = profile(strip, gh if across_x else gw)
        if across_x:
            num += wt[None, :, None] * prof[:, None, :]
            den += wt[None, :, None]
        else:
            num += wt[:, None, None] * prof[None, :, :]
            den += wt[:, None, None]
    field = num / den
    if f > 1:
        field = cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
    return field


def to_nchw(images: np.ndarray) -> np.ndarray:
    """uint8 [N,H,W,3] or [H,W,3] RGB -> float32 [N,3,H,W] in [-1, 1], the networks' input."""
    if images.ndim == 3:
        images = images[None]
    x = images.astype(np.float32).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x / 127.5 - 1.0)


def to_uint8(batch: np.ndarray) -> np.ndarray:
    """float32 [N,3,H,W] in [-1, 1] -> uint8 [N,H,W,3] RGB."""
    x = (np.clip(batch, -1.0, 1.0) + 1.0) * 127.5
    return np.rint(x).astype(np.uint8).transpose(0, 2, 3, 1).copy()
