"""Gradient correlation and the paste-seam metric on toy images whose answer is known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgecgl.compose import feather_mask, harmonize_patch, paste_instances, resize
from edgecgl.quality import gradient_correlation, seam_ratio


def scene(hw: tuple[int, int] = (120, 200), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = hw
    img = np.kron(rng.integers(50, 200, (h // 6 + 1, w // 6 + 1, 3)), np.ones((6, 6, 1)))[:h, :w]
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def test_gradient_correlation_known_values() -> None:
    img = scene()
    assert gradient_correlation(img, img) == pytest.approx(1.0)
    darker = (img * 0.4 + 10).astype(np.uint8)  # a colour change keeps every edge
    assert gradient_correlation(img, darker) > 0.97
    smeared = resize(resize(img, (15, 25)), img.shape[:2])  # what an 8x resize of the network gives
    assert gradient_correlation(img, smeared) < 0.5
    with pytest.raises(ValueError):
        gradient_correlation(img, img[:10])


WINDOW = (60, 30, 140, 90)  # x1, y1, x2, y2, inside the 200x120 frame


def test_seam_ratio_is_one_without_a_paste() -> None:
    img = scene()
    assert seam_ratio(img, img, WINDOW) == pytest.approx(1.0)
    assert seam_ratio(img, (img * 0.5).astype(np.uint8), WINDOW) == pytest.approx(1.0, abs=0.05)


def test_hard_pasted_rectangle_is_a_seam() -> None:
    img = scene()
    out = img.copy()
    x1, y1, x2, y2 = WINDOW
    out[y1:y2, x1:x2] = np.clip(out[y1:y2, x1:x2].astype(int) - 60, 0, 255)  # a darker paste, hard edge
    assert seam_ratio(img, out, WINDOW) > 1.5


def test_sharp_paste_on_a_blurred_frame_is_a_seam() -> None:
    """Today's look: a smeared frame with a sharp crop on top reads as a rectangle (the border mixes two
    unlike sides: well above 1)."""
    img = scene()
    out = resize(resize(img, (15, 25)), img.shape[:2])
    x1, y1, x2, y2 = WINDOW
    out[y1:y2, x1:x2] = img[y1:y2, x1:x2]
    assert seam_ratio(img, out, WINDOW) > 1.5


def test_feathered_paste_of_the_same_translation_has_no_seam() -> None:
    img = scene()
    glob = cv2.convertScaleAbs(img, alpha=0.6, beta=5)
    inst = cv2.convertScaleAbs(img, alpha=0.62, beta=3)  # the instance path: nearly the same look
    x1, y1, x2, y2 = WINDOW
    box = (x1 + 8, y1 + 6, x2 - 8, y2 - 6)
    out = paste_instances(glob, [inst[y1:y2, x1:x2]], [WINDOW], [box])
    assert abs(seam_ratio(img, out, WINDOW) - 1.0) < 0.1
    assert feather_mask(WINDOW, box, img.shape[:2]).max() == 1.0


def test_sides_on_the_frame_edge_are_not_seams() -> None:
    img = scene()
    assert np.isnan(seam_ratio(img, img, (0, 0, img.shape[1], img.shape[0])))  # the whole frame: no seam
    out = img.copy()
    out[:, :100] = np.clip(out[:, :100].astype(int) - 60, 0, 255)
    # the window's left, top and bottom are frame edges: only x=100 is a seam, and it is a hard one
    assert seam_ratio(img, out, (0, 0, 100, img.shape[0])) > 1.5


def test_harmonized_paste_of_a_tinted_instance_has_no_seam() -> None:
    """The instance path translated the scene to another tint (what a briefly trained model does): pasted
    as is it is a visible rectangle; matched to the frame over the margin it is not, and the object
    keeps its own contrast to its surroundings."""
    img = scene()
    glob = cv2.convertScaleAbs(img, alpha=0.6, beta=5)
    x1, y1, x2, y2 = WINDOW
    inst = np.clip(glob[y1:y2, x1:x2].astype(np.float32) * [1.3, 0.8, 0.7] + [40, 0, -10], 0, 255)
    inst = inst.astype(np.uint8)
    box = (x1 + 8, y1 + 6, x2 - 8, y2 - 6)
    raw = paste_instances(glob, [inst], [WINDOW], [box])
    fixed = paste_instances(glob, [inst], [WINDOW], [box], harmonize=True)
    bx1, by1, bx2, by2 = box

    def tint(out: np.ndarray) -> float:  # mean colour change inside the box, worst channel
        diff = out[by1:by2, bx1:bx2].astype(float) - glob[by1:by2, bx1:bx2]
        return float(np.abs(diff.reshape(-1, 3).mean(0)).max())

    assert tint(raw) > 15
    assert tint(fixed) < 3
    assert abs(seam_ratio(img, fixed, WINDOW) - 1.0) < 0.1


def test_harmonize_is_exact_for_an_offset_and_leaves_frame_filling_windows() -> None:
    rng = np.random.default_rng(1)
    region = rng.uniform(0, 255, (20, 30, 3)).astype(np.float32)
    alpha = np.zeros((20, 30), np.float32)
    alpha[5:15, 5:25] = 1.0
    out = harmonize_patch(region + [20.0, -10.0, 5.0], region, alpha)
    assert np.abs(out - region).max() < 1e-3
    full = np.ones((20, 30), np.float32)
    assert np.array_equal(harmonize_patch(region + 20.0, region, full, detail=False), region + 20.0)


def test_harmonize_takes_fine_detail_from_the_frame_and_shading_from_the_patch() -> None:
    rng = np.random.default_rng(2)
    region = rng.uniform(60, 200, (48, 48, 3)).astype(np.float32)  # detail at the pixel scale
    shading = np.linspace(-40, 40, 48, dtype=np.float32)[None, :, None]  # the instance's own look
    flat = np.full_like(region, 128.0) + shading  # a patch with shading but no detail
    out = harmonize_patch(flat, region, np.ones((48, 48), np.float32))  # no margin: colours untouched
    assert np.corrcoef((out - flat).ravel(), (region - region.mean()).ravel())[0, 1] > 0.9
    smooth = (out.mean((0, 2)) - (region - region.mean()).mean((0, 2)))[8:-8]  # detail taken back out
    assert np.abs(smooth - flat.mean((0, 2))[8:-8]).max() < 2  # the shading stays


def _harmonize_reference(
    patch: np.ndarray, region: np.ndarray, alpha: np.ndarray, detail: bool
) -> np.ndarray:
    """harmonize_patch as first written (weighted moments by broadcasting, two Gaussians)."""
    import cv2

    w = (1.0 - alpha).astype(np.float64)
    out = patch
    if float(w.sum()) >= 8.0:
        w = w[..., None] / float(w.sum())
        mp, mr = (w * patch).sum((0, 1)), (w * region).sum((0, 1))
        sp = np.sqrt((w * (patch - mp) ** 2).sum((0, 1)))
        sr = np.sqrt((w * (region - mr) ** 2).sum((0, 1)))
        out = ((patch - mp) * np.clip((sr + 1.0) / (sp + 1.0), 0.5, 2.0) + mr).astype(np.float32)
    if detail:
        sigma = max(1.0, min(alpha.shape) / 12.0)

        def low(x: np.ndarray) -> np.ndarray:
            return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)

        out = low(out) + (region - low(region))
    return out.astype(np.float32)


def test_harmonize_is_the_two_blur_formula_to_float_tolerance() -> None:
    """One Gaussian of (out - region) instead of two, moments as float32 matrix-vector products: the same
    function to float tolerance; a blur wider than 8 pixels (short side >= 96) runs at reduced resolution,
    within half a grey level."""
    rng = np.random.default_rng(3)
    for h, w in [(3, 4), (37, 90), (160, 120), (306, 413)]:
        region = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
        patch = (region * rng.uniform(0.3, 1.6, 3) + rng.uniform(-60, 60, 3)).astype(np.float32)
        patch += rng.normal(0, 8, patch.shape).astype(np.float32)
        alpha = feather_mask(
            (10, 10, 10 + w, 10 + h), (10 + w / 5, 10 + h / 5, 10 + 4 * w / 5, 10 + 4 * h / 5), (500, 500)
        )
        for detail in (True, False):
            got = harmonize_patch(patch, region, alpha, detail=detail)
            want = _harmonize_reference(patch, region, alpha, detail)
            assert got.dtype == np.float32 and got.shape == want.shape
            full_res_blur = not detail or min(h, w) / 12.0 < 8.0
            assert np.abs(got - want).max() < (1e-2 if full_res_blur else 0.5)
