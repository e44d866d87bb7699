"""Letterbox, crop geometry and feathered paste-back at toy sizes."""

from __future__ import annotations

import numpy as np
import pytest

from edgecgl.compose import (
    crop_instances,
    expand_box,
    feather_mask,
    letterbox,
    paste_instances,
    to_nchw,
    to_uint8,
    unletterbox,
)


def test_letterbox_keeps_aspect_by_padding() -> None:
    img = np.zeros((50, 200, 3), np.uint8)
    img[:, :100] = 255
    canvas, lb = letterbox(img, (64, 128))
    assert canvas.shape == (64, 128, 3)
    assert lb.inner_hw == (32, 128)  # 200/50 = 4 = 128/32: no distortion
    assert (lb.top, lb.left) == (16, 0)
    back = unletterbox(canvas, lb)
    assert back.shape == img.shape
    assert np.abs(back.astype(int) - img).mean() < 3


def test_letterbox_tall_image_pads_sides() -> None:
    img = np.full((100, 50, 3), 7, np.uint8)
    canvas, lb = letterbox(img, (64, 128))
    assert lb.inner_hw == (64, 32) and lb.left == 48
    assert (canvas == 7).all()  # replicated edges, no foreign colour


def test_expand_box_context_and_clip() -> None:
    assert expand_box((10, 20, 30, 60), 0.1, (100, 100)) == (8, 16, 32, 64)
    assert expand_box((0, 0, 10, 10), 0.5, (100, 100)) == (0, 0, 15, 15)
    assert expand_box((95, 95, 100, 100), 0.5, (100, 100)) == (92, 92, 100, 100)
    # degenerate box still gives a pixel
    x1, y1, x2, y2 = expand_box((100, 100, 100, 100), 0.1, (100, 100))
    assert x2 > x1 and y2 > y1 and x2 <= 100


def test_crop_instances_shape_and_content() -> None:
    frame = np.zeros((40, 60, 3), np.uint8)
    frame[10:20, 30:50] = 200
    crops = crop_instances(frame, [(30, 10, 50, 20), (0, 0, 60, 40)], (8, 8))
    assert crops.shape == (2, 8, 8, 3)
    assert (crops[0] == 200).all()


def test_feather_mask_one_inside_box_zero_at_window_edge() -> None:
    box = (20.0, 20.0, 40.0, 40.0)
    win = expand_box(box, 0.25, (100, 100))
    assert win == (15, 15, 45, 45)
    a = feather_mask(win, box, (100, 100))
    assert a.shape == (30, 30)
    assert np.allclose(a[5:25, 5:25], 1.0)
    assert a[0, 15] < 0.05 and a[15, 0] < 0.05 and a[29, 15] < 0.05
    assert np.all(np.diff(a[15, :5]) > 0)  # monotone ramp


def test_feather_mask_no_ramp_at_frame_border() -> None:
    box = (0.0, 0.0, 10.0, 10.0)
    win = expand_box(box, 0.2, (50, 50))
    a = feather_mask(win, box, (50, 50))
    assert a[0, 0] == 1.0  # the frame's corner: nothing beyond it to blend with


def test_paste_at_frame_edge_without_index_errors() -> None:
    frame = np.zeros((30, 40, 3), np.uint8)
    boxes = [(30.0, 20.0, 40.0, 30.0), (0.0, 0.0, 5.0, 5.0)]
    wins = [expand_box(b, 0.3, frame.shape[:2]) for b in boxes]
    crops = np.full((2, 8, 8, 3), 255, np.uint8)
    out = paste_instances(frame, crops, wins, boxes)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (out[22:30, 32:40] == 255).all()
    assert (out[10:18, 10:25] == 0).all()  # untouched elsewhere


def test_tensor_roundtrip() -> None:
    img = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    x = to_nchw(img)
    assert x.shape == (1, 3, 5, 6) and x.dtype == np.float32
    assert x.min() >= -1 and x.max() <= 1
    assert (to_uint8(x)[0] == img).all()


@pytest.mark.parametrize("hw", [(31, 17), (720, 1280), (1, 1)])
def test_letterbox_any_size_roundtrips_shape(hw: tuple[int, int]) -> None:
    img = np.zeros((*hw, 3), np.uint8)
    canvas, lb = letterbox(img, (32, 64))
    assert canvas.shape == (32, 64, 3)
    assert unletterbox(canvas, lb).shape == img.shape
