"""Property tests: resize/crop/flip keep boxes on the image and on the same content."""

from __future__ import annotations

import random

import numpy as np
from edgecgl.train.data.transforms import clip_boxes, hflip, resize_crop
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(8, 90),
    w=st.integers(8, 160),
    th=st.integers(4, 64),
    tw=st.integers(4, 64),
    box=st.tuples(st.floats(-20, 200), st.floats(-20, 200), st.floats(0, 80), st.floats(0, 80)),
    rnd=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_boxes_stay_inside_and_follow_content(h, w, th, tw, box, rnd, seed) -> None:
    x, y, bw, bh = box
    boxes = np.array([[x, y, x + bw, y + bh]], np.float32)
    img = np.zeros((h, w, 3), np.uint8)
    out, b = resize_crop(img, clip_boxes(boxes, h, w, 0), (th, tw), random_crop=rnd, rng=random.Random(seed))
    assert out.shape == (th, tw, 3)
    b = clip_boxes(b, th, tw, 1.0)
    assert ((b[:, 0::2] >= 0) & (b[:, 0::2] <= tw)).all() and ((b[:, 1::2] >= 0) & (b[:, 1::2] <= th)).all()
    f, fb = hflip(out, b)
    ff, ffb = hflip(f, fb)
    np.testing.assert_allclose(ffb, b, atol=1e-4)
    assert (ff == out).all()


@settings(max_examples=30, deadline=None)
@given(
    x1=st.integers(0, 40),
    y1=st.integers(0, 20),
    bw=st.integers(4, 30),
    bh=st.integers(4, 20),
    seed=st.integers(0, 99),
)
def test_white_block_is_covered_by_its_box(x1, y1, bw, bh, seed) -> None:
    h, w = 48, 96
    x2, y2 = min(x1 + bw, w), min(y1 + bh, h)
    img = np.zeros((h, w, 3), np.uint8)
    img[y1:y2, x1:x2] = 255
    out, b = resize_crop(img, np.array([[x1, y1, x2, y2]], np.float32), (24, 24), True, random.Random(seed))
    b = clip_boxes(b, 24, 24, 0.0)
    mask = np.zeros((24, 24), bool)
    for bx1, by1, bx2, by2 in b:
        mask[int(np.floor(by1)) : int(np.ceil(by2)), int(np.floor(bx1)) : int(np.ceil(bx2))] = True
    assert (out[..., 0][~mask] < 128).all()  # no bright content outside its (moved) box
