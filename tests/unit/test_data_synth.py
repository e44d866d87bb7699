"""SynthWeather renderer: shapes, boxes, determinism, and that instances change differently per domain."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from edgecgl.train.data.synth import (
    PERSON,
    ROAD,
    build_geometry,
    make_scene,
    render_domains,
    render_scene,
    scene_at,
)

from edgecgl.domains import DOMAINS

SIZE = (64, 128)


@pytest.fixture(scope="module")
def scenes() -> list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    return [render_domains(seed, SIZE) for seed in range(6)]


def test_shapes_boxes_and_pairing(scenes) -> None:
    for imgs, boxes, cls in scenes:
        assert set(imgs) == set(DOMAINS)
        for im in imgs.values():
            assert im.shape == (*SIZE, 3) and im.dtype == np.uint8
        assert boxes.dtype == np.float32 and boxes.shape == (len(cls), 4)
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= SIZE[1]).all()
        assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= SIZE[0]).all()
        assert ((boxes[:, 2] - boxes[:, 0]) >= 2).all() and ((boxes[:, 3] - boxes[:, 1]) >= 2).all()
    assert sum(len(b) for _, b, _ in scenes) >= 12  # scenes are populated
    assert any((c == PERSON).any() for _, _, c in scenes)


def test_render_scene_api_matches_and_is_deterministic() -> None:
    a, ba = render_scene(3, "night", SIZE)
    b, bb = render_scene(3, "night", SIZE)
    assert np.array_equal(a, b) and np.array_equal(ba, bb)
    c, _ = render_scene(4, "night", SIZE)
    assert not np.array_equal(a, c)
    imgs, boxes, _ = render_domains(3, SIZE)
    assert np.array_equal(imgs["night"], a) and np.array_equal(boxes, ba)
    with pytest.raises(ValueError, match="unknown domain"):
        render_scene(3, "foggy", SIZE)


def _mask(boxes: np.ndarray) -> np.ndarray:
    m = np.zeros(SIZE, bool)
    for x1, y1, x2, y2 in boxes.astype(int):
        m[y1:y2, x1:x2] = True
    return m


def test_night_instances_light_up_while_the_scene_goes_dark(scenes) -> None:
    inst_ratio, bg_ratio, inst_peak = [], [], []
    for imgs, boxes, _ in scenes:
        if len(boxes) == 0:
            continue
        m = _mask(boxes)
        day = imgs["sunny"].astype(np.float32).mean(2)
        night = imgs["night"].astype(np.float32).mean(2)
        inst_ratio.append(night[m].mean() / day[m].mean())
        bg_ratio.append(night[~m].mean() / day[~m].mean())
        red = imgs["night"][..., 0].astype(int) - imgs["night"][..., 2]
        inst_peak.append((red[m] > 80).mean())  # tail lights glow red inside the boxes
    assert np.mean(bg_ratio) < 0.35  # background goes dark
    assert np.mean(inst_ratio) > 1.3 * np.mean(bg_ratio)  # instances much less so: they are lit
    assert np.mean(inst_peak) > 0.01


def test_domains_differ_as_documented(scenes) -> None:
    for imgs, _, _ in scenes:
        s, c, r, n = (imgs[d].astype(np.float32) for d in ("sunny", "cloudy", "rainy", "night"))
        blue = lambda im: (im[:8, :, 2] - im[:8, :, 0]).mean()  # noqa: E731 - top rows: sky or facades
        assert blue(s) > blue(c) + 10 and blue(s) > blue(r) + 10  # blue sky vs grey sky (same geometry)
        assert n.mean() < 0.4 * s.mean()
        assert r.mean() < c.mean()  # rain is darker than overcast
        sat = lambda im: (im.max(2) - im.min(2)).mean()  # noqa: E731
        assert sat(c) < sat(s) and sat(r) < sat(s)


def test_scene_motion() -> None:
    s = make_scene(5)
    later = scene_at(s, 1.0)
    assert [c.z for c in later.cars] != [c.z for c in s.cars]
    a, _ = render_scene(s, "sunny", SIZE)
    b, _ = render_scene(s, "sunny", SIZE, t=0.5)
    assert np.abs(a.astype(int) - b).mean() > 1.0


def test_sunny_has_hard_shadows_cloudy_none() -> None:
    """Road pixels inside cast shadows vs lit road: dark under the sun, the same under clouds."""
    ratios = {"sunny": [], "cloudy": []}
    for seed in range(4):
        sc = make_scene(seed)
        g = build_geometry(sc, *SIZE, with_mirror=False)
        road = (
            cv2.resize((g.canvas.mat == ROAD).astype(np.float32), SIZE[::-1], interpolation=cv2.INTER_AREA)
            == 1
        )
        shade = cv2.resize(g.canvas.shadow, SIZE[::-1], interpolation=cv2.INTER_AREA)
        inside, outside = road & (shade == 1), road & (shade == 0)
        if inside.sum() < 10:
            continue
        imgs, _, _ = render_domains(sc, SIZE, ("sunny", "cloudy"))
        for d in ratios:
            lum = imgs[d].astype(np.float32).mean(2)
            ratios[d].append(lum[inside].mean() / lum[outside].mean())
    assert ratios["sunny"], "no scene with a shadow on the road"
    assert max(ratios["sunny"]) < 0.7
    assert min(ratios["cloudy"]) > 0.85
