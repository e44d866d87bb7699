"""The step a paste leaves where its feather ends: the metric, and the membrane that removes it."""

from __future__ import annotations

import numpy as np
import pytest

from edgecgl.compose import edge_membrane, feather_mask, harmonize_patch, paste_instances, seam_sides
from edgecgl.quality import paste_step
from tests.unit.test_quality import WINDOW, scene

BOX = (WINDOW[0] + 8, WINDOW[1] + 6, WINDOW[2] - 8, WINDOW[3] - 6)


def shaded_instance(glob: np.ndarray) -> np.ndarray:
    """The instance path's translation of WINDOW: the frame's, plus a smooth shading field across the
    window (the crop saw only its window of the scene) and the object's own look (a bright blob)."""
    x1, y1, x2, y2 = WINDOW
    h, w = y2 - y1, x2 - x1
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shading = 30.0 * (xx / w - 0.5) + 16.0 * (yy / h - 0.5)
    blob = 40.0 * np.exp(-((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (2 * 8.0**2))
    inst = glob[y1:y2, x1:x2].astype(np.float32) + (shading + blob)[..., None]
    return np.clip(inst, 0, 255).astype(np.uint8)


def test_seam_sides_are_the_sides_inside_the_frame() -> None:
    assert seam_sides((10, 0, 50, 40), (40, 100)) == (True, True, False, False)
    assert seam_sides((0, 5, 100, 30), (40, 100)) == (False, False, True, True)


def test_membrane_meets_each_seam_side_and_is_zero_without_one() -> None:
    rng = np.random.default_rng(0)
    h, w = 40, 60
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    diff = np.stack([xx * 0.5, yy * -0.7 + 5, xx * yy * 0.01], -1) + rng.normal(0, 0.1, (h, w, 3))
    m = edge_membrane(diff, (True, True, True, True))
    assert m.shape == diff.shape and m.dtype == np.float32
    for side_m, side_d in [
        (m[h // 2, 0], diff[h // 2, :3].mean(0)),
        (m[h // 2, -1], diff[h // 2, -3:].mean(0)),
    ]:
        assert np.abs(side_m - side_d).max() < 0.6
    assert np.abs(m[0, w // 2] - diff[:3, w // 2].mean(0)).max() < 0.6
    assert np.abs(m[-1, w // 2] - diff[-3:, w // 2].mean(0)).max() < 0.6
    assert not edge_membrane(diff, (False, False, False, False)).any()
    with pytest.raises(ValueError):
        edge_membrane(diff[..., 0], (True, True, True, True))


def test_a_side_on_the_frame_edge_is_free() -> None:
    """Only the left side is a seam: the field is the left profile carried across, whatever the others."""
    h, w = 30, 50
    diff = np.zeros((h, w, 3), np.float32)
    diff[:, :3] = np.linspace(-10, 10, h, dtype=np.float32)[:, None, None]
    diff[:, 3:] = 99.0  # the rest of the window, and the other sides, do not count
    m = edge_membrane(diff, (True, False, False, False))
    assert np.allclose(m[:, 0], m[:, -1], atol=1e-4)
    assert np.abs(m[h // 2, :, 0]).max() < 1.0  # the profile's middle (near 0) carried across


def test_paste_step_known_values() -> None:
    img = scene()
    assert paste_step(img, img, WINDOW, BOX) == 0.0
    out = img.copy().astype(np.int16)
    x1, y1, x2, y2 = WINDOW
    out[y1:y2, x1:x2] += 20  # a hard paste 20 levels brighter
    out = np.clip(out, 0, 255).astype(np.uint8)
    assert paste_step(img, out, WINDOW, BOX) == pytest.approx(20.0, abs=1.0)
    H, W = img.shape[:2]
    assert np.isnan(paste_step(img, out, (0, 0, W, H), (5, 5, W - 5, H - 5)))  # no side inside the frame
    with pytest.raises(ValueError):
        paste_step(img, out[:10], WINDOW, BOX)


def test_harmonized_paste_ends_where_it_began_and_keeps_the_object() -> None:
    """Matched to the frame over the margin only (the paste before edge_membrane), the shading field left
    a step of several levels along the box's sides; with the membrane it is under 1.5 and the object's
    own look (the blob) is still pasted."""
    glob = scene()
    inst = shaded_instance(glob)
    x1, y1, x2, y2 = WINDOW
    H, W = glob.shape[:2]
    region = glob[y1:y2, x1:x2].astype(np.float32)
    alpha = feather_mask(WINDOW, BOX, (H, W))[..., None]
    before = glob.copy()
    patch = harmonize_patch(inst.astype(np.float32), region, alpha[..., 0])  # no seams: margin match only
    before[y1:y2, x1:x2] = np.clip(np.rint(region + alpha * (patch - region)), 0, 255).astype(np.uint8)
    now = paste_instances(glob, [inst], [WINDOW], [BOX], harmonize=True)

    assert paste_step(glob, before, WINDOW, BOX) > 4.0
    assert paste_step(glob, now, WINDOW, BOX) < 1.5
    cy, cx = (y1 + y2) // 2, (x1 + x2) // 2
    centre = now[cy - 3 : cy + 4, cx - 3 : cx + 4].astype(float) - glob[cy - 3 : cy + 4, cx - 3 : cx + 4]
    assert centre.mean() > 15.0
