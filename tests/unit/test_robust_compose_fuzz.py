"""Property fuzz of box handling and blending (edgecgl/compose.py), bounded for CI (issue 9, "Soak and fuzz").

Any finite boxes (outside, inverted, zero-area, huge) on any frame size: no exception, the output has
the input's shape and dtype, and every pixel outside the expanded windows is unchanged.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecgl.compose import crop_instances, expand_box, feather_mask, letterbox, paste_instances, unletterbox

coord = st.floats(min_value=-500, max_value=500, allow_nan=False, allow_infinity=False)
box = st.tuples(coord, coord, coord, coord)
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    h=st.integers(1, 80),
    w=st.integers(1, 80),
    boxes=st.lists(box, max_size=12),
    context=st.floats(0, 1),
    inst=st.tuples(st.integers(1, 24), st.integers(1, 24)),
    seed=st.integers(0, 2**16),
)
def test_crop_and_paste_any_boxes(
    h: int, w: int, boxes: list[tuple[float, ...]], context: float, inst: tuple[int, int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    windows = [expand_box(b, context, (h, w)) for b in boxes]
    for x1, y1, x2, y2 in windows:
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    crops = crop_instances(frame, windows, inst)
    assert crops.shape == (len(boxes), inst[0], inst[1], 3)
    translated = rng.integers(0, 256, crops.shape, dtype=np.uint8)
    out = paste_instances(frame, translated, windows, boxes)
    assert out.shape == frame.shape and out.dtype == frame.dtype
    outside = np.ones((h, w), bool)
    for x1, y1, x2, y2 in windows:
        outside[y1:y2, x1:x2] = False
    assert np.array_equal(out[outside], frame[outside])


@FUZZ
@given(
    h=st.integers(1, 60),
    w=st.integers(1, 60),
    b=box,
    context=st.floats(0, 1),
)
def test_feather_mask_is_a_valid_alpha(h: int, w: int, b: tuple[float, ...], context: float) -> None:
    win = expand_box(b, context, (h, w))
    a = feather_mask(win, b, (h, w))
    assert a.shape == (win[3] - win[1], win[2] - win[0]) and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and a.min() >= 0.0 and a.max() <= 1.0


@FUZZ
@given(
    h=st.integers(1, 300),
    w=st.integers(1, 300),
    size=st.tuples(st.integers(1, 16).map(lambda v: 4 * v), st.integers(1, 16).map(lambda v: 4 * v)),
)
def test_letterbox_round_trip_keeps_any_size(h: int, w: int, size: tuple[int, int]) -> None:
    frame = np.full((h, w, 3), 77, np.uint8)
    canvas, lb = letterbox(frame, size)
    assert canvas.shape == (*size, 3)
    back = unletterbox(canvas, lb)
    assert back.shape == frame.shape and np.all(back == 77)
